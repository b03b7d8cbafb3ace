"""PyG transforms."""
from .line_dag import AddLineDAG
from .node_order import CanonicalSmilesOrder

__all__ = ["AddLineDAG", "CanonicalSmilesOrder"]
