r"""Closed form of the grid recurrence, :math:`y = (G \odot QK^\top)V` (SPEC §2), for small grids.

:math:`G[t, s]` sums the gate products of all monotone paths from node :math:`s` to node
:math:`t`. Write :math:`R_x \in \mathbb{R}^{Y \times N}` for the right states of grid row
:math:`x` as coefficients of every source's :math:`k v^\top` (row :math:`y` of :math:`R_x` is
edge :math:`(x, y) \to (x+1, y)`). Inside a row the down states follow a 1D recurrence along
:math:`y`, solved by the within-row operator :math:`U_x` (:func:`_within_row`), so a row maps
the right states of the row before it to its own by one :math:`Y \times Y` matrix:

.. math::
    R_x = W_x R_{x-1} + O^R_x, \qquad G_{x,\cdot} = Z_x R_{x-1} + O^G_x,

    W = D_{rl} + D_{ru} U D_{dl}, \quad Z = D_{ml} + D_{mu} U D_{dl}, \quad
    O^R = D_{sr} + D_{ru} U D_{sd}, \quad O^G = D_{D} + D_{mu} U D_{sd}

(:math:`D_g` the diagonal matrix of a gate over the row, :math:`O` the row's own sources, in
the columns of row :math:`x`). :math:`G` is a chain over rows with :math:`Y \times Y`
transfers: ``X`` steps of one batched matmul each (:func:`_row_chain`, hand-written backward
:func:`_row_chain_backward`), all operators built up front from the gates in a few
elementwise ops. Only
products of gates appear (no division or logarithm), so zero and negative gates are exact.

All orientations of a vision layer share :math:`QK^\top`: an orientation that flips
:math:`y` builds only its within-row operator on the reversed row (:math:`J U J`); the
orientations that flip :math:`x` run on :math:`q, k, v` flipped along :math:`x` (one more
:math:`QK^\top`), so no :math:`N \times N` matrix is ever flipped. :class:`_DenseGrid`
processes a few images at a time and rebuilds :math:`G` in its backward.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor


def _within_row(trans_du: Tensor) -> Tensor:
    r"""``U [.., Y, Y]`` with ``U[y, y'] = prod_{y' < j < y} T^{du}_j`` for ``y' < y``, else 0.

    ``U @ b`` is the up-state ``D_{x,y-1}`` of a row whose down states follow
    ``D_y = T^{du}_y D_{y-1} + b_y``. Built with one ``cumprod`` (no division, so zero and
    negative transitions are exact).
    """
    Y = trans_du.shape[-1]
    upper = torch.ones(Y, Y, dtype=torch.bool, device=trans_du.device).triu(1)
    # steps[y', y] = T^{du}_y after y', 1 up to y': its cumprod along y is P[y, y'].
    steps = torch.where(upper, trans_du[..., None, :], torch.ones_like(trans_du)[..., None, :])
    p = steps.cumprod(-1).transpose(-1, -2) * ~upper  # [.., y, y'] = P[y, y'], y >= y'
    # U[y, y'] = P[y - 1, y'] (the state one step above): shift the rows down by one.
    return torch.cat([torch.zeros_like(p[..., :1, :]), p[..., :-1, :]], -2)


def row_operators(source_r: Tensor, source_d: Tensor, trans_rl: Tensor,
                  trans_ru: Optional[Tensor], trans_dl: Optional[Tensor], trans_du: Tensor,
                  mark_l: Tensor, mark_u: Tensor, direct: Tensor,
                  flip_y: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""``(Z, W, O^R, O^G)`` per grid row from gates ``[BH, X, Y]``: each ``[BH, X, Y, Y]``,
    except that ``Z`` and ``W`` are ``[BH, X, Y, 1]`` (diagonal) without the left->down turn.

    ``flip_y`` (bool ``[BH]``) marks batch rows whose DAG runs towards decreasing :math:`y`.
    Only :math:`U` depends on the direction: it is built on the reversed row and reversed
    back, :math:`U = J\,U(J T^{du})\,J`; the diagonal gate factors are the same in either
    order, so every other term reads the gates as given.
    """
    if flip_y is None:
        u = _within_row(trans_du)
    else:
        flip = flip_y[:, None, None]
        u = _within_row(torch.where(flip, trans_du.flip(-1), trans_du))
        u = torch.where(flip[..., None], u.flip(-1, -2), u)
    rows_by = lambda g: g[..., :, None]  # noqa: E731  D_g @ M scales rows
    down_own = u * source_d[..., None, :]  # U D_sd
    own_r = torch.diag_embed(source_r)
    if trans_ru is not None:
        own_r = own_r + rows_by(trans_ru) * down_own
    own_g = torch.diag_embed(direct) + rows_by(mark_u) * down_own
    if trans_dl is None:
        return rows_by(mark_l), rows_by(trans_rl), own_r, own_g
    turn = u * trans_dl[..., None, :]  # U D_dl
    z = torch.diag_embed(mark_l) + rows_by(mark_u) * turn
    w = torch.diag_embed(trans_rl)
    if trans_ru is not None:
        w = w + rows_by(trans_ru) * turn
    return z, w, own_r, own_g


