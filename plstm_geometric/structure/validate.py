"""Input checks shared by the structure builders.

Every check raises a ``ValueError`` that names the graph (when a ``batch`` vector says which graph
a node belongs to) and the problem, because a malformed structure would otherwise surface much
later as a silently wrong output or an index error deep inside a kernel.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def where(batch: Optional[Tensor], node: int) -> str:
    """``"graph g, node n"`` (or ``"node n"`` without batch information) for error messages."""
    if batch is None:
        return f"node {node}"
    return f"graph {int(batch[node])}, node {node}"


def check_num_nodes(num_nodes: int) -> int:
    if isinstance(num_nodes, Tensor):
        num_nodes = int(num_nodes)
    if not isinstance(num_nodes, int) or isinstance(num_nodes, bool) or num_nodes < 0:
        raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}")
    return num_nodes


def check_index(index: Tensor, name: str, rows: int = 2) -> Tensor:
    """Check that ``index`` is an integer ``[rows, M]`` tensor (int64)."""
    if not isinstance(index, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(index).__name__}")
    if index.dtype != torch.long:
        raise ValueError(f"{name} must have dtype torch.long (int64), got {index.dtype}")
    if index.dim() != 2 or index.size(0) != rows:
        raise ValueError(f"{name} must have shape [{rows}, M], got {list(index.shape)}")
    return index


def check_in_range(index: Tensor, size: int, name: str, what: str) -> None:
    if index.numel() == 0:
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} refers to {what} {bad}, but only {size} {what}s exist "
                         f"(valid range 0..{size - 1})")


def check_batch(batch: Optional[Tensor], num_nodes: int) -> Optional[Tensor]:
    if batch is None:
        return None
    if not isinstance(batch, Tensor) or batch.dtype != torch.long or batch.dim() != 1:
        raise ValueError("batch must be a 1-D torch.long tensor assigning a graph to every node")
    if batch.numel() != num_nodes:
        raise ValueError(f"batch has {batch.numel()} entries but the graph has {num_nodes} nodes")
    if num_nodes and int(batch.min()) < 0:
        raise ValueError("batch contains negative graph ids")
    return batch


def check_edges_in_graphs(index: Tensor, batch: Optional[Tensor], name: str) -> None:
    """Every column of ``index`` must join two nodes of one graph: the per-graph kernels (dense
    form, pruning) would otherwise silently compute a different structure than the edge list."""
    if batch is None or index.numel() == 0:
        return
    graph = batch[index]
    crossing = graph[0] != graph[1]
    if bool(crossing.any()):
        col = int(crossing.nonzero()[0])
        (u, v), (gu, gv) = index[:, col].tolist(), graph[:, col].tolist()
        raise ValueError(f"{name} column {col} joins node {u} of graph {gu} and node {v} of graph "
                         f"{gv} ({int(crossing.sum())} such column(s)); an edge must stay inside "
                         "one graph of the batch")


def check_node_order(node_order: Optional[Tensor], num_nodes: int, batch: Optional[Tensor],
                     ties: bool = True) -> Optional[Tensor]:
    """A rank per node with no ties inside a graph (ties would leave edges unorientable).

    ``ties=False`` checks shape and dtype only, for callers that check ties later on a batch.
    """
    if node_order is None:
        return None
    if not isinstance(node_order, Tensor) or node_order.dim() != 1:
        raise ValueError("node_order must be a 1-D tensor with one rank per node")
    if node_order.dtype.is_floating_point or node_order.dtype == torch.bool:
        raise ValueError(f"node_order must be an integer tensor, got {node_order.dtype}")
    if node_order.numel() != num_nodes:
        raise ValueError(f"node_order has {node_order.numel()} entries but the graph has "
                         f"{num_nodes} nodes")
    node_order = node_order.long()
    if ties and num_nodes > 1:
        graph = batch if batch is not None else torch.zeros_like(node_order)
        perm = torch.argsort(node_order, stable=True)
        perm = perm[torch.argsort(graph[perm], stable=True)]
        same = (graph[perm[1:]] == graph[perm[:-1]]) & (node_order[perm[1:]] == node_order[perm[:-1]])
        if bool(same.any()):
            i = int(same.nonzero()[0])
            a, b = int(perm[i]), int(perm[i + 1])
            raise ValueError(f"node_order has a tie: {where(batch, a)} and node {b} share rank "
                             f"{int(node_order[a])}; ranks must be distinct within a graph")
    return node_order
