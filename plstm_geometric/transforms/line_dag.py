"""``AddLineDAG``: precompute the pLSTM structures of a graph once, e.g. as a ``pre_transform``."""
from __future__ import annotations

from typing import Optional, Sequence

from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..structure import LineDAG
from ..structure.data import LineDAGData

DIRECTIONS = {"forward": False, "reverse": True}


class AddLineDAG(BaseTransform):
    """Adds the line DAGs a pLSTM model needs (modes × directions) to a graph.

    Returns a :class:`~plstm_geometric.structure.data.LineDAGData` holding every attribute of the
    input plus the structures; pass it (or its batch) as ``line_dag`` to
    :class:`~plstm_geometric.nn.PLSTMConv` / :class:`~plstm_geometric.nn.PLSTMBlock`.

    Run it as the *last* transform: a later transform that adds, removes or reorders edges would
    leave the stored edge ids pointing at the wrong columns.

    Args:
        modes: any of ``"P"``, ``"D"``.
        directions: any of ``"forward"``, ``"reverse"``.
        node_order_attr: name of an optional ``[N]`` rank attribute used for orientation
            (e.g. RDKit canonical atom order); the node index is used when the graph lacks it.
        drop_self_loops: drop self-loops instead of raising.
    """

    def __init__(self, modes: Sequence[str] = ("P", "D"),
                 directions: Sequence[str] = ("forward", "reverse"),
                 node_order_attr: Optional[str] = "node_order",
                 drop_self_loops: bool = False) -> None:
        bad = [d for d in directions if d not in DIRECTIONS]
        if bad:
            raise ValueError(f"directions must be among {list(DIRECTIONS)}, got {bad}")
        bad = [m for m in modes if m not in ("P", "D")]
        if bad:
            raise ValueError(f"modes must be among ['P', 'D'], got {bad}")
        self.modes = tuple(modes)
        self.directions = tuple(directions)
        self.node_order_attr = node_order_attr
        self.drop_self_loops = drop_self_loops

    def forward(self, data: Data) -> LineDAGData:
        out = data if isinstance(data, LineDAGData) else LineDAGData.from_dict(data.to_dict())
        order = getattr(data, self.node_order_attr, None) if self.node_order_attr else None
        for mode in self.modes:
            for direction in self.directions:
                out.set_line_dag(LineDAG.from_graph(
                    data.edge_index, data.num_nodes, mode=mode, reverse=DIRECTIONS[direction],
                    node_order=order, drop_self_loops=self.drop_self_loops))
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(modes={list(self.modes)}, "
                f"directions={list(self.directions)}, node_order_attr={self.node_order_attr!r})")
