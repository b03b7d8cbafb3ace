r"""Node-level anti-diagonal wavefront for the 2D grid recurrence (SPEC §2, §5).

The nodes of one anti-diagonal :math:`x + y = d` only read states of diagonal
:math:`d - 1`, so the grid runs in :math:`X + Y - 1` steps over per-node cell states
:math:`R, D \in \mathbb{R}^{K \times V}`. Nodes are stored diagonal by diagonal
(ascending :math:`x` inside a diagonal), and the states of a diagonal are framed by
one zero row on each side. Then node :math:`(x, y)` reads its left
neighbour :math:`R_{x-1,y}` and its upper neighbour :math:`D_{x,y-1}` from two
*contiguous* slices of the previous diagonal's frame (a missing neighbour falls on a
zero frame row), and each step is a few elementwise / batched ops on whole
diagonals: no index tensors, no gather or scatter inside the loop.

Every edge state has exactly one consumer (:math:`R_{x,y}` is read only by
:math:`(x+1, y)`, :math:`D_{x,y}` only by :math:`(x, y+1)`), so the hand-written
backward sweeps the diagonals in reverse and hands each node's incoming-state
gradients straight to the previous diagonal, again through zero-framed slices.
Memory: the forward keeps the states of every :math:`s`-th diagonal only
(:math:`s \approx \sqrt{X + Y}`); the backward recomputes one segment of :math:`s`
diagonals at a time from its checkpoint (one extra forward sweep). Besides saving
memory this matters for speed on CPU: every state of a 64x64 batch is hundreds of MB,
and first-touching freshly mapped memory cost about a quarter of the runtime, while
per-diagonal buffers are recycled by the allocator.

This torch version runs on CUDA and without the compiled library; on the CPU with it,
``plstm_2d(form="wavefront")`` runs the same recurrence node by node in C++
(:class:`~plstm_geometric.ops.dag.compiled.CompiledGrid`), which needs no diagonal batching.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

import torch
from torch import Tensor


@dataclass(frozen=True)
class _Diagonal:
    """One anti-diagonal: node rows ``[row, row + n)`` (diagonal-major), ``x`` from ``lo``."""

    row: int
    n: int
    lo: int


#: The empty diagonal before the first one; its (all-zero) frames have two rows.
_BEFORE_FIRST = _Diagonal(0, 0, 0)


@dataclass(frozen=True)
class _Plan:
    """Diagonal-major node order of an ``X x Y`` grid.

    ``order[i]`` is the row-major node index (``x * Y + y``) of diagonal-major row
    ``i``; ``inverse`` undoes it. The forward keeps the states of every
    ``segment``-th diagonal; the backward recomputes the others one segment at a time.
    """

    diagonals: tuple[_Diagonal, ...]
    order: Tensor
    inverse: Tensor
    segment: int


@lru_cache(maxsize=64)
def _plan(X: int, Y: int) -> _Plan:
    diagonals, order, row = [], [], 0
    for d in range(X + Y - 1):
        lo, hi = max(0, d - Y + 1), min(d, X - 1)
        diagonals.append(_Diagonal(row, hi - lo + 1, lo))
        order.extend(x * Y + d - x for x in range(lo, hi + 1))
        row += hi - lo + 1
    order_t = torch.tensor(order)
    # sqrt(#diagonals) checkpoints of sqrt(#diagonals) recomputed diagonals each: both the
    # kept and the recomputed states are O(sqrt) of all states, for one extra forward sweep.
    segment = math.isqrt(len(diagonals) - 1) + 1
    return _Plan(tuple(diagonals), order_t, torch.argsort(order_t), segment)


#: The (right, down) states of one diagonal, or gradients w.r.t. its incoming (left, up)
#: states: ``[n + 2, BH, K, V]`` each, node ``x`` at row ``1 + x - lo``, rows 0 and
#: ``n + 1`` zero so that a missing neighbour reads as zero.
_Frames = tuple[Tensor, Tensor]


def _frames(like: Tensor, n: int) -> _Frames:
    """A pair of frames for ``n`` nodes, one allocation, only the border rows zeroed."""
    frames = like.new_empty(2, n + 2, *like.shape[1:])
    frames[:, 0].zero_()
    frames[:, n + 1].zero_()
    return frames[0], frames[1]


def _combine(out: Tensor, terms: list[tuple[Tensor, Optional[Tensor]]]) -> Tensor:
    """``out = sum_i a_i * b_i`` (broadcast products); a term with ``b_i = None`` is absent.

    The first term must be present. Outer-product terms (``[.., K, 1] x [.., 1, V]``) are
    accumulated without materialising the outer product, which saves a pass over memory.
    """
    (a0, b0), *rest = [(a, b) for a, b in terms if b is not None]
    torch.mul(a0, b0, out=out)
    for a, b in rest:
        out.addcmul_(a, b)
    return out


@dataclass(frozen=True)
class _Nodes:
    """Diagonal-major per-node inputs, shaped to broadcast against ``[n, BH, K, V]`` states.

    ``gates`` = (S^r, S^d, T^rl, T^ru, T^dl, T^du, M^l, M^u), each ``[N, BH, 1, 1]`` (a
    removed turn is ``None``); ``source_keys`` = (S^r k, S^d k) and ``mark_queries`` =
    (M^l q, M^u q), each ``[N, BH, K, 1]``; ``value`` ``[N, BH, 1, V]``; ``query``/``key``
    ``[N, BH, K]``.
    """

    query: Tensor
    key: Tensor
    value: Tensor
    gates: tuple[Optional[Tensor], ...]
    source_keys: tuple[Tensor, Tensor]
    mark_queries: tuple[Tensor, Tensor]

    @staticmethod
    def build(query: Tensor, key: Tensor, value: Tensor, gates: tuple[Optional[Tensor], ...]
              ) -> "_Nodes":
        sr, sd, *_, ml, mu = gates
        return _Nodes(query, key, value[:, :, None, :],
                      tuple(None if g is None else g[:, :, None, None] for g in gates),
                      ((sr[..., None] * key)[..., None], (sd[..., None] * key)[..., None]),
                      ((ml[..., None] * query)[..., None], (mu[..., None] * query)[..., None]))

    def at(self, diag: _Diagonal) -> "_Nodes":
        rows = slice(diag.row, diag.row + diag.n)
        return _Nodes(self.query[rows], self.key[rows], self.value[rows],
                      tuple(None if g is None else g[rows] for g in self.gates),
                      (self.source_keys[0][rows], self.source_keys[1][rows]),
                      (self.mark_queries[0][rows], self.mark_queries[1][rows]))


def _incoming(frames: _Frames, prev: _Diagonal, diag: _Diagonal) -> tuple[Tensor, Tensor]:
    """Incoming states of ``diag``'s nodes: left ``R_{x-1,y}`` and up ``D_{x,y-1}``.

    ``frames`` are the states of ``prev``, the diagonal before ``diag``. Node ``x`` of
    ``diag`` reads frame row ``x - prev.lo`` (left) and ``x - prev.lo + 1`` (up); a
    missing neighbour lands on a zero row.
    """
    right, down = frames
    start = diag.lo - prev.lo
    return right[start:start + diag.n], down[start + 1:start + 1 + diag.n]


def _advance(frames: _Frames, prev: _Diagonal, diag: _Diagonal, here: _Nodes
             ) -> tuple[_Frames, Tensor, Tensor]:
    """States of ``diag`` from those of ``prev``; also returns the incoming (left, up)."""
    left, up = _incoming(frames, prev, diag)
    trl, tru, tdl, tdu = here.gates[2:6]
    right, down = _frames(left, diag.n)
    _combine(right[1:diag.n + 1], [(left, trl), (up, tru), (here.source_keys[0], here.value)])
    _combine(down[1:diag.n + 1], [(up, tdu), (left, tdl), (here.source_keys[1], here.value)])
    return (right, down), left, up


class _Wavefront2D(torch.autograd.Function):
    r""":math:`y_n = (M^l R_{x-1,y} + M^u D_{x,y-1})^\top q_n + D_n (q_n \cdot k_n) v_n`.

    Inputs are diagonal-major (rows ordered by :class:`_Plan`): q/k ``[N, BH, K]``,
    v ``[N, BH, V]``, gates ``[N, BH]``; ``trans_ru`` / ``trans_dl`` may be ``None``
    (turn removed). Returns ``[N, BH, V]``.
    """

    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, value: Tensor, source_r: Tensor,
                source_d: Tensor, trans_rl: Tensor, trans_ru: Optional[Tensor],
                trans_dl: Optional[Tensor], trans_du: Tensor, mark_l: Tensor, mark_u: Tensor,
                direct: Tensor, plan: _Plan) -> Tensor:
        gates = (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u)
        nodes = _Nodes.build(query, key, value, gates)
        # q^T L and q^T U per node: the output mixes them with the marks, and the
        # backward reads the mark gradients off them without another pass over states.
        reads = value.new_empty(2, *value.shape)
        frames: _Frames = (query.new_zeros(2, query.shape[1], key.shape[-1], value.shape[-1]),) * 2
        prev = _BEFORE_FIRST
        checkpoints = []
        for i, diag in enumerate(plan.diagonals):
            here = nodes.at(diag)
            frames, left, up = _advance(frames, prev, diag, here)
            for out, state in zip(reads, (left, up)):
                # A reduction over K, the non-contiguous axis, is the fast one.
                torch.linalg.vecdot(state.transpose(-1, -2), here.query[:, :, None, :],
                                    out=out[diag.row:diag.row + diag.n])
            if (i + 1) % plan.segment == 0 and i + 1 < len(plan.diagonals):
                checkpoints.extend(frames)
            prev = diag
        ctx.save_for_backward(query, key, value, *gates, direct, reads, *checkpoints)
        ctx.plan = plan
        direct_qk = direct * (query * key).sum(-1)
        return (mark_l[..., None] * reads[0] + mark_u[..., None] * reads[1]
                + direct_qk[..., None] * value)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        query, key, value, *gates, direct, reads = ctx.saved_tensors[:13]
        checkpoints = ctx.saved_tensors[13:]
        plan: _Plan = ctx.plan
        nodes = _Nodes.build(query, key, value, tuple(gates))
        diagonals, segment = plan.diagonals, plan.segment
        sweep = _Sweep(tuple(None if g is None else torch.empty_like(g) for g in gates[2:6]),
                       torch.empty_like(query), torch.empty_like(key),
                       value.new_empty(2, *value.shape),
                       query.new_empty(max(d.n for d in diagonals), query.shape[1],
                                       key.shape[-1], value.shape[-1]))
        zero: _Frames = (sweep.scratch.new_zeros(2, *sweep.scratch.shape[1:]),) * 2
        # Gradients w.r.t. the incoming states of the diagonal after the current one;
        # after the last diagonal: an empty one whose frames read as zeros.
        grad_next, nxt = zero, _Diagonal(0, 0, diagonals[-1].lo + 1)
        for first in reversed(range(0, len(diagonals), segment)):
            last = min(first + segment, len(diagonals))
            if first:
                k = 2 * (first // segment - 1)
                frames, prev = (checkpoints[k], checkpoints[k + 1]), diagonals[first - 1]
            else:
                frames, prev = zero, _BEFORE_FIRST
            at = [nodes.at(diag) for diag in diagonals[first:last]]
            # Incoming frames of every diagonal of the segment, recomputed from its checkpoint.
            incoming = [(frames, prev)]
            for diag, here in zip(diagonals[first:last - 1], at):
                frames, prev = _advance(frames, prev, diag, here)[0], diag
                incoming.append((frames, prev))
            for diag, here in zip(reversed(diagonals[first:last]), reversed(at)):
                frames, prev = incoming.pop()
                grad_next = _backward_step(frames, prev, diag, grad_next, nxt, here, grad_out,
                                           sweep)
                nxt = diag

        sr, sd = gates[:2]
        right_k, down_k = sweep.outgoing_k
        qk, v_gy = (query * key).sum(-1), (value * grad_out).sum(-1)
        direct_v_gy = (direct * v_gy)[..., None]
        grad_q = sweep.grad_query.addcmul_(direct_v_gy, key)
        grad_k = sweep.grad_key.addcmul_(direct_v_gy, query)
        grad_v = sr[..., None] * right_k + sd[..., None] * down_k
        grad_v.addcmul_((direct * qk)[..., None], grad_out)
        # S^r k^T gR v = S^r <gR^T k, v> and M^l q^T L gy = M^l <q^T L, gy> (likewise S^d,
        # M^u) are linear in these gates.
        grad_sr, grad_sd = (value * right_k).sum(-1), (value * down_k).sum(-1)
        grad_ml, grad_mu = (reads * grad_out).sum(-1)
        return (grad_q, grad_k, grad_v, grad_sr, grad_sd, *sweep.transitions, grad_ml, grad_mu,
                qk * v_gy, None)


@dataclass(frozen=True)
class _Sweep:
    """Per-node outputs of the backward sweep (diagonal-major) and its scratch buffer.

    ``transitions``: gradients of (T^rl, T^ru, T^dl, T^du), ``[N, BH]`` or ``None``;
    ``grad_query`` ``[N, BH, K]``; ``grad_key`` ``[N, BH, K]``; ``outgoing_k``
    ``[2, N, BH, V]`` = (gR^T k, gD^T k); ``scratch`` ``[n_max, BH, K, V]``.
    """

    transitions: tuple[Optional[Tensor], ...]
    grad_query: Tensor
    grad_key: Tensor
    outgoing_k: Tensor
    scratch: Tensor


def _backward_step(frames: _Frames, prev: _Diagonal, diag: _Diagonal, grad_next: _Frames,
                   nxt: _Diagonal, here: _Nodes, grad_out: Tensor, sweep: _Sweep) -> _Frames:
    """Backward through one diagonal; returns the gradients w.r.t. its incoming states.

    ``grad_next`` holds the gradients w.r.t. the incoming states of ``nxt``, the
    diagonal after ``diag``: ``diag``'s outgoing states are exactly those (each state
    has one reader), so they are read through the same zero-framed slicing. Writes
    ``diag``'s rows of ``sweep``.
    """
    n = diag.n
    rows = slice(diag.row, diag.row + n)
    left, up = _incoming(frames, prev, diag)
    # Node x's right state is read by node x + 1 of ``nxt``, its down state by node x.
    start = diag.lo - nxt.lo
    g_right = grad_next[0][start + 2:start + 2 + n]
    g_down = grad_next[1][start + 1:start + 1 + n]
    for grad, a, b in zip(sweep.transitions, (left, up, left, up),
                          (g_right, g_right, g_down, g_down)):
        if grad is not None:
            torch.linalg.vecdot(a.flatten(-2), b.flatten(-2), out=grad[rows])
    sr, sd, trl, tru, tdl, tdu, ml, mu = here.gates
    gy = grad_out[rows, :, :, None]
    # dq = (M^l L + M^u U) gy and dk = (S^r gR + S^d gD) v: one batched matrix-vector
    # product each, on the combined state.
    read = _combine(sweep.scratch[:n], [(left, ml), (up, mu)])
    torch.matmul(read, gy, out=sweep.grad_query[rows, :, :, None])
    g_kv = _combine(sweep.scratch[:n], [(g_right, sr), (g_down, sd)])
    torch.matmul(g_kv, here.value.transpose(-1, -2), out=sweep.grad_key[rows, :, :, None])
    for out, g in zip(sweep.outgoing_k, (g_right, g_down)):
        torch.linalg.vecdot(g.transpose(-1, -2), here.key[:, :, None, :], out=out[rows])
    if prev.n == 0:
        return grad_next  # the first diagonal: nothing before it
    gy = gy.transpose(-1, -2)
    grad_left, grad_up = _frames(left, n)
    _combine(grad_left[1:n + 1], [(g_right, trl), (g_down, tdl), (here.mark_queries[0], gy)])
    _combine(grad_up[1:n + 1], [(g_down, tdu), (g_right, tru), (here.mark_queries[1], gy)])
    return grad_left, grad_up


class _Permute(torch.autograd.Function):
    """Rows of ``t`` in the order ``index``; the backward gathers by ``inverse``.

    A permutation's gradient is the inverse permutation: a gather, where autograd's
    ``index_select`` backward would zero-fill and scatter-add.
    """

    @staticmethod
    def forward(ctx: Any, t: Tensor, index: Tensor, inverse: Tensor) -> Tensor:
        ctx.inverse = inverse
        return t.index_select(0, index)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Optional[Tensor], ...]:
        return grad.index_select(0, ctx.inverse), None, None


def wavefront_2d(query: Tensor, key: Tensor, value: Tensor, source_r: Tensor, source_d: Tensor,
                 trans_rl: Tensor, trans_ru: Optional[Tensor], trans_dl: Optional[Tensor],
                 trans_du: Tensor, mark_l: Tensor, mark_u: Tensor, direct: Tensor) -> Tensor:
    """Grid pLSTM by node-level wavefront; arguments as :func:`plstm_2d` after flips and casts.

    Shapes: q/k ``[B, X, Y, H, K]``, v ``[B, X, Y, H, V]``, gates ``[B, X, Y, H]``
    (``trans_ru`` / ``trans_dl`` may be ``None``); output ``[B, X, Y, H, V]``.
    """
    B, X, Y, H, _ = query.shape
    plan = _plan(X, Y)
    order, inverse = plan.order.to(query.device), plan.inverse.to(query.device)

    def diagonal_major(t: Optional[Tensor]) -> Optional[Tensor]:
        if t is None:
            return None
        # [B, X, Y, H, *] -> [N, B*H, *] with rows in diagonal order.
        return _Permute.apply(t.flatten(1, 2).transpose(0, 1), order, inverse).flatten(1, 2)

    inputs = (query, key, value, source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du,
              mark_l, mark_u, direct)
    out = _Wavefront2D.apply(*map(diagonal_major, inputs), plan)
    return _Permute.apply(out, inverse, order).view(X, Y, B, H, -1).permute(2, 0, 1, 3, 4)
