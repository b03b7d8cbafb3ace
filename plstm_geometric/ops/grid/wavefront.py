r"""Node-level anti-diagonal wavefront for the 2D grid recurrence (SPEC §2, §5).

The nodes of one anti-diagonal :math:`x + y = d` only read states of diagonal
:math:`d - 1`, so the grid runs in :math:`X + Y - 1` steps over per-node cell states
:math:`R, D \in \mathbb{R}^{K \times V}`. Nodes are stored diagonal by diagonal
(ascending :math:`x` inside a diagonal), and every diagonal of the state buffers is
framed by one zero row on each side. Then node :math:`(x, y)` reads its left
neighbour :math:`R_{x-1,y}` and its upper neighbour :math:`D_{x,y-1}` from two
*contiguous* slices of the previous diagonal's frame (a missing neighbour falls on a
zero frame row), and each step is a few elementwise / batched ops on whole
diagonals: no index tensors, no gather or scatter inside the loop.

Every edge state has exactly one consumer (:math:`R_{x,y}` is read only by
:math:`(x+1, y)`, :math:`D_{x,y}` only by :math:`(x, y+1)`), so the hand-written
backward sweeps the diagonals in reverse and hands each node's incoming-state
gradients straight to the previous diagonal, again through zero-framed slices.
The forward keeps every state (as the DAG state form does); the backward keeps only
two diagonals of state gradients.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

import torch
from torch import Tensor


@dataclass(frozen=True)
class _Diagonal:
    """One anti-diagonal: node rows ``[row, row + n)``, ``x`` from ``lo``; state frame at ``frame``."""

    row: int
    n: int
    lo: int
    frame: int


#: The empty diagonal before the first one: its frame is rows 0 and 1, both zero.
_BEFORE_FIRST = _Diagonal(0, 0, 0, 0)


@dataclass(frozen=True)
class _Plan:
    """Diagonal-major node order of an ``X x Y`` grid and the state-frame layout.

    ``order[i]`` is the row-major node index (``x * Y + y``) of diagonal-major row
    ``i``; ``inverse`` undoes it. A diagonal with ``n`` nodes owns a frame of
    ``n + 2`` state rows (``zero_rows`` are the frame borders); frame 0 (two zero rows)
    stands for the empty diagonal before the first one.
    """

    diagonals: tuple[_Diagonal, ...]
    order: Tensor
    inverse: Tensor
    zero_rows: Tensor
    state_rows: int


@lru_cache(maxsize=64)
def _plan(X: int, Y: int) -> _Plan:
    diagonals, order, zero_rows = [], [], [0, 1]
    row, frame = 0, 2
    for d in range(X + Y - 1):
        lo, hi = max(0, d - Y + 1), min(d, X - 1)
        n = hi - lo + 1
        diagonals.append(_Diagonal(row, n, lo, frame))
        order.extend(x * Y + d - x for x in range(lo, hi + 1))
        zero_rows += [frame, frame + n + 1]
        row, frame = row + n, frame + n + 2
    order_t = torch.tensor(order)
    return _Plan(tuple(diagonals), order_t, torch.argsort(order_t), torch.tensor(zero_rows),
                 frame)


def _weight(gate: Tensor) -> Tensor:
    """``[n, BH]`` gate as a broadcastable factor of ``[n, BH, K, V]`` states."""
    return gate[:, :, None, None]


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-state Frobenius product: ``[n, BH, K, V] x [n, BH, K, V] -> [n, BH]``."""
    return torch.linalg.vecdot(a.flatten(-2), b.flatten(-2))


def _combine(out: Tensor, terms: list[tuple[Tensor, Optional[Tensor]]]) -> Tensor:
    """``out = sum_i w_i * a_i`` for ``(a_i, w_i)`` with ``[n, BH]`` weights; ``w_i=None`` is absent."""
    terms = [(a, w) for a, w in terms if w is not None]
    torch.mul(terms[0][0], _weight(terms[0][1]), out=out)
    for a, w in terms[1:]:
        out.addcmul_(a, _weight(w))
    return out


