"""Data classes: :class:`LineDAGData`, a PyG ``Data`` that carries precomputed line DAGs.

The loaders that lived here moved after 0.1.0 (dataset classes to :mod:`plstm_geometric.datasets`,
SMILES featurisation and splits to :mod:`plstm_geometric.utils`, the task registry and the
structure cache to :mod:`plstm_geometric.train`). Their old names still resolve here, with a
:class:`DeprecationWarning`, for one release.
"""
import importlib
import warnings

from .line_dag_data import LineDAGData

# old name -> module that holds it now
_MOVED = {
    "DATASETS": "plstm_geometric.train.tasks",
    "DEFAULT_DATASET": "plstm_geometric.train.tasks",
    "GraphTask": "plstm_geometric.train.tasks",
    "check_name": "plstm_geometric.train.tasks",
    "load_task": "plstm_geometric.train.tasks",
    "PreTransformedDataset": "plstm_geometric.train.cache",
    "transform_key": "plstm_geometric.train.cache",
    "ChEMBLActivity": "plstm_geometric.datasets.chembl",
    "stage_raw": "plstm_geometric.datasets.files",
    "build_ogbg_molhiv": "plstm_geometric.datasets.ogb",
    "load_ogb": "plstm_geometric.datasets.ogb",
    "register_safe_globals": "plstm_geometric.datasets.ogb",
    "write_ogb_mol_folder": "plstm_geometric.datasets.ogb",
    "parse_smiles": "plstm_geometric.utils.smiles",
    "smiles_to_data": "plstm_geometric.utils.smiles",
    "scaffold_split": "plstm_geometric.utils.split",
    "tu_folds": "plstm_geometric.utils.split",
}

__all__ = ["LineDAGData"]


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _MOVED[name]
    warnings.warn(f"plstm_geometric.data.{name} moved to {module}.{name}; the old name goes in "
                  f"the next release", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)
