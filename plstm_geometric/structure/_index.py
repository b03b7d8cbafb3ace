"""Index utilities shared by the structure builders and the dense kernel's layout.

Where PyG has the helper it is used directly (``torch_geometric.utils.cumsum`` for offsets,
``lexsort`` for multi-key stable sorts); what PyG lacks lives here, once.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import cumsum, lexsort


def csr(src: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Edge ids sorted by source (stable, so ties keep id order) and the row pointer."""
    order = torch.argsort(src, stable=True)
    return order, cumsum(torch.bincount(src, minlength=num_nodes))


def expand_ranges(start: Tensor, count: Tensor) -> Tensor:
    """Concatenation of ``arange(start[i], start[i] + count[i])`` over i, without a Python loop."""
    total = int(count.sum())
    return torch.repeat_interleave(start - cumsum(count)[:-1], count, output_size=total) + \
        torch.arange(total, device=start.device)


def local_ids(group: Tensor, key: Tensor, num_groups: int) -> tuple[Tensor, Tensor]:
    """Rank of every element within its group (ordered by ``key``) and the group sizes."""
    perm = lexsort([key, group])
    count = torch.bincount(group, minlength=num_groups)
    local = torch.empty_like(group)
    local[perm] = torch.arange(group.numel(), device=group.device) - cumsum(count)[group[perm]]
    return local, count
