r"""Graph form of the grid kernel: every (image, orientation) as one graph of the compiled DAG kernel.

The grid recurrence of :func:`~plstm_geometric.ops.grid.plstm_2d` is ``plstm_dag`` on the grid
DAG (SPEC §5): node :math:`(x, y)` (index :math:`x \cdot Y + y`) sends a "right" edge along
:math:`x` and a "down" edge along :math:`y` in the propagation direction of its orientation,
with the gate mapping

- an edge along :math:`x` takes :math:`S^r` of its tail and :math:`M^l` of its head, an edge
  along :math:`y` :math:`S^d` and :math:`M^u`;
- a line edge at node :math:`n` takes :math:`T^{rl}, T^{ru}, T^{dl}` or :math:`T^{du}` of
  :math:`n` by its (incoming, outgoing) directions; a turn whose gate is :obj:`None` has no
  line edges;
- :math:`D` stays per node.

The :math:`B \cdot O` graphs (orientations flip the edge directions, never the nodes, so gates
and outputs keep the grid's node order) form one :class:`~plstm_geometric.structure.LineDAG`,
built once per shape and cached; the orientations of an image read its ``q, k, v`` rows in
place (the layout's ``qkv_row``), not ``O`` copies. The kernel is the compiled form
(:mod:`~plstm_geometric.ops.dag.compiled`), which walks only the structural non-zeros of
:math:`G` (node pairs joined by a monotone path) and needs no padding, so small token grids
cost a fraction of the dense grid form's ``(G ⊙ QKᵀ)V`` matmuls and chain.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence

import torch
from torch import Tensor

from ...structure import LineDAG
from ..dag.compiled import CompiledLayout, CompiledPLSTM, compiled_layout, unavailable_reason

#: Turns in the order of their gates: (incoming, outgoing) direction, 0 = along x, 1 = along y.
TURNS = ((0, 0), (1, 0), (0, 1), (1, 1))  # T^rl, T^ru, T^dl, T^du
#: Structures kept (a vision model uses one or two shapes).
CACHE_SIZE = 8
_STRUCTURES: dict[tuple, tuple[LineDAG, CompiledLayout, Tensor, Tensor, Tensor]] = {}


def grid_structure(B: int, X: int, Y: int, flips: Sequence[tuple[bool, bool]],
                   turns: tuple[bool, ...]) -> tuple[LineDAG, CompiledLayout, Tensor, Tensor,
                                                     Tensor]:
    """The batched grid DAG of ``B`` images × ``len(flips)`` orientations, its compiled layout
    (the orientations of an image read that image's q, k, v rows, ``[B·N, H, *]``), and the
    rows that its source, mark and transition gates are read from (see :func:`graph_2d`),
    cached.

    ``turns[j]``: whether turn ``TURNS[j]`` has a gate.
    """
    cache_key = (B, X, Y, tuple(flips), turns)
    if cache_key in _STRUCTURES:
        return _STRUCTURES[cache_key]
    N, O = X * Y, len(flips)
    rows = B * O * N  # rows of one gate kind in the stacked gates
    idx = torch.arange(N).view(X, Y)
    pairs = [(idx[:-1].reshape(-1), idx[1:].reshape(-1)), (idx[:, :-1].reshape(-1), idx[:, 1:].reshape(-1))]
    kinds = [j for j in range(4) if turns[j]]
    dags, lines, src_rows, mark_rows, trans_rows = [], [], [], [], []
    offset = 0
    for o, flip in enumerate(flips):
        tail, head, axis = [], [], []
        for a, (lo, hi) in enumerate(pairs):  # edges along x, then along y
            tail.append(hi if flip[a] else lo)
            head.append(lo if flip[a] else hi)
            axis.append(torch.full_like(lo, a))
        tail, head, axis = torch.cat(tail), torch.cat(head), torch.cat(axis)
        ids = torch.arange(tail.numel())
        # Edge entering / leaving every node along each axis (-1: none).
        into, out = torch.full((2, N), -1), torch.full((2, N), -1)
        into[axis, head], out[axis, tail] = ids, ids
        line, kind_row = [], []
        for position, j in enumerate(kinds):
            a_in, a_out = TURNS[j]
            node = torch.nonzero((into[a_in] >= 0) & (out[a_out] >= 0)).view(-1)
            line.append(torch.stack([into[a_in, node], out[a_out, node]]))
            kind_row.append(position * rows + node)
        line = torch.cat(line, 1) if line else torch.zeros(2, 0, dtype=torch.long)
        kind_row = torch.cat(kind_row) if kind_row else torch.zeros(0, dtype=torch.long)
        dags.append((torch.stack([tail, head]), axis, line, kind_row))
    num_edges = dags[0][0].size(1)
    for b in range(B):
        for o, (dag, axis, line, kind_row) in enumerate(dags):
            graph = b * O + o
            dag_edges = dag + graph * N
            src_rows.append(axis * rows + dag_edges[0])
            mark_rows.append(axis * rows + dag_edges[1])
            trans_rows.append(kind_row + graph * N)
            lines.append((dag_edges, line + offset))
            offset += num_edges
    dag_edge_index = torch.cat([d for d, _ in lines], 1)
    line_index = torch.cat([l for _, l in lines], 1)
    batch = torch.arange(B * O).repeat_interleave(N)
    line_dag = LineDAG.from_edges(dag_edge_index, line_index, B * O * N, batch=batch)
    node = torch.arange(B * O * N)
    layout = replace(compiled_layout(line_dag), qkv_row=node // (O * N) * N + node % N, group=O,
                     structs={})
    structure = (line_dag, layout, torch.cat(src_rows), torch.cat(mark_rows),
                 torch.cat(trans_rows))
    if len(_STRUCTURES) >= CACHE_SIZE:
        _STRUCTURES.pop(next(iter(_STRUCTURES)))
    _STRUCTURES[cache_key] = structure
    return structure


def graph_2d(query: Tensor, key: Tensor, value: Tensor, source_r: Tensor, source_d: Tensor,
             trans_rl: Tensor, trans_ru: Optional[Tensor], trans_dl: Optional[Tensor],
             trans_du: Tensor, mark_l: Tensor, mark_u: Tensor, direct: Tensor, *,
             flips: Sequence[tuple[bool, bool]]) -> Tensor:
    """:func:`~plstm_geometric.ops.grid.plstm_2d_orientations` through the compiled DAG kernel
    (CPU only); query/key ``[B, X, Y, H, K]``, value ``[B, X, Y, H, V]``, gates
    ``[B, O, X, Y, H]``; returns ``[B, O, X, Y, H, V]``."""
    B, X, Y, H, K = query.shape
    O, N, V = len(flips), X * Y, value.size(-1)
    if B * N == 0:
        return value.new_zeros(B, O, X, Y, H, V)
    trans = [t for t in (trans_rl, trans_ru, trans_dl, trans_du) if t is not None]
    turns = tuple(t is not None for t in (trans_rl, trans_ru, trans_dl, trans_du))
    line_dag, layout, src_rows, mark_rows, trans_rows = grid_structure(B, X, Y, flips, turns)
    why = unavailable_reason(line_dag, query.device)
    if why:
        raise ValueError(f"form='graph' is unavailable: {why}")

    def stacked(gates: list[Tensor], index: Tensor) -> Tensor:  # rows of [kinds·B·O·N, H]
        return torch.stack(gates).reshape(-1, H).index_select(0, index)

    out = CompiledPLSTM.apply(query.reshape(B * N, H, K), key.reshape(B * N, H, K),
                              value.reshape(B * N, H, V), stacked([source_r, source_d], src_rows),
                              stacked(trans, trans_rows), stacked([mark_l, mark_u], mark_rows),
                              direct.reshape(B * O * N, H), layout)
    return out.view(B, O, X, Y, H, V)
