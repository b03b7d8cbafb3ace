"""GIN / GINE baselines in the style of OGB's reference GNNs, with an optional virtual node."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GINConv, GINEConv, global_add_pool, global_mean_pool

from .encoders import EdgeEncoder, NodeEncoder, batch_vector
from .virtual_node import VirtualNode, gin_mlp


class GINNet(torch.nn.Module):
    r"""GIN (`"How Powerful are Graph Neural Networks?" <https://arxiv.org/abs/1810.00826>`_) or,
    with ``use_edge_attr``, GINE (`"Strategies for Pre-training Graph Neural Networks"
    <https://arxiv.org/abs/1905.12265>`_) for graph property prediction, laid out as OGB's
    reference models: encoders, ``num_layers`` × (conv, BatchNorm, ReLU except last, dropout),
    optional virtual node, pooling and a linear head. OGB's ``gin-virtual`` leaderboard entry is
    this model with ``use_edge_attr=True, virtual_node=True`` (its "GIN" conv adds bond embeddings
    to messages, i.e. GINE).

    .. math::
        h_n^{(l+1)} = \mathrm{MLP}\Big((1+\epsilon)\,h_n^{(l)} + \sum_{m \in \mathcal{N}(n)}
        \mathrm{ReLU}\big(h_m^{(l)} + e_{mn}\big)\Big)

    Args:
        out_channels (int): Outputs per graph.
        hidden_channels (int, optional): Width. (default: :obj:`300`)
        num_layers (int, optional): Message-passing layers. (default: :obj:`5`)
        in_channels (int, optional): Node feature size; unused with ``ogb_features``.
            (default: :obj:`None`)
        edge_dim (int, optional): Edge feature size (GINE only; unused with ``ogb_features``).
            (default: :obj:`None`)
        ogb_features (bool, optional): Inputs are OGB's integer atom / bond features.
            (default: :obj:`False`)
        use_edge_attr (bool, optional): GINE instead of GIN. (default: :obj:`False`)
        virtual_node (bool, optional): Add a virtual node connected to every node.
            (default: :obj:`False`)
        pool (str, optional): ``"mean"`` (OGB) or ``"sum"`` (TU baselines of the paper).
            (default: :obj:`"mean"`)
        dropout (float, optional): Dropout after every layer. (default: :obj:`0.5`)

    Shapes:
        - **input:** a :class:`~torch_geometric.data.Batch` with ``x`` :math:`(N, F)`,
          ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, D)` (GINE), ``batch`` :math:`(N)`
        - **output:** :math:`(G, \text{out\_channels})`
    """

    def __init__(self, out_channels: int, hidden_channels: int = 300, num_layers: int = 5,
                 in_channels: Optional[int] = None, edge_dim: Optional[int] = None,
                 ogb_features: bool = False, use_edge_attr: bool = False,
                 virtual_node: bool = False, pool: str = "mean", dropout: float = 0.5):
        super().__init__()
        if pool not in ("mean", "sum"):
            raise ValueError(f"pool must be 'mean' or 'sum', got {pool!r}")
        if use_edge_attr and not ogb_features and edge_dim is None:
            raise ValueError("GINE needs edge features (edge_dim or ogb_features); this dataset "
                             "has none, use GIN")
        self.out_channels, self.hidden_channels, self.num_layers = out_channels, hidden_channels, num_layers
        self.use_edge_attr, self.virtual_node, self.pool, self.dropout = use_edge_attr, virtual_node, pool, dropout
        self.node_encoder = NodeEncoder(hidden_channels, in_channels, ogb_features)
        # One edge encoder per layer, as in OGB's GNNs (each conv embeds bonds itself).
        self.edge_encoders = torch.nn.ModuleList(
            EdgeEncoder(hidden_channels, edge_dim, ogb_features) for _ in range(num_layers)
        ) if use_edge_attr else None
        self.convs = torch.nn.ModuleList(
            GINEConv(gin_mlp(hidden_channels), train_eps=True) if use_edge_attr
            else GINConv(gin_mlp(hidden_channels), train_eps=True) for _ in range(num_layers))
        self.norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(hidden_channels) for _ in range(num_layers))
        self.vn = VirtualNode(hidden_channels, num_layers, dropout) if virtual_node else None
        # Checkpoints from before VirtualNode named its parameters vn_embedding / vn_mlps.
        self._register_load_state_dict_pre_hook(_rename_virtual_node_keys)
        self.head = torch.nn.Linear(hidden_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        modules = [self.node_encoder, *self.convs, *self.norms, self.head]
        if self.edge_encoders is not None:
            modules += list(self.edge_encoders)
        for module in modules:
            module.reset_parameters()
        if self.vn is not None:
            self.vn.reset_parameters()

    def forward(self, data: Data) -> Tensor:
        edge_index = data.edge_index
        batch, num_graphs = batch_vector(data)
        h = self.node_encoder(data.x)
        vn = self.vn.start(num_graphs) if self.vn is not None else None
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if vn is not None:
                h = h + vn[batch]
            if self.use_edge_attr:
                out = conv(h, edge_index, self.edge_encoders[i](h, edge_index, data.get("edge_attr")))
            else:
                out = conv(h, edge_index)
            out = norm(out)
            if i < self.num_layers - 1:
                out = F.relu(out)
            if vn is not None and i < self.num_layers - 1:
                vn = self.vn.update(i, h, vn, batch)
            h = F.dropout(out, self.dropout, self.training)
        pool = global_mean_pool if self.pool == "mean" else global_add_pool
        return self.head(pool(h, batch, size=num_graphs))

    def __repr__(self) -> str:
        name = "GINE" if self.use_edge_attr else "GIN"
        return (f"{name}Net({self.out_channels}, hidden_channels={self.hidden_channels}, "
                f"num_layers={self.num_layers}, virtual_node={self.virtual_node}, pool={self.pool})")


def _rename_virtual_node_keys(state_dict, prefix, *args) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "vn_")]:
        new = prefix + key[len(prefix):].replace("vn_embedding.", "vn.embedding.", 1).replace(
            "vn_mlps.", "vn.mlps.", 1)
        state_dict[new] = state_dict.pop(key)
