"""Input validation shared by the 2D grid kernel and its reference."""
from __future__ import annotations

from typing import Optional, Sequence

from torch import Tensor

from ..utils import check_gates, check_qkv

GATE_NAMES = ("source_r", "source_d", "trans_rl", "trans_ru", "trans_dl", "trans_du", "mark_l",
              "mark_u", "direct")


def check_2d(query: Tensor, key: Tensor, value: Tensor, *gates: Optional[Tensor],
             orientations: Optional[int] = None) -> None:
    """q/k/v ``[B, X, Y, H, *]``; gates ``[B, X, Y, H]``, or ``[B, O, X, Y, H]`` with
    ``orientations=O``; only ``trans_ru`` and ``trans_dl`` may be :obj:`None`."""
    check_qkv(query, key, value, "B, X, Y")
    named: Sequence[tuple[str, Optional[Tensor]]] = list(zip(GATE_NAMES, gates))
    for name, gate in named:
        if gate is None and name not in ("trans_ru", "trans_dl"):
            raise ValueError(f"gate '{name}' is required (only 'trans_ru' and 'trans_dl' may be None)")
    B, X, Y, H = query.shape[:-1]
    if orientations is None:
        check_gates((B, X, Y, H), named)
    else:
        check_gates((B, orientations, X, Y, H), named,
                    what=f"[B, O, X, Y, H] for {orientations} orientations")
