"""The ``LineDAG`` container: a (batch of) DAG(s), its line DAG, and topological levels."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

from .levels import topological_levels
from .line_graph import line_graph
from .orient import orient
from .prune import chirality, greedy_multitree
from .spec import LineDAGSpec
from .validate import (check_batch, check_edges_in_graphs, check_in_range, check_index,
                       check_node_order, check_num_nodes)


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
        spec (LineDAGSpec, optional): the options the structure was built with (``None`` for
            explicit edges from :meth:`from_edges`); a layer refuses a structure whose spec
            differs from its own.
    """

    def __init__(self, num_nodes: int, dag_edge_index: Tensor, line_index: Tensor, edge_id: Tensor,
                 edge_level: Tensor, batch: Optional[Tensor] = None,
                 spec: Optional[LineDAGSpec] = None) -> None:
        self.num_nodes = num_nodes
        self.dag_edge_index = dag_edge_index
        self.line_index = line_index
        self.edge_id = edge_id
        self.edge_level = edge_level
        self.batch = batch
        self.spec = spec
        # Derived index tensors (level schedules, dense layouts) computed once per structure.
        self.cache: dict[str, Any] = {}

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_graph(cls, edge_index: Tensor, num_nodes: int, spec: Optional[LineDAGSpec] = None, *,
                   node_order: Optional[Tensor] = None, batch: Optional[Tensor] = None,
                   **options: Any) -> "LineDAG":
        """Orient a graph, build its line DAG, prune it for D-mode and level it.

        Args:
            edge_index: ``[2, M]`` PyG edge index; undirected edges may appear in one or both
                directions.
            num_nodes: number of nodes :math:`N`.
            spec: the structure options (:class:`~plstm_geometric.structure.LineDAGSpec`), or
                give them as keyword ``options`` instead: ``mode="P"``, ``reverse=False``,
                ``prune="default"`` (``None`` in P-mode, ``"greedy"`` in D-mode;
                ``"chirality"`` needs ``grid_shape=(MX, MY)``), ``directed=False``,
                ``drop_self_loops=False``.
            node_order: ``[N]`` rank per node (distinct within a graph) used for orientation
                instead of the node index, e.g. RDKit canonical atom order.
            batch: ``[N]`` graph id per node (PyG ``batch``); pruning and dense kernels work per
                graph with it, and error messages name the graph. Every edge must join two
                nodes of one graph.
        """
        spec = LineDAGSpec.of(spec, **options)
        num_nodes = check_num_nodes(num_nodes)
        check_index(edge_index, "edge_index")
        check_in_range(edge_index, num_nodes, "edge_index", "node")
        batch = check_batch(batch, num_nodes)
        check_edges_in_graphs(edge_index, batch, "edge_index")
        node_order = check_node_order(node_order, num_nodes, batch)

        dag, edge_id = orient(edge_index, num_nodes, node_order=node_order,
                              directed=spec.directed, drop_self_loops=spec.drop_self_loops,
                              reverse=spec.reverse, batch=batch)
        line = line_graph(dag, num_nodes)
        # In the full line DAG a line node's depth is the depth of its tail in the node DAG.
        level = topological_levels(dag, num_nodes, batch=batch)[dag[0]]
        return cls(num_nodes, dag, line, edge_id, level, batch, spec.unpruned).derive(spec)

    def derive(self, spec: LineDAGSpec) -> "LineDAG":
        """This full line DAG as the structure of ``spec``: pruned (and re-levelled) when the spec
        prunes, else the same tensors under ``spec``; the node DAG is shared.

        Must be called on a full line DAG (:meth:`from_graph` with ``prune=None``), whose levels
        are the node-DAG depths the greedy rule orders by, and ``spec`` must orient the graph as
        this structure does (same ``reverse``, ``directed``, ``drop_self_loops``).
        """
        if self.spec is None or self.spec.prune is not None:
            raise ValueError(f"only a full line DAG from from_graph (prune=None) can be pruned; "
                             f"this one has spec {self.spec}")
        if spec.unpruned != self.spec.unpruned:
            raise ValueError(f"a structure built with {self.spec} orients the graph differently "
                             f"from {spec}")
        if spec == self.spec:
            return self
        dag, line, level, batch = self.dag_edge_index, self.line_index, self.edge_level, self.batch
        if spec.prune is not None and line.size(1) > 0:
            if spec.prune == "greedy":
                graph = batch[dag[0]] if batch is not None else torch.zeros_like(dag[0])
                keep = greedy_multitree(line, level, graph)
            else:
                keep = chirality(dag, line, spec.grid_shape, self.num_nodes, batch)
            line = line[:, keep]
            level = topological_levels(line, dag.size(1), what="line DAG")
        return LineDAG(self.num_nodes, dag, line, self.edge_id, level, batch, spec)

    def pruned(self, rule: str = "greedy", *, grid_shape: Optional[tuple[int, int]] = None,
               mode: str = "D") -> "LineDAG":
        """This full structure with its line DAG pruned to a multitree (D-mode, SPEC §3) and
        re-levelled: :meth:`derive` with this structure's spec and ``mode``, ``prune=rule``,
        ``grid_shape``. ``rule``: ``"greedy"`` or ``"chirality"`` (needs ``grid_shape``).
        """
        if rule not in ("greedy", "chirality"):
            raise ValueError(f"rule must be 'greedy' or 'chirality', got {rule!r}")
        if self.spec is None:
            raise ValueError("only a full line DAG from from_graph (prune=None) can be pruned; "
                             "this one was built from explicit edges")
        return self.derive(replace(self.spec, mode=mode, prune=rule, grid_shape=grid_shape))

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
        check_edges_in_graphs(dag_edge_index, batch, "dag_edge_index")
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
    def mode(self) -> Optional[str]:
        """``"P"`` or ``"D"`` from the spec (``None`` for explicit edges)."""
        return self.spec.mode if self.spec is not None else None

    @property
    def reverse(self) -> bool:
        return self.spec.reverse if self.spec is not None else False

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
                        level[g].clone(), None, self.spec) for g in range(num_graphs)]

    def to(self, device: torch.device | str) -> "LineDAG":
        """A copy on ``device`` (derived caches are rebuilt there on first use)."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LineDAG(self.num_nodes, move(self.dag_edge_index), move(self.line_index),
                       move(self.edge_id), move(self.edge_level), move(self.batch), self.spec)

    def __repr__(self) -> str:
        info = f"num_nodes={self.num_nodes}, num_edges={self.num_edges}, " \
               f"num_line_edges={self.num_line_edges}, num_levels={self.num_levels}"
        if self.spec is not None:
            info += f", spec={self.spec}"
        return f"{self.__class__.__name__}({info})"
