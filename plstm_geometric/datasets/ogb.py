"""OGB graph property prediction: the offline ``ogbg-molhiv`` builder and a safe loader.

The loader uses the unchanged :class:`ogb.graphproppred.PygGraphPropPredDataset` and guards
against three traps of OGB 1.3.6:

* its processed file is a pickled PyG ``Data`` that ``torch.load`` refuses under torch >= 2.6
  (``weights_only=True``): :func:`register_safe_globals` allow-lists PyG's storage classes;
* a dataset folder without ``RELEASE_v1.txt`` makes it call ``input()``, hanging a batch job:
  we raise a clear error first;
* a changed ``pre_transform`` silently reuses the old processed file: we never give OGB a
  ``pre_transform``; the structure stage lives in its own cache keyed by its configuration
  (:class:`~plstm_geometric.train.cache.PreTransformedDataset`).
"""
from __future__ import annotations

import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Sequence

import numpy as np
import torch

from ..utils.smiles import parse_smiles, smiles_to_data
from ..utils.split import scaffold_split
from .files import open_dataset

OGB_DATASETS = ("ogbg-molhiv", "ogbg-molpcba")

# The published ogbg-molhiv: 41,127 molecules in HIV.csv row order, scaffold split sizes below.
MOLHIV_NUM_GRAPHS = 41127
MOLHIV_SPLIT_SIZES = {"train": 32901, "valid": 4113, "test": 4113}

_RAW_FILES = ("edge.csv.gz", "node-feat.csv.gz", "edge-feat.csv.gz", "graph-label.csv.gz",
              "num-node-list.csv.gz", "num-edge-list.csv.gz")


def register_safe_globals() -> None:
    """Allow-lists the classes inside OGB's processed file for ``torch.load(weights_only=True)``."""
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import EdgeStorage, GlobalStorage, NodeStorage

    torch.serialization.add_safe_globals(
        [DataEdgeAttr, DataTensorAttr, GlobalStorage, NodeStorage, EdgeStorage])


def ogb_folder(name: str, root: str) -> str:
    """The folder OGB reads ``name`` from under ``root`` (``ogbg-molhiv`` -> ``ogbg_molhiv``)."""
    return osp.join(root, name.replace("-", "_"))


def missing_ogb_message(name: str, root: str) -> str:
    folder = ogb_folder(name, root)
    files = "\n".join(f"  {folder}/raw/{f}" for f in _RAW_FILES)
    how = (f"Either run with network access (OGB downloads it), or build it offline from "
           f"MoleculeNet's HIV.csv:\n  plstm-geometric prepare ogbg-molhiv --csv PATH/HIV.csv "
           f"--root {root}") if name == "ogbg-molhiv" else (
           "Run once with network access so that OGB downloads it, "
           f"or copy an existing {osp.basename(folder)} folder into {root}.")
    return (f"{name} not found. Expected the OGB folder {folder}/ with\n{files}\n"
            f"  {folder}/split/scaffold/{{train,valid,test}}.csv.gz\n  {folder}/RELEASE_v1.txt\n{how}")


def load_ogb(name: str, root: str, download: bool = True):
    """Loads an OGB graph property dataset with the guards described in the module docstring.

    Returns:
        ``(dataset, split, smiles)``: the :class:`PygGraphPropPredDataset`, its official split and
        the SMILES per graph (from ``mapping/mol.csv.gz``; ``None`` when the folder lacks it).
    """
    from ogb.graphproppred import PygGraphPropPredDataset
    import pandas as pd

    folder = ogb_folder(name, root)
    if osp.isdir(folder) and not osp.exists(osp.join(folder, "RELEASE_v1.txt")):
        raise FileNotFoundError(
            f"{folder} exists but has no RELEASE_v1.txt, so OGB would stop and ask on stdin "
            f"whether to delete it. Delete the folder to re-download, or rebuild it "
            f"(plstm-geometric prepare {name} ...).")
    register_safe_globals()
    dataset = open_dataset(osp.isdir(folder), download, missing_ogb_message(name, root),
                           lambda: PygGraphPropPredDataset(name=name, root=root))
    mapping = osp.join(folder, "mapping", "mol.csv.gz")
    smiles = pd.read_csv(mapping)["smiles"].tolist() if osp.exists(mapping) else None
    return dataset, dataset.get_idx_split(), smiles


