"""Normalisation layers."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import global_mean_pool


class _HeadScaledNorm(torch.nn.Module):
    """What both kernel-output norms share: ``heads``, ``dim``, ``eps`` and a learnable scale
    ``[H, D]`` per head and channel that starts at one."""

    def __init__(self, heads: int, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.heads, self.dim, self.eps = heads, dim, eps
        self.weight = torch.nn.Parameter(torch.empty(heads, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.ones_(self.weight)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(heads={self.heads}, dim={self.dim}, eps={self.eps})"


class MultiHeadRMSNorm(_HeadScaledNorm):
    r"""RMSNorm over the last dimension of ``[..., H, D]`` with a learnable scale per head and channel.

    .. math:: y = \frac{x}{\sqrt{\operatorname{mean}(x^2) + \epsilon}} \odot w_h
    """

    def forward(self, x: Tensor) -> Tensor:
        # torch's rms_norm (the same formula in fewer ops), then the per-head scale, which it
        # cannot take: its weight must have the normalised shape.
        return torch.nn.functional.rms_norm(x, (self.dim,), eps=self.eps) * self.weight


class GraphHeadRMSNorm(_HeadScaledNorm):
    r"""RMSNorm of node outputs ``[N, H, D]`` per graph and head: each head's vectors are divided
    by their RMS over all nodes and channels of the node's graph, then scaled per head and channel,

    .. math::
        y_{n,h} = \frac{x_{n,h}}{\sqrt{\operatorname{mean}_{m \in g(n),\, c}\, x_{m,h,c}^2
        + \epsilon}} \odot w_h .

    Like :class:`MultiHeadRMSNorm` it bounds the scale of a layer's output, but one factor per
    graph and head keeps how large each node's output is relative to the other nodes of its
    graph, which a per-node RMSNorm divides out. ``batch`` ``[N]`` gives each node's graph
    (``None``: one graph); graphs are normalised independently, so batching changes nothing.
    """

    def forward(self, x: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        mean_square = x.pow(2).mean(-1)  # [N, H]
        graph_square = global_mean_pool(mean_square, batch)  # [G, H]
        scale = torch.rsqrt(graph_square + self.eps)[batch]  # [N, H]
        return x * scale.unsqueeze(-1) * self.weight
