"""Dataset loading: OGB, MoleculeNet, TU and the offline ChEMBL default, behind :func:`load_task`."""
from .cache import PreTransformedDataset, transform_key
from .datasets import (DATASETS, DEFAULT_DATASET, ChEMBLActivity, GraphTask, check_name,
                       load_task, stage_raw, tu_folds)
from .line_dag_data import LineDAGData
from .molecules import parse_smiles, scaffold_split, smiles_to_data
from .ogb import build_ogbg_molhiv, load_ogb, register_safe_globals, write_ogb_mol_folder

__all__ = [
    "DATASETS", "DEFAULT_DATASET", "ChEMBLActivity", "GraphTask", "LineDAGData",
    "PreTransformedDataset", "build_ogbg_molhiv", "check_name", "load_ogb", "load_task",
    "parse_smiles", "register_safe_globals", "scaffold_split", "smiles_to_data", "stage_raw", "transform_key",
    "tu_folds", "write_ogb_mol_folder",
]
