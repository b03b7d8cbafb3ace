"""D-mode pruning of the line DAG to a multitree (at most one directed path between two nodes).

Greedy rule (SPEC §3), with this project's order: line nodes are visited by (level in the
unpruned line DAG, DAG-edge row); the predecessors of a line node are walked in the same order.
A line edge p → c is dropped when p, or a kept ancestor of p, already reaches c through the line
edges kept so far; otherwise it is kept and p's ancestors join c's. The first predecessor is
always kept. Because the DAG-edge rows are sorted by node rank (see ``orient``), the result
depends on the graph and the node order only.

Line nodes of one level are independent (their predecessors lie on earlier levels), so each
(level, predecessor slot) step runs for all line nodes of the batch at once on bitsets of local
(per-graph) edge ids: memory ``E × ⌈E_max/64⌉`` words, where ``E_max`` is the largest graph's
DAG-edge count.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import lexsort

from ._index import local_ids


def greedy_multitree(line_index: Tensor, edge_level: Tensor, edge_graph: Tensor) -> Tensor:
    """Keep-mask ``[L]`` of the greedy multitree pruning of ``line_index``.

    Args:
        line_index: ``[2, L]`` line edges (e', e).
        edge_level: ``[E]`` level of every line node in the unpruned line DAG.
        edge_graph: ``[E]`` graph id of every DAG edge (pruning never crosses graphs).
    """
    device = line_index.device
    num_edges, num_line = edge_level.numel(), line_index.size(1)
    keep = torch.ones(num_line, dtype=torch.bool, device=device)
    if num_line == 0:
        return keep
    # Only graphs where some line node has two or more predecessors can lose a line edge (the
    # first predecessor is always kept), so paths and trees skip the level loop and its bitsets.
    src, dst = line_index[0], line_index[1]
    num_graphs = int(edge_graph.max()) + 1
    merges = torch.zeros(num_graphs, dtype=torch.bool, device=device)
    merges[edge_graph[dst[torch.bincount(dst, minlength=num_edges)[dst] > 1]]] = True
    if not bool(merges.any()):
        return keep
    line_ids = torch.nonzero(merges[edge_graph[dst]]).view(-1)
    src, dst = src[line_ids], dst[line_ids]
    rows = torch.arange(num_edges, device=device)
    local, count = local_ids(edge_graph, rows, num_graphs)
    words = (int(count[merges].max()) + 63) // 64
    self_bit = torch.zeros(num_edges, words, dtype=torch.long, device=device)
    inside = merges[edge_graph]
    self_bit[rows[inside], local[inside] // 64] = torch.bitwise_left_shift(
        torch.ones_like(local[inside]), local[inside] % 64)
    ancestors = torch.zeros_like(self_bit)

    # Slot j of a line edge: its predecessor's position among dst's predecessors in (level, row).
    order = lexsort([src, edge_level[src], dst])  # PyG: the last key sorts first
    slot = torch.empty_like(src)
    slot[order] = local_ids(dst[order], torch.arange(src.numel(), device=device), num_edges)[0]
    step = lexsort([slot, edge_level[dst]])
    bounds = torch.unique_consecutive(edge_level[dst][step] * (int(slot.max()) + 1) + slot[step],
                                      return_counts=True)[1].tolist()
    for chunk in torch.split(step, bounds):
        p, c = src[chunk], dst[chunk]
        reach = ancestors[p] | self_bit[p]
        ok = ~(reach & ancestors[c]).any(dim=1)
        keep[line_ids[chunk]] = ok
        ancestors[c[ok]] |= reach[ok]
    return keep


def chirality(dag_edge_index: Tensor, line_index: Tensor, grid_shape: tuple[int, int],
              num_nodes: int, batch: Optional[Tensor] = None) -> Tensor:
    """Keep-mask dropping every left→down turn of a grid DAG (grid D-mode, SPEC §5).

    Node ``n = x·MY + y``: a "right" edge joins n and n ± MY, a "down" edge n and n ± 1. The turn
    from an edge arriving along x ("from the left") into an edge leaving along y ("down") is
    removed; with the reverse DAG both axes flip, so the same rule applies to |Δ|.
    """
    mx, my = (int(s) for s in grid_shape)
    per_graph = torch.bincount(batch) if batch is not None and num_nodes else torch.tensor([num_nodes])
    if bool((per_graph != mx * my).any()):
        raise ValueError(f"prune='chirality' needs grid graphs of {mx}×{my} = {mx * my} nodes, "
                         f"got graph sizes {sorted(set(per_graph.tolist()))}")
    delta = (dag_edge_index[1] - dag_edge_index[0]).abs()
    right = delta == my
    down = (delta == 1) & (my != 1)
    if not bool((right | down).all()):
        bad = int((~(right | down)).nonzero()[0])
        raise ValueError(f"prune='chirality': DAG edge {dag_edge_index[:, bad].tolist()} is not a "
                         f"grid edge of a {mx}×{my} grid (node index x·{my} + y)")
    return ~(right[line_index[0]] & down[line_index[1]])
