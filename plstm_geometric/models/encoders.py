"""Input encoders shared by :class:`PLSTMNet` and the GIN baselines."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import degree


def batch_vector(data) -> Tuple[Tensor, int]:
    """``(batch, num_graphs)`` of a mini-batch, or of a single graph (all zeros, 1)."""
    if data.batch is None:
        return torch.zeros(data.num_nodes, dtype=torch.long, device=data.edge_index.device), 1
    return data.batch, data.num_graphs


class NodeEncoder(torch.nn.Module):
    """OGB's ``AtomEncoder`` for OGB-featurised molecules (integer features), a ``Linear`` layer
    otherwise."""

    def __init__(self, hidden_channels: int, in_channels: Optional[int] = None,
                 ogb_features: bool = False):
        super().__init__()
        if ogb_features:
            from ogb.graphproppred.mol_encoder import AtomEncoder
            self.encoder = AtomEncoder(hidden_channels)
        elif in_channels is None:
            raise ValueError("NodeEncoder needs in_channels unless ogb_features=True")
        else:
            self.encoder = torch.nn.Linear(in_channels, hidden_channels)
        self.ogb_features = ogb_features

    def reset_parameters(self) -> None:
        if self.ogb_features:
            for emb in self.encoder.atom_embedding_list:
                torch.nn.init.xavier_uniform_(emb.weight)
        else:
            self.encoder.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x if self.ogb_features else x.float())


class EdgeEncoder(torch.nn.Module):
    """OGB's ``BondEncoder`` for OGB-featurised molecules, ``Linear`` for other edge features,
    and, for graphs without edge features (``edge_dim=None``), the mean of the two endpoint
    features."""

    def __init__(self, hidden_channels: int, edge_dim: Optional[int] = None,
                 ogb_features: bool = False):
        super().__init__()
        self.ogb_features, self.edge_dim = ogb_features, edge_dim
        if ogb_features:
            from ogb.graphproppred.mol_encoder import BondEncoder
            self.encoder = BondEncoder(hidden_channels)
        elif edge_dim is not None:
            self.encoder = torch.nn.Linear(edge_dim, hidden_channels)
        else:
            self.encoder = None

    def reset_parameters(self) -> None:
        if self.ogb_features:
            for emb in self.encoder.bond_embedding_list:
                torch.nn.init.xavier_uniform_(emb.weight)
        elif self.encoder is not None:
            self.encoder.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Optional[Tensor]) -> Tensor:
        if self.encoder is None:
            return 0.5 * (x[edge_index[0]] + x[edge_index[1]])
        if edge_attr is None:
            raise ValueError("this model was built for edge features but the graph has none")
        return self.encoder(edge_attr if self.ogb_features else edge_attr.float())


class DegreeEncoding(torch.nn.Module):
    r"""Sinusoidal encoding of the node degree :math:`d` (as positions in a Transformer):
    :math:`[\sin(d\,\omega_i), \cos(d\,\omega_i)]_i` with :math:`\omega_i = 10000^{-2i/F}`,
    followed by a learnable linear map so the model can scale it against the features."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        half = (channels + 1) // 2
        self.register_buffer("freq", torch.exp(-math.log(10000.0) * torch.arange(half) * 2 / channels),
                             persistent=False)
        self.lin = torch.nn.Linear(2 * half, channels, bias=False)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        deg = degree(edge_index[1], num_nodes, dtype=self.freq.dtype)
        angle = deg[:, None] * self.freq[None, :]
        return self.lin(torch.cat([angle.sin(), angle.cos()], dim=-1))
