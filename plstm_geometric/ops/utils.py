"""Helpers shared by every kernel family: the one dtype/autocast rule and input checks."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor


def recurrence_dtype(*tensors: Any) -> torch.dtype:
    """The dtype a recurrence runs in: float64 if any tensor input is float64, else float32.

    Half-precision inputs are promoted so that long products of gates do not underflow
    (SPEC §2: keep the recurrence in float32 even under autocast).
    """
    for t in tensors:
        if isinstance(t, Tensor) and t.dtype == torch.float64:
            return torch.float64
    return torch.float32


def call_in_recurrence_dtype(kernel: Callable[..., Tensor], query: Tensor, *args: Any,
                             **kwargs: Any) -> Tensor:
    """``kernel(query, *args, **kwargs)`` under the rule that every public kernel follows.

    Floating-point tensor arguments (positional) are cast to :func:`recurrence_dtype`,
    anything else (``None``, structures) is passed as is; autocast is disabled inside; the
    result has the dtype of ``query``.
    """
    dtype = recurrence_dtype(query, *args)

    def cast(t: Any) -> Any:
        return t.to(dtype) if isinstance(t, Tensor) and t.is_floating_point() else t

    with torch.autocast(device_type=query.device.type, enabled=False):
        out = kernel(cast(query), *map(cast, args), **kwargs)
    return out.to(query.dtype)


def next_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def check_chunk_size(chunk_size: int) -> None:
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"'chunk_size' must be a positive power of two, got {chunk_size}")


def check_qkv(query: Tensor, key: Tensor, value: Tensor, layout: str) -> None:
    """``query``/``key`` ``[*layout, H, K]`` and ``value`` ``[*layout, H, V]``
    (``layout`` names the leading dimensions, e.g. ``"B, T"``)."""
    ndim = len(layout.split(",")) + 2
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.dim() != ndim:
            raise ValueError(f"'{name}' must have {ndim} dimensions [{layout}, H, *], "
                             f"got shape {tuple(t.shape)}")
    if query.shape != key.shape:
        raise ValueError(f"'query' and 'key' must have the same shape, got "
                         f"{tuple(query.shape)} and {tuple(key.shape)}")
    if value.shape[:-1] != query.shape[:-1]:
        raise ValueError(f"'value' must match 'query' in all but the last dimension, got "
                         f"{tuple(value.shape)} and {tuple(query.shape)}")


def check_gates(expected: Sequence[int], gates: Sequence[tuple[str, Optional[Tensor]]],
                what: str = "the query shape without its last dimension") -> None:
    for name, gate in gates:
        if gate is not None and tuple(gate.shape) != tuple(expected):
            raise ValueError(f"gate '{name}' must have shape {tuple(expected)} ({what}), "
                             f"got {tuple(gate.shape)}")
