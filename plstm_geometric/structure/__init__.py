"""Graph → DAG → line DAG → levels: pure index computation, no parameters."""
import warnings
from typing import Any

from .grid import grid_edge_index
from .levels import topological_levels
from .line_dag import LineDAG
from .line_graph import line_graph
from .orient import orient
from .prune import chirality, greedy_multitree
from .spec import LineDAGSpec

__all__ = ["LineDAG", "LineDAGSpec", "orient", "line_graph", "topological_levels",
           "greedy_multitree", "chirality", "grid_edge_index"]


def __getattr__(name: str) -> Any:
    # LineDAGData moved to plstm_geometric.data (with PyG's data classes); the old name stays
    # importable for one release.
    if name == "LineDAGData":
        warnings.warn("plstm_geometric.structure.LineDAGData moved to plstm_geometric.data."
                      "LineDAGData; the old name will be removed in the next release",
                      DeprecationWarning, stacklevel=2)
        from ..data.line_dag_data import LineDAGData
        return LineDAGData
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
