"""Topological levels (longest-path depth) of a DAG, vectorised as a frontier sweep."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ._index import csr, expand_ranges
from .validate import where


def topological_levels(edge_index: Tensor, num_nodes: int, *, what: str = "graph",
                       batch: Optional[Tensor] = None) -> Tensor:
    """Longest-path level of every node of a DAG (sources have level 0).

    Kahn's algorithm, one frontier per iteration; each edge is touched once, so the cost is
    O(V + E) tensor work in ``depth`` iterations.

    Raises:
        ValueError: if the graph has a directed cycle (naming a node on or behind it).
    """
    src, dst = edge_index[0], edge_index[1]
    device = src.device
    level = torch.zeros(num_nodes, dtype=torch.long, device=device)
    if num_nodes == 0:
        return level
    indeg = torch.bincount(dst, minlength=num_nodes)
    order, ptr = csr(src, num_nodes)
    frontier = (indeg == 0).nonzero().view(-1)
    seen, depth = 0, 0
    while frontier.numel() > 0:
        level[frontier] = depth
        seen += frontier.numel()
        edges = order[expand_ranges(ptr[frontier], ptr[frontier + 1] - ptr[frontier])]
        succ = dst[edges]
        indeg.index_add_(0, succ, torch.full_like(succ, -1))
        frontier = torch.unique(succ[indeg[succ] == 0])
        depth += 1
    if seen < num_nodes:
        stuck = int((indeg > 0).nonzero()[0])
        raise ValueError(f"the {what} has a directed cycle: {where(batch, stuck)} lies on or "
                         f"after a cycle, so no topological order exists")
    return level
