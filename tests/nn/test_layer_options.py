"""The collapse-study options of PLSTMConv / PLSTMNet (norm incl. the per-graph norm, norm_eps,
out_gate, qk_norm, init)
and the node-wise diagnostic: each option does what its docstring's formula says."""
import math

import pytest
import torch
from helpers import COMPILED, path_graph
from test_conv import randomize
from torch_geometric.data import Batch, Data

from plstm_geometric import LineDAG, PLSTMConv, plstm_dag
from plstm_geometric.models import PLSTMNet
from plstm_geometric.nn.diagnostics import layer_statistics, nodewise_ratio
from plstm_geometric.nn import PLSTM1D
from plstm_geometric.nn.norm import GraphHeadRMSNorm, MultiHeadRMSNorm


def graph(n: int = 7, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    edge_index = path_graph(n)
    return torch.randn(n, 8, generator=gen), edge_index, torch.randn(edge_index.size(1), 3, generator=gen)


def kernel_output(conv: PLSTMConv, x, edge_index, edge_attr):
    dag = LineDAG.from_graph(edge_index, x.size(0), mode=conv.mode)
    return plstm_dag(*conv.kernel_inputs(x, dag, edge_attr), dag)


@pytest.mark.parametrize("mode", ["P", "D"])
def test_output_formula_for_every_norm_and_gate(mode):
    x, edge_index, edge_attr = graph()
    for norm, eps in (("rms", 1e-5), ("rms", 0.3), ("none", None)):
        for out_gate in (False, True):
            conv = randomize(PLSTMConv(8, 12, heads=2, mode=mode, edge_dim=3, norm=norm,
                                       out_gate=out_gate, **({"norm_eps": eps} if eps else {})))
            y = kernel_output(conv, x, edge_index, edge_attr)  # (N, H, V)
            if norm == "rms":
                y = y / y.pow(2).mean(-1, keepdim=True).add(eps).sqrt() * conv.norm.weight
            y = y.reshape(x.size(0), -1)
            if out_gate:
                y = y * torch.sigmoid(x @ conv.out_gate.weight.T + conv.out_gate.bias)
            expected = y @ conv.out.weight.T + conv.out.bias
            assert torch.allclose(conv(x, edge_index, edge_attr), expected, atol=1e-5), \
                (norm, eps, out_gate)
            assert isinstance(conv.norm, MultiHeadRMSNorm) == (norm == "rms")


def test_qk_norm_gives_unit_queries_and_keys():
    x, edge_index, edge_attr = graph()
    plain = randomize(PLSTMConv(8, 12, heads=3, edge_dim=3))
    normed = PLSTMConv(8, 12, heads=3, edge_dim=3, qk_norm=True)
    normed.load_state_dict(plain.state_dict())
    dag = LineDAG.from_graph(edge_index, x.size(0), mode="P")
    q0, k0, v0, *gates0 = plain.kernel_inputs(x, dag, edge_attr)
    q1, k1, v1, *gates1 = normed.kernel_inputs(x, dag, edge_attr)
    assert torch.allclose(q1.norm(dim=-1), torch.ones(7, 3), atol=1e-6)
    assert torch.allclose(k1.norm(dim=-1), torch.ones(7, 3), atol=1e-6)
    assert torch.allclose(q1 * q0.norm(dim=-1, keepdim=True), q0, atol=1e-6)  # same direction
    assert torch.allclose(k1 * k0.norm(dim=-1, keepdim=True), k0, atol=1e-6)
    assert torch.equal(v1, v0) and all(torch.equal(a, b) for a, b in zip(gates0, gates1))


def test_out_gate_starts_at_one_half_and_init_torch_is_pytorch_default():
    conv = PLSTMConv(8, 12, heads=2, mode="D", edge_dim=3, out_gate=True)
    assert torch.count_nonzero(conv.out_gate.weight) == 0
    assert torch.count_nonzero(conv.out_gate.bias) == 0  # sigma(0) = 1/2 for every node
    assert torch.equal(conv.node_gates.bias.view(4, 2)[:3], torch.full((3, 2), -5.0))
    torch.manual_seed(3)
    conv = PLSTMConv(8, 12, heads=2, mode="D", edge_dim=3, out_gate=True, init="torch")
    for lin in (conv.qkv, conv.node_gates, conv.edge_gates, conv.out_gate, conv.out):
        bound = 1 / math.sqrt(lin.in_features)  # kaiming_uniform(a=sqrt(5)) and bias bound
        assert 0 < lin.weight.abs().max() <= bound
        assert lin.weight.std() > 0.4 * bound  # uniform on [-b, b] has std b / sqrt(3)
        if lin.bias is not None:
            assert 0 < lin.bias.abs().max() <= bound
    # reset_parameters redraws the same distribution (not the reference constants)
    conv.reset_parameters()
    assert conv.node_gates.bias.abs().max() <= 1 / math.sqrt(8)


def test_options_repr_validation_and_net_pass_through():
    assert str(PLSTMConv(8, 8, heads=2, norm="none", out_gate=True, qk_norm=True, init="torch")) \
        == "PLSTMConv(8, 8, heads=2, mode=P, norm=none, out_gate=True, qk_norm=True, init=torch)"
    with pytest.raises(ValueError, match="norm must be one of rms, graph, none, got 'layer'"):
        PLSTMConv(8, 8, norm="layer")
    with pytest.raises(ValueError, match="init must be one of reference, torch, got 'xavier'"):
        PLSTMConv(8, 8, init="xavier")
    with pytest.raises(ValueError, match="norm_eps must be positive, got 0"):
        PLSTMConv(8, 8, norm_eps=0)
    assert str(PLSTMConv(8, 8, heads=2, norm_eps=0.01)) == "PLSTMConv(8, 8, heads=2, mode=P, norm_eps=0.01)"
    assert str(PLSTMConv(8, 8, heads=2, norm="graph", norm_eps=0.01)) \
        == "PLSTMConv(8, 8, heads=2, mode=P, norm=graph, norm_eps=0.01)"
    with pytest.raises(ValueError, match="gate_bias must be finite, got nan"):
        PLSTMConv(8, 8, gate_bias=float("nan"))
    assert str(PLSTMConv(8, 8, heads=2, gate_bias=-2)) == "PLSTMConv(8, 8, heads=2, mode=P, gate_bias=-2)"
    with pytest.raises(ValueError, match="transition_bias must be finite, got inf"):
        PLSTMConv(8, 8, transition_bias=float("inf"))
    assert str(PLSTMConv(8, 8, heads=2, mode="D", transition_bias=0)) \
        == "PLSTMConv(8, 8, heads=2, mode=D, transition_bias=0)"
    assert str(PLSTMConv(8, 8, heads=2, mode="D", transition_bias=2)) == "PLSTMConv(8, 8, heads=2, mode=D)"
    with pytest.raises(ValueError, match="PLSTM1D supports norm='rms' or 'none'"):
        PLSTM1D(8, 8, norm="graph")
    net = PLSTMNet(1, hidden_channels=16, num_blocks=2, in_channels=5, norm="none",
                   out_gate=True, qk_norm=True)
    convs = [c for b in net.blocks for c in b.convs]
    assert len(convs) == 4
    assert all(c.norm_type == "none" and c.out_gate is not None and c.qk_norm for c in convs)
    net = PLSTMNet(1, hidden_channels=16, num_blocks=2, in_channels=5, norm_eps=0.01)
    assert [c.norm.eps for b in net.blocks for c in b.convs] == [0.01] * 4


def test_nodewise_ratio_against_a_per_graph_loop():
    gen = torch.Generator().manual_seed(0)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y = torch.randn(9, 4, generator=gen, dtype=torch.float64) + 3.0
    centred = torch.cat([y[batch == g] - y[batch == g].mean(0) for g in range(3)])
    assert nodewise_ratio(y, batch) == pytest.approx(float(centred.norm() / y.norm()), rel=1e-9)
    constant = torch.randn(3, 4, generator=gen, dtype=torch.float64)[batch]
    assert nodewise_ratio(constant, batch) == pytest.approx(0.0, abs=1e-9)
    assert nodewise_ratio(centred, batch) == pytest.approx(1.0, rel=1e-9)
    assert math.isnan(nodewise_ratio(torch.zeros(9, 4), batch))


def test_layer_statistics_reads_every_plstm_layer():
    torch.manual_seed(0)
    net = randomize(PLSTMNet(1, hidden_channels=16, num_blocks=2, in_channels=5))
    graphs = [Data(x=torch.randn(n, 5), edge_index=path_graph(n)) for n in (4, 6, 5)]
    records = layer_statistics(net, Batch.from_data_list(graphs))
    assert [r["layer"] for r in records] == ["blocks.0.convs.0 (P)", "blocks.0.convs.1 (D)",
                                             "blocks.1.convs.0 (P)", "blocks.1.convs.1 (D)"]
    assert all(0 < r["out_nodewise"] <= 1 and r["kernel_rms"] > 0 for r in records)
    assert all(0 < r[k] < 1 for r in records for k in ("source_mean", "mark_mean", "direct_mean"))
    assert net.training  # restored


@pytest.mark.parametrize("mode", ["P", "D"])
def test_identical_inputs_at_different_positions_give_different_outputs(mode):
    # The collapse mechanism (docs/results.md, "Collapse study"): when node inputs agree, the
    # kernel output of every node points the same way and only its size depends on the node's
    # position (how much state reaches it). Per-head RMSNorm divides that size out, so the
    # paper's layer maps all nodes to one vector; without the norm the position survives.
    # Gates opened to sigma(0) (trained layers have open gates; at sigma(-5) the direct term,
    # the same for every node, outweighs the state).
    torch.manual_seed(0)
    x = torch.randn(1, 8).expand(9, 8).contiguous()
    edge_index = path_graph(9)
    # A norm eps far above the kernel output's mean square keeps the size too (norm_eps), and so
    # does one factor per graph instead of per node (norm="graph"; the open-gate collapse at
    # molhiv width 128, docs/results.md §7).
    ratios = {}
    for name, options in (("rms", {}), ("none", {"norm": "none"}), ("rms-eps", {"norm_eps": 10.0}),
                          ("graph", {"norm": "graph"})):
        conv = PLSTMConv(8, 8, heads=2, mode=mode, **options)
        torch.nn.init.normal_(conv.out.weight)  # the block zero-initialises it
        torch.nn.init.zeros_(conv.node_gates.bias.view(4, 2)[:3])
        ratios[name] = nodewise_ratio(conv(x, edge_index))
    assert ratios["rms"] < 1e-3  # not 0 only through the norm's eps
    assert ratios["none"] > 0.1
    assert ratios["rms-eps"] > 0.1
    assert ratios["graph"] > 0.1


def test_documented_defaults_layer_is_the_papers_model_uses_qk_norm():
    conv = PLSTMConv(8, 8, heads=2)
    assert (conv.norm_type, conv.out_gate, conv.qk_norm, conv.init) == ("rms", None, False, "reference")
    net = PLSTMNet(1, hidden_channels=16, in_channels=5)
    for conv in (c for b in net.blocks for c in b.convs):
        assert (conv.norm_type, conv.out_gate, conv.qk_norm, conv.init) == ("rms", None, True, "reference")
        assert torch.equal(conv.node_gates.bias.view(4, -1)[:3], torch.full((3, 4), -5.0))
    paper = PLSTMNet(1, hidden_channels=16, in_channels=5, qk_norm=False)
    assert not any(c.qk_norm for b in paper.blocks for c in b.convs)


def graph_norm_oracle(y, batch, weight, eps):
    """The per-graph norm written out: one RMS per graph and head over its nodes and channels."""
    out = torch.empty_like(y)
    for g in batch.unique().tolist():
        rows = batch == g
        for h in range(y.size(1)):
            block = y[rows, h]
            out[rows, h] = block / (block.pow(2).mean() + eps).sqrt() * weight[h]
    return out


@pytest.mark.parametrize("form", [COMPILED, "state"])
@pytest.mark.parametrize("mode", ["P", "D"])
def test_graph_norm_layer_against_a_per_graph_oracle(mode, form):
    # Three graphs in one batch: the compiled path (norm after CompiledConv) and the torch path
    # (readout) must both normalise each graph with its own factor per head.
    gen = torch.Generator().manual_seed(1)
    graphs = [Data(x=torch.randn(n, 8, generator=gen), edge_index=path_graph(n),
                   edge_attr=torch.randn(2 * (n - 1), 3, generator=gen)) for n in (5, 3, 6)]
    data = Batch.from_data_list(graphs)
    conv = randomize(PLSTMConv(8, 12, heads=2, mode=mode, edge_dim=3, norm="graph",
                               norm_eps=0.05, form=form))
    with torch.no_grad():
        conv.norm.weight.uniform_(0.5, 1.5)
    dag = LineDAG.from_graph(data.edge_index, data.num_nodes, mode=mode, batch=data.batch)
    y = plstm_dag(*conv.kernel_inputs(data.x, dag, data.edge_attr), dag)  # (N, H, V)
    expected = conv.out(graph_norm_oracle(y, data.batch, conv.norm.weight, 0.05).reshape(
        data.num_nodes, -1))
    out = conv(data.x, data.edge_index, data.edge_attr, data.batch)
    assert torch.allclose(out, expected, atol=1e-5)
    # batching changes nothing: each graph alone gives its rows of the batch
    rows = torch.cat([conv(g.x, g.edge_index, g.edge_attr) for g in graphs])
    assert torch.allclose(out, rows, atol=1e-5)
    # and the factor is per graph, not per batch or per node
    assert not torch.allclose(out, conv.out(graph_norm_oracle(
        y, torch.zeros_like(data.batch), conv.norm.weight, 0.05).reshape(data.num_nodes, -1)),
        atol=1e-3)


def test_graph_norm_gradcheck_and_empty_input():
    gen = torch.Generator().manual_seed(2)
    norm = GraphHeadRMSNorm(2, 3, eps=1e-3).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5, generator=gen)
    y = torch.randn(6, 2, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    batch = torch.tensor([0, 0, 1, 1, 1, 2])
    assert torch.autograd.gradcheck(lambda t: norm(t, batch), (y,))
    assert torch.allclose(norm(y, torch.zeros(6, dtype=torch.long)), norm(y))
    assert norm(torch.zeros(0, 2, 3, dtype=torch.float64), torch.zeros(0, dtype=torch.long)).shape == (0, 2, 3)
    assert repr(norm) == "GraphHeadRMSNorm(heads=2, dim=3, eps=0.001)"
