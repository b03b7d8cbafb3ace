"""Every dataset the CLI trains on, behind one function: :func:`load_task`.

A :class:`GraphTask` bundles the graphs, the evaluation folds (one for fixed splits, ten for TU
cross-validation), the prediction task and its metrics, so the training loop needs no
dataset-specific code.
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
import os.path as osp
import shutil
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data, Dataset, InMemoryDataset

from .cache import maybe_pretransform
from .molecules import InvalidSmilesReport, scaffold_split, smiles_to_data
from .ogb import OGB_DATASETS, load_ogb, open_dataset

DEFAULT_DATASET = "chembl2321810"

# name -> (PyG's MoleculeNet key, its raw csv stem, task)
MOLECULENET = {
    "esol": ("ESOL", "delaney-processed", "regression"),
    "freesolv": ("FreeSolv", "SAMPL", "regression"),
    "lipo": ("Lipo", "Lipophilicity", "regression"),
    "bbbp": ("BBBP", "BBBP", "binary"),
    "bace": ("BACE", "bace", "binary"),
    "hiv": ("HIV", "HIV", "binary"),
    "tox21": ("Tox21", "tox21", "binary"),
    "clintox": ("ClinTox", "clintox", "binary"),
    "sider": ("SIDER", "sider", "binary"),
}
TU = ("MUTAG", "PTC_FM", "NCI1", "PROTEINS")
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
    """Canonical spelling of a dataset name, or a :class:`SystemExit` listing the valid names."""
    lookup = {n.lower(): n for n in DATASETS}
    if name.lower() not in lookup:
        raise SystemExit(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
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
            missing dataset raises a message naming the expected files. (default: :obj:`True`)
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

def chembl_files() -> Dict[str, str]:
    """Paths of the ChEMBL2321810 series inside the installed RDKit (``Contrib/FreeWilson``)."""
    from rdkit import RDConfig

    folder = osp.join(RDConfig.RDContribDir, "FreeWilson", "data")
    return {"smi": osp.join(folder, "CHEMBL2321810.smi"),
            "act": osp.join(folder, "CHEMBL2321810_act.csv")}


class ChEMBLActivity(InMemoryDataset):
    r"""The ChEMBL2321810 congeneric series shipped in RDKit's wheel (``Contrib/FreeWilson/data``):
    1,017 molecules with measured ChEMBL activities (``Act``), OGB-featurised. Needs no network
    and no files outside the RDKit installation; only the processed cache is written to ``root``.

    Args:
        root (str): Where to cache the processed graphs.
        log (bool, optional): Print progress and skipped rows. (default: :obj:`True`)
    """

    def __init__(self, root: str, log: bool = True):
        super().__init__(root, log=log)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> List[str]:
        return ["data.pt"]

    def download(self) -> None:
        pass

    def process(self) -> None:
        import pandas as pd

        files = chembl_files()
        for path in files.values():
            if not osp.exists(path):
                raise SystemExit(f"{path} not found: this RDKit installation lacks its Contrib "
                                 f"data (expected in every rdkit wheel); reinstall rdkit")
        act = pd.read_csv(files["act"], dtype={"Name": str}).set_index("Name")["Act"]
        report = InvalidSmilesReport("chembl2321810")
        data_list = []
        with open(files["smi"]) as f:
            for row, line in enumerate(f):
                smiles, mol_id = line.split()
                data = smiles_to_data(smiles)
                if data is None:
                    report.add(row, smiles)
                    continue
                data.y = torch.tensor([[float(act[mol_id])]])
                data_list.append(data)
        if len(report):
            warnings.warn(report.message(), stacklevel=2)
        self.save(data_list, self.processed_paths[0])


def random_split(n: int, seed: int, frac_train: float = 0.8, frac_valid: float = 0.1):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_train, n_valid = int(frac_train * n), int(frac_valid * n)
    return {"train": perm[:n_train].sort().values,
            "valid": perm[n_train:n_train + n_valid].sort().values,
            "test": perm[n_train + n_valid:].sort().values}


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

def _moleculenet_class():
    from torch_geometric.datasets import MoleculeNet

    class OGBMoleculeNet(MoleculeNet):
        """PyG's MoleculeNet (its raw layout and parsing) with OGB featurisation, and the rows
        RDKit rejects recorded in ``processed/invalid_smiles.json`` instead of one warning each."""

        def process(self) -> None:
            report = InvalidSmilesReport(self.names[self.name][0])
            rows = itertools.count()  # PyG calls from_smiles once per data row, in order

            def featurise(smiles: str) -> Data:
                row = next(rows)
                smiles = smiles.strip()  # ESOL's last column keeps a trailing space
                data = smiles_to_data(smiles)
                if data is None:  # PyG drops zero-atom graphs: MoleculeNet's own rule
                    report.add(row, smiles)
                    return Data(x=torch.zeros(0, 9, dtype=torch.long), num_nodes=0, smiles=smiles)
                return data

            self.from_smiles = featurise
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Skipping molecule")
                super().process()
            with open(osp.join(self.processed_dir, "invalid_smiles.json"), "w") as f:
                json.dump({"message": report.message() if len(report) else "", "rows": report.rows}, f)

    return OGBMoleculeNet


def missing_moleculenet_message(name: str, root: str) -> str:
    stem = MOLECULENET[name][1]
    url_name = {"tox21": "tox21.csv.gz", "sider": "sider.csv.gz", "clintox": "clintox.csv.gz"}.get(
        name, f"{stem}.csv")
    return (f"{name} not found: expected {osp.join(root, name, 'raw', stem + '.csv')} (PyG "
            f"MoleculeNet layout). Run with network access to download "
            f"https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/{url_name}, or copy it "
            f"from a local folder: plstm-geometric prepare {name} --source DIR --root {root}")


def _load_moleculenet(name, root, pre_transform, download, log):
    pyg_name, stem, task = MOLECULENET[name]
    raw = osp.join(root, name, "raw", stem + ".csv")
    base = open_dataset(osp.exists(raw), download, missing_moleculenet_message(name, root),
                        lambda: _moleculenet_class()(root, pyg_name))
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

def tu_folds(y: Tensor, num_folds: int = 10, seed: int = 42) -> List[Dict[str, Tensor]]:
    """The paper's protocol: stratified ``num_folds``-fold CV, the training folds split 8:1
    (stratified) into train / validation."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    labels = y.numpy()
    folds = []
    outer = StratifiedKFold(num_folds, shuffle=True, random_state=seed)
    for rest, test in outer.split(np.zeros(len(labels)), labels):
        train, valid = train_test_split(rest, test_size=1 / 9, stratify=labels[rest],
                                        random_state=seed)
        folds.append({k: torch.from_numpy(np.sort(v)) for k, v in
                      (("train", train), ("valid", valid), ("test", test))})
    return folds


