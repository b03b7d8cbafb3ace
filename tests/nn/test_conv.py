import pytest
import torch
from helpers import HIV_SMILES, molecule, path_graph
from torch_geometric.loader import DataLoader

from plstm_geometric import AddLineDAG, LineDAG, PLSTMBlock, PLSTMConv, plstm_dag
from plstm_geometric.structure import grid_edge_index as grid_graph


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter off its init so that gates and transitions differ per edge."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return module


@pytest.fixture(scope="module")
def molecules():
    pytest.importorskip("ogb")
    return [molecule(s) for s in HIV_SMILES]


def test_repr():
    assert str(PLSTMConv(64, 64, heads=4)) == "PLSTMConv(64, 64, heads=4, mode=P)"
    assert str(PLSTMConv(8, 16, heads=2, mode="D", edge_dim=3, reverse=True)) == \
        "PLSTMConv(8, 16, heads=2, mode=D, reverse=True, edge_dim=3)"
    assert str(PLSTMBlock(32, heads=4, edge_dim=3)) == "PLSTMBlock(32, heads=4, edge_dim=3)"


@pytest.mark.parametrize("mode", ["P", "D"])
def test_batch_of_molecules_equals_per_graph(molecules, mode):
    assert len(molecules) >= 16
    conv = randomize(PLSTMConv(9, 32, heads=4, mode=mode, edge_dim=3, reverse=mode == "D"))
    single = [conv(d.x, d.edge_index, d.edge_attr) for d in molecules]
    loader = DataLoader([AddLineDAG()(d) for d in molecules], batch_size=len(molecules))
    batch = next(iter(loader))
    cached = conv(batch.x, batch.edge_index, batch.edge_attr, batch.batch, line_dag=batch)
    on_the_fly = conv(batch.x, batch.edge_index, batch.edge_attr, batch.batch)
    for out in (cached, on_the_fly):
        for i, ref in enumerate(single):
            torch.testing.assert_close(out[batch.ptr[i]:batch.ptr[i + 1]], ref, atol=1e-5,
                                       rtol=0)


def test_forms_agree_in_the_layer(molecules):
    # float64: the per-head RMSNorm amplifies float32 rounding of heads with a small output.
    conv = randomize(PLSTMConv(9, 16, heads=2, edge_dim=3)).double()
    d = molecules[3]
    outs = []
    for form in ("dense", "state"):
        conv.form = form
        outs.append(conv(d.x.double(), d.edge_index, d.edge_attr.double()))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-10, rtol=0)


@pytest.mark.parametrize("mode", ["P", "D"])
def test_edge_permutation_invariance(molecules, mode):
    d = molecules[2]
    conv = randomize(PLSTMConv(9, 16, heads=2, mode=mode, edge_dim=3))
    perm = torch.randperm(d.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    a = conv(d.x, d.edge_index, d.edge_attr)
    b = conv(d.x, d.edge_index[:, perm], d.edge_attr[perm])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["P", "D"])
def test_node_order_equivariance(molecules, mode):
    d = molecules[7]
    n = d.num_nodes
    gen = torch.Generator().manual_seed(1)
    order = torch.randperm(n, generator=gen)
    perm = torch.randperm(n, generator=gen)  # old node i becomes node perm[i]
    inv = torch.argsort(perm)
    conv = randomize(PLSTMConv(9, 16, heads=2, mode=mode, edge_dim=3))
    a = conv(d.x, d.edge_index, d.edge_attr, node_order=order)
    b = conv(d.x[inv], perm[d.edge_index], d.edge_attr, node_order=order[inv])
    torch.testing.assert_close(b[perm], a, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["P", "D"])
@pytest.mark.parametrize("graph,n", [(path_graph(5000), 5000), (grid_graph(60, 60), 3600)],
                         ids=["path5000", "grid60x60"])
def test_long_graphs_stay_finite(graph, n, mode):
    conv = PLSTMConv(8, 8, heads=2, mode=mode)
    with torch.no_grad():
        conv.node_gates.bias.view(4, 2)[:2].fill_(2.0)  # open source and mark gates
        out = conv(torch.randn(n, 8, generator=torch.Generator().manual_seed(0)), graph)
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("mode", ["P", "D"])
def test_kernel_output_grows_at_most_polynomially(mode):
    """Max |kernel output| on n×n grids with layer gates stays below c·N, never exponential."""
    conv = PLSTMConv(8, 8, heads=2, mode=mode)
    with torch.no_grad():
        conv.node_gates.bias.view(4, 2)[:2].fill_(5.0)
        conv.node_gates.bias.view(4, 2)[3].fill_(5.0)
    peaks = []
    for side in (4, 8, 16, 32):
        n = side * side
        x = torch.ones(n, 8)
        dag = LineDAG.from_graph(grid_graph(side, side), n, mode=mode)
        with torch.no_grad():
            inputs = conv.kernel_inputs(x, dag)
            y = plstm_dag(*inputs, dag)
        peaks.append(float(y.abs().max()) / float(inputs[2].abs().max()))
    # Doubling the side quadruples N; an exponential in the side (2^side paths) would explode.
    for small, big in zip(peaks, peaks[1:]):
        assert big <= 4.0 * small + 1.0, peaks


def test_bad_input():
    conv = PLSTMConv(4, 4, edge_dim=2)
    x, ei = torch.randn(3, 4), path_graph(3)
    with pytest.raises(ValueError, match="no edge_attr"):
        conv(x, ei)
    with pytest.raises(ValueError, match="edge_dim=None"):
        PLSTMConv(4, 4)(x, ei, torch.randn(4, 2))
    with pytest.raises(ValueError, match="built with LineDAGSpec\\(mode='D'"):
        PLSTMConv(4, 4)(x, ei, line_dag=LineDAG.from_graph(ei, 3, mode="D"))
    with pytest.raises(ValueError, match="mode"):
        PLSTMConv(4, 4, mode="Q")


def test_block_runs_and_trains(molecules):
    loader = DataLoader([AddLineDAG()(d) for d in molecules[:8]], batch_size=8)
    batch = next(iter(loader))
    block = PLSTMBlock(9, heads=3, edge_dim=3, reverse=True)
    assert all((conv.out.weight == 0).all() for conv in block.convs)
    for conv in block.convs:  # a trained block: the pLSTM branches must reach the output
        torch.nn.init.normal_(conv.out.weight)
    out = block(batch.x, batch.edge_index, batch.edge_attr, batch.batch, line_dag=batch)
    assert out.shape == batch.x.shape
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in block.parameters())
    torch.testing.assert_close(
        out, block(batch.x, batch.edge_index, batch.edge_attr, batch.batch), atol=1e-5, rtol=0)


def test_block_gives_the_pruning_rule_to_its_d_layer_only():
    from plstm_geometric.structure import grid_edge_index

    block = PLSTMBlock(8, heads=2, prune="chirality", grid_shape=(3, 4))
    p_conv, d_conv = block.convs
    assert (p_conv.spec.prune, p_conv.spec.grid_shape) == (None, None)
    assert (d_conv.spec.prune, d_conv.spec.grid_shape) == ("chirality", (3, 4))
    ei = grid_edge_index(3, 4)
    full = LineDAG.from_graph(ei, 12, mode="P")
    # The P layer accepts the full grid structure and runs; the D layer takes the chiral one.
    p_conv(torch.randn(12, 8), ei, line_dag=full)
    assert d_conv.spec == LineDAG.from_graph(ei, 12, mode="D", prune="chirality",
                                             grid_shape=(3, 4)).spec
