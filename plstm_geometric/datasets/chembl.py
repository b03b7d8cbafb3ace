"""The offline default dataset: a ChEMBL activity series that ships inside RDKit."""
from __future__ import annotations

import os.path as osp
import warnings
from typing import Dict, List

import torch
from torch_geometric.data import InMemoryDataset

from ..utils.io import atomic_path
from ..utils.smiles import InvalidSmilesReport, smiles_to_data


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
                raise FileNotFoundError(f"{path} not found: this RDKit installation lacks its Contrib "
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
        # Renamed into place: a featurisation killed mid-write leaves no truncated data.pt that
        # every later load would fail on (InMemoryDataset skips process() once the file exists).
        with atomic_path(self.processed_paths[0]) as tmp:
            self.save(data_list, tmp)
