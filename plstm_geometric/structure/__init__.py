"""Graph → DAG → line DAG → levels: pure index computation, no parameters."""
from .data import LineDAGData
from .grid import grid_edge_index
from .levels import topological_levels
from .line_dag import LineDAG
from .line_graph import line_graph
from .orient import orient
from .prune import chirality, greedy_multitree

__all__ = ["LineDAG", "LineDAGData", "orient", "line_graph", "topological_levels", "greedy_multitree",
           "chirality", "grid_edge_index"]