def _apply(m: Tensor, r: Tensor) -> Tensor:
    """``m @ r`` for a ``[BH, Y, Y]`` operator, or a row scaling for a diagonal ``[BH, Y, 1]``."""
    return m * r if m.shape[-1] == 1 else m @ r


def _row_chain(z: Tensor, w: Tensor, own_r: Tensor, own_g: Tensor, out: Optional[Tensor] = None
               ) -> tuple[Tensor, list[Tensor]]:
    r""":math:`G` ``[BH, N, N]`` (row-major nodes) from the row operators of :func:`row_operators`,
    and the right states :math:`R_x` (``[BH, Y, (x+1) Y]``, :math:`x < X - 1`) for the backward.

    :math:`R_0 = O^R_0`, :math:`R_x = [W_x R_{x-1} \mid O^R_x]`,
    :math:`G_{x, <x} = Z_x R_{x-1}`, :math:`G_{x,x} = O^G_x`, zero above the block diagonal.
    ``out``: a buffer from an earlier call whose blocks above the diagonal are zero (they are
    never written; zero-filling a fresh buffer per call cost 11 % of the dense form).
    """
    BH, X, Y, _ = own_r.shape
    g = own_r.new_zeros(BH, X * Y, X * Y) if out is None else out[:BH]
    rights = [own_r[:, 0]]
    for x in range(X):
        block = slice(x * Y, (x + 1) * Y)
        g[:, block, block] = own_g[:, x]
        if x:
            g[:, block, :x * Y] = _apply(z[:, x], rights[x - 1])
            if x + 1 < X:
                rights.append(torch.cat([_apply(w[:, x], rights[x - 1]), own_r[:, x]], -1))
    return g, rights


