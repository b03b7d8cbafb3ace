"""The regular grid as a PyG graph, in the node numbering the grid kernels and D-mode's chirality
rule use."""
from __future__ import annotations

import torch
from torch import Tensor


def grid_edge_index(X: int, Y: int) -> Tensor:
    """Undirected 4-neighbour ``X × Y`` grid in PyG form (both directions), node ``x · Y + y``.

    Returns:
        ``[2, 2 · (2XY − X − Y)]``: the right edges ``(x, y) → (x+1, y)``, then the down edges
        ``(x, y) → (x, y+1)``, then all of them reversed.
    """
    idx = torch.arange(X * Y).view(X, Y)
    right = torch.stack([idx[:-1].reshape(-1), idx[1:].reshape(-1)])
    down = torch.stack([idx[:, :-1].reshape(-1), idx[:, 1:].reshape(-1)])
    edges = torch.cat([right, down], 1)
    return torch.cat([edges, edges.flip(0)], 1)
