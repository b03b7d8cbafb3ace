"""Dataset classes: the offline ChEMBL default, OGB / MoleculeNet / TU wrappers, molecules from a
CSV file, and the arrow-pointing image generator."""
from .arrow_pointing import ArrowGeometry, ArrowPointing, ray_hits_circle
from .chembl import ChEMBLActivity
from .files import stage_raw
from .molecule_csv import MoleculeCSV
from .moleculenet import MOLECULENET, OGBMoleculeNet
from .ogb import OGB_DATASETS, build_ogbg_molhiv, load_ogb, register_safe_globals, write_ogb_mol_folder
from .tu import TU

__all__ = ["ArrowGeometry", "ArrowPointing", "ChEMBLActivity", "MOLECULENET", "MoleculeCSV", "OGBMoleculeNet",
           "OGB_DATASETS", "TU", "build_ogbg_molhiv", "load_ogb", "ray_hits_circle",
           "register_safe_globals", "stage_raw", "write_ogb_mol_folder"]
