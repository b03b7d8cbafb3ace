r"""Chain form: line DAGs that are disjoint chains (paths, D-mode trees of paths) via ``plstm_1d``.

When every line node has at most one predecessor and one successor, the line DAG is a set of
chains :math:`e_0 \to e_1 \to \dots \to e_{T-1}`, and the recurrence is the 1D one of SPEC §5.
Chain :math:`c` becomes :math:`T + 1` positions of one sequence for
:func:`~plstm_geometric.ops.chain.plstm_1d` (whose cell :math:`C_t` sits between positions
:math:`t` and :math:`t + 1`):

- position :math:`t < T` writes :math:`e_t`: key and value of :math:`t(e_t)`, source
  :math:`S_{e_t}`, transition :math:`T_{e_{t-1} \to e_t}`;
- position :math:`t \ge 1` reads :math:`e_{t-1}`: query of :math:`h(e_{t-1})`, mark
  :math:`M_{e_{t-1}}`; the output goes to node :math:`h(e_{t-1})`;
- every other gate, and the sequence's own direct term, is zero; the direct term
  :math:`D_n (q_n \cdot k_n) v_n` is added per node.

Then :math:`y_{t} = M_{e_{t-1}} C_{e_{t-1}}^\top q_{h(e_{t-1})}`, exactly the DAG readout, in
``plstm_1d``'s chunked log-depth form: one Python step per chunk of positions instead of one
per level.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

from ...structure import LineDAG
from ..chain import plstm_1d

@dataclass
class ChainLayout:
    edge: Tensor  # [1, S] line node written at each position (E = none)
    line: Tensor  # [1, S] line edge entering it (L = none: a chain starts, the state is cut)
    read: Tensor  # [1, S] line node read at each position (E = none)
    read_pos: Tensor  # [E] position at which each line node is read


def chain_layout(line_dag: LineDAG) -> Optional[ChainLayout]:
    """The sequence of a chain-shaped line DAG (cached), or ``None`` if it is not one.

    All chains go into one sequence, chain after chain, with no padding: a chain's first
    position has transition 0, so no state crosses from the chain before (``plstm_1d`` forms
    only products of gates, so the cut is exact).
    """
    if "chain_layout" in line_dag.cache:
        return line_dag.cache["chain_layout"]
    layout = None
    num_edges, num_line = line_dag.num_edges, line_dag.num_line_edges
    src, dst = line_dag.line_index
    device = src.device
    out_deg = torch.bincount(src, minlength=num_edges)
    in_deg = torch.bincount(dst, minlength=num_edges)
    if num_edges and not bool((out_deg > 1).any() or (in_deg > 1).any()):
        # A chain's root has no predecessor; its line nodes sit at levels 0, 1, ... along it.
        root = torch.arange(num_edges, device=device)
        root[dst] = src
        for _ in range(num_edges.bit_length()):
            root = root[root]
        level = line_dag.edge_level
        span = torch.zeros(num_edges, dtype=torch.long, device=device).scatter_reduce_(
            0, root, level + 2, reduce="amax")  # positions of the chain rooted there (0 if none)
        start = cumsum(span)[:-1]
        pos = start[root] + level
        size = int(span.sum())
        edge = torch.full((size,), num_edges, dtype=torch.long, device=device)
        edge[pos] = torch.arange(num_edges, device=device)
        line = torch.full((size,), num_line, dtype=torch.long, device=device)
        line[pos[dst]] = torch.arange(num_line, device=device)
        read = torch.full((size,), num_edges, dtype=torch.long, device=device)
        read[pos + 1] = torch.arange(num_edges, device=device)
        layout = ChainLayout(edge[None], line[None], read[None], pos + 1)
    line_dag.cache["chain_layout"] = layout
    return layout


def plstm_dag_chain(query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                    transition: Tensor, mark: Tensor, direct: Tensor,
                    line_dag: LineDAG) -> Tensor:
    """Chain form of :func:`~plstm_geometric.ops.plstm_dag` (same signature and result).

    Raises:
        ValueError: if the line DAG is not a set of chains.
    """
    layout = chain_layout(line_dag)
    if layout is None:
        raise ValueError("form='chain' needs a line DAG whose line nodes have at most one "
                         "predecessor and one successor each (chains)")
    out = (direct * (query * key).sum(-1))[..., None] * value

    def at(x: Tensor, index: Tensor) -> Tensor:  # gate rows, zero at the sentinel index
        padded = torch.cat([x, x.new_zeros(1, x.size(1))])
        return padded.index_select(0, index.reshape(-1)).view(*index.shape, x.size(1))

    def rows(x: Tensor, nodes: Tensor, index: Tensor) -> Tensor:  # node rows (any at sentinels)
        node = torch.cat([nodes, nodes[:1]]).index_select(0, index.reshape(-1))
        return x.index_select(0, node).view(*index.shape, *x.shape[1:])

    tail, head = line_dag.tail, line_dag.head
    y = plstm_1d(rows(query, head, layout.read), rows(key, tail, layout.edge),
                 rows(value, tail, layout.edge), at(source, layout.edge),
                 at(transition, layout.line), at(mark, layout.read),
                 direct.new_zeros(*layout.edge.shape, direct.size(1)))
    y = y.reshape(-1, *y.shape[2:]).index_select(0, layout.read_pos)
    return out.index_add(0, head, y)
