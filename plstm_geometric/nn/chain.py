r"""``PLSTM1D``: the pLSTM layer on sequences, run by the chain kernel (SPEC §5, "1D")."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .conv import P_NORM_ALPHA, PLSTMConv
from ..ops.chain import plstm_1d


class PLSTM1D(PLSTMConv):
    r""":class:`PLSTMConv` on the chain graph :math:`0 \to 1 \to \dots \to T-1` of each
    sequence, computed by :func:`~plstm_geometric.ops.chain.plstm_1d` on ``[B, T, F]`` tensors.

    Same parameters, initialisation and gates as :class:`PLSTMConv` without edge features,
    with the chain gate mapping of SPEC §5 (the state :math:`C_t` lives on edge
    :math:`t \to t+1`):

    .. math::
        S_t = \sigma(W_S x_t), \quad M_t = \sigma(W_M x_t), \quad D_t = \sigma(W_D x_t),
        \quad \tau_t = W_T x_t, \quad
        T_t = \frac{\tau_t}{\alpha + |\tau_t|}\ (\text{P}) \text{ or } \tanh(\tau_t)\ (\text{D}),

    :math:`S_t` onto edge :math:`t \to t+1`, :math:`M_t` from edge :math:`t-1 \to t`,
    :math:`T_t` at node :math:`t` (every line node of a chain has one successor and one
    predecessor, so both P-mode normalisations agree; D-mode pruning removes nothing).
    Then the readout of :class:`PLSTMConv` (per-head norm, optional output gate, projection). A module with the same state dict
    as a :class:`PLSTMConv` computes the same numbers on the chain graph (tested).

    Args:
        in_channels (int): Input feature size.
        out_channels (int): Output feature size.
        heads (int, optional): Number of heads :math:`H`. (default: :obj:`4`)
        mode (str, optional): ``"P"`` or ``"D"``. (default: :obj:`"P"`)
        reverse (bool, optional): Run from :math:`T-1` down to 0. (default: :obj:`False`)
        key_dim (int, optional): :math:`K` per head. (default: ``out_channels // heads``)
        value_dim (int, optional): :math:`V` per head. (default: ``out_channels // heads``)
        scale_qk (bool, optional): Multiply queries by :math:`K^{-1/2}`. (default: :obj:`False`)
        chunk_size (int, optional): Chunk length of :func:`plstm_1d`. (default: :obj:`64`)
        norm, out_gate, qk_norm, init: as :class:`PLSTMConv` (the same code applies them;
            ``norm`` ``"rms"`` or ``"none"``).

    Shapes:
        - **input:** :math:`(B, T, F_{in})`
        - **output:** :math:`(B, T, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 4, mode: str = "P",
                 reverse: bool = False, key_dim: Optional[int] = None,
                 value_dim: Optional[int] = None, scale_qk: bool = False,
                 chunk_size: int = 64, norm: str = "rms", out_gate: bool = False,
                 qk_norm: bool = False, init: str = "reference") -> None:
        if norm == "graph":
            # Its one factor per graph would need the sequence of each row; "rms" is the paper's.
            raise ValueError("PLSTM1D supports norm='rms' or 'none'; norm='graph' is for "
                             "PLSTMConv on graphs")
        super().__init__(in_channels, out_channels, heads=heads, mode=mode, reverse=reverse,
                         key_dim=key_dim, value_dim=value_dim, scale_qk=scale_qk, norm=norm,
                         out_gate=out_gate, qk_norm=qk_norm, init=init)
        self.chunk_size = chunk_size

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """
        Args:
            x (torch.Tensor): Sequences :math:`(B, T, F_{in})`.
        """
        if x.dim() != 3:
            raise ValueError(f"'x' must have shape [B, T, F], got {tuple(x.shape)}")
        if self.reverse:
            x = x.flip(1)
        query, key, value, node_gate = self.node_projections(x)
        source, mark, direct, tau = node_gate.unbind(2)
        transition = tau / (P_NORM_ALPHA + tau.abs()) if self.mode == "P" else torch.tanh(tau)
        y = plstm_1d(query, key, value, torch.sigmoid(source), transition, torch.sigmoid(mark),
                     torch.sigmoid(direct), chunk_size=self.chunk_size)
        out = self.readout(y, x)
        return out.flip(1) if self.reverse else out
