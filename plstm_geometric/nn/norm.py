"""Normalisation layers."""
from __future__ import annotations

import torch
from torch import Tensor


class MultiHeadRMSNorm(torch.nn.Module):
    r"""RMSNorm over the last dimension of ``[..., H, D]`` with a learnable scale per head and channel.

    .. math:: y = \frac{x}{\sqrt{\operatorname{mean}(x^2) + \epsilon}} \odot w_h
    """

    def __init__(self, heads: int, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.heads, self.dim, self.eps = heads, dim, eps
        self.weight = torch.nn.Parameter(torch.empty(heads, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        # torch's rms_norm (the same formula in fewer ops), then the per-head scale, which it
        # cannot take: its weight must have the normalised shape.
        return torch.nn.functional.rms_norm(x, (self.dim,), eps=self.eps) * self.weight

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(heads={self.heads}, dim={self.dim}, eps={self.eps})"
