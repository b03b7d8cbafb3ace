r"""Chunkwise log-depth form of the 2D grid recurrence (SPEC §5, "Log-depth construction").

Per chunk of :math:`c \times c` nodes the gating matrix :math:`G` is built by merging
:math:`2 \times 2` meta-cells :math:`\log_2 c` times; chunks then exchange border states
along an anti-diagonal wavefront (:math:`n_x + n_y - 1` steps). The fewest sequential steps
of all forms, at about 2.7x the wavefront's arithmetic: the design choice for accelerators.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .wavefront import _plan
from ..utils import next_pow2


def _morton(c: int, device: torch.device) -> Tensor:
    """Row-major index (``x * c + y``) of each position of the recursive quadrant order.

    Merging quadrants (A, C, B, D) = ((0,0), (0,1), (1,0), (1,1)) level by level
    stacks node blocks in this Z order, so the hierarchy never permutes; inputs
    are put into this order once per chunk and the output is put back once.
    """
    idx = torch.zeros(1, dtype=torch.long, device=device)
    s = 1
    while s < c:
        # Previous level's row-major offsets (side s) rebased onto side 2s, per quadrant.
        base = (idx // s) * (2 * s) + idx % s
        idx = torch.cat([base + qx * s * 2 * s + qy * s for qx in (0, 1) for qy in (0, 1)])
        s *= 2
    return idx


def _merge(tb: Tensor, sb: Tensor, mb: Tensor, g: Tensor, s: int
           ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Merge 2x2 meta-cells of side ``s`` into meta-cells of side ``2s``.

    Inputs have shape ``[..., NX, NY, rows, cols]``; the result ``[..., NX/2, NY/2, ...]``.
    Border index order: in = (left edges by y, top edges by x), out = (right by y,
    bottom by x); nodes in recursive quadrant (Z) order, see :func:`_morton`.

    Quadrants A = (0, 0), B = (1, 0) (next in x), C = (0, 1) (next in y), D = (1, 1).
    Every quadrant's in-border is an affine map of the merged cell's external
    in-border (4s entries) and of its sources (4s^2 nodes, quadrant-major order
    A, C, B, D); the maps are built in dependency order A -> {B, C} -> D.
    """
    A, C, B, D = range(4)
    quads = ((0, 0), (0, 1), (1, 0), (1, 1))
    tq = [tb[..., qx::2, qy::2, :, :] for qx, qy in quads]
    sq = [sb[..., qx::2, qy::2, :, :] for qx, qy in quads]
    mq = [mb[..., qx::2, qy::2, :, :] for qx, qy in quads]
    gq = [g[..., qx::2, qy::2, :, :] for qx, qy in quads]
    batch = tq[0].shape[:-2]
    n_ext, n_src = 4 * s, 4 * s * s
    eye = torch.eye(n_ext, dtype=tb.dtype, device=tb.device)
    no_src = tb.new_zeros(()).expand(*batch, s, n_src)

    def external(offset: int) -> tuple[Tensor, Tensor]:
        return eye[offset:offset + s].expand(*batch, s, n_ext), no_src

    def own(t: Tensor, q: int) -> Tensor:
        # Place a quadrant's per-node columns at its slot of the merged source axis.
        return F.pad(t, (q * s * s, (3 - q) * s * s))

    in_ext: dict[int, Tensor] = {}
    in_src: dict[int, Tensor] = {}
    out_ext: dict[int, Tensor] = {}
    out_src: dict[int, Tensor] = {}

    def propagate(q: int, left: tuple[Tensor, Tensor], top: tuple[Tensor, Tensor]) -> None:
        in_ext[q] = torch.cat([left[0], top[0]], -2)
        in_src[q] = torch.cat([left[1], top[1]], -2)
        out_ext[q] = tq[q] @ in_ext[q]
        out_src[q] = tq[q] @ in_src[q] + own(sq[q], q)

    def right(q: int) -> tuple[Tensor, Tensor]:
        return out_ext[q][..., :s, :], out_src[q][..., :s, :]

    def bottom(q: int) -> tuple[Tensor, Tensor]:
        return out_ext[q][..., s:, :], out_src[q][..., s:, :]

    # External in-border layout: [left y < s (A), left y >= s (C), top x < s (A), top x >= s (B)].
    propagate(A, external(0), external(2 * s))
    propagate(B, right(A), external(3 * s))
    propagate(C, external(s), bottom(A))
    propagate(D, right(C), bottom(B))

    out_rows = (right(B), right(D), bottom(C), bottom(D))
    tb = torch.cat([r[0] for r in out_rows], -2)
    sb = torch.cat([r[1] for r in out_rows], -2)
    mb = torch.cat([mq[q] @ in_ext[q] for q in range(4)], -2)
    g = torch.cat([mq[q] @ in_src[q] + own(gq[q], q) for q in range(4)], -2)
    return tb, sb, mb, g


