"""Checkpoints, tables and JSON, each written through :func:`~plstm_geometric.utils.io.atomic_path`:
a run killed mid-write never leaves a truncated checkpoint or table."""
from __future__ import annotations

import csv
import json
from typing import Any, Dict, List

import torch

from ..utils.io import atomic_path

# Version of the best.pt layout (keys written by train.loop.checkpoint_metadata); readers refuse
# other versions with a clear message instead of failing on a missing key.
CHECKPOINT_FORMAT = 1


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
