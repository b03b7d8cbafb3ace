"""``LineDAGSpec``: every option that defines a pLSTM structure, in one place.

A structure (:class:`~plstm_geometric.structure.LineDAG`) is a function of the graph, its node
order and these options. The builder (:meth:`LineDAG.from_graph`), the transform that precomputes
structures (:class:`~plstm_geometric.transforms.AddLineDAG`), the data class that stores them
(:class:`~plstm_geometric.data.LineDAGData`) and the layer that runs on them
(:class:`~plstm_geometric.nn.PLSTMConv`) all take a spec, so a structure built with one set of
options can never silently feed a layer configured with another.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, replace
from typing import Optional

MODES = ("P", "D")
PRUNE_RULES = (None, "greedy", "chirality")


@dataclass(frozen=True)
class LineDAGSpec:
    """The options that define a structure (SPEC §1, §3, §5).

    Args:
        mode: ``"P"`` (full line DAG) or ``"D"`` (line DAG pruned to a multitree).
        reverse: use the reverse DAG (every edge flipped).
        prune: ``None`` (keep every line edge), ``"greedy"`` (multitree, SPEC §3) or
            ``"chirality"`` (grid D-mode rule, SPEC §5; needs ``grid_shape``). ``"default"``
            becomes ``None`` in P-mode and ``"greedy"`` in D-mode.
        directed: use the edges' directions as given (they must form a DAG) instead of
            orienting each undirected edge from the lower- to the higher-ranked node.
        drop_self_loops: drop self-loops instead of raising.
        grid_shape: ``(MX, MY)`` of the grid graphs for ``prune="chirality"`` (node index
            ``x·MY + y``); only allowed with that rule.

    Raises:
        ValueError: for an unknown mode or rule, ``"chirality"`` without ``grid_shape`` or a
            ``grid_shape`` that no rule uses.
    """

    mode: str = "P"
    reverse: bool = False
    prune: Optional[str] = "default"
    directed: bool = False
    drop_self_loops: bool = False
    grid_shape: Optional[tuple[int, int]] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.prune == "default":
            object.__setattr__(self, "prune", "greedy" if self.mode == "D" else None)
        if self.prune not in PRUNE_RULES:
            raise ValueError(f"prune must be one of {PRUNE_RULES} or 'default', got {self.prune!r}")
        for name in ("reverse", "directed", "drop_self_loops"):
            value = getattr(self, name)
            if value not in (False, True):  # also 0 / 1 and NumPy bools, stored as bool
                raise ValueError(f"{name} must be a bool, got {value!r}")
            object.__setattr__(self, name, bool(value))
        if self.grid_shape is not None:
            try:
                shape = tuple(operator.index(s) for s in self.grid_shape)
            except TypeError:
                shape = ()
            if len(shape) != 2 or min(shape) <= 0:
                raise ValueError(f"grid_shape must be two positive ints (MX, MY), got "
                                 f"{self.grid_shape!r}")
            object.__setattr__(self, "grid_shape", shape)
        if self.prune == "chirality" and self.grid_shape is None:
            raise ValueError("prune='chirality' needs grid_shape=(MX, MY)")
        if self.prune != "chirality" and self.grid_shape is not None:
            raise ValueError(f"grid_shape={self.grid_shape} is only used by prune='chirality', "
                             f"but prune={self.prune!r}")

    @classmethod
    def of(cls, spec: Optional["LineDAGSpec"] = None, **options) -> "LineDAGSpec":
        """``spec`` itself, or a spec built from keyword ``options`` (not both)."""
        if spec is None:
            return cls(**options)
        if not isinstance(spec, LineDAGSpec):
            raise ValueError(f"spec must be a LineDAGSpec, got {type(spec).__name__}")
        if options:
            raise ValueError(f"pass the structure options either as spec= or as keyword "
                             f"arguments, not both (got spec={spec} and {sorted(options)})")
        return spec

    @property
    def unpruned(self) -> "LineDAGSpec":
        """The spec of the full (P-mode, unpruned) structure with this spec's orientation: every
        spec with the same orientation options prunes the same full line DAG."""
        return replace(self, mode="P", prune=None, grid_shape=None)