class _Wavefront2D(torch.autograd.Function):
    r"""Recurrent part of the grid pLSTM, :math:`y_n = (M^l R_{x-1,y} + M^u D_{x,y-1})^\top q_n`.

    All tensors are diagonal-major (rows ordered by :class:`_Plan`): q/k ``[N, BH, K]``,
    v ``[N, BH, V]``, gates ``[N, BH]``; ``trans_ru`` / ``trans_dl`` may be ``None``
    (turn removed). Returns ``[N, BH, V]``.
    """

    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, value: Tensor, source_r: Tensor,
                source_d: Tensor, trans_rl: Tensor, trans_ru: Optional[Tensor],
                trans_dl: Optional[Tensor], trans_du: Tensor, mark_l: Tensor, mark_u: Tensor,
                plan: _Plan) -> Tensor:
        N, BH, K = query.shape
        V = value.shape[-1]
        right = query.new_empty(plan.state_rows, BH, K, V)
        down = torch.empty_like(right)
        zero_rows = plan.zero_rows.to(query.device)
        right.index_fill_(0, zero_rows, 0)
        down.index_fill_(0, zero_rows, 0)
        out = query.new_empty(N, BH, V)
        n_max = max(d.n for d in plan.diagonals)
        kv_buf, read_buf = query.new_empty(2, n_max, BH, K, V).unbind(0)
        prev = _BEFORE_FIRST
        for diag in plan.diagonals:
            rows = slice(diag.row, diag.row + diag.n)
            left, up = _incoming(right, down, prev, diag)
            g = [None if t is None else t[rows] for t in
                 (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u)]
            sr, sd, trl, tru, tdl, tdu, ml, mu = g
            kv = torch.mul(key[rows, :, :, None], value[rows, :, None, :], out=kv_buf[:diag.n])
            state = slice(diag.frame + 1, diag.frame + 1 + diag.n)
            _combine(right[state], [(kv, sr), (left, trl), (up, tru)])
            _combine(down[state], [(kv, sd), (left, tdl), (up, tdu)])
            read = _combine(read_buf[:diag.n], [(left, ml), (up, mu)])
            # q^T (M^l L + M^u U): a reduction over K, the non-contiguous axis, is the fast one.
            torch.linalg.vecdot(read.transpose(-1, -2), query[rows, :, None, :], out=out[rows])
            prev = diag
        ctx.save_for_backward(query, key, value, source_r, source_d, trans_rl, trans_ru,
                              trans_dl, trans_du, mark_l, mark_u, right, down)
        ctx.plan = plan
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        (query, key, value, source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du,
         mark_l, mark_u, right, down) = ctx.saved_tensors
        plan: _Plan = ctx.plan
        N, BH, K = query.shape
        V = value.shape[-1]
        gates = (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u)
        grad_gates = [None if t is None else torch.empty_like(t) for t in gates]
        grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (query, key, value))
        n_max = max(d.n for d in plan.diagonals)
        kv_buf, qgy_buf, tmp_buf = query.new_empty(3, n_max, BH, K, V).unbind(0)
        # Gradients of the incoming states (left, up) of the diagonal processed last, in
        # zero-framed buffers like the forward states; two pairs, used alternately.
        frames = query.new_zeros(2, 2, n_max + 2, BH, K, V)
        which = 0
        nxt_left, nxt_up = frames[which]
        # A virtual empty diagonal after the last one: its frame reads as zeros.
        nxt = _Diagonal(0, 0, plan.diagonals[-1].lo + 1, 0)
        for i in reversed(range(len(plan.diagonals))):
            diag, prev = plan.diagonals[i], plan.diagonals[i - 1] if i else _BEFORE_FIRST
            rows = slice(diag.row, diag.row + diag.n)
            n = diag.n
            left, up = _incoming(right, down, prev, diag)
            # This diagonal's outgoing states are the next diagonal's incoming ones.
            shift = diag.lo - nxt.lo
            g_right = nxt_left[2 + shift:2 + shift + n]
            g_down = nxt_up[1 + shift:1 + shift + n]
            sr, sd, trl, tru, tdl, tdu, ml, mu = (None if t is None else t[rows] for t in gates)
            gsr, gsd, gtrl, gtru, gtdl, gtdu, gml, gmu = (None if t is None else t[rows]
                                                          for t in grad_gates)
            q, k, v, gy = query[rows], key[rows], value[rows], grad_out[rows]
            kv = torch.mul(k[..., :, None], v[..., None, :], out=kv_buf[:n])
            qgy = torch.mul(q[..., :, None], gy[..., None, :], out=qgy_buf[:n])
            for out, a, b in ((gsr, kv, g_right), (gsd, kv, g_down), (gtrl, left, g_right),
                              (gtru, up, g_right), (gtdl, left, g_down), (gtdu, up, g_down),
                              (gml, left, qgy), (gmu, up, qgy)):
                if out is not None:
                    torch.linalg.vecdot(a.flatten(-2), b.flatten(-2), out=out)
            # dy/dq = (M^l L + M^u U) gy; dy/d(kv) = S^r gR + S^d gD.
            read = _combine(tmp_buf[:n], [(left, ml), (up, mu)])
            torch.matmul(read, gy[..., None], out=grad_q[rows, :, :, None])
            g_kv = _combine(tmp_buf[:n], [(g_right, sr), (g_down, sd)])
            torch.matmul(g_kv, v[..., None], out=grad_k[rows, :, :, None])
            torch.linalg.vecdot(g_kv.transpose(-1, -2), k[..., None, :], out=grad_v[rows])
            if i == 0:
                break
            which = 1 - which
            cur_left, cur_up = frames[which]
            _combine(cur_left[1:1 + n], [(g_right, trl), (g_down, tdl), (qgy, ml)])
            _combine(cur_up[1:1 + n], [(g_right, tru), (g_down, tdu), (qgy, mu)])
            # A larger earlier use of this buffer may have left data in the closing row.
            cur_left[1 + n].zero_()
            cur_up[1 + n].zero_()
            nxt_left, nxt_up, nxt = cur_left, cur_up, diag
        return (grad_q, grad_k, grad_v, *grad_gates, None)