def write_ogb_mol_folder(
    folder: str,
    smiles: Sequence[str],
    labels: np.ndarray,
    label_names: Sequence[str],
    split: Dict[str, torch.Tensor],
    progress: bool = True,
) -> List[int]:
    """Writes an OGB-format molecule dataset folder (``raw/``, ``split/scaffold/``, ``mapping/``,
    ``RELEASE_v1.txt``) that :class:`PygGraphPropPredDataset` reads unchanged.

    Every molecule is kept: rows that current RDKit rejects only for valence reasons are
    featurised leniently (see :mod:`plstm_geometric.utils.smiles`). The folder is assembled in a
    temporary sibling and moved into place, so an interrupted build leaves nothing half-written.

    Returns:
        The rows featurised leniently.
    """
    import pandas as pd
    from tqdm import tqdm

    lenient_rows, graphs = [], []
    for row, s in enumerate(tqdm(smiles, desc="featurise", disable=not progress)):
        data = smiles_to_data(s, lenient=True)
        if data is None:
            raise ValueError(f"row {row}: RDKit cannot parse {s!r} even without the valence "
                             f"check; the OGB dataset keeps every molecule, so this is fatal")
        if parse_smiles(s) is None:
            lenient_rows.append(row)
        graphs.append(data)

    parent = osp.dirname(osp.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".build-", dir=parent)
    try:
        def write(rel: str, frame) -> None:
            path = osp.join(tmp, rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            pd.DataFrame(frame).to_csv(path, header=False, index=False, compression="gzip")

        # OGB stores each bond once and adds the inverse edge on loading (add_inverse_edge=True);
        # smiles2graph emits (i->j, j->i) pairs, so every second column is one direction.
        write("raw/edge.csv.gz", np.concatenate([g.edge_index[:, 0::2].T.numpy() for g in graphs]))
        write("raw/edge-feat.csv.gz", np.concatenate([g.edge_attr[0::2].numpy() for g in graphs]))
        write("raw/node-feat.csv.gz", np.concatenate([g.x.numpy() for g in graphs]))
        write("raw/num-node-list.csv.gz", np.array([g.num_nodes for g in graphs]))
        write("raw/num-edge-list.csv.gz", np.array([g.edge_index.size(1) // 2 for g in graphs]))
        # Integer labels stay integers; missing labels (NaN) force floats, as in OGB's files.
        write("raw/graph-label.csv.gz", labels if np.isnan(labels).any() else labels.astype(np.int64))
        for key in ("train", "valid", "test"):
            write(f"split/scaffold/{key}.csv.gz", split[key].numpy())
        mapping = pd.DataFrame(labels, columns=list(label_names))
        mapping["smiles"] = list(smiles)
        mapping["mol_id"] = [f"mol{i}" for i in range(len(smiles))]
        os.makedirs(osp.join(tmp, "mapping"))
        mapping.to_csv(osp.join(tmp, "mapping", "mol.csv.gz"), index=False, compression="gzip")
        with open(osp.join(tmp, "RELEASE_v1.txt"), "w") as f:
            f.write("Built offline by plstm_geometric from MoleculeNet SMILES with "
                    "ogb.utils.smiles2graph and the pretrain-gnns scaffold split.\n")
        if osp.exists(folder):
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp)
    return lenient_rows


def build_ogbg_molhiv(csv: str, root: str, force: bool = False, progress: bool = True) -> str:
    """Builds ``<root>/ogbg_molhiv`` from MoleculeNet's ``HIV.csv`` without network access.

    Graphs come from :func:`ogb.utils.smiles2graph` in ``HIV.csv`` row order; the split is OGB's
    scaffold procedure (:func:`~plstm_geometric.utils.split.scaffold_split`). On the published
    ``HIV.csv`` this gives 41,127 graphs and a 32,901 / 4,113 / 4,113 split. The 7 rows that
    current RDKit rejects (hypervalent Al/B/Ge, 0-based rows 137, 987, 12882, 18293, 30784, 30785,
    35728) are parsed without the valence check and kept, as OGB keeps them.

    Args:
        csv (str): Path to ``HIV.csv`` (columns ``smiles``, ``HIV_active``).
        root (str): Dataset root; the folder is ``<root>/ogbg_molhiv``.
        force (bool, optional): Replace an existing folder. (default: :obj:`False`)
        progress (bool, optional): Show a progress bar. (default: :obj:`True`)

    Returns:
        The folder written.
    """
    import pandas as pd

    folder = ogb_folder("ogbg-molhiv", root)
    if osp.exists(folder) and not force:
        raise FileExistsError(f"{folder} already exists; pass --force to rebuild it")
    if not osp.exists(csv):
        raise FileNotFoundError(f"{csv} not found. HIV.csv is MoleculeNet's file, e.g. from "
                                f"https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/HIV.csv")
    frame = pd.read_csv(csv)
    missing = {"smiles", "HIV_active"} - set(frame.columns)
    if missing:
        raise ValueError(f"{csv}: missing column(s) {sorted(missing)}; expected MoleculeNet's HIV.csv")
    smiles = frame["smiles"].tolist()
    split = scaffold_split(smiles, lenient=True)
    labels = frame[["HIV_active"]].to_numpy(dtype=np.float64)
    lenient = write_ogb_mol_folder(folder, smiles, labels, ["HIV_active"], split, progress)
    if progress:
        sizes = " / ".join(str(len(split[k])) for k in ("train", "valid", "test"))
        print(f"wrote {folder}: {len(smiles)} graphs, split {sizes}; "
              f"{len(lenient)} rows parsed without the valence check: {lenient}")
    return folder