def missing_tu_message(name: str, root: str) -> str:
    raw = osp.join(root, name, "raw")
    return (f"{name} not found: expected {raw}/{name}_A.txt, {name}_graph_indicator.txt, "
            f"{name}_graph_labels.txt and {name}_node_labels.txt (TU Dortmund files; PyG "
            f"downloads https://www.chrsmrrs.com/graphkerneldatasets/{name}.zip when online). "
            f"Offline: plstm-geometric prepare {name} --source DIR --root {root}, where DIR holds "
            f"the unzipped {name}/ folder")


def _load_tu(name, root, pre_transform, download, log):
    from torch_geometric.datasets import TUDataset

    base = open_dataset(osp.exists(osp.join(root, name, "raw", f"{name}_A.txt")), download,
                        missing_tu_message(name, root),
                        lambda: TUDataset(root, name, use_node_attr=True, use_edge_attr=True))
    dataset = maybe_pretransform(base, osp.join(root, name), pre_transform, log=log)
    return GraphTask(name, dataset, tu_folds(base._data.y), "multiclass", base.num_classes,
                     "accuracy", False)


# prepare -------------------------------------------------------------------------------------

def stage_raw(name: str, source: str, root: str) -> List[str]:
    """Copies a MoleculeNet CSV or a TU folder from a local ``source`` folder into the layout
    :func:`load_task` reads (decompressing ``.gz``), for machines without network access.

    Returns:
        The files written.
    """
    name = check_name(name)
    written = []
    if name in MOLECULENET:
        stem = MOLECULENET[name][1]
        candidates = [osp.join(source, stem + s) for s in (".csv", ".csv.gz", ".orig.csv.gz", ".orig.csv")]
        found = [c for c in candidates if osp.exists(c)]
        if not found:
            raise SystemExit(f"none of {', '.join(candidates)} exists")
        dest = osp.join(root, name, "raw", stem + ".csv")
        os.makedirs(osp.dirname(dest), exist_ok=True)
        opener = gzip.open if found[0].endswith(".gz") else open
        with opener(found[0], "rb") as src, open(dest + ".tmp", "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(dest + ".tmp", dest)
        written.append(dest)
    elif name in TU:
        folder = osp.join(source, name) if osp.isdir(osp.join(source, name)) else source
        files = sorted(f for f in os.listdir(folder) if f.startswith(name + "_") and f.endswith(".txt"))
        if f"{name}_A.txt" not in files:
            raise SystemExit(f"{folder} has no {name}_A.txt; expected the unzipped TU folder")
        dest_dir = osp.join(root, name, "raw")
        os.makedirs(dest_dir, exist_ok=True)
        for f in files:
            shutil.copyfile(osp.join(folder, f), osp.join(dest_dir, f))
            written.append(osp.join(dest_dir, f))
    else:
        raise SystemExit(f"prepare --source applies to MoleculeNet and TU datasets, not {name}")
    return written
