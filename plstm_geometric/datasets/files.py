"""Raw files of the named datasets: opening a dataset class that may download, with a clear
error naming the expected files when they are absent, and staging publishers' files from a local
folder (``plstm-geometric prepare NAME --source DIR``) for machines without network access."""
from __future__ import annotations

import gzip
import os
import os.path as osp
import shutil
from typing import Callable, List, TypeVar

from ..utils.io import atomic_path
from .moleculenet import MOLECULENET
from .tu import TU

T = TypeVar("T")


def open_dataset(present: bool, download: bool, missing: str, construct: Callable[[], T]) -> T:
    """``construct()`` a dataset class that downloads when its files are absent.

    Without ``download`` and with the files absent, or when the download fails (urllib errors
    are ``OSError``: no network, DNS failure), raises :class:`FileNotFoundError` with ``missing``:
    which files are expected where and how to obtain them.
    """
    if not present and not download:
        raise FileNotFoundError(missing)
    try:
        return construct()
    except OSError as err:
        raise FileNotFoundError(f"{missing}\n(download failed: {err})") from err


def stage_raw(name: str, source: str, root: str) -> List[str]:
    """Copies a MoleculeNet CSV or a TU folder from a local ``source`` folder into the layout
    :func:`~plstm_geometric.train.load_task` reads (decompressing ``.gz``), for machines without network access.

    Returns:
        The files written.
    """
    name = {n.lower(): n for n in (*MOLECULENET, *TU)}.get(name.lower(), name)
    written = []
    if name in MOLECULENET:
        stem = MOLECULENET[name][1]
        candidates = [osp.join(source, stem + s) for s in (".csv", ".csv.gz", ".orig.csv.gz", ".orig.csv")]
        found = [c for c in candidates if osp.exists(c)]
        if not found:
            raise FileNotFoundError(f"none of {', '.join(candidates)} exists")
        dest = osp.join(root, name, "raw", stem + ".csv")
        os.makedirs(osp.dirname(dest), exist_ok=True)
        opener = gzip.open if found[0].endswith(".gz") else open
        with opener(found[0], "rb") as src, atomic_path(dest) as tmp, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        written.append(dest)
    elif name in TU:
        folder = osp.join(source, name) if osp.isdir(osp.join(source, name)) else source
        files = sorted(f for f in os.listdir(folder) if f.startswith(name + "_") and f.endswith(".txt"))
        if f"{name}_A.txt" not in files:
            raise FileNotFoundError(f"{folder} has no {name}_A.txt; expected the unzipped TU folder")
        dest_dir = osp.join(root, name, "raw")
        os.makedirs(dest_dir, exist_ok=True)
        for f in files:
            with atomic_path(osp.join(dest_dir, f)) as tmp:
                shutil.copyfile(osp.join(folder, f), tmp)
            written.append(osp.join(dest_dir, f))
    else:
        raise ValueError(f"prepare --source applies to MoleculeNet and TU datasets, not {name}")
    return written
