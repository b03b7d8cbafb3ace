"""Input validation shared by the grid kernels and their references."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor


def _check_qkv(query: Tensor, key: Tensor, value: Tensor, spatial: int) -> None:
    ndim = 3 + spatial
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.dim() != ndim:
            raise ValueError(f"'{name}' must have {ndim} dimensions "
                             f"[B, {'T' if spatial == 1 else 'X, Y'}, H, *], got shape {tuple(t.shape)}")
    if query.shape != key.shape:
        raise ValueError(f"'query' and 'key' must have the same shape, got "
                         f"{tuple(query.shape)} and {tuple(key.shape)}")
    if value.shape[:-1] != query.shape[:-1]:
        raise ValueError(f"'value' must match 'query' in all but the last dimension, got "
                         f"{tuple(value.shape)} and {tuple(query.shape)}")


def _check_gates(query: Tensor, gates: Sequence[tuple[str, Optional[Tensor]]]) -> None:
    expected = query.shape[:-1]
    for name, gate in gates:
        if gate is None:
            continue
        if gate.shape != expected:
            raise ValueError(f"gate '{name}' must have shape {tuple(expected)} "
                             f"(the query shape without its last dimension), got {tuple(gate.shape)}")


def check_1d(query: Tensor, key: Tensor, value: Tensor, source: Tensor, transition: Tensor,
             mark: Tensor, direct: Tensor) -> None:
    _check_qkv(query, key, value, spatial=1)
    _check_gates(query, (("source", source), ("transition", transition), ("mark", mark),
                         ("direct", direct)))


def check_2d(query: Tensor, key: Tensor, value: Tensor, source_r: Tensor, source_d: Tensor,
             trans_rl: Tensor, trans_ru: Optional[Tensor], trans_dl: Optional[Tensor],
             trans_du: Tensor, mark_l: Tensor, mark_u: Tensor, direct: Tensor) -> None:
    _check_qkv(query, key, value, spatial=2)
    for name, gate in (("source_r", source_r), ("source_d", source_d), ("trans_rl", trans_rl),
                       ("trans_du", trans_du), ("mark_l", mark_l), ("mark_u", mark_u),
                       ("direct", direct)):
        if gate is None:
            raise ValueError(f"gate '{name}' is required (only 'trans_ru' and 'trans_dl' may be None)")
    _check_gates(query, (("source_r", source_r), ("source_d", source_d), ("trans_rl", trans_rl),
                         ("trans_ru", trans_ru), ("trans_dl", trans_dl), ("trans_du", trans_du),
                         ("mark_l", mark_l), ("mark_u", mark_u), ("direct", direct)))


def compute_dtype(*tensors: Optional[Tensor]) -> torch.dtype:
    """The dtype the recurrence runs in: float64 if any input is float64, else float32.

    Half-precision inputs are promoted so that long products of gates do not
    underflow (SPEC §2: keep the recurrence in float32 even under autocast).
    """
    for t in tensors:
        if t is not None and t.dtype == torch.float64:
            return torch.float64
    return torch.float32


def check_chunk_size(chunk_size: int) -> None:
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"'chunk_size' must be a positive power of two, got {chunk_size}")
