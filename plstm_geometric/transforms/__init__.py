"""PyG transforms."""
from .line_dag import AddLineDAG

__all__ = ["AddLineDAG"]
