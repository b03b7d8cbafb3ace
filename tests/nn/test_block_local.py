"""``PLSTMBlock(local="gine")``: a GINE layer beside each pLSTM layer (GraphGPS-style), checked
against a per-node, per-edge loop of the GINE formula in the block's docstring."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from plstm_geometric.models import PLSTMNet
from plstm_geometric.nn import PLSTMBlock


def gine_oracle(gine, u, edge_index, edge_attr):
    r"""MLP((1 + ε) u_i + Σ_{j→i} ReLU(u_j + W e_ji + b)) (GINE), or without edge features
    MLP((1 + ε) u_i + Σ_{j→i} u_j) (GIN), one node and one edge at a time."""
    rows = []
    for i in range(u.size(0)):
        s = (1 + gine.eps) * u[i]
        for k in range(edge_index.size(1)):
            if int(edge_index[1, k]) == i:
                j = int(edge_index[0, k])
                s = s + (u[j] if edge_attr is None else
                         torch.relu(u[j] + edge_attr[k] @ gine.lin.weight.T + gine.lin.bias))
        rows.append(gine.nn(s[None])[0])
    return torch.stack(rows)


def block_oracle(block, x, edge_index, edge_attr, batch):
    for i in range(2):
        u = block.norms[2 * i](x)
        x = (x + block.convs[i](u, edge_index, edge_attr, batch)
             + gine_oracle(block.local_convs[i], u, edge_index, edge_attr))
        x = x + block.mlps[i](block.norms[2 * i + 1](x))
    return x


def graphs(edge_dim, seed=0):
    # Random directed edges (parallel ones included), not helpers.random_graph's symmetric ones:
    # the oracle sums over j → i, and only a directed graph shows a conv that reads the edges the
    # other way round.
    gen = torch.Generator().manual_seed(seed)
    data = []
    for n in (5, 1, 6):  # an isolated node has no incoming messages: (1 + ε) u_i only
        src = torch.randint(0, n, (2 * n,), generator=gen)
        dst = torch.randint(0, n, (2 * n,), generator=gen)
        keep = src != dst
        ei = torch.stack([src[keep], dst[keep]])
        data.append(Data(x=torch.randn(n, 8, generator=gen, dtype=torch.float64), edge_index=ei,
                         edge_attr=None if edge_dim is None else
                         torch.randn(ei.size(1), edge_dim, generator=gen, dtype=torch.float64)))
    return Batch.from_data_list(data)


@pytest.mark.parametrize("edge_dim", [None, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_block_with_local_gine_matches_the_per_edge_oracle(edge_dim, reverse):
    torch.manual_seed(0)
    block = PLSTMBlock(8, heads=2, edge_dim=edge_dim, reverse=reverse, local="gine").double()
    with torch.no_grad():  # a non-zero pLSTM branch and ε, so that dropping either is seen
        for conv in block.convs:
            conv.out.weight.normal_()
        for k, local in enumerate(block.local_convs):
            local.eps.fill_(0.3 + k)
    data = graphs(edge_dim)
    with torch.no_grad():
        got = block(data.x, data.edge_index, data.edge_attr, data.batch)
        want = block_oracle(block, data.x, data.edge_index, data.edge_attr, data.batch)
        plain = PLSTMBlock(8, heads=2, edge_dim=edge_dim, reverse=reverse).double()
        plain.load_state_dict({k: v for k, v in block.state_dict().items()
                               if not k.startswith("local_convs.")})
        without = plain(data.x, data.edge_index, data.edge_attr, data.batch)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert float((got - without).abs().max()) > 1e-3  # the local branch is not a no-op


def test_local_option_validation_repr_and_net_pass_through():
    with pytest.raises(ValueError, match="unknown local 'gin'; valid: none, gine"):
        PLSTMBlock(8, heads=2, local="gin")
    assert str(PLSTMBlock(8, heads=2, local="gine")) == "PLSTMBlock(8, heads=2, local='gine')"
    net = PLSTMNet(1, hidden_channels=16, in_channels=8, edge_dim=3, local="gine")
    assert all(block.local == "gine" and len(block.local_convs) == 2 for block in net.blocks)
    assert "local='gine'" in repr(net)
    assert all(len(block.local_convs) == 0 for block in PLSTMNet(1, in_channels=8).blocks)
    data = graphs(3)
    data.x, data.edge_attr = data.x.float(), data.edge_attr.float()
    out = net(data)
    assert out.shape == (3, 1) and bool(torch.isfinite(out).all())
