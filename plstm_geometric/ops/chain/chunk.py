r"""Log-depth chunkwise pLSTM on a 1D chain (SPEC §5, "1D"): the public chain kernel."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils import (call_in_recurrence_dtype, check_chunk_size, check_gates, check_qkv,
                     next_pow2)


def check_1d(query: Tensor, key: Tensor, value: Tensor, source: Tensor, transition: Tensor,
             mark: Tensor, direct: Tensor) -> None:
    check_qkv(query, key, value, "B, T")
    check_gates(query.shape[:-1], (("source", source), ("transition", transition),
                                   ("mark", mark), ("direct", direct)))


def plstm_1d(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    source: Tensor,
    transition: Tensor,
    mark: Tensor,
    direct: Tensor,
    *,
    chunk_size: int = 64,
) -> Tensor:
    r"""pLSTM on the chain DAG :math:`0 \to 1 \to \dots \to T-1` in log-depth chunkwise form.

    The cell state :math:`C_t \in \mathbb{R}^{K \times V}` lives on the edge
    :math:`t \to t+1` and follows SPEC §2 with the chain gate mapping of SPEC §5:

    .. math::
        C_t = T_t\, C_{t-1} + S_t\, k_t v_t^\top, \qquad
        y_t = M_t\, C_{t-1}^\top q_t + D_t\, (q_t \cdot k_t)\, v_t .

    Equivalently :math:`y = (G \odot Q K^\top) V` with
    :math:`G_{ts} = M_t \bigl(\prod_{r=s+1}^{t-1} T_r\bigr) S_s` for :math:`s < t`
    and :math:`G_{tt} = D_t`. Inside a chunk of length :math:`c` (a power of two),
    blocks of length :math:`2^i` are merged pairwise in :math:`\log_2 c` steps:
    the transfer :math:`T^{i+1}[x] = T^i[2x+1]\,T^i[2x]`, the source-to-end and
    start-to-mark vectors by concatenation (scaled by the other block's transfer)
    and the gating matrix by filling its lower-left block with
    :math:`\text{mark}_{2x+1} \otimes \text{source}_{2x}`. Chunk states are then
    passed in a short sequential loop over the :math:`\lceil T / c \rceil` chunks.
    Only products of gates appear (no division, no logarithm), so negative or
    zero transitions are exact.

    No :math:`K^{-1/2}` scaling is applied; layers do that. The recurrence runs in
    float32 (float64 if any input is float64) with autocast disabled; the result
    has the dtype of ``query``.

    Args:
        query (torch.Tensor): Queries :math:`q_t`.
        key (torch.Tensor): Keys :math:`k_t`.
        value (torch.Tensor): Values :math:`v_t`.
        source (torch.Tensor): :math:`S_t`, node :math:`t` onto edge :math:`t \to t+1`
            (unused at :math:`t = T-1`).
        transition (torch.Tensor): :math:`T_t`, at node :math:`t` from edge
            :math:`t-1 \to t` to :math:`t \to t+1` (unused at :math:`t = 0`).
        mark (torch.Tensor): :math:`M_t`, edge :math:`t-1 \to t` into node :math:`t`
            (unused at :math:`t = 0`).
        direct (torch.Tensor): :math:`D_t`.
        chunk_size (int, optional): Chunk length, a power of two; it is lowered
            to the next power of two :math:`\geq T`. (default: :obj:`64`)

    Shapes:
        - **input:** query/key :math:`(B, T, H, K)`, value :math:`(B, T, H, V)`,
          every gate :math:`(B, T, H)`
        - **output:** :math:`(B, T, H, V)`
    """
    check_1d(query, key, value, source, transition, mark, direct)
    check_chunk_size(chunk_size)
    return call_in_recurrence_dtype(_plstm_1d, query, key, value, source, transition, mark,
                                    direct, chunk_size=chunk_size)


def _plstm_1d(query: Tensor, key: Tensor, value: Tensor, source: Tensor, transition: Tensor,
              mark: Tensor, direct: Tensor, chunk_size: int) -> Tensor:
    B, T, H, K = query.shape
    V = value.shape[-1]
    c = min(chunk_size, next_pow2(T))
    pad = (-T) % c
    n = (T + pad) // c

    def gates(t: Tensor) -> Tensor:  # [B, T, H] -> [B, H, T + pad]
        # Zero gates on padded steps: they come after every real step and never feed back.
        return F.pad(t.transpose(1, 2), (0, pad))

    def chunks(t: Tensor) -> Tensor:  # [B, T, H, D] -> [B, H, n, c, D]
        return F.pad(t, (0, 0, 0, 0, 0, pad)).transpose(1, 2).reshape(B, H, n, c, -1)

    # Level 0: every node is a block of length one.
    tb = gates(transition)                      # transfer through the block
    sb = gates(source)[..., None]               # [.., s] node -> block's outgoing edge
    mb = gates(mark)[..., None]                 # [.., s] block's incoming edge -> node
    g = gates(direct)[..., None, None]          # [.., s, s] intra-block gating
    s = 1
    while s < c:
        tb_a, tb_b = tb[..., 0::2], tb[..., 1::2]
        sb_a, sb_b = sb[..., 0::2, :], sb[..., 1::2, :]
        mb_a, mb_b = mb[..., 0::2, :], mb[..., 1::2, :]
        g_a, g_b = g[..., 0::2, :, :], g[..., 1::2, :, :]
        cross = mb_b[..., :, None] * sb_a[..., None, :]
        g = torch.cat([torch.cat([g_a, torch.zeros_like(g_a)], -1),
                       torch.cat([cross, g_b], -1)], -2)
        sb = torch.cat([tb_b[..., None] * sb_a, sb_b], -1)
        mb = torch.cat([mb_a, tb_a[..., None] * mb_b], -1)
        tb = tb_b * tb_a
        s *= 2
    # tb [B, H, n], sb/mb [B, H, n, c], g [B, H, n, c, c]

    q, k, v = chunks(query), chunks(key), chunks(value)
    out = (g * (q @ k.transpose(-1, -2))) @ v
    if n > 1:
        kv = torch.einsum("bhnc,bhnck,bhncv->bhnkv", sb, k, v)
        state = q.new_zeros(B, H, K, V)
        incoming = []
        for i in range(n):
            incoming.append(state)
            state = tb[:, :, i, None, None] * state + kv[:, :, i]
        c_in = torch.stack(incoming, dim=2)     # [B, H, n, K, V]
        out = out + mb[..., None] * (q @ c_in)
    return out.reshape(B, H, n * c, V)[:, :, :T].transpose(1, 2)
