"""``LineDAGData``: a PyG ``Data`` that carries precomputed line DAGs and batches them correctly."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch_geometric.data import Data

from ..structure.line_dag import LineDAG

FIELDS = ("dag_edge_index", "line_index", "edge_id", "edge_level")


def prefix(mode: str, reverse: bool) -> str:
    """Attribute prefix of a stored structure, e.g. ``"p_fwd"``, ``"d_rev"``."""
    return f"{mode.lower()}_{'rev' if reverse else 'fwd'}"


def split_key(key: str) -> tuple[str, str]:
    for field in FIELDS:
        if key.endswith("_" + field):
            return key[: -len(field) - 1], field
    return "", ""


class LineDAGData(Data):
    """A graph plus its line DAGs (one per mode and direction) as flat tensor attributes.

    For a structure with prefix ``p`` (``"p_fwd"``, ``"p_rev"``, ``"d_fwd"``, ``"d_rev"``) it stores
    ``{p}_dag_edge_index [2, E]``, ``{p}_line_index [2, L]``, ``{p}_edge_id [E]`` and
    ``{p}_edge_level [E]``. Batching shifts DAG edges by the node count, line edges by the DAG-edge
    count, edge ids by the input edge count, and leaves levels alone, so level ``k`` of a batch is
    level ``k`` of every graph in it.
    """

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        name, field = split_key(key)
        if field == "dag_edge_index":
            return self.num_nodes
        if field == "line_index":
            return self[f"{name}_dag_edge_index"].size(1)
        if field == "edge_id":
            return self.edge_index.size(1) if self.edge_index is not None else 0
        if field == "edge_level":
            return 0
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        field = split_key(key)[1]
        if field in ("dag_edge_index", "line_index"):
            return -1
        if field in ("edge_id", "edge_level"):
            return 0
        return super().__cat_dim__(key, value, *args, **kwargs)

    def has_line_dag(self, mode: str, reverse: bool = False) -> bool:
        return f"{prefix(mode, reverse)}_dag_edge_index" in self

    def line_dag(self, mode: str = "P", reverse: bool = False) -> LineDAG:
        """The stored structure for ``mode`` and direction, as a :class:`LineDAG` (cached)."""
        name = prefix(mode, reverse)
        cache = self.__dict__.setdefault("_line_dags", {})
        if name not in cache:
            if not self.has_line_dag(mode, reverse):
                raise ValueError(f"this data holds no {mode}-mode {'reverse' if reverse else 'forward'}"
                                 " line DAG; add it with AddLineDAG(modes=..., directions=...)")
            batch: Optional[torch.Tensor] = getattr(self, "batch", None)
            cache[name] = LineDAG(self.num_nodes, *(self[f"{name}_{f}"] for f in FIELDS),
                                  batch=batch, mode=mode, reverse=reverse)
        return cache[name]

    def set_line_dag(self, line_dag: LineDAG) -> None:
        name = prefix(line_dag.mode or "P", line_dag.reverse)
        for field in FIELDS:
            self[f"{name}_{field}"] = getattr(line_dag, field)


torch.serialization.add_safe_globals([LineDAGData])
