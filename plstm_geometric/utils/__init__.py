"""Molecule utilities: SMILES parsing and OGB featurisation, Murcko scaffolds, dataset splits;
and :mod:`.io`, the atomic file write every cache, record and output goes through."""
from .smiles import mol_to_graph, murcko_scaffold, parse_smiles, smiles_to_data
from .split import random_split, scaffold_split, tu_folds

__all__ = ["mol_to_graph", "murcko_scaffold", "parse_smiles", "random_split", "scaffold_split",
           "smiles_to_data", "tu_folds"]
