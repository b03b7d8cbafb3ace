"""MoleculeNet through PyG's :class:`~torch_geometric.datasets.MoleculeNet`, OGB-featurised."""
from __future__ import annotations

import itertools
import os.path as osp
import warnings

import torch
from torch_geometric.data import Data
from torch_geometric.datasets import MoleculeNet

from ..utils.smiles import InvalidSmilesReport, smiles_to_data

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
        report.save(self.processed_dir)


def missing_moleculenet_message(name: str, root: str) -> str:
    stem = MOLECULENET[name][1]
    url_name = {"tox21": "tox21.csv.gz", "sider": "sider.csv.gz", "clintox": "clintox.csv.gz"}.get(
        name, f"{stem}.csv")
    return (f"{name} not found: expected {osp.join(root, name, 'raw', stem + '.csv')} (PyG "
            f"MoleculeNet layout). Run with network access to download "
            f"https://deepchemdata.s3-us-west-1.amazonaws.com/datasets/{url_name}, or copy it "
            f"from a local folder: plstm-geometric prepare {name} --source DIR --root {root}")
