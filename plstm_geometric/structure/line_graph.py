"""DAG → line DAG: one line node per DAG edge, a line edge e' → e wherever head(e') = tail(e)."""
from __future__ import annotations

import torch
from torch import Tensor

from ._index import csr, expand_ranges


def line_graph(dag_edge_index: Tensor, num_nodes: int) -> Tensor:
    """All line edges ``[2, L]`` as (incoming DAG edge e', outgoing DAG edge e).

    ``L = Σ_n indeg(n)·outdeg(n)``. Columns are sorted by (e', e).
    """
    tail, head = dag_edge_index[0], dag_edge_index[1]
    out_edges, ptr = csr(tail, num_nodes)
    start, count = ptr[head], ptr[head + 1] - ptr[head]
    src = torch.repeat_interleave(torch.arange(tail.numel(), device=tail.device), count,
                                  output_size=int(count.sum()))
    dst = out_edges[expand_ranges(start, count)]
    return torch.stack([src, dst])
