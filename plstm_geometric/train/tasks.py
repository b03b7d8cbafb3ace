"""Every dataset the CLI trains on, behind one function: :func:`load_task`.

A :class:`GraphTask` bundles the graphs, the evaluation folds (one for fixed splits, ten for TU
cross-validation), the prediction task and its metrics, so the training loop needs no
dataset-specific code.
"""
from __future__ import annotations

import json
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from torch import Tensor
from torch_geometric.data import Dataset

from ..datasets.chembl import ChEMBLActivity
from ..datasets.files import open_dataset
from ..datasets.moleculenet import MOLECULENET, OGBMoleculeNet, missing_moleculenet_message
from ..datasets.ogb import OGB_DATASETS, load_ogb
from ..datasets.tu import TU, missing_tu_message
from ..utils.split import random_split, scaffold_split, tu_folds
from .cache import maybe_pretransform

DEFAULT_DATASET = "chembl2321810"

DATASETS = (DEFAULT_DATASET,) + OGB_DATASETS + tuple(MOLECULENET) + TU

METRICS = {"regression": ("rmse", "mae", "r2"), "binary": ("rocauc", "ap"),
           "multiclass": ("accuracy",)}


@dataclass
class GraphTask:
    """A dataset ready for training.

    Attributes:
        name: Dataset name as given to :func:`load_task`.
        dataset: The graphs (with cached structures when a ``pre_transform`` was given).
        folds: One ``{"train", "valid", "test"}`` index dict per evaluation fold.
        task: ``"regression"``, ``"binary"`` (multi-task, NaN = missing label) or
            ``"multiclass"``.
        num_outputs: Model outputs per graph (tasks, or classes for ``"multiclass"``).
        metric: The metric that selects the best epoch.
        ogb_features: Whether ``x`` / ``edge_attr`` are OGB's integer atom / bond features.
        ogb_name: The OGB dataset name, when its official ``Evaluator`` scores it.
    """

    name: str
    dataset: Dataset
    folds: List[Dict[str, Tensor]]
    task: str
    num_outputs: int
    metric: str
    ogb_features: bool
    ogb_name: Optional[str] = None

    @property
    def metrics(self) -> tuple:
        return METRICS[self.task]

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in ("rmse", "mae")


def check_name(name: str) -> str:
    """Canonical spelling of a dataset name, or a :class:`ValueError` listing the valid names."""
    lookup = {n.lower(): n for n in DATASETS}
    if name.lower() not in lookup:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return lookup[name.lower()]


def load_task(
    name: str,
    root: str = "data",
    pre_transform: Optional[Callable] = None,
    download: bool = True,
    log: bool = True,
) -> GraphTask:
    """Loads dataset ``name`` (see :data:`DATASETS`) from ``root``.

    Args:
        name (str): Dataset name; :data:`DEFAULT_DATASET` ships inside RDKit and needs no files.
        root (str, optional): Dataset root, laid out as the underlying OGB / PyG class expects.
            (default: :obj:`"data"`)
        pre_transform (callable, optional): Structure transform applied once and cached under the
            dataset's folder, keyed by its configuration. (default: :obj:`None`)
        download (bool, optional): Let OGB / PyG download missing files. If :obj:`False`, a
            missing dataset raises a :class:`FileNotFoundError` naming the expected files. (default: :obj:`True`)
        log (bool, optional): Print progress and skipped rows. (default: :obj:`True`)
    """
    name = check_name(name)
    if name == DEFAULT_DATASET:
        return _load_chembl(root, pre_transform, log)
    if name in OGB_DATASETS:
        return _load_ogb(name, root, pre_transform, download, log)
    if name in MOLECULENET:
        return _load_moleculenet(name, root, pre_transform, download, log)
    return _load_tu(name, root, pre_transform, download, log)


# ChEMBL default ------------------------------------------------------------------------------

def _load_chembl(root, pre_transform, log):
    folder = osp.join(root, DEFAULT_DATASET)
    base = ChEMBLActivity(folder, log=log)
    # One congeneric series shares one scaffold, so a scaffold split degenerates: random, seed 0.
    return GraphTask(DEFAULT_DATASET, maybe_pretransform(base, folder, pre_transform, log=log),
                     [random_split(len(base), seed=0)], "regression", 1, "rmse", True)


# OGB -----------------------------------------------------------------------------------------

def _load_ogb(name, root, pre_transform, download, log):
    base, split, smiles = load_ogb(name, root, download=download)
    extra = {"smiles": smiles} if smiles is not None else None
    dataset = maybe_pretransform(base, base.root, pre_transform, extra=extra, log=log)
    metric = {"rocauc": "rocauc", "ap": "ap"}[base.eval_metric]
    return GraphTask(name, dataset, [split], "binary", base.num_tasks, metric, True, ogb_name=name)


# MoleculeNet ---------------------------------------------------------------------------------

def _load_moleculenet(name, root, pre_transform, download, log):
    pyg_name, stem, task = MOLECULENET[name]
    raw = osp.join(root, name, "raw", stem + ".csv")
    base = open_dataset(osp.exists(raw), download, missing_moleculenet_message(name, root),
                        lambda: OGBMoleculeNet(root, pyg_name))
    with open(osp.join(base.processed_dir, "invalid_smiles.json")) as f:
        message = json.load(f)["message"]
    if message and log:
        print(message)
    split = scaffold_split(list(base._data.smiles))
    dataset = maybe_pretransform(base, osp.join(root, name), pre_transform, log=log)
    metric = "rmse" if task == "regression" else "rocauc"
    return GraphTask(name, dataset, [split], task, base._data.y.size(1),
                     metric, True)


# TU ------------------------------------------------------------------------------------------

def _load_tu(name, root, pre_transform, download, log):
    from torch_geometric.datasets import TUDataset

    base = open_dataset(osp.exists(osp.join(root, name, "raw", f"{name}_A.txt")), download,
                        missing_tu_message(name, root),
                        lambda: TUDataset(root, name, use_node_attr=True, use_edge_attr=True))
    dataset = maybe_pretransform(base, osp.join(root, name), pre_transform, log=log)
    return GraphTask(name, dataset, tu_folds(base._data.y), "multiclass", base.num_classes,
                     "accuracy", False)


