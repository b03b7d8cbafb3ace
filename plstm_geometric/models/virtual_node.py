"""OGB's virtual node (the ``-virtual`` GNNs of OGB's reference code), shared by ``GINNet`` and
``PLSTMNet``."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import global_add_pool


def gin_mlp(channels: int) -> torch.nn.Sequential:
    """OGB's GIN MLP: ``Linear(F → 2F)``, BatchNorm, ReLU, ``Linear(2F → F)``."""
    return torch.nn.Sequential(
        torch.nn.Linear(channels, 2 * channels), torch.nn.BatchNorm1d(2 * channels),
        torch.nn.ReLU(), torch.nn.Linear(2 * channels, channels))


class VirtualNode(torch.nn.Module):
    r"""A virtual node joined to every node of its graph, as in OGB's GIN-virtual: a per-graph
    vector, starting at a learned vector :math:`v^{(0)}` (zero at init) shared by all graphs,
    that is added to every node before each of ``num_layers`` layers, and after each layer but
    the last updated from the sum of the graph's node features the layer read:

    .. math::
        h_n \leftarrow h_n + v_{g(n)}, \qquad
        v_g \leftarrow \mathrm{Dropout}\Big(\mathrm{MLP}\big(\textstyle\sum_{n \in g} h_n
        + v_g\big)\Big)

    with the GIN MLP followed by BatchNorm and ReLU (one per update).

    Args:
        channels (int): Node feature size.
        num_layers (int): Layers of the model it serves (``num_layers - 1`` updates).
        dropout (float, optional): Dropout on the updated vector. (default: :obj:`0.0`)
    """

    def __init__(self, channels: int, num_layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.channels, self.num_layers, self.dropout = channels, num_layers, dropout
        self.embedding = torch.nn.Embedding(1, channels)
        self.mlps = torch.nn.ModuleList(torch.nn.Sequential(
            *gin_mlp(channels), torch.nn.BatchNorm1d(channels), torch.nn.ReLU())
            for _ in range(num_layers - 1))
        # The MLPs keep their construction-time default init (drawing them again here would
        # shift the random stream of the model being built); only the start is set.
        torch.nn.init.zeros_(self.embedding.weight)

    def reset_parameters(self) -> None:
        torch.nn.init.zeros_(self.embedding.weight)  # OGB starts the virtual node at zero
        for mlp in self.mlps:
            for layer in mlp:
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()

    def start(self, num_graphs: int) -> Tensor:
        """The initial vectors :math:`(G, F)`."""
        return self.embedding.weight.expand(num_graphs, -1)

    def update(self, layer: int, h: Tensor, vn: Tensor, batch: Tensor) -> Tensor:
        """The vectors after ``layer`` (0-based, below ``num_layers - 1``) from the node
        features ``h`` :math:`(N, F)` that layer read (``vn`` already added)."""
        pooled = global_add_pool(h, batch, size=vn.size(0)) + vn
        return F.dropout(self.mlps[layer](pooled), self.dropout, self.training)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, num_layers={self.num_layers})"
