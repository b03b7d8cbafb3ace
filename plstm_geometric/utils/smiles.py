"""SMILES parsing, OGB featurisation and Murcko scaffolds, shared by every molecule dataset.

Why a lenient parser exists: 7 SMILES of MoleculeNet's ``HIV.csv`` (hypervalent Al/B/Ge complexes)
fail valence sanitisation in current RDKit, yet OGB's ``ogbg-molhiv`` (built with an older RDKit)
keeps all 41,127 molecules. Datasets whose definition keeps every row (ogbg-molhiv) parse those
rows with :func:`parse_smiles` ``(lenient=True)``: every sanitisation step except the valence check.
Datasets whose definition drops unparseable rows (MoleculeNet) skip them and report them.
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch_geometric.data import Data

from .io import atomic_path


def _rdkit():
    try:
        from rdkit import Chem, RDLogger
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Molecule datasets need RDKit and OGB: pip install 'plstm-geometric[chem]'") from err
    # RDKit prints one line per rejected molecule on stderr; we report rejections ourselves.
    RDLogger.DisableLog("rdApp.*")
    return Chem


def parse_smiles(smiles: str, lenient: bool = False):
    """Parses ``smiles`` into an RDKit molecule, or returns ``None`` when RDKit rejects it.

    Args:
        smiles (str): The SMILES string.
        lenient (bool, optional): If set, a molecule that fails only the valence check is kept
            (all other sanitisation steps still run). (default: :obj:`False`)
    """
    Chem = _rdkit()
    mol = Chem.MolFromSmiles(smiles)
    if mol is not None or not lenient:
        return mol
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:  # a syntax error, not a valence problem
        return None
    mol.UpdatePropertyCache(strict=False)
    flags = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
    if Chem.SanitizeMol(mol, flags, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
        return None
    return mol


def mol_to_graph(mol) -> Dict[str, np.ndarray]:
    """OGB featurisation of an RDKit molecule: the output of :func:`ogb.utils.smiles2graph`.

    ``smiles2graph`` only accepts a SMILES string and parses it strictly, so molecules parsed
    leniently need this entry point; a test checks both give identical arrays.
    """
    from ogb.utils.features import atom_to_feature_vector, bond_to_feature_vector

    x = np.array([atom_to_feature_vector(a) for a in mol.GetAtoms()], dtype=np.int64).reshape(-1, 9)
    pairs, feats = [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feat = bond_to_feature_vector(bond)
        pairs += [(i, j), (j, i)]
        feats += [feat, feat]
    edge_index = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    edge_feat = np.array(feats, dtype=np.int64).reshape(-1, 3)
    return {"edge_index": edge_index, "edge_feat": edge_feat, "node_feat": x, "num_nodes": len(x)}


def smiles_to_data(smiles: str, lenient: bool = False) -> Optional[Data]:
    """OGB-featurised :class:`~torch_geometric.data.Data` (``x``, ``edge_index``, ``edge_attr``,
    ``smiles``) for one SMILES, or ``None`` when RDKit rejects it."""
    mol = parse_smiles(smiles, lenient=lenient)
    if mol is None:
        return None
    graph = mol_to_graph(mol)  # smiles2graph would parse the SMILES a second time
    return Data(
        x=torch.from_numpy(graph["node_feat"]),
        edge_index=torch.from_numpy(graph["edge_index"]),
        edge_attr=torch.from_numpy(graph["edge_feat"]),
        num_nodes=graph["num_nodes"],
        smiles=smiles,
    )


def featurise_smiles(cells: Iterable[Optional[str]]) -> Iterator[Tuple[str, Optional[Data]]]:
    """Per SMILES cell (``None`` or surrounding blanks allowed): the stripped SMILES and its
    :func:`smiles_to_data` graph, ``None`` when the cell is blank or RDKit rejects it. The one
    loop behind every reader of user SMILES (CSV datasets, predict / embed)."""
    for cell in cells:
        smiles = "" if cell is None else str(cell).strip()
        yield smiles, smiles_to_data(smiles) if smiles else None


class InvalidSmilesReport:
    """Collects the rows RDKit rejects so a loader can report them (count and first few), and
    keeps them in a dataset's ``processed/invalid_smiles.json`` (:meth:`save`, :meth:`load_message`)."""

    FILE = "invalid_smiles.json"

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.rows: List[Tuple[int, str]] = []

    def add(self, row: int, smiles: str) -> None:
        self.rows.append((row, smiles))

    def __len__(self) -> int:
        return len(self.rows)

    def message(self, shown: int = 5) -> str:
        head = ", ".join(f"row {r}: {s!r}" for r, s in self.rows[:shown])
        more = f", ... ({len(self.rows) - shown} more)" if len(self.rows) > shown else ""
        return (f"{self.dataset}: skipped {len(self.rows)} SMILES that RDKit cannot parse "
                f"({head}{more})")

    def save(self, processed_dir: str) -> None:
        with atomic_path(osp.join(processed_dir, self.FILE)) as tmp, open(tmp, "w") as f:
            json.dump({"message": self.message() if len(self) else "", "rows": self.rows}, f)

    @classmethod
    def load_message(cls, processed_dir: str) -> str:
        """The saved report's message (empty when nothing was skipped)."""
        with open(osp.join(processed_dir, cls.FILE)) as f:
            return json.load(f)["message"]


def murcko_scaffold(smiles: str, lenient: bool = False) -> str:
    """Bemis-Murcko scaffold SMILES with chirality, as in OGB's / pretrain-gnns' scaffold split."""
    Chem = _rdkit()
    mol = parse_smiles(smiles, lenient=lenient)
    if mol is None:
        raise ValueError(f"RDKit cannot parse {smiles!r}")
    # ``MurckoScaffoldSmiles`` would re-run the strict valence check; the decomposition itself is
    # the same call it makes.
    scaffold = Chem.MurckoDecompose(mol)
    return Chem.MolToSmiles(scaffold, isomericSmiles=True)
