r"""pLSTM vision model (the paper's pLSTM-ViT, SPEC §5) and a ViT baseline of matched size."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Conv2d, Linear, Module, ModuleList, Parameter, RMSNorm

from ..nn.block import MLP
from ..nn.grid import PLSTM2D


class _PatchEmbedding(Module):
    """Patch convolution plus a learnable position embedding stored at ``grid_size``
    and bicubically interpolated to any other patch grid."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, grid_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.pos = Parameter(torch.empty(1, dim, grid_size, grid_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.proj.reset_parameters()
        torch.nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, img: Tensor) -> Tensor:
        """``[B, C, H, W] -> [B, H/p, W/p, dim]`` (image rows are the grid's x axis)."""
        if img.shape[-1] % self.patch_size or img.shape[-2] % self.patch_size:
            raise ValueError(f"image size {tuple(img.shape[-2:])} is not a multiple of the "
                             f"patch size {self.patch_size}")
        x = self.proj(img)
        pos = self.pos
        if pos.shape[-2:] != x.shape[-2:]:
            pos = F.interpolate(pos, size=x.shape[-2:], mode="bicubic", align_corners=False)
        return (x + pos).permute(0, 2, 3, 1)


class _GridBlock(Module):
    """Pre-norm residual block of SPEC §4 on a grid: ``x + mixer(norm x)``, then ``x + MLP(norm x)``."""

    def __init__(self, dim: int, mixer: Module) -> None:
        super().__init__()
        self.norm1, self.mixer = RMSNorm(dim, eps=1e-5), mixer
        self.norm2, self.mlp = RMSNorm(dim, eps=1e-5), MLP(dim, ratio=4, dropout=0.0)

    def reset_parameters(self) -> None:
        for module in (self.norm1, self.mixer, self.norm2, self.mlp):
            module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PLSTMVision(Module):
    r"""pLSTM vision classifier (the pLSTM-ViT of `"pLSTM: parallelizable Linear
    Source Transition Mark networks" <https://arxiv.org/abs/2506.11997>`_).

    Patch embedding with an interpolated learnable position embedding, ``depth``
    blocks of (P layer, D layer) — each a pre-norm residual :class:`PLSTM2D` plus a
    4x GELU MLP — a final RMSNorm, corner pooling (the tokens at the four grid
    corners, concatenated: each is the end point of one orientation's DAG) and a
    linear head. Works at any image size that is a multiple of ``patch_size``.

    Initialisation (at construction and by :meth:`reset_parameters`, each submodule once): the
    :class:`PLSTM2D` layers their documented gate biases and projection scale (see
    :meth:`PLSTM2D.reset_parameters`), the patch convolution, MLPs and head PyTorch's default,
    the position embedding a truncated normal of std 0.02, the RMSNorm scales one.

    Args:
        num_classes (int): Number of output classes.
        image_size (int, optional): Training image side; sets the stored position
            embedding grid. (default: :obj:`64`)
        patch_size (int, optional): Patch side. (default: :obj:`8`)
        in_channels (int, optional): Image channels. (default: :obj:`3`)
        dim (int, optional): Token width. (default: :obj:`64`)
        depth (int, optional): Number of (P, D) block pairs. (default: :obj:`2`)
        heads (int, optional): Heads per pLSTM layer. (default: :obj:`4`)
        chunk_size (int, optional): Chunk side of the grid kernel's chunkwise form.
            (default: :obj:`None`)
        form (str, optional): Form of the grid kernel, see
            :func:`~plstm_geometric.ops.grid.plstm_2d`. (default: :obj:`"auto"`)

    Shapes:
        - **input:** :math:`(B, C, H, W)`
        - **output:** :math:`(B, \text{num\_classes})`
    """

    def __init__(self, num_classes: int, image_size: int = 64, patch_size: int = 8,
                 in_channels: int = 3, dim: int = 64, depth: int = 2, heads: int = 4,
                 chunk_size: int | None = None, form: str = "auto") -> None:
        super().__init__()
        self.num_classes, self.image_size, self.patch_size = num_classes, image_size, patch_size
        self.dim, self.depth, self.heads = dim, depth, heads
        self.embed = _PatchEmbedding(in_channels, dim, patch_size, image_size // patch_size)
        self.blocks = ModuleList(
            _GridBlock(dim, PLSTM2D(dim, heads=heads, mode=mode, chunk_size=chunk_size,
                                      form=form))
            for _ in range(depth) for mode in ("P", "D"))
        self.norm = RMSNorm(dim, eps=1e-5)
        self.head = Linear(4 * dim, num_classes)

    def reset_parameters(self) -> None:
        # Each direct submodule once: walking self.modules() would re-reset the Linear layers
        # inside every PLSTM2D with PyTorch's default init, undoing its gate biases.
        for module in (self.embed, *self.blocks, self.norm, self.head):
            module.reset_parameters()

    def forward(self, img: Tensor) -> Tensor:
        x = self.embed(img)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        corners = torch.cat([x[:, 0, 0], x[:, 0, -1], x[:, -1, 0], x[:, -1, -1]], dim=-1)
        return self.head(corners)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_classes}, dim={self.dim}, "
                f"depth={self.depth}, heads={self.heads}, patch_size={self.patch_size})")


class ViT(Module):
    r"""A small pre-norm Vision Transformer baseline, sized to match :class:`PLSTMVision`.

    Same patch and position embedding (interpolated for other image sizes), a
    class token, ``2 * depth`` pre-norm transformer layers (one per pLSTM layer of
    :class:`PLSTMVision` with the same ``depth``; attention and pLSTM layers have
    about :math:`4 d^2` parameters each), a final RMSNorm and a linear head on the
    class token.

    Args:
        num_classes (int): Number of output classes.
        image_size (int, optional): Training image side. (default: :obj:`64`)
        patch_size (int, optional): Patch side. (default: :obj:`8`)
        in_channels (int, optional): Image channels. (default: :obj:`3`)
        dim (int, optional): Token width. (default: :obj:`64`)
        depth (int, optional): Number of layer pairs. (default: :obj:`2`)
        heads (int, optional): Attention heads. (default: :obj:`4`)

    Shapes:
        - **input:** :math:`(B, C, H, W)`
        - **output:** :math:`(B, \text{num\_classes})`
    """

    def __init__(self, num_classes: int, image_size: int = 64, patch_size: int = 8,
                 in_channels: int = 3, dim: int = 64, depth: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.num_classes, self.image_size, self.patch_size = num_classes, image_size, patch_size
        self.dim, self.depth, self.heads = dim, depth, heads
        self.embed = _PatchEmbedding(in_channels, dim, patch_size, image_size // patch_size)
        self.cls = Parameter(torch.empty(1, 1, dim))
        self.blocks = ModuleList(
            _GridBlock(dim, _SelfAttention(dim, heads)) for _ in range(2 * depth))
        self.norm = RMSNorm(dim, eps=1e-5)
        self.head = Linear(dim, num_classes)
        torch.nn.init.trunc_normal_(self.cls, std=0.02)

    def reset_parameters(self) -> None:
        for module in (self.embed, *self.blocks, self.norm, self.head):
            module.reset_parameters()
        torch.nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(self, img: Tensor) -> Tensor:
        x = self.embed(img).flatten(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x[:, 0]))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_classes}, dim={self.dim}, "
                f"depth={self.depth}, heads={self.heads}, patch_size={self.patch_size})")


class _SelfAttention(Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv, self.out = Linear(dim, 3 * dim), Linear(dim, dim)

    def reset_parameters(self) -> None:
        self.qkv.reset_parameters()
        self.out.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, N, C))
