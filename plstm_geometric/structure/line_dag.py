"""The ``LineDAG`` container: a (batch of) DAG(s), its line DAG, and topological levels."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

from .levels import topological_levels
from .line_graph import line_graph
from .orient import orient
from .prune import chirality, greedy_multitree
from .validate import (check_batch, check_in_range, check_index, check_node_order,
                       check_num_nodes)

MODES = ("P", "D")
PRUNE_RULES = (None, "greedy", "chirality")


class LineDAG:
    r"""Structure on which the pLSTM recurrence runs (SPEC §1).

    A graph's undirected edges are oriented into a DAG; every DAG edge becomes a line node that
    carries a cell state, and a line edge :math:`e' \to e` joins two DAG edges that meet head to
    tail at the shared node :math:`n(e' \to e) = h(e') = t(e)`. ``edge_level`` is the longest-path
    depth of every line node, so all line nodes of one level (across all graphs of a batch) can be
    updated together.

    Attributes:
        num_nodes (int): number of graph nodes :math:`N`.
        dag_edge_index (LongTensor): ``[2, E]`` DAG edges (tail, head); column order is the row order
            of ``source`` and ``mark`` in :func:`~plstm_geometric.ops.plstm_dag`.
        line_index (LongTensor): ``[2, L]`` line edges (e', e) as DAG-edge ids; column order is the
            row order of ``transition``.
        edge_id (LongTensor): ``[E]`` input ``edge_index`` column of each DAG edge, so
            ``edge_attr[edge_id]`` are the DAG edges' features (``-1`` when built from explicit edges).
        edge_level (LongTensor): ``[E]`` topological level of each line node in the line DAG.
        batch (LongTensor, optional): ``[N]`` graph id of every node, used to keep per-graph work
            apart (pruning, dense kernels).
    """

    def __init__(self, num_nodes: int, dag_edge_index: Tensor, line_index: Tensor, edge_id: Tensor,
                 edge_level: Tensor, batch: Optional[Tensor] = None, mode: Optional[str] = None,
                 reverse: bool = False) -> None:
        self.num_nodes = num_nodes
        self.dag_edge_index = dag_edge_index
        self.line_index = line_index
        self.edge_id = edge_id
        self.edge_level = edge_level
        self.batch = batch
        self.mode = mode
        self.reverse = reverse
        # Derived index tensors (level schedules, dense layouts) computed once per structure.
        self.cache: dict[str, Any] = {}

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_graph(cls, edge_index: Tensor, num_nodes: int, *, mode: str = "P",
                   reverse: bool = False, node_order: Optional[Tensor] = None,
                   prune: Optional[str] = "default", directed: bool = False,
                   drop_self_loops: bool = False, batch: Optional[Tensor] = None,
                   grid_shape: Optional[tuple[int, int]] = None) -> "LineDAG":
        """Orient a graph, build its line DAG, prune it for D-mode and level it.

        Args:
            edge_index: ``[2, M]`` PyG edge index; undirected edges may appear in one or both
                directions.
            num_nodes: number of nodes :math:`N`.
            mode: ``"P"`` (full line DAG) or ``"D"`` (pruned to a multitree).
            reverse: use the reverse DAG (every edge flipped).
            node_order: ``[N]`` rank per node (distinct within a graph) used for orientation
                instead of the node index, e.g. RDKit canonical atom order.
            prune: ``None`` (keep all line edges), ``"greedy"`` (multitree, SPEC §3) or
                ``"chirality"`` (grid D-mode rule, needs ``grid_shape``). Default: ``None`` in
                P-mode, ``"greedy"`` in D-mode.
            directed: use the edges' directions as given (they must form a DAG) instead of
                orienting by rank.
            drop_self_loops: drop self-loops instead of raising.
            batch: ``[N]`` graph id per node (PyG ``batch``); pruning and dense kernels work per
                graph with it, and error messages name the graph.
            grid_shape: ``(MX, MY)`` for ``prune="chirality"`` (node index ``x·MY + y``).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if prune == "default":
            prune = "greedy" if mode == "D" else None
        if prune not in PRUNE_RULES:
            raise ValueError(f"prune must be one of {PRUNE_RULES}, got {prune!r}")
        num_nodes = check_num_nodes(num_nodes)
        check_index(edge_index, "edge_index")
        check_in_range(edge_index, num_nodes, "edge_index", "node")
        batch = check_batch(batch, num_nodes)
        node_order = check_node_order(node_order, num_nodes, batch)

        dag, edge_id = orient(edge_index, num_nodes, node_order=node_order, directed=directed,
                              drop_self_loops=drop_self_loops, reverse=reverse, batch=batch)
        line = line_graph(dag, num_nodes)
        # In the full line DAG a line node's depth is the depth of its tail in the node DAG.
        level = topological_levels(dag, num_nodes, batch=batch)[dag[0]]
        full = cls(num_nodes, dag, line, edge_id, level, batch, mode, reverse)
        return full if prune is None else full.pruned(prune, grid_shape=grid_shape, mode=mode)

    def pruned(self, rule: str = "greedy", *, grid_shape: Optional[tuple[int, int]] = None,
               mode: str = "D") -> "LineDAG":
        """This structure with its line DAG pruned to a multitree (D-mode, SPEC §3) and
        re-levelled; the node DAG is shared.

        Must be called on a full line DAG from :meth:`from_graph` with ``prune=None``, so that
        its levels are the node-DAG depths the greedy rule orders by. ``rule``: ``"greedy"`` or
        ``"chirality"`` (needs ``grid_shape``), as ``prune`` of :meth:`from_graph`.
        """
        if rule not in PRUNE_RULES or rule is None:
            raise ValueError(f"rule must be 'greedy' or 'chirality', got {rule!r}")
        if rule == "chirality" and grid_shape is None:
            raise ValueError("prune='chirality' needs grid_shape=(MX, MY)")
        dag, line, level, batch = self.dag_edge_index, self.line_index, self.edge_level, self.batch
        if line.size(1) > 0:
            if rule == "greedy":
                graph = batch[dag[0]] if batch is not None else torch.zeros_like(dag[0])
                keep = greedy_multitree(line, level, graph)
            else:
                keep = chirality(dag, line, grid_shape, self.num_nodes, batch)
            line = line[:, keep]
            level = topological_levels(line, dag.size(1), what="line DAG")
        return LineDAG(self.num_nodes, dag, line, self.edge_id, level, batch, mode, self.reverse)

    @classmethod
    def from_edges(cls, dag_edge_index: Tensor, line_index: Tensor, num_nodes: int,
                   batch: Optional[Tensor] = None) -> "LineDAG":
        """Explicit DAG edges and line edges (no orientation, no pruning); levels computed.

        Raises ``ValueError`` if a line edge does not join DAG edges head to tail or if the line
        graph has a cycle.
        """
        num_nodes = check_num_nodes(num_nodes)
        check_index(dag_edge_index, "dag_edge_index")
        check_index(line_index, "line_index")
        check_in_range(dag_edge_index, num_nodes, "dag_edge_index", "node")
        num_edges = dag_edge_index.size(1)
        check_in_range(line_index, num_edges, "line_index", "DAG edge")
        batch = check_batch(batch, num_nodes)
        joined = dag_edge_index[1, line_index[0]] == dag_edge_index[0, line_index[1]]
        if not bool(joined.all()):
            bad = int((~joined).nonzero()[0])
            raise ValueError(f"line edge {bad} ({line_index[:, bad].tolist()}) does not join DAG "
                             "edges head to tail")
        level = topological_levels(line_index, num_edges, what="line DAG")
        edge_id = torch.full((num_edges,), -1, dtype=torch.long, device=dag_edge_index.device)
        return cls(num_nodes, dag_edge_index, line_index, edge_id, level, batch)

    # ------------------------------------------------------------------ properties
    @property
    def num_edges(self) -> int:
        """Number of DAG edges (= line nodes) :math:`E`."""
        return self.dag_edge_index.size(1)

    @property
    def num_line_edges(self) -> int:
        """Number of line edges :math:`L`."""
        return self.line_index.size(1)

    @property
    def num_levels(self) -> int:
        """Number of topological levels of the line DAG (0 when there are no DAG edges)."""
        return int(self.edge_level.max()) + 1 if self.num_edges else 0

    @property
    def tail(self) -> Tensor:
        return self.dag_edge_index[0]

    @property
    def head(self) -> Tensor:
        return self.dag_edge_index[1]

    def unbatch(self, edge_counts: Tensor) -> list["LineDAG"]:
        """Split a batch built by :meth:`from_graph` into one structure per graph.

        Every graph's indices become local, as :meth:`from_graph` on that graph alone gives them
        (and as :class:`~plstm_geometric.data.LineDAGData` stores them): DAG edges
        count nodes from the graph's first node, line edges count DAG edges from its first DAG
        edge, edge ids count its own ``edge_index`` columns. Splitting is exact because nothing
        couples graphs in :meth:`from_graph`: DAG edges are sorted by graph first, line edges by
        their first DAG edge, pruning works on per-graph bitsets and levels per connected component.

        Args:
            edge_counts: ``[G]`` number of input ``edge_index`` columns of every graph (the
                graphs' columns are concatenated in graph order, as ``Batch`` does).

        Returns:
            ``G`` structures without ``batch``, tensors contiguous and owning their memory.
        """
        if self.batch is None:
            raise ValueError("unbatch needs a structure built with a batch vector")
        num_graphs = edge_counts.numel()
        batch = self.batch
        if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
            raise ValueError("unbatch needs each graph's nodes to be contiguous (sorted batch)")
        if batch.numel() and int(batch[-1]) >= num_graphs:
            raise ValueError(f"batch names graph {int(batch[-1])}, but edge_counts has only "
                             f"{num_graphs} entries")
        node_count = torch.bincount(batch, minlength=num_graphs)
        node_start = cumsum(node_count)
        edge_graph = batch[self.tail]
        dag_count = torch.bincount(edge_graph, minlength=num_graphs)
        line_owner = edge_graph[self.line_index[0]]
        dag_sizes = dag_count.tolist()
        dag = (self.dag_edge_index - node_start[edge_graph]).split(dag_sizes, dim=1)
        line = (self.line_index - cumsum(dag_count)[line_owner]).split(
            torch.bincount(line_owner, minlength=num_graphs).tolist(), dim=1)
        edge_id = (self.edge_id - cumsum(edge_counts)[edge_graph]).split(dag_sizes)
        level = self.edge_level.split(dag_sizes)
        num_nodes = node_count.tolist()
        # clone(): a view would keep the whole batch's storage alive (and in torch.save) per graph.
        return [LineDAG(num_nodes[g], dag[g].clone(memory_format=torch.contiguous_format),
                        line[g].clone(memory_format=torch.contiguous_format), edge_id[g].clone(),
                        level[g].clone(), None, self.mode, self.reverse) for g in range(num_graphs)]

    def to(self, device: torch.device | str) -> "LineDAG":
        """A copy on ``device`` (derived caches are rebuilt there on first use)."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LineDAG(self.num_nodes, move(self.dag_edge_index), move(self.line_index),
                       move(self.edge_id), move(self.edge_level), move(self.batch), self.mode,
                       self.reverse)

    def __repr__(self) -> str:
        info = f"num_nodes={self.num_nodes}, num_edges={self.num_edges}, " \
               f"num_line_edges={self.num_line_edges}, num_levels={self.num_levels}"
        if self.mode is not None:
            info += f", mode={self.mode}, reverse={self.reverse}"
        return f"{self.__class__.__name__}({info})"
