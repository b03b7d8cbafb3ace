"""Topological levels (longest-path depth) of a DAG, vectorised as a frontier sweep."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ._index import csr, expand_ranges
from .validate import where


def longest_paths(src: Tensor, dst: Tensor, weight: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Longest weighted path from any source to every node, as a frontier sweep (Kahn).

    One frontier per iteration; each edge is touched once. Returns the levels and the in-degree
    left over, which is positive exactly on the nodes on or behind a directed cycle.
    """
    level = torch.zeros(num_nodes, dtype=torch.long, device=src.device)
    indeg = torch.bincount(dst, minlength=num_nodes)
    order, ptr = csr(src, num_nodes)
    frontier = (indeg == 0).nonzero().view(-1)
    while frontier.numel() > 0:
        edges = order[expand_ranges(ptr[frontier], ptr[frontier + 1] - ptr[frontier])]
        succ = dst[edges]
        level.scatter_reduce_(0, succ, level[src[edges]] + weight[edges], reduce="amax")
        indeg.index_add_(0, succ, torch.full_like(succ, -1))
        frontier = torch.unique(succ[indeg[succ] == 0])
    return level, indeg


def topological_levels(edge_index: Tensor, num_nodes: int, *, what: str = "graph",
                       batch: Optional[Tensor] = None) -> Tensor:
    """Longest-path level of every node of a DAG (sources have level 0).

    A node with exactly one predecessor lies one level below it, so chains of such nodes are
    resolved by pointer jumping (``log₂`` of their length in tensor steps): every node finds its
    *anchor*, the nearest ancestor along single-predecessor links whose in-degree is not 1, and
    its distance to it. Only the anchors go through the frontier sweep of
    :func:`longest_paths`, on edges weighted by those distances. A path or a tree therefore
    costs O(log depth) steps instead of one per level; molecules (rings) and grids keep most
    nodes as anchors and sweep as before.

    Raises:
        ValueError: if the graph has a directed cycle (naming a node on or behind it).
    """
    src, dst = edge_index[0], edge_index[1]
    device = src.device
    if num_nodes == 0:
        return torch.zeros(0, dtype=torch.long, device=device)
    single = torch.bincount(dst, minlength=num_nodes) == 1
    anchor = torch.arange(num_nodes, device=device)
    dist = single.long()
    link = single[dst]
    anchor[dst[link]] = src[link]
    steps = 0
    while steps <= num_nodes.bit_length() and bool(single[anchor].any()):
        dist = dist + dist[anchor]
        anchor = anchor[anchor]
        steps += 1
    if not bool(single[anchor].any()):
        into = (~single)[dst]  # edges into anchors, from the anchor of their tail
        tail = src[into]
        level, left = longest_paths(anchor[tail], dst[into], dist[tail] + 1, num_nodes)
        if not bool((left > 0).any()):
            return level[anchor] + dist
    # A cycle: sweep the whole graph to name the first node the sweep cannot reach.
    _, left = longest_paths(src, dst, torch.ones_like(src), num_nodes)
    stuck = int((left > 0).nonzero()[0])
    raise ValueError(f"the {what} has a directed cycle: {where(batch, stuck)} lies on or "
                     f"after a cycle, so no topological order exists")
