"""``PLSTMBlock(block_norm="batch")`` / ``PLSTMNet(block_norm="batch")``: BatchNorm over the nodes
of a batch as the four pre-norms of each block (and the norm before pooling), checked against
the block's formula with the batch statistics written out by hand."""
from __future__ import annotations

import pytest
import torch

from plstm_geometric.models import PLSTMNet
from plstm_geometric.nn import PLSTMBlock
from test_block_local import graphs


def batch_norm_by_hand(bn, x, training):
    if training:  # the statistics of this batch's nodes (biased variance, as BatchNorm's)
        mean, var = x.mean(0), x.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def block_oracle(block, x, edge_index, edge_attr, batch, training):
    for i in range(2):
        u = batch_norm_by_hand(block.norms[2 * i], x, training)
        x = x + block.convs[i](u, edge_index, edge_attr, batch)
        x = x + block.mlps[i](batch_norm_by_hand(block.norms[2 * i + 1], x, training))
    return x


@pytest.mark.parametrize("edge_dim", [None, 3])
@pytest.mark.parametrize("training", [True, False])
def test_block_with_batch_norm_matches_the_formula(edge_dim, training):
    torch.manual_seed(0)
    block = PLSTMBlock(8, heads=2, edge_dim=edge_dim, block_norm="batch").double()
    with torch.no_grad():  # non-zero pLSTM branches, affine parts and running statistics
        for conv in block.convs:
            conv.out.weight.normal_()
        for bn in block.norms:
            bn.weight.uniform_(0.5, 1.5), bn.bias.normal_()
            bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2.0)
    data = graphs(edge_dim)
    block.train(training)
    with torch.no_grad():
        want = block_oracle(block, data.x, data.edge_index, data.edge_attr, data.batch, training)
        got = block(data.x, data.edge_index, data.edge_attr, data.batch)
        rms = PLSTMBlock(8, heads=2, edge_dim=edge_dim).double().train(training)
        rms.load_state_dict({k: v for k, v in block.state_dict().items()
                             if not k.startswith("norms.") or k.endswith(".weight")})
        other = rms(data.x, data.edge_index, data.edge_attr, data.batch)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert float((got - other).abs().max()) > 1e-3  # not the RMSNorm block


def test_block_norm_validation_repr_and_net_pass_through():
    with pytest.raises(ValueError, match="unknown block_norm 'layer'; valid: rms, batch"):
        PLSTMBlock(8, heads=2, block_norm="layer")
    with pytest.raises(ValueError, match="unknown block_norm 'layer'"):
        PLSTMNet(1, hidden_channels=16, in_channels=8, block_norm="layer")
    block = PLSTMBlock(8, heads=2, block_norm="batch")
    assert str(block) == "PLSTMBlock(8, heads=2, block_norm='batch')"
    assert all(isinstance(n, torch.nn.BatchNorm1d) for n in block.norms)
    with pytest.raises(ValueError, match=r"needs at least 2 nodes per training batch, got 1"):
        block(torch.randn(1, 8), torch.empty(2, 0, dtype=torch.long))
    assert block.eval()(torch.randn(1, 8), torch.empty(2, 0, dtype=torch.long)).shape == (1, 8)
    net = PLSTMNet(1, hidden_channels=16, in_channels=8, block_norm="batch")
    assert str(net).endswith("block_norm='batch')")
    assert isinstance(net.norm, torch.nn.BatchNorm1d)
    assert all(b.block_norm == "batch" for b in net.blocks)
    assert all(isinstance(n, torch.nn.RMSNorm)
               for n in (PLSTMNet(1, hidden_channels=16, in_channels=8).norm,
                         *PLSTMBlock(8, heads=2).norms))