def _incoming(right: Tensor, down: Tensor, prev: _Diagonal, diag: _Diagonal
              ) -> tuple[Tensor, Tensor]:
    """Incoming states of ``diag``'s nodes: left ``R_{x-1,y}`` and up ``D_{x,y-1}``.

    ``prev`` is the diagonal before ``diag``; its frame row ``1 + x - prev.lo`` holds
    node ``x``. Node ``x`` of ``diag`` reads row ``x - prev.lo`` (left) and
    ``x - prev.lo + 1`` (up); a missing neighbour lands on a zero frame row.
    """
    start = prev.frame + diag.lo - prev.lo
    return right[start:start + diag.n], down[start + 1:start + 1 + diag.n]


def wavefront_2d(query: Tensor, key: Tensor, value: Tensor, source_r: Tensor, source_d: Tensor,
                 trans_rl: Tensor, trans_ru: Optional[Tensor], trans_dl: Optional[Tensor],
                 trans_du: Tensor, mark_l: Tensor, mark_u: Tensor, direct: Tensor) -> Tensor:
    """Grid pLSTM by node-level wavefront; arguments as :func:`plstm_2d` after flips and casts.

    Shapes: q/k ``[B, X, Y, H, K]``, v ``[B, X, Y, H, V]``, gates ``[B, X, Y, H]``
    (``trans_ru`` / ``trans_dl`` may be ``None``); output ``[B, X, Y, H, V]``.
    """
    B, X, Y, H, _ = query.shape
    plan = _plan(X, Y)
    order = plan.order.to(query.device)

    def diagonal_major(t: Optional[Tensor]) -> Optional[Tensor]:
        if t is None:
            return None
        # [B, X, Y, H, *] -> [N, B*H, *] with rows in diagonal order.
        return t.flatten(1, 2).transpose(0, 1).index_select(0, order).flatten(1, 2)

    gates = (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u)
    recurrent = _Wavefront2D.apply(*map(diagonal_major, (query, key, value, *gates)), plan)
    recurrent = recurrent.index_select(0, plan.inverse.to(query.device))
    recurrent = recurrent.view(X, Y, B, H, -1).permute(2, 0, 1, 3, 4)
    direct_term = (direct * (query * key).sum(-1))[..., None] * value
    return recurrent + direct_term
