"""Atomic file writes: a run killed mid-write never leaves a truncated checkpoint or table."""
from __future__ import annotations

import csv
import json
import os
import tempfile
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List

import torch

# Version of the best.pt layout (keys written by train.loop.checkpoint_metadata); readers refuse
# other versions with a clear message instead of failing on a missing key.
CHECKPOINT_FORMAT = 1


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block
    ends, removed if it raises (for writers that take a path, e.g. PyG's
    ``InMemoryDataset.save``)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic(path: str, write) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def save_torch(obj: Any, path: str) -> None:
    _atomic(path, lambda f: torch.save(obj, f))


def save_text(text: str, path: str) -> None:
    save_text_bytes(text.encode(), path)


def save_text_bytes(data: bytes, path: str) -> None:
    _atomic(path, lambda f: f.write(data))


def save_json(obj: Any, path: str) -> None:
    save_text(json.dumps(obj, indent=2) + "\n", path)


def save_csv(rows: List[Dict[str, Any]], path: str) -> None:
    import io

    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    save_text(buf.getvalue(), path)


def load_torch(path: str) -> Any:
    # Our own checkpoints hold RNG states and plain config dicts next to tensors.
    return torch.load(path, map_location="cpu", weights_only=False)


def load_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)
