"""``AddLineDAG``: precompute the pLSTM structures of a graph once, e.g. as a ``pre_transform``."""
from __future__ import annotations

import copy
from typing import Callable, Iterator, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform
from torch_geometric.utils import cumsum

from ..data.line_dag_data import LineDAGData
from ..structure import LineDAG
from ..structure.spec import LineDAGSpec
from ..structure.validate import check_index, check_node_order

DIRECTIONS = {"forward": False, "reverse": True}
# Input edge columns per chunk of :meth:`AddLineDAG.forward_batch`. D-mode pruning holds a bitset
# of E x E_max bits per chunk (E, E_max <= columns / 2 when both directions are given), so this
# bounds it to ~32 MiB even when one graph fills the chunk; molecules (~55 columns) come ~600 per
# chunk.
CHUNK_EDGES = 32768


class AddLineDAG(BaseTransform):
    """Adds the line DAGs a pLSTM model needs (one per
    :class:`~plstm_geometric.structure.LineDAGSpec`, by default modes × directions) to a graph.

    Returns a :class:`~plstm_geometric.data.LineDAGData` holding every attribute of the
    input plus the structures; pass it (or its batch) as ``line_dag`` to
    :class:`~plstm_geometric.nn.PLSTMConv` / :class:`~plstm_geometric.nn.PLSTMBlock`.

    Run it as the *last* transform: a later transform that adds, removes or reorders edges would
    leave the stored edge ids pointing at the wrong columns.

    The ``repr`` names every spec and the node-order attribute; dataset caches key their
    folder by it (:func:`~plstm_geometric.data.transform_key`), so two configurations never
    share a cache.

    Args:
        modes: any of ``"P"``, ``"D"``.
        directions: any of ``"forward"``, ``"reverse"``.
        node_order_attr: name of an optional ``[N]`` rank attribute used for orientation
            (e.g. RDKit canonical atom order); the node index is used when the graph lacks it.
        drop_self_loops: drop self-loops instead of raising.
        specs: the structures to add, instead of ``modes`` × ``directions`` with
            ``drop_self_loops`` (which then must keep their defaults).
    """

    def __init__(self, modes: Sequence[str] = ("P", "D"),
                 directions: Sequence[str] = ("forward", "reverse"),
                 node_order_attr: Optional[str] = "node_order",
                 drop_self_loops: bool = False, *,
                 specs: Optional[Sequence[LineDAGSpec]] = None) -> None:
        if specs is None:
            bad = [d for d in directions if d not in DIRECTIONS]
            if bad:
                raise ValueError(f"directions must be among {list(DIRECTIONS)}, got {bad}")
            specs = [LineDAGSpec(mode, DIRECTIONS[direction], drop_self_loops=drop_self_loops)
                     for direction in directions for mode in modes]
        elif (tuple(modes), tuple(directions), drop_self_loops) != (
                ("P", "D"), ("forward", "reverse"), False):
            raise ValueError("pass either specs= or modes=/directions=/drop_self_loops=, not both")
        bad = [s for s in specs if not isinstance(s, LineDAGSpec)]
        if bad:
            raise ValueError(f"specs must be LineDAGSpec objects, got {bad}")
        if len(set(specs)) != len(specs):
            raise ValueError(f"specs has duplicates: {list(specs)}")
        self.specs = tuple(specs)
        self.node_order_attr = node_order_attr

    def forward(self, data: Data) -> LineDAGData:
        out = self._output(data)
        for line_dag in self._line_dags(lambda full: LineDAG.from_graph(
                data.edge_index, data.num_nodes, full, node_order=self._order(data))):
            out.set_line_dag(line_dag)
        return out

    def forward_batch(self, data_list: Sequence[Data],
                      max_edges: int = CHUNK_EDGES) -> list[LineDAGData]:
        """``[self(data) for data in data_list]``, bitwise, but built for chunks of graphs at once.

        Structure building loops over topological levels in Python, and a level costs about the
        same for one graph as for a thousand, so each chunk is built as one batch
        (:meth:`LineDAG.from_graph` with a ``batch`` vector) and split back with
        :meth:`LineDAG.unbatch`.

        Args:
            data_list: graphs, each with ``edge_index [2, M_i]`` and optionally the node-order
                attribute ``[N_i]``.
            max_edges: a chunk closes before its input edge columns would exceed this (a larger
                graph gets a chunk of its own); bounds the memory of D-mode pruning.
        """
        out: list[LineDAGData] = []
        for start, chunk in self._chunks(data_list, max_edges):
            try:
                out += self._forward_chunk(chunk)
            except ValueError:
                # The batched error names nodes by their index in the chunk; the per-graph path
                # raises the same error in the graph's own numbering.
                for i, data in enumerate(chunk, start):
                    try:
                        self(data)
                    except ValueError as err:
                        raise ValueError(f"graph {i}: {err}") from err
                raise
        return out

    def _forward_chunk(self, chunk: Sequence[Data]) -> list[LineDAGData]:
        edge_index, batch, order, edge_counts = self._collate(chunk)
        # Shallow copies, as BaseTransform.__call__ makes: the caller's graphs stay unchanged.
        outs = [self._output(copy.copy(data)) for data in chunk]
        for line_dag in self._line_dags(lambda full: LineDAG.from_graph(
                edge_index, batch.numel(), full, node_order=order, batch=batch)):
            for out, part in zip(outs, line_dag.unbatch(edge_counts)):
                out.set_line_dag(part)
        return outs

    def _collate(self, chunk: Sequence[Data]) -> tuple[Tensor, Tensor, Optional[Tensor], Tensor]:
        """The chunk as one graph: ``edge_index [2, M]``, ``batch [N]``, ``node_order [N]`` (or
        ``None``) and the edge columns per graph ``[G]``.

        Checks what concatenation would hide (an edge pointing into the next graph, a node order
        of the wrong length or dtype) per graph, so that invalid input raises as in :meth:`forward`.
        """
        num_nodes = torch.tensor([data.num_nodes for data in chunk], dtype=torch.long)
        edge_counts = torch.tensor([check_index(data.edge_index, "edge_index").size(1)
                                    for data in chunk], dtype=torch.long)
        orders = [self._order(data) for data in chunk]
        for data, order in zip(chunk, orders):
            check_node_order(order, data.num_nodes, None, ties=False)  # from_graph checks ties
        local = torch.cat([data.edge_index for data in chunk], 1)
        bound = torch.repeat_interleave(num_nodes, edge_counts)
        if bool(((local < 0) | (local >= bound)).any()):
            raise ValueError("edge_index refers to a node outside its graph")
        edge_index = local + torch.repeat_interleave(cumsum(num_nodes)[:-1], edge_counts)
        batch = torch.repeat_interleave(torch.arange(len(chunk)), num_nodes)
        order = None
        if any(o is not None for o in orders):
            # Ranks are only compared within a graph, so graphs without an order use the node
            # index, as the per-graph path does.
            order = torch.cat([torch.arange(n) if o is None else o.long()
                               for n, o in zip(num_nodes.tolist(), orders)])
        return edge_index, batch, order, edge_counts

    @staticmethod
    def _chunks(data_list: Sequence[Data], max_edges: int) -> Iterator[tuple[int, list[Data]]]:
        """Consecutive chunks of ``data_list`` with their start index."""
        start, chunk, columns = 0, [], 0
        for i, data in enumerate(data_list):
            if chunk and columns + data.num_edges > max_edges:
                yield start, chunk
                start, chunk, columns = i, [], 0
            chunk.append(data)
            columns += data.num_edges
        if chunk:
            yield start, chunk

    def _line_dags(self, build_full: Callable[[LineDAGSpec], LineDAG]) -> Iterator[LineDAG]:
        """The configured structures. ``build_full(spec)`` builds the full (P-mode, unpruned)
        line DAG of an orientation once; pruned specs derive from it instead of orienting and
        levelling again."""
        fulls: dict[LineDAGSpec, LineDAG] = {}
        for spec in self.specs:
            if spec.unpruned not in fulls:
                fulls[spec.unpruned] = build_full(spec.unpruned)
            yield fulls[spec.unpruned].derive(spec)

    def _order(self, data: Data) -> Optional[Tensor]:
        return getattr(data, self.node_order_attr, None) if self.node_order_attr else None

    @staticmethod
    def _output(data: Data) -> LineDAGData:
        return data if isinstance(data, LineDAGData) else LineDAGData.from_dict(data.to_dict())

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(node_order_attr={self.node_order_attr!r}, "
                f"specs={list(self.specs)})")
