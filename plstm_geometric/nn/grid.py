r"""The 2D pLSTM layer for images (SPEC §5)."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import Linear

from .norm import MultiHeadRMSNorm
from ..ops.dag.compiled import CompiledNormSum, compiled_available
from ..ops.grid import plstm_2d_orientations

#: Gate pre-activations per orientation and head, in the order of the gate projection.
_P_GATES = ("orientation", "source", "transition", "mark", "direct")
_D_GATES = ("source_r", "source_d", "trans_rl", "trans_ru", "trans_du", "mark_l", "mark_u", "direct")

#: Gate bias initialisation (gate weights start at zero, so gates start constant).
#: P-mode: o = 0.5 and S, T ~ 1 give an even right/down split without decay;
#: D-mode: tanh(3) ~ 0.995 keeps long memory. Sources, marks and direct start at 0.5.
_BIAS_INIT = {
    "orientation": 0.0, "source": 5.0, "transition": 5.0, "mark": 0.0, "direct": 0.0,
    "source_r": 0.0, "source_d": 0.0, "trans_rl": 3.0, "trans_ru": 3.0, "trans_du": 3.0,
    "mark_l": 0.0, "mark_u": 0.0,
}


class PLSTM2D(torch.nn.Module):
    r"""The 2D pLSTM layer from the `"pLSTM: parallelizable Linear Source
    Transition Mark networks" <https://arxiv.org/abs/2506.11997>`_ paper.

    Per head, with :math:`q = W_q x / \sqrt{K}`, :math:`k = W_k x`, :math:`v = W_v x`
    and gates computed per node from :math:`x`, each of the four orientations
    :math:`o` (the grid DAG run towards increasing or decreasing :math:`x` and
    :math:`y`) computes :math:`y^{(o)} = (G^{(o)} \odot QK^\top)V` with
    :func:`~plstm_geometric.ops.grid.plstm_2d_orientations` (one call for all orientations), and

    .. math::
        \mathbf{y} = W_o \, \mathrm{concat}_h \sum_o \mathrm{RMSNorm}_h\bigl(y^{(o)}_h\bigr).

    Gate constructions (SPEC §5, :math:`\sigma` the logistic function):

    - ``mode="P"``: orientation gate :math:`o = \sigma(\cdot)`, :math:`S, T, M, D = \sigma(\cdot)`;
      :math:`S^r = oS,\ S^d = 1 - oS,\ T^{rl} = T^{ru} = oT,\ T^{dl} = T^{du} = 1 - oT,\
      M^l = M^u = M`. Outgoing transitions of every edge sum to one (mass is routed,
      never amplified).
    - ``mode="D"``: separate :math:`S^r, S^d, M^l, M^u, D = \sigma(\cdot)`,
      :math:`T^{rl}, T^{ru}, T^{du} = \tanh(\cdot)` and the left :math:`\to` down turn
      removed, which makes the line DAG a multitree.

    Args:
        in_channels (int): Size of each input feature vector.
        out_channels (int, optional): Size of each output feature vector;
            :obj:`None` keeps :obj:`in_channels`. (default: :obj:`None`)
        heads (int, optional): Number of heads :math:`H`. (default: :obj:`4`)
        head_dim (int, optional): Key/value size :math:`K = V` per head;
            :obj:`None` uses :obj:`in_channels // heads`. (default: :obj:`None`)
        mode (str, optional): ``"P"`` or ``"D"``. (default: :obj:`"P"`)
        orientations (int, optional): Number of orientations (1, 2 or 4): bit 0
            flips :math:`x`, bit 1 flips :math:`y`. (default: :obj:`4`)
        form (str, optional): Form of the grid kernel (``"auto"``, ``"dense"``,
            ``"wavefront"``, ``"chunkwise"``), see :func:`~plstm_geometric.ops.grid.plstm_2d`.
            (default: :obj:`"auto"`)
        chunk_size (int, optional): Chunk side of the chunkwise form. (default: :obj:`None`)

    Shapes:
        - **input:** :math:`(B, X, Y, F_{in})`
        - **output:** :math:`(B, X, Y, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, heads: int = 4,
                 head_dim: int | None = None, mode: str = "P", orientations: int = 4,
                 chunk_size: int | None = None, form: str = "auto") -> None:
        super().__init__()
        if mode not in ("P", "D"):
            raise ValueError(f"'mode' must be 'P' or 'D', got {mode!r}")
        if orientations not in (1, 2, 4):
            raise ValueError(f"'orientations' must be 1, 2 or 4, got {orientations}")
        if head_dim is None:
            if in_channels % heads:
                raise ValueError(f"'in_channels' ({in_channels}) must be divisible by 'heads' "
                                 f"({heads}) unless 'head_dim' is given")
            head_dim = in_channels // heads
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.heads = heads
        self.head_dim = head_dim
        self.mode = mode
        self.orientations = orientations
        self.chunk_size = chunk_size
        self.form = form
        self.gate_names = _P_GATES if mode == "P" else _D_GATES

        self.qkv = Linear(in_channels, 3 * heads * head_dim)
        self.gates = Linear(in_channels, len(self.gate_names) * orientations * heads)
        self.norm = MultiHeadRMSNorm(heads, head_dim)
        self.out = Linear(heads * head_dim, self.out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Projections: normal with std :math:`1/\sqrt{2.5\,\mathrm{fan\_in}}`, zero bias;
        gates: zero weight and the biases of ``_BIAS_INIT``; norm scale one."""
        for lin in (self.qkv, self.out):
            torch.nn.init.normal_(lin.weight, std=1.0 / math.sqrt(2.5 * lin.in_features))
            torch.nn.init.zeros_(lin.bias)
        torch.nn.init.zeros_(self.gates.weight)
        bias = torch.tensor([_BIAS_INIT[n] for n in self.gate_names])
        with torch.no_grad():
            self.gates.bias.copy_(bias.repeat_interleave(self.orientations * self.heads))
        self.norm.reset_parameters()

    def _grid_gates(self, raw: Tensor) -> list[Tensor | None]:
        """The nine kernel gates, each ``[B, X, Y, O, H]`` (``O`` orientations), from
        pre-activations ``[B, X, Y, len(gate_names), O, H]``."""
        g = dict(zip(self.gate_names, raw.unbind(3)))
        if self.mode == "P":
            o, S, T, M, D = (torch.sigmoid(g[n]) for n in _P_GATES)
            s_r, t_r = o * S, o * T
            return [s_r, 1 - s_r, t_r, t_r, 1 - t_r, 1 - t_r, M, M, D]
        sig = {n: torch.sigmoid(g[n]) for n in ("source_r", "source_d", "mark_l", "mark_u", "direct")}
        return [sig["source_r"], sig["source_d"], torch.tanh(g["trans_rl"]),
                torch.tanh(g["trans_ru"]), None, torch.tanh(g["trans_du"]),
                sig["mark_l"], sig["mark_u"], sig["direct"]]

    def forward(self, x: Tensor) -> Tensor:
        """
        Args:
            x (torch.Tensor): Grid features :math:`(B, X, Y, F_{in})`.
        """
        if x.dim() != 4:
            raise ValueError(f"'x' must have shape [B, X, Y, F], got {tuple(x.shape)}")
        B, X, Y, _ = x.shape
        H, K, O = self.heads, self.head_dim, self.orientations
        q, k, v = self.qkv(x).view(B, X, Y, 3, H, K).unbind(3)
        q = q * K ** -0.5
        raw = self.gates(x).view(B, X, Y, len(self.gate_names), O, H)

        flips = [(bool(o & 1), bool(o & 2)) for o in range(O)]
        # One kernel call for all orientations; gates [B, O, X, Y, H] (a gate projection per
        # orientation), each still indexed by the node that owns it.
        gates = [None if g is None else g.movedim(3, 1) for g in self._grid_gates(raw)]
        out = plstm_2d_orientations(q, k, v, *gates, flips=flips, chunk_size=self.chunk_size,
                                    form=self.form)
        # The per-head norm of every orientation and their sum: one compiled pass each way on
        # the CPU (the torch ops on the O-times-larger output took ~15 % of a vision step).
        if compiled_available(out, self.norm.weight):
            out = CompiledNormSum.apply(out, self.norm.weight, self.norm.eps)
        else:
            out = self.norm(out).sum(1)
        return self.out(out.reshape(B, X, Y, H * K).to(x.dtype))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"heads={self.heads}, mode={self.mode}, orientations={self.orientations})")
