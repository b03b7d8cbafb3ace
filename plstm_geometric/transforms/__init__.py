"""PyG transforms."""
from .line_dag import AddLineDAG
from .node_order import CanonicalSmilesOrder, RandomSmilesOrder

__all__ = ["AddLineDAG", "CanonicalSmilesOrder", "RandomSmilesOrder"]
