"""Every dataset the CLI trains on, behind one function: :func:`load_task`.

A :class:`GraphTask` bundles the graphs, the evaluation folds (one for fixed splits, ten for TU
cross-validation), the prediction task and its metrics, so the training loop needs no
dataset-specific code.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from torch import Tensor
from torch_geometric.data import Dataset

from ..datasets.chembl import ChEMBLActivity
from ..datasets.files import open_dataset
from ..datasets.molecule_csv import MoleculeCSV, file_hash, read_csv_frame
from ..datasets.moleculenet import MOLECULENET, OGBMoleculeNet, missing_moleculenet_message
from ..datasets.ogb import OGB_DATASETS, load_ogb
from ..datasets.tu import TU, missing_tu_message
from ..utils.smiles import InvalidSmilesReport
from ..utils.split import named_split, random_split, scaffold_split, tu_folds
from .cache import maybe_pretransform

DEFAULT_DATASET = "chembl2321810"

DATASETS = (DEFAULT_DATASET,) + OGB_DATASETS + tuple(MOLECULENET) + TU

METRICS = {"regression": ("rmse", "mae", "r2"), "binary": ("rocauc", "ap"),
           "multiclass": ("accuracy",)}


@dataclass
class GraphTask:
    """A dataset ready for training.

    Attributes:
        name: Dataset name as given to :func:`load_task` (a CSV file: its stem).
        dataset: The graphs (with cached structures when a ``pre_transform`` was given).
        folds: One ``{"train", "valid", "test"}`` index dict per evaluation fold.
        task: ``"regression"``, ``"binary"`` (multi-task, NaN = missing label) or
            ``"multiclass"``.
        num_outputs: Model outputs per graph (tasks, or classes for ``"multiclass"``).
        metric: The metric that selects the best epoch.
        ogb_features: Whether ``x`` / ``edge_attr`` are OGB's integer atom / bond features.
        ogb_name: The OGB dataset name, when its official ``Evaluator`` scores it.
        target_names: Names of the targets (CSV columns); with more than one, every metric is
            also reported per target as ``<metric>_<name>``.
        rows: The file row (0-based) of every graph, for datasets read from a user's file.
        skipped: What was skipped while reading a user's file (rows with invalid SMILES), to
            report on every run; empty if nothing.
    """

    name: str
    dataset: Dataset
    folds: List[Dict[str, Tensor]]
    task: str
    num_outputs: int
    metric: str
    ogb_features: bool
    ogb_name: Optional[str] = None
    target_names: Optional[List[str]] = None
    rows: Optional[Tensor] = None
    skipped: str = ""

    @property
    def metrics(self) -> tuple:
        per_target = self.target_names if self.target_names and len(self.target_names) > 1 else []
        return METRICS[self.task] + tuple(f"{m}_{t}" for m in METRICS[self.task] for t in per_target)

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
    message = InvalidSmilesReport.load_message(base.processed_dir)
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


# A user's CSV file ---------------------------------------------------------------------------

SPLITS = ("scaffold", "random")


def load_csv_task(
    path: str,
    smiles_column: str = "smiles",
    target_columns: Optional[Sequence[str]] = None,
    task_type: str = "regression",
    split: str = "scaffold",
    split_sizes: Sequence[float] = (0.8, 0.1, 0.1),
    split_column: Optional[str] = None,
    root: str = "data",
    pre_transform: Optional[Callable] = None,
    log: bool = True,
    data_hash: Optional[str] = None,
) -> GraphTask:
    """Molecules of a CSV file (see :class:`~plstm_geometric.datasets.MoleculeCSV`) as a task.

    Args:
        path (str): The CSV file.
        smiles_column (str, optional): Column of SMILES. (default: :obj:`"smiles"`)
        target_columns (list of str, optional): Target columns; :obj:`None` takes every column
            except the SMILES and split columns. (default: :obj:`None`)
        task_type (str, optional): ``"regression"`` (metric RMSE) or ``"classification"``
            (binary 0 / 1 labels, metrics ROC-AUC and PR-AUC). (default: :obj:`"regression"`)
        split (str, optional): ``"scaffold"`` (OGB's deterministic procedure) or ``"random"``
            (seed 0, the same for every training seed). (default: :obj:`"scaffold"`)
        split_sizes (sequence of float, optional): Train / valid / test fractions.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        split_column (str, optional): Column naming each row's split (``train``, ``val``,
            ``test``); overrides ``split``. (default: :obj:`None`)
        root (str, optional): Cache root; the file's graphs go to ``<root>/csv/``.
            (default: :obj:`"data"`)
        pre_transform (callable, optional): Structure transform, cached next to the graphs.
            (default: :obj:`None`)
        log (bool, optional): Show progress (skipped rows are in ``skipped``). (default: :obj:`True`)
        data_hash (str, optional): The file's :func:`~plstm_geometric.datasets.molecule_csv.file_hash`
            when the caller already computed it. (default: :obj:`None`)

    Raises:
        ValueError: for a malformed file (see :mod:`plstm_geometric.datasets.molecule_csv`), bad
            split options, or a target without labels in one of the splits.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    sizes = [float(f) for f in split_sizes]
    if len(sizes) != 3 or min(sizes) < 0 or abs(sum(sizes) - 1.0) > 1e-6:
        raise ValueError(f"--split-sizes must be three non-negative fractions summing to 1, got "
                         f"{split_sizes}")
    header = read_csv_frame(path, nrows=0).columns
    if target_columns is None:
        target_columns = [c for c in header if c not in (smiles_column, split_column)]
    base = MoleculeCSV(osp.join(root, "csv"), path, smiles_column, target_columns, task_type,
                       log=log, data_hash=data_hash)
    rows = base._data.row
    if split_column is not None:
        labels = read_csv_frame(path, [split_column], usecols=[split_column])[split_column]
        folds = named_split(labels.iloc[rows.numpy()].tolist(), (rows + 1).tolist())
    elif split == "scaffold":
        folds = scaffold_split(list(base._data.smiles), sizes[0], sizes[1])
    else:
        folds = random_split(len(base), 0, sizes[0], sizes[1])
    y = base._data.y
    for key, index in folds.items():
        for t, name in enumerate(target_columns):
            if not (~y[index, t].isnan()).any():
                raise ValueError(f"{path}: target {name!r} has no labels in the {key} split "
                                 f"({len(index)} molecules); change --split / --split-sizes or "
                                 f"label more rows")
    dataset = maybe_pretransform(base, base.folder, pre_transform, log=log)
    task = "regression" if task_type == "regression" else "binary"
    return GraphTask(osp.splitext(osp.basename(path))[0], dataset, [folds], task,
                     len(target_columns), "rmse" if task == "regression" else "rocauc", True,
                     target_names=list(target_columns), rows=rows, skipped=base.invalid_message)


def load_config_task(cfg: dict, root: str, pre_transform: Optional[Callable] = None,
                     download: bool = True, log: bool = True) -> GraphTask:
    """The task a training configuration (``TrainConfig`` as a dict) names: its CSV file when
    it has a ``data_path``, else the named dataset."""
    if cfg.get("data_path"):
        current = None
        if cfg.get("data_hash"):  # a run's config: its file must still be the one it trained on
            if not osp.exists(cfg["data_path"]):
                raise FileNotFoundError(f"{cfg['data_path']}: the run's CSV file is gone")
            current = file_hash(cfg["data_path"])
            if current != cfg["data_hash"]:
                raise ValueError(f"{cfg['data_path']} changed since the run was trained on it "
                                 f"(hash {cfg['data_hash']}); its splits and rows would not "
                                 f"match the run's")
        return load_csv_task(cfg["data_path"], cfg["smiles_column"], cfg["target_columns"],
                             cfg["task_type"], cfg["split"], cfg["split_sizes"],
                             cfg["split_column"], root, pre_transform, log, data_hash=current)
    return load_task(cfg["dataset"], root, pre_transform, download=download, log=log)

