"""``LineDAGData``: a PyG ``Data`` that carries precomputed line DAGs and batches them correctly."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..structure.line_dag import LineDAG
from ..structure.spec import LineDAGSpec

FIELDS = ("dag_edge_index", "line_index", "edge_id", "edge_level")
_FIELD_KEY = re.compile(rf"(.+)_({'|'.join(FIELDS)})")
_CHIRALITY = re.compile(r"chirality(\d+)x(\d+)")

SpecLike = Union[str, LineDAGSpec]


def prefix(spec: LineDAGSpec) -> str:
    """Attribute prefix of a stored structure: ``"p_fwd"``, ``"d_rev"``, ... for the default
    options of a mode, followed by one token per non-default option (``unpruned`` /
    ``greedy`` / ``chirality{MX}x{MY}``, ``directed``, ``noloops``), e.g.
    ``"d_fwd_chirality4x5"``. The prefix determines the spec (:func:`parse_prefix`)."""
    tokens = [spec.mode.lower(), "rev" if spec.reverse else "fwd"]
    if spec.prune != LineDAGSpec(spec.mode).prune:
        tokens.append("unpruned" if spec.prune is None else spec.prune if spec.grid_shape is None
                      else "{}{}x{}".format(spec.prune, *spec.grid_shape))
    tokens += ["directed"] * spec.directed + ["noloops"] * spec.drop_self_loops
    return "_".join(tokens)


@lru_cache(maxsize=None)
def parse_prefix(name: str) -> Optional[LineDAGSpec]:
    """The spec whose :func:`prefix` is ``name``, or ``None`` if ``name`` is no such prefix."""
    parts = name.split("_")
    if len(parts) < 2 or parts[0] not in ("p", "d") or parts[1] not in ("fwd", "rev"):
        return None
    options: dict[str, Any] = {"mode": parts[0].upper(), "reverse": parts[1] == "rev"}
    for token in parts[2:]:
        chiral = _CHIRALITY.fullmatch(token)
        if token in ("unpruned", "greedy"):
            options["prune"] = None if token == "unpruned" else token
        elif chiral:
            options["prune"], options["grid_shape"] = "chirality", tuple(map(int, chiral.groups()))
        elif token in ("directed", "noloops"):
            options["directed" if token == "directed" else "drop_self_loops"] = True
        else:
            return None
    try:
        spec = LineDAGSpec(**options)
    except ValueError:
        return None
    return spec if prefix(spec) == name else None  # only the canonical spelling


def split_key(key: str) -> tuple[Optional[LineDAGSpec], str]:
    """``(spec, field)`` of a stored structure's attribute, else ``(None, "")``."""
    match = _FIELD_KEY.fullmatch(key)
    spec = parse_prefix(match.group(1)) if match else None
    return (spec, match.group(2)) if spec is not None else (None, "")


def as_spec(spec: SpecLike, reverse: bool = False) -> LineDAGSpec:
    """A spec from a :class:`LineDAGSpec`, or from a mode and direction (default options)."""
    if isinstance(spec, LineDAGSpec):
        if reverse:
            raise ValueError("pass reverse inside the LineDAGSpec, not next to it")
        return spec
    return LineDAGSpec(spec, reverse)


class LineDAGData(Data):
    """A graph plus its line DAGs (one per :class:`~plstm_geometric.structure.LineDAGSpec`) as
    flat tensor attributes.

    For a structure with prefix ``p`` (``"p_fwd"``, ``"p_rev"``, ``"d_fwd"``, ``"d_rev"`` for the
    default options, see :func:`prefix`) it stores ``{p}_dag_edge_index [2, E]``,
    ``{p}_line_index [2, L]``, ``{p}_edge_id [E]`` and ``{p}_edge_level [E]``; the prefix names
    every option, so each stored structure knows its spec. Batching shifts DAG edges by the node
    count, line edges by the DAG-edge count, edge ids by the input edge count, and leaves levels
    alone, so level ``k`` of a batch is level ``k`` of every graph in it.

    :meth:`line_dag` caches the :class:`LineDAG` views (and with them the derived index tensors
    the kernels compute once per structure). A cached view is used only while it still holds
    the very tensors stored in this data, unchanged in place: ``.to(device)``, ``.clone()``,
    ``apply``, attribute replacement and in-place edits all make the next call build a fresh view.
    """

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        spec, field = split_key(key)
        if field == "dag_edge_index":
            return self.num_nodes
        if field == "line_index":
            return self[f"{prefix(spec)}_dag_edge_index"].size(1)
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

    def line_dag_specs(self) -> list[LineDAGSpec]:
        """The specs of the stored structures."""
        specs = [split_key(key) for key in self.keys()]
        return [spec for spec, field in specs if field == "dag_edge_index"]

    def has_line_dag(self, spec: SpecLike = "P", reverse: bool = False) -> bool:
        """Whether a structure for ``spec`` (or a mode and direction with default options) is
        stored."""
        return f"{prefix(as_spec(spec, reverse))}_dag_edge_index" in self

    def line_dag(self, spec: SpecLike = "P", reverse: bool = False) -> LineDAG:
        """The stored structure for ``spec`` (a :class:`LineDAGSpec`, or a mode and direction
        with default options), as a :class:`LineDAG` carrying that spec.

        Raises:
            ValueError: if no structure for ``spec`` is stored (naming the stored specs).
        """
        spec = as_spec(spec, reverse)
        name = prefix(spec)
        if not self.has_line_dag(spec):
            raise ValueError(f"this data holds no line DAG for {spec}; it holds "
                             f"{self.line_dag_specs() or 'none'} (add it with "
                             "AddLineDAG(specs=...) or modes=/directions=)")
        tensors = tuple(self[f"{name}_{f}"] for f in FIELDS) + (getattr(self, "batch", None),)
        cached = self.__dict__.get("_line_dags", {}).get(name)
        if cached is not None and cached[1] == _identity(tensors):
            return cached[0]
        line_dag = LineDAG(self.num_nodes, *tensors, spec=spec)
        # A new dict, not an update: copy.copy() shares __dict__ values with the original.
        self.__dict__["_line_dags"] = {**self.__dict__.get("_line_dags", {}),
                                       name: (line_dag, _identity(tensors))}
        return line_dag

    def set_line_dag(self, line_dag: LineDAG) -> None:
        """Store ``line_dag`` under the prefix of its spec."""
        if line_dag.spec is None:
            raise ValueError("a line DAG built from explicit edges has no spec to be stored under")
        name = prefix(line_dag.spec)
        for field in FIELDS:
            self[f"{name}_{field}"] = getattr(line_dag, field)

    def __getstate__(self) -> dict[str, Any]:
        # The cached views are derived data (and not safe globals for torch.load).
        return {k: v for k, v in super().__getstate__().items() if k != "_line_dags"}


def _identity(tensors: tuple[Optional[Tensor], ...]) -> tuple:
    """What a cached view depends on: each tensor object and its in-place version counter
    (inference tensors have none; they can only be edited inside ``torch.inference_mode``)."""
    return tuple(None if t is None else (id(t), None if t.is_inference() else t._version)
                 for t in tensors)


torch.serialization.add_safe_globals([LineDAGData])
