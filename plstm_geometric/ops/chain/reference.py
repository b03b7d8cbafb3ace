r"""Obviously-correct sequential pLSTM recurrence on a chain.

This loop follows SPEC §2/§5 line by line and is the readable reference that
:func:`~plstm_geometric.ops.chain.plstm_1d` is tested against. Same signature as the fast
kernel; slow (one Python step per node).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .chunk import check_1d


def plstm_1d_reference(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    source: Tensor,
    transition: Tensor,
    mark: Tensor,
    direct: Tensor,
) -> Tensor:
    r"""Sequential pLSTM on the chain :math:`0 \to 1 \to \dots \to T-1`.

    .. math::
        C_t = T_t C_{t-1} + S_t k_t v_t^\top, \qquad
        y_t = M_t C_{t-1}^\top q_t + D_t (q_t \cdot k_t) v_t

    with :math:`C_{-1} = 0`. Same signature and shapes as
    :func:`~plstm_geometric.ops.chain.plstm_1d`.
    """
    check_1d(query, key, value, source, transition, mark, direct)
    B, T, H, K = query.shape
    V = value.shape[-1]
    state = query.new_zeros(B, H, K, V)
    out = []
    for t in range(T):
        q, k, v = query[:, t], key[:, t], value[:, t]
        y = mark[:, t, :, None] * torch.einsum("bhkv,bhk->bhv", state, q)
        y = y + (direct[:, t] * (q * k).sum(-1))[..., None] * v
        out.append(y)
        state = (transition[:, t, :, None, None] * state
                 + source[:, t, :, None, None] * k[..., :, None] * v[..., None, :])
    return torch.stack(out, dim=1)