def chunk_2d(query: Tensor, key: Tensor, value: Tensor, source_r: Tensor, source_d: Tensor,
              trans_rl: Tensor, trans_ru: Optional[Tensor], trans_dl: Optional[Tensor],
              trans_du: Tensor, mark_l: Tensor, mark_u: Tensor, direct: Tensor,
              chunk_size: int) -> Tensor:
    """Grid pLSTM in chunks of side ``chunk_size`` (a power of two; lowered to the next power
    of two >= max(X, Y)); arguments and shapes as :func:`~.wavefront.wavefront_2d`."""
    # A removed turn is a zero transition for the block algebra.
    trans_ru = torch.zeros_like(trans_rl) if trans_ru is None else trans_ru
    trans_dl = torch.zeros_like(trans_rl) if trans_dl is None else trans_dl
    B, X, Y, H, K = query.shape
    V = value.shape[-1]
    c = min(chunk_size, next_pow2(max(X, Y)))
    pad_x, pad_y = (-X) % c, (-Y) % c
    nx, ny = (X + pad_x) // c, (Y + pad_y) // c

    def gate(t: Tensor) -> Tensor:  # [B, X, Y, H] -> [B, H, X', Y']
        # Padding sits at high x / high y: downstream of every real node, never feeding back.
        return F.pad(t.permute(0, 3, 1, 2), (0, pad_y, 0, pad_x))

    z_order = _morton(c, query.device)

    def chunks(t: Tensor) -> Tensor:  # [B, X, Y, H, D] -> [B, H, nx, ny, c*c (Z order), D]
        t = F.pad(t, (0, 0, 0, 0, 0, pad_y, 0, pad_x))
        t = t.view(B, nx, c, ny, c, H, -1).permute(0, 5, 1, 3, 2, 4, 6)
        return t.reshape(B, H, nx, ny, c * c, -1)[..., z_order, :]

    # Level 0: 1x1 cells. Transfer rows (out right, out down), columns (in left, in up).
    tb = torch.stack([torch.stack([gate(trans_rl), gate(trans_ru)], -1),
                      torch.stack([gate(trans_dl), gate(trans_du)], -1)], -2)
    sb = torch.stack([gate(source_r), gate(source_d)], -1)[..., None]
    mb = torch.stack([gate(mark_l), gate(mark_u)], -1)[..., None, :]
    g = gate(direct)[..., None, None]
    s = 1
    while s < c:
        tb, sb, mb, g = _merge(tb, sb, mb, g, s)
        s *= 2
    # tb [B,H,nx,ny,2c,2c], sb [..,2c,c*c], mb [..,c*c,2c], g [..,c*c,c*c]

    q, k, v = chunks(query), chunks(key), chunks(value)
    out = (g * (q @ k.transpose(-1, -2))) @ v
    if nx * ny > 1:
        out = out + _wavefront(q, k, v, tb, sb, mb, c)
    out = out[..., torch.argsort(z_order), :].view(B, H, nx, ny, c, c, V).permute(0, 2, 4, 3, 5, 1, 6)
    return out.reshape(B, nx * c, ny * c, H, V)[:, :X, :Y]


def _wavefront(q: Tensor, k: Tensor, v: Tensor, tb: Tensor, sb: Tensor, mb: Tensor, c: int
               ) -> Tensor:
    r"""Inter-chunk contribution: border states passed along anti-diagonals of chunks.

    Chunk :math:`(i, j)` receives the right-border states of :math:`(i-1, j)` on its
    left border and the bottom-border states of :math:`(i, j-1)` on its top border;
    all chunks of one anti-diagonal are independent and run as one batch. Chunks
    are gathered into anti-diagonal order once, so every step works on slices.
    """
    B, H, nx, ny = tb.shape[:4]
    plan = _plan(nx, ny)  # the node-level wavefront's diagonal order, here over chunks
    diagonals = [(dg.lo, dg.lo + dg.n - 1) for dg in plan.diagonals]
    order_t = plan.order.to(tb.device)

    def by_diagonal(t: Tensor) -> Tensor:
        return t.flatten(2, 3)[:, :, order_t]

    q, k, v, tb, sb, mb = map(by_diagonal, (q, k, v, tb, sb, mb))
    # Sources onto out-borders, sum_m sb[j, m] k_m v_m^T, as one [2c, c²] @ [c², K·V] matmul
    # per chunk (a broadcast product over j would mean 2c times more, tiny, matmuls).
    kv = (sb @ (k[..., :, None] * v[..., None, :]).flatten(-2)).unflatten(-1, (k.shape[-1], -1))
    # One split per tensor: slicing per step would make autograd zero-fill a
    # full-size gradient for every diagonal.
    sizes = [hi - lo + 1 for lo, hi in diagonals]
    tb_d, kv_d = tb.split(sizes, dim=2), kv.split(sizes, dim=2)
    zero = kv.new_zeros(B, H, 1, c, *kv.shape[-2:])
    incoming = [torch.cat([zero, zero], dim=-3)]
    right_out = bottom_out = zero
    prev_lo = 0
    for d, (lo, hi) in enumerate(diagonals):
        n = hi - lo + 1
        if d > 0:
            # One zero chunk on each side stands for neighbours outside the grid.
            padded_r = torch.cat([zero, right_out, zero], dim=2)
            padded_b = torch.cat([zero, bottom_out, zero], dim=2)
            incoming.append(torch.cat([padded_r[:, :, lo - prev_lo:lo - prev_lo + n],
                                       padded_b[:, :, lo - prev_lo + 1:lo - prev_lo + 1 + n]],
                                      dim=-3))
        c_in = incoming[-1]
        c_out = (tb_d[d] @ c_in.flatten(-2)).view_as(c_in) + kv_d[d]
        right_out, bottom_out = c_out.split(c, dim=-3)
        prev_lo = lo
    c_in = torch.cat(incoming, dim=2)  # [B, H, chunks, 2c, K, V]
    # y_n += sum_i mb[n, i] C_i^T q_n
    y = (mb[..., None] * q[..., None, :]).flatten(-2) @ c_in.flatten(-3, -2)
    return y[:, :, plan.inverse.to(tb.device)].view(B, H, nx, ny, *y.shape[-2:])
