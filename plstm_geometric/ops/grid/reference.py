r"""Obviously-correct sequential pLSTM recurrence on the 2D grid.

This loop follows SPEC §2/§5 line by line and is the readable reference that every form
of :func:`~plstm_geometric.ops.grid.plstm_2d` is tested against. Same signature as the
fast kernel; slow (one Python step per node).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ._checks import check_2d


def plstm_2d_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    source_r: Tensor,
    source_d: Tensor,
    trans_rl: Tensor,
    trans_ru: Optional[Tensor],
    trans_dl: Optional[Tensor],
    trans_du: Tensor,
    mark_l: Tensor,
    mark_u: Tensor,
    direct: Tensor,
) -> Tensor:
    r"""Sequential pLSTM on the 2D grid DAG (right edges along ``x``, down edges along ``y``).

    With :math:`R_{x,y}` the state of the right edge :math:`(x,y)\to(x+1,y)` and
    :math:`D_{x,y}` the state of the down edge :math:`(x,y)\to(x,y+1)`:

    .. math::
        R_{x,y} &= T^{rl} R_{x-1,y} + T^{ru} D_{x,y-1} + S^r k v^\top \\
        D_{x,y} &= T^{dl} R_{x-1,y} + T^{du} D_{x,y-1} + S^d k v^\top \\
        y_{x,y} &= M^l R_{x-1,y}^\top q + M^u D_{x,y-1}^\top q + D (q\cdot k) v

    (all gates at node :math:`(x, y)`). Same signature and shapes as
    :func:`~plstm_geometric.ops.grid.plstm_2d`.
    """
    check_2d(query, key, value, source_r, source_d, trans_rl, trans_ru, trans_dl,
             trans_du, mark_l, mark_u, direct)
    B, X, Y, H, K = query.shape
    V = value.shape[-1]
    zero = query.new_zeros(B, H, K, V)
    right: dict[tuple[int, int], Tensor] = {}
    down: dict[tuple[int, int], Tensor] = {}
    out = query.new_zeros(B, X, Y, H, V)

    def g(gate: Optional[Tensor], x: int, y: int) -> Tensor:
        if gate is None:
            return query.new_zeros(B, H, 1, 1)
        return gate[:, x, y, :, None, None]

    for x in range(X):
        for y in range(Y):
            q, k, v = query[:, x, y], key[:, x, y], value[:, x, y]
            r_in = right.get((x - 1, y), zero)
            d_in = down.get((x, y - 1), zero)
            kv = k[..., :, None] * v[..., None, :]
            read = g(mark_l, x, y) * r_in + g(mark_u, x, y) * d_in
            out[:, x, y] = (torch.einsum("bhkv,bhk->bhv", read, q)
                            + (direct[:, x, y] * (q * k).sum(-1))[..., None] * v)
            right[(x, y)] = (g(trans_rl, x, y) * r_in + g(trans_ru, x, y) * d_in
                             + g(source_r, x, y) * kv)
            down[(x, y)] = (g(trans_dl, x, y) * r_in + g(trans_du, x, y) * d_in
                            + g(source_d, x, y) * kv)
    return out
