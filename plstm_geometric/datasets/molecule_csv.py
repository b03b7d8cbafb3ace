"""Molecules from a user's CSV file: a SMILES column and numeric target columns.

Row numbers in every message count data rows from 1 (the first row below the header is row 1),
as a spreadsheet shows them minus the header.
"""
from __future__ import annotations

import hashlib
import json
import os.path as osp
from typing import Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch_geometric.data import InMemoryDataset

from ..utils.io import atomic_path
from ..utils.smiles import InvalidSmilesReport, featurise_smiles

# Cells read as a missing label besides a blank one (pandas' most common NA spellings).
MISSING = frozenset({"", "nan", "NaN", "NA", "N/A", "n/a"})
TASK_TYPES = ("regression", "classification")


def file_hash(path: str) -> str:
    """SHA-1 of the file's bytes (names caches, and lets ``--resume`` notice an edited file)."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_csv_frame(path: str, columns: Optional[Sequence[str]] = None, **kwargs):
    """The file as strings (cells exactly as written), or a :class:`ValueError` for an empty file,
    a header without rows, or a missing column (listing the file's columns)."""
    import pandas as pd

    if not osp.exists(path):
        raise FileNotFoundError(f"{path} not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path} is empty: expected a header row and one molecule per row") from err
    if columns is not None:
        check_columns(path, frame.columns, columns)
    return frame


def check_columns(path: str, present: Iterable[str], wanted: Sequence[str]) -> None:
    present = list(present)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise ValueError(f"{path} has no column {', '.join(map(repr, missing))}; its columns are: "
                         f"{', '.join(map(repr, present))}")


def parse_targets(path: str, frame, target_columns: Sequence[str], task_type: str) -> np.ndarray:
    """Target cells as a ``[rows, targets]`` float array, blank cells (or NA / NaN) as NaN.

    Raises:
        ValueError: naming the row, column and value of the first cell that is not a number
            (or, for ``task_type="classification"``, not a 0 / 1 label).
    """
    values = np.full((len(frame), len(target_columns)), np.nan)
    for t, column in enumerate(target_columns):
        for row, cell in enumerate(frame[column]):
            cell = cell.strip()
            if cell in MISSING:
                continue
            try:
                value = float(cell)
            except ValueError:
                raise ValueError(f"{path}, row {row + 1}, column {column!r}: {cell!r} is not a "
                                 f"number (leave the cell blank for a missing label)") from None
            if task_type == "classification" and value not in (0.0, 1.0):
                raise ValueError(f"{path}, row {row + 1}, column {column!r}: {cell!r} is not a "
                                 f"0 / 1 label (--task-type classification)")
            values[row, t] = value
    return values


class MoleculeCSV(InMemoryDataset):
    r"""Molecules of a CSV file, OGB-featurised (as every molecule dataset of the package), with
    targets ``y`` of shape :math:`(1, T)` (NaN = missing label), the SMILES, and ``row``, the
    molecule's 0-based data row in the file.

    Rows whose SMILES RDKit rejects (or that are blank) are skipped; ``invalid_message`` gives
    their count and first rows (kept in ``processed/invalid_smiles.json``). The processed graphs
    are cached in ``<root>/<file stem>-<key>/processed/``, where ``key`` hashes the file's bytes
    and the options, so an edited file or other columns never reuse a stale cache.

    Args:
        root (str): Folder under which the cache folder is created.
        path (str): The CSV file.
        smiles_column (str): Column holding the SMILES.
        target_columns (list of str): Columns holding the targets.
        task_type (str, optional): ``"regression"`` or ``"classification"`` (labels must be 0 / 1).
            (default: :obj:`"regression"`)
        log (bool, optional): Show progress. (default: :obj:`True`)
        data_hash (str, optional): :func:`file_hash` of ``path`` when the caller has just
            computed it (a large file is then read once less). (default: :obj:`None`)
    """

    def __init__(self, root: str, path: str, smiles_column: str, target_columns: Sequence[str],
                 task_type: str = "regression", log: bool = True,
                 data_hash: Optional[str] = None):
        if task_type not in TASK_TYPES:
            raise ValueError(f"unknown task type {task_type!r}; valid: {', '.join(TASK_TYPES)}")
        if not target_columns:
            raise ValueError("no target columns given")
        self.path, self.smiles_column = path, smiles_column
        self.target_columns, self.task_type = list(target_columns), task_type
        options = json.dumps([smiles_column, self.target_columns, task_type]).encode()
        key = hashlib.sha1((data_hash or file_hash(path)).encode() + options).hexdigest()[:10]
        stem = osp.splitext(osp.basename(path))[0]
        self.folder = osp.join(root, f"{stem}-{key}")
        super().__init__(self.folder, log=log)
        self.load(self.processed_paths[0])
        self.invalid_message: str = InvalidSmilesReport.load_message(self.processed_dir)

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> List[str]:
        return ["data.pt", InvalidSmilesReport.FILE]

    def download(self) -> None:  # the user's file is read in place
        pass

    def process(self) -> None:
        from tqdm import tqdm

        frame = read_csv_frame(self.path, [self.smiles_column, *self.target_columns])
        if len(frame) == 0:
            raise ValueError(f"{self.path} has a header but no rows")
        y = parse_targets(self.path, frame, self.target_columns, self.task_type)
        report = InvalidSmilesReport(osp.basename(self.path))
        data_list = []
        cells = tqdm(frame[self.smiles_column], desc="featurise", disable=not self.log)
        for row, (smiles, data) in enumerate(featurise_smiles(cells)):
            if data is None:
                report.add(row + 1, smiles)
                continue
            data.y = torch.from_numpy(y[row:row + 1]).float()
            data.row = torch.tensor([row])
            data_list.append(data)
        if not data_list:
            raise ValueError(f"{self.path}: none of the {len(frame)} SMILES in column "
                             f"{self.smiles_column!r} can be parsed by RDKit")
        # Renamed into place: a featurisation killed mid-write leaves no truncated data.pt that
        # every later load would fail on (InMemoryDataset skips process() once the file exists).
        with atomic_path(self.processed_paths[0]) as tmp:
            self.save(data_list, tmp)
        report.save(self.processed_dir)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({len(self)}, path={self.path!r}, "
                f"targets={self.target_columns})")
