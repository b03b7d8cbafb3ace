"""``PLSTMNet``: pLSTM for graph-level property prediction (SPEC §4, "Model")."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import global_add_pool, global_mean_pool

from ..nn import PLSTMBlock
from ..nn.block import node_norm
from ..nn.conv import GATE_BIAS, NORM_EPS
from ..data.line_dag_data import LineDAGData
from .encoders import DegreeEncoding, EdgeEncoder, NodeEncoder, batch_vector
from .virtual_node import VirtualNode


class PLSTMNet(torch.nn.Module):
    r"""Graph property prediction with pLSTM blocks, from the `"pLSTM: parallelizable Linear
    Source Transition Mark networks" <https://arxiv.org/abs/2506.11997>`_ paper.

    .. math::
        h^{(0)} = \mathrm{Enc}(x) + \mathrm{SinDeg}(\deg), \quad
        h^{(i+1)} = \mathrm{Block}_i(h^{(i)}, \mathrm{Enc}_e(\varepsilon)), \quad
        \hat{y} = \mathrm{MLP}\big(\mathrm{Norm}_G(\mathrm{pool}_n\,\mathrm{Norm}(h^{(B)}_n))\big)

    Each block is a P layer then a D layer; block :math:`i` runs on the forward DAG when
    :math:`i` is even and on the reverse DAG when odd. The DAG is oriented by
    ``data.node_order`` when the graph carries one (e.g. from
    :class:`~plstm_geometric.transforms.node_order.CanonicalSmilesOrder`), else by node index.
    Graphs from :class:`~plstm_geometric.transforms.AddLineDAG` bring precomputed structures.
    :meth:`reset_parameters` (called at construction) resets every submodule once: the pLSTM
    layers get the documented init of :meth:`PLSTMConv.reset_parameters` (gate biases
    :data:`~plstm_geometric.nn.conv.GATE_BIAS`, transition biases
    :data:`~plstm_geometric.nn.conv.TRANSITION_BIAS`, zero gate weights) with their output
    projections then zeroed, so every block starts as the identity plus its MLPs and local
    layers (see :class:`PLSTMBlock`); the encoders and the head keep PyTorch's default init
    (Xavier-uniform embeddings for OGB features).

    Args:
        out_channels (int): Outputs per graph.
        hidden_channels (int, optional): Width. (default: :obj:`96`)
        num_blocks (int, optional): Number of blocks. (default: :obj:`2`)
        heads (int, optional): pLSTM heads. (default: :obj:`4`)
        in_channels (int, optional): Node feature size; unused with ``ogb_features``.
            (default: :obj:`None`)
        edge_dim (int, optional): Edge feature size; :obj:`None` means edges take the mean of
            their endpoint features. Unused with ``ogb_features``. (default: :obj:`None`)
        ogb_features (bool, optional): Inputs are OGB's integer atom / bond features (use
            ``AtomEncoder`` / ``BondEncoder``). (default: :obj:`False`)
        mlp_ratio (float, optional): Block MLP width factor. (default: :obj:`4.0`)
        dropout (float, optional): Dropout in blocks and head. (default: :obj:`0.0`)
        norm (str, optional): Normalisation of each pLSTM layer's kernel output, ``"rms"``
            (per-head RMSNorm of each node, the paper's), ``"graph"`` (one per graph and head)
            or ``"none"``; see :class:`PLSTMConv`.
            (default: :obj:`"rms"`)
        out_gate (bool, optional): xLSTM-style output gate in each pLSTM layer.
            (default: :obj:`False`)
        qk_norm (bool, optional): L2-normalised queries and keys in each pLSTM layer; on by
            default, chosen on validation in docs/results.md, "Collapse study" (it removes the
            layer collapse on ogbg-molhiv at lr 1e-3); :obj:`False` is the paper's layer.
            (default: :obj:`True`)
        init (str, optional): pLSTM layer init, ``"reference"`` or ``"torch"``.
            (default: :obj:`"reference"`)
        norm_eps (float, optional): :math:`\epsilon` of each pLSTM layer's kernel-output norm;
            see :class:`PLSTMConv`. (default: :obj:`1e-5`, the paper's)
        gate_bias (float, optional): initial bias of each pLSTM layer's source, mark and direct
            gates; see :class:`PLSTMConv`. (default: :obj:`-5.0`, the reference's)
        transition_bias (float, optional): initial bias of every pLSTM layer's transition gate,
            P and D layers alike; :obj:`0.0` starts each layer as one hop of gated message
            passing (see :class:`PLSTMConv`). (default: :obj:`None`, the reference's
            :data:`~plstm_geometric.nn.conv.TRANSITION_BIAS` [mode])
        virtual_node (bool, optional): OGB's virtual node (:class:`VirtualNode`, as in
            GIN-virtual): a per-graph vector added to every node before each block and updated
            after each block but the last from the sum of the block's input.
            (default: :obj:`False`)
        head_norm (str, optional): Normalisation of the pooled graph features before the head:
            ``"none"`` or ``"batch"`` (``BatchNorm1d`` over the graphs of a batch, as OGB's GIN
            normalises its layers; it standardises the small differences between graphs that
            mean pooling of normalised node features leaves, see docs/results.md, "Collapse
            study"). With ``"batch"`` a training batch needs at least two graphs, and
            multi-process training normalises per process. (default: :obj:`"none"`)
        pool (str, optional): Readout over a graph's nodes, ``"mean"`` or ``"sum"`` (as the
            TU GIN baselines pool; a sum keeps the graph's size and counts of substructures).
            (default: :obj:`"mean"`)
        local (str, optional): ``"gine"`` puts a local GINE layer beside each pLSTM layer, on
            the same input, GraphGPS-style (see :class:`PLSTMBlock`), or ``"none"``.
            (default: :obj:`"none"`)
        block_norm (str, optional): The node norms: the pre-norms of every block and the
            :math:`\mathrm{Norm}` before pooling, ``"rms"`` (RMSNorm of each node, the
            paper's) or ``"batch"`` (``BatchNorm1d`` over the nodes of a batch, as OGB's GIN
            normalises each layer). (default: :obj:`"rms"`)

    Shapes:
        - **input:** a :class:`~torch_geometric.data.Batch` with ``x`` :math:`(N, F)`,
          ``edge_index`` :math:`(2, E)`, optional ``edge_attr`` :math:`(E, D)`, ``batch``
          :math:`(N)`, optional ``node_order`` :math:`(N)`
        - **output:** :math:`(G, \text{out\_channels})`
    """

    def __init__(self, out_channels: int, hidden_channels: int = 96, num_blocks: int = 2,
                 heads: int = 4, in_channels: Optional[int] = None, edge_dim: Optional[int] = None,
                 ogb_features: bool = False, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 norm: str = "rms", out_gate: bool = False, qk_norm: bool = True,
                 init: str = "reference", head_norm: str = "none", pool: str = "mean",
                 norm_eps: float = NORM_EPS, virtual_node: bool = False,
                 gate_bias: float = GATE_BIAS, transition_bias: Optional[float] = None,
                 local: str = "none", block_norm: str = "rms"):
        super().__init__()
        if head_norm not in ("none", "batch"):
            raise ValueError(f"unknown head_norm {head_norm!r}; valid: none, batch")
        if pool not in ("mean", "sum"):
            raise ValueError(f"unknown pool {pool!r}; valid: mean, sum")
        self.out_channels, self.hidden_channels = out_channels, hidden_channels
        self.num_blocks, self.heads, self.dropout = num_blocks, heads, dropout
        self.local, self.block_norm = local, block_norm
        self.node_encoder = NodeEncoder(hidden_channels, in_channels, ogb_features)
        self.edge_encoder = EdgeEncoder(hidden_channels, edge_dim, ogb_features)
        self.degree_encoding = DegreeEncoding(hidden_channels)
        self.blocks = torch.nn.ModuleList(
            PLSTMBlock(hidden_channels, heads, edge_dim=hidden_channels, reverse=i % 2 == 1,
                       mlp_ratio=mlp_ratio, dropout=dropout, local=local, norm=norm,
                       out_gate=out_gate, qk_norm=qk_norm, init=init, norm_eps=norm_eps,
                       gate_bias=gate_bias, transition_bias=transition_bias,
                       block_norm=block_norm)
            for i in range(num_blocks))
        self.norm = node_norm(block_norm, hidden_channels)
        self.head_norm, self.pool = head_norm, pool
        self.pool_norm = torch.nn.BatchNorm1d(hidden_channels) if head_norm == "batch" else None
        self.head = torch.nn.Sequential(
            torch.nn.Linear(hidden_channels, hidden_channels), torch.nn.GELU(),
            torch.nn.Dropout(dropout), torch.nn.Linear(hidden_channels, out_channels))
        self.vn = VirtualNode(hidden_channels, num_blocks, dropout) if virtual_node else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_encoder, self.degree_encoding, *self.blocks,
                       self.norm, *(m for m in (self.pool_norm, self.vn) if m is not None)):
            module.reset_parameters()
        for layer in self.head:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()

    def forward(self, data: Data) -> Tensor:
        x, edge_index = data.x, data.edge_index
        batch, num_graphs = batch_vector(data)
        h = self.node_encoder(x)
        h = h + self.degree_encoding(edge_index, h.size(0))
        edge_attr = self.edge_encoder(h, edge_index, data.get("edge_attr"))
        line_dag = data if isinstance(data, LineDAGData) else None
        node_order = data.get("node_order")
        vn = self.vn.start(num_graphs) if self.vn is not None else None
        for i, block in enumerate(self.blocks):
            if vn is not None:
                h = h + vn[batch]
            out = block(h, edge_index, edge_attr, batch, line_dag=line_dag, node_order=node_order)
            if vn is not None and i < self.num_blocks - 1:
                vn = self.vn.update(i, h, vn, batch)
            h = out
        pool = global_mean_pool if self.pool == "mean" else global_add_pool
        pooled = pool(self.norm(h), batch, size=num_graphs)
        if self.pool_norm is not None:
            if self.training and num_graphs < 2:
                raise ValueError(f"PLSTMNet(head_norm='batch') needs at least 2 graphs per "
                                 f"training batch, got {num_graphs}; use a larger batch, "
                                 f"eval mode, or head_norm='none'")
            pooled = self.pool_norm(pooled)
        return self.head(pooled)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.out_channels}, hidden_channels="
                f"{self.hidden_channels}, num_blocks={self.num_blocks}, heads={self.heads}"
                + (f", head_norm={self.head_norm!r}" if self.head_norm != "none" else "")
                + (f", pool={self.pool!r}" if self.pool != "mean" else "")
                + (", virtual_node=True" if self.vn is not None else "")
                + (f", local={self.local!r}" if self.local != "none" else "")
                + (f", block_norm={self.block_norm!r}" if self.block_norm != "rms" else "") + ")")