def _row_chain_backward(grad: Tensor, z: Tensor, w: Tensor, rights: list[Tensor]
                        ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Gradients of :func:`_row_chain` w.r.t. ``(Z, W, O^R, O^G)``, rows in reverse:
    :math:`dR_{x-1} = Z_x^\top dG_{x,<x} + W_x^\top dR_x[:, <x]`,
    :math:`dZ_x = dG_{x,<x} R_{x-1}^\top`, :math:`dW_x = dR_x[:, <x] R_{x-1}^\top`,
    :math:`dO^R_x = dR_x[:, x]`, :math:`dO^G_x = dG_{x,x}`."""
    X, Y = z.shape[1:3]
    grad_z, grad_w = torch.zeros_like(z), torch.zeros_like(w)
    grad_own_r = grad.new_zeros(z.shape[0], X, Y, Y)
    grad_own_g = grad.view(-1, X, Y, X, Y).diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)
    grad_right: Optional[Tensor] = None  # dR_x of the current row
    for x in reversed(range(1, X)):
        prev = rights[x - 1]
        pairs = [(grad[:, x * Y:(x + 1) * Y, :x * Y], z, grad_z)]
        if grad_right is not None:
            grad_own_r[:, x] = grad_right[..., x * Y:]
            pairs.append((grad_right[..., :x * Y], w, grad_w))
        grad_prev = None
        for g_out, m, grad_m in pairs:
            if m.shape[-1] == 1:
                grad_m[:, x] = (g_out * prev).sum(-1, keepdim=True)
                term = m[:, x] * g_out
            else:
                grad_m[:, x] = g_out @ prev.transpose(-1, -2)
                term = m[:, x].transpose(-1, -2) @ g_out
            grad_prev = term if grad_prev is None else grad_prev + term
        grad_right = grad_prev
    if grad_right is not None:
        grad_own_r[:, 0] = grad_right
    return grad_z, grad_w, grad_own_r, grad_own_g.contiguous()


#: Images per step of the batch loop of :class:`_DenseGrid` are chosen so that one
#: ``[images, H, O, N, N]`` tensor has at most this many entries: the N x N matrices of a
#: step then stay in cache and in the allocator's reused memory (fresh multi-MB buffers cost
#: page faults: an elementwise product of a 21 MB tensor took 31 ms fresh and 7 ms into a
#: reused buffer here). Chosen from a sweep of 2^16 ... 2^22 (kernel forward+backward, four
#: orientations, batch 32, 4 heads, K = V = 16, 1 thread, loaded machine): 2^19 and 2^20 were
#: the fastest at 12x12 and 8x8 and within noise of each other; 2^16 and 2^22 were 10-50 % slower.
DENSE_STEP_ENTRIES = 1 << 19


class _DenseGrid(torch.autograd.Function):
    r""":math:`y_o = (G_o \odot Q_{g(o)} K_{g(o)}^\top) V_{g(o)}` for all orientations.

    q/k ``[B, Gx, H, N, K]``, v ``[B, Gx, H, N, V]``: one copy per propagation direction
    along :math:`x` (``Gx`` = 1 or 2); row operators ``[B, H, O, X, Y, Y or 1]`` with the
    orientations of direction 0 first (``sizes`` of them, then the rest); output
    ``[B, H, O, N, V]``. The batch is processed a few images at a time and :math:`G` is
    rebuilt in the backward, so no ``[B, H, O, N, N]`` tensor is ever formed. Backward per
    step: :math:`dW = dy\,V^\top`, :math:`dV = \sum_o W_o^\top dy_o`,
    :math:`dG = dW \odot S`, :math:`dS = \sum_o dW_o \odot G_o`, :math:`dQ = dS\,K`,
    :math:`dK = dS^\top Q` with :math:`S = QK^\top`, :math:`W = G \odot S`.
    """

    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, value: Tensor, z: Tensor, w: Tensor,
                own_r: Tensor, own_g: Tensor, sizes: tuple[int, ...]) -> Tensor:
        B, _, H, N, _ = query.shape
        O = z.shape[2]
        step = max(1, DENSE_STEP_ENTRIES // (H * O * N * N))
        out = value.new_empty(B, H, O, N, value.shape[-1])
        buffer = None  # G of one step; the first step is the largest
        for b in range(0, B, step):
            part = slice(b, b + step)
            g = _row_chain(*(m[part].flatten(0, 2) for m in (z, w, own_r, own_g)), buffer)[0]
            buffer = g if buffer is None else buffer
            g = g.view(-1, H, O, N, N)
            for d, (q, k, v, o) in enumerate(_directions(query[part], key[part], value[part],
                                                         sizes)):
                gated = g[:, :, o] * (q @ k.transpose(-1, -2))[:, :, None]
                torch.matmul(gated.flatten(2, 3), v, out=out[part, :, o].flatten(2, 3))
        ctx.save_for_backward(query, key, value, z, w, own_r, own_g)
        ctx.sizes = sizes
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Optional[Tensor], ...]:
        query, key, value, z, w, own_r, own_g = ctx.saved_tensors
        B, _, H, N, _ = query.shape
        O = z.shape[2]
        step = max(1, DENSE_STEP_ENTRIES // (H * O * N * N))
        grads = [torch.empty_like(t) for t in (query, key, value, z, w, own_r, own_g)]
        buffer = None
        for b in range(0, B, step):
            part = slice(b, b + step)
            ops = [m[part].flatten(0, 2) for m in (z, w, own_r, own_g)]
            g, rights = _row_chain(*ops, buffer)
            buffer = g if buffer is None else buffer
            g = g.view(-1, H, O, N, N)
            grad_g = torch.empty_like(g)
            for d, (q, k, v, o) in enumerate(_directions(query[part], key[part], value[part],
                                                         ctx.sizes)):
                gy = grad_out[part, :, o].flatten(2, 3)
                scores = q @ k.transpose(-1, -2)
                gated = (g[:, :, o] * scores[:, :, None]).flatten(2, 3)  # [b, H, O_d N, N]
                torch.matmul(gated.transpose(-1, -2), gy, out=grads[2][part, d])
                grad_gated = (gy @ v.transpose(-1, -2)).view(gated.shape[0], H, -1, N, N)
                grad_scores = (grad_gated * g[:, :, o]).sum(2)
                torch.matmul(grad_scores, k, out=grads[0][part, d])
                torch.matmul(grad_scores.transpose(-1, -2), q, out=grads[1][part, d])
                torch.mul(grad_gated, scores[:, :, None], out=grad_g[:, :, o])
            for grad, part_grad in zip(grads[3:], _row_chain_backward(grad_g.flatten(0, 2),
                                                                       *ops[:2], rights)):
                grad[part] = part_grad.view(grad[part].shape)
        return (*grads, None)


def _directions(query: Tensor, key: Tensor, value: Tensor, sizes: tuple[int, ...]):
    """Per direction along x: its q, k, v ``[b, H, N, *]`` and its slice of the orientations."""
    start = 0
    for d, size in enumerate(sizes):
        yield query[:, d], key[:, d], value[:, d], slice(start, start + size)
        start += size


def gating_matrix(*gates: Optional[Tensor]) -> Tensor:
    """:math:`G` ``[BH, N, N]`` (row-major) from gates ``[BH, X, Y]`` (for tests and docs)."""
    return _row_chain(*row_operators(*gates))[0]


def dense_2d(query: Tensor, key: Tensor, value: Tensor, source_r: Tensor, source_d: Tensor,
             trans_rl: Tensor, trans_ru: Optional[Tensor], trans_dl: Optional[Tensor],
             trans_du: Tensor, mark_l: Tensor, mark_u: Tensor, direct: Tensor,
             flips: Sequence[tuple[bool, bool]]) -> Tensor:
    """Grid pLSTM in closed form for several orientations sharing ``q, k, v``.

    Arguments as :func:`plstm_2d_orientations` after casts: q/k ``[B, X, Y, H, K]``,
    v ``[B, X, Y, H, V]``, gates ``[B, O, X, Y, H]`` (indexed by the node that owns them);
    output ``[B, O, X, Y, H, V]``.
    """
    B, X, Y, H, _ = query.shape
    N = X * Y
    # Orientations that keep x first, then those that flip it (each direction has its q, k, v).
    order = sorted(range(len(flips)), key=lambda o: flips[o][0])
    directions = sorted({flips[o][0] for o in order})
    sizes = tuple(sum(flips[o][0] == fx for o in order) for fx in directions)
    present = [g for g in (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l,
                           mark_u, direct) if g is not None]
    # All gates at once: [9', B, O, X, Y, H] -> each orientation into its propagation order.
    stacked = torch.stack(present).unbind(2)
    # Only x is flipped into the propagation order; row_operators handles the y direction.
    stacked = torch.stack([stacked[o].flip([2] if flips[o][0] else []) for o in order], 2)
    canonical = iter(stacked.permute(0, 1, 5, 2, 3, 4).flatten(1, 3).unbind(0))
    gates = [None if g is None else next(canonical) for g in (
        source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du, mark_l, mark_u, direct)]
    flip_y = [flips[o][1] for o in order]
    ops = row_operators(*gates, flip_y=torch.tensor(flip_y, device=query.device).repeat(B * H)
                        if any(flip_y) else None)
    qkv = [torch.stack([t.flip([1] if fx else []) for fx in directions], 1)
           .permute(0, 1, 4, 2, 3, 5).reshape(B, len(directions), H, N, -1)
           for t in (query, key, value)]
    out = _DenseGrid.apply(*qkv, *(m.view(B, H, len(order), *m.shape[1:]) for m in ops), sizes)
    out = out.view(B, H, len(order), X, Y, -1).permute(0, 2, 3, 4, 1, 5)  # [B, O', X, Y, H, V]
    # unbind, not indexing: the backward then stacks instead of zero-filling per orientation.
    parts = out.unbind(1)
    return torch.stack([parts[order.index(o)].flip([1] if flip[0] else [])
                        for o, flip in enumerate(flips)], 1)
