"""Graph → DAG: orient every undirected edge from the lower-ranked to the higher-ranked node."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import lexsort

from .levels import topological_levels
from .validate import where


def orient(edge_index: Tensor, num_nodes: int, *, node_order: Optional[Tensor] = None,
           directed: bool = False, drop_self_loops: bool = False, reverse: bool = False,
           batch: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """Turn a PyG ``edge_index`` into DAG edges.

    An undirected edge {u, v} (given once or in both directions) becomes ``u → v`` when
    ``rank(u) < rank(v)``, with ``rank = node_order`` or the node index. ``reverse`` flips every
    edge, which is the same as orienting by ``-rank``. With ``directed=True`` the columns are used
    as given and must be acyclic.

    DAG edges are sorted by ``(graph, rank(tail), rank(head))`` with the (possibly negated) rank,
    so their order depends on the graph and the ranks alone, never on the column order of
    ``edge_index``. Parallel edges collapse into one DAG edge.

    Returns:
        ``dag_edge_index [2, E]`` and ``edge_id [E]``, the input column each DAG edge comes from
        (the lowest such column that points along the DAG edge, else the lowest reverse column).
    """
    src, dst = edge_index[0], edge_index[1]
    num_cols = src.numel()
    loops = src == dst
    if bool(loops.any()):
        if not drop_self_loops:
            node = int(src[loops][0])
            raise ValueError(f"edge_index has {int(loops.sum())} self-loop(s), e.g. at "
                             f"{where(batch, node)}: a self-loop cannot be oriented into a DAG "
                             "edge (pass drop_self_loops=True to drop them)")
    col = (~loops).nonzero().view(-1)
    src, dst = src[col], dst[col]
    rank = node_order if node_order is not None else torch.arange(num_nodes, device=src.device)
    if reverse:
        rank = -rank
    if directed:
        tail, head = (dst, src) if reverse else (src, dst)
        flipped = torch.zeros_like(tail, dtype=torch.bool)
    else:
        flipped = rank[src] > rank[dst]
        tail = torch.where(flipped, dst, src)
        head = torch.where(flipped, src, dst)

    # One DAG edge per node pair; prefer a column that points along the DAG edge.
    pair = tail * max(num_nodes, 1) + head
    unique_pair, group = torch.unique(pair, return_inverse=True)
    preference = col + flipped.long() * num_cols
    best = torch.full((unique_pair.numel(),), 2 * num_cols, dtype=torch.long, device=col.device)
    best = best.scatter_reduce(0, group, preference, reduce="amin")
    edge_id = best % max(num_cols, 1)
    tail = unique_pair // max(num_nodes, 1)
    head = unique_pair % max(num_nodes, 1)

    if directed:
        topological_levels(torch.stack([tail, head]), num_nodes, what="directed input graph",
                           batch=batch)
    graph = batch[tail] if batch is not None else torch.zeros_like(tail)
    perm = lexsort([rank[head], rank[tail], graph])  # PyG: the last key sorts first
    return torch.stack([tail[perm], head[perm]]), edge_id[perm]
