"""The documented initialisation of every pLSTM layer and model, and the reset mechanics.

Three things are checked for each of ``PLSTMConv`` (P/D, with and without edge features),
``PLSTMBlock``, ``PLSTMNet`` (OGB and plain features), ``PLSTM2D`` and ``PLSTMVision``:

1. a freshly built module has the init its docstrings state (gate biases, transition bias, zero
   gate weights, projection weights ~ N(0, 1/(2.5·fan_in)), zeroed pLSTM branch outputs in blocks);
2. after every parameter is overwritten with NaN, ``reset_parameters()`` rewrites all of them and
   reproduces (1);
3. ``reset_parameters()`` resets every submodule exactly once, from its owner: the innermost
   running ``reset_parameters`` when a module is reset must be that of its nearest ancestor
   that has one (a walk over ``self.modules()`` resets a layer's ``Linear`` children again, from
   the model, after the layer has set its documented init).

The constants are read from the modules that define them (``nn/conv.py``, ``nn/grid.py``);
:func:`test_documented_constant_values` pins them to the values the docstrings and SPEC §4 state.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import pytest
import torch
from helpers import random_graph
from torch_geometric.data import Batch, Data

from plstm_geometric import (GINNet, LineDAG, PLSTM2D, PLSTMBlock, PLSTMConv, PLSTMNet,
                             PLSTMVision, ViT)
from plstm_geometric.nn import grid as grid_layer
from plstm_geometric.nn.conv import GATE_BIAS, P_NORM_ALPHA, TRANSITION_BIAS

# PLSTMConv's gate projections, in the order the comments in PLSTMConv.__init__ state.
NODE_GATES = ("source", "mark", "direct", "transition")


def test_documented_constant_values():
    # SPEC §4: "S, M, D weights 0 and bias −5 (σ ≈ 0.0067)"; nn/conv.py's comments: a lone
    # P-mode successor receives 3 / 3.5 ≈ 0.86, D-mode tanh(2) ≈ 0.96; SPEC §3: α = 0.5.
    assert P_NORM_ALPHA == 0.5
    assert GATE_BIAS == -5.0 and math.isclose(torch.sigmoid(torch.tensor(GATE_BIAS)).item(),
                                              0.0067, abs_tol=5e-5)
    assert TRANSITION_BIAS == {"P": 3.0, "D": 2.0}
    tau = TRANSITION_BIAS["P"]
    assert math.isclose(tau / (P_NORM_ALPHA + tau), 0.86, abs_tol=5e-3)
    assert math.isclose(math.tanh(TRANSITION_BIAS["D"]), 0.96, abs_tol=5e-3)
    # nn/grid.py: "P-mode: o = 0.5 and S, T ~ 1 ...; D-mode: tanh(3) ~ 0.995 ...; sources, marks
    # and direct start at 0.5."
    bias = grid_layer._BIAS_INIT
    sig = {name: torch.sigmoid(torch.tensor(b)).item() for name, b in bias.items()}
    assert sig["orientation"] == 0.5 and sig["source"] > 0.99 and sig["transition"] > 0.99
    for name in ("trans_rl", "trans_ru", "trans_du"):
        assert math.isclose(math.tanh(bias[name]), 0.995, abs_tol=5e-4)
    for name in ("mark", "direct", "source_r", "source_d", "mark_l", "mark_u"):
        assert sig[name] == 0.5
    assert set(bias) | {"direct"} == set(grid_layer._P_GATES) | set(grid_layer._D_GATES)


# ---------------------------------------------------------------------------------- checkers
def assert_projection_init(weight: torch.Tensor) -> None:
    """``weight ~ N(0, 1/(2.5·fan_in))``: sample std within 5 % (≥ 4096 entries, so > 4 standard
    errors; PyTorch's default, kaiming-uniform, is 9 % lower), mean near zero, and a normal's
    kurtosis (excess 0; a uniform's is −1.2)."""
    w = weight.detach().double().flatten()
    assert w.numel() >= 4096, "too few entries for a statistical check"
    std = 1.0 / math.sqrt(2.5 * weight.shape[1])
    assert abs(w.std().item() / std - 1) < 0.05, (w.std().item(), std)
    assert abs(w.mean().item()) < 5 * std / math.sqrt(w.numel())
    excess_kurtosis = ((w - w.mean()) ** 4).mean().item() / w.var().item() ** 2 - 3
    assert abs(excess_kurtosis) < 0.5, excess_kurtosis


def assert_default_linear(lin: torch.nn.Module) -> None:
    """PyTorch's default: weight and bias uniform in ±1/√fan_in (kaiming-uniform, a = √5); also
    PyG's ``Linear`` (``in_channels``), whose default init is the same."""
    bound = 1.0 / math.sqrt(getattr(lin, "in_features", None) or lin.in_channels)
    w = lin.weight.detach()
    assert float(w.abs().max()) <= bound and float(w.std()) > 0.3 * bound  # uniform: 0.58
    if lin.bias is not None:
        assert 0 < float(lin.bias.detach().abs().max()) <= bound


def small_batch(in_channels: int, edge_dim: int | None, seed: int = 0) -> Data:
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for n in (7, 1, 9):  # with an isolated single node
        ei = random_graph(n, 0.4, gen)
        graphs.append(Data(x=torch.randn(n, in_channels, generator=gen), edge_index=ei,
                           edge_attr=None if edge_dim is None else
                           torch.randn(ei.size(1), edge_dim, generator=gen)))
    return Batch.from_data_list(graphs)


def assert_conv_init(conv: PLSTMConv, zero_out: bool = False, gate_bias: float = GATE_BIAS,
                     transition_bias: Optional[float] = None) -> None:
    h = conv.heads
    tau = TRANSITION_BIAS[conv.mode] if transition_bias is None else transition_bias
    assert conv.qkv.bias is None
    assert_projection_init(conv.qkv.weight)
    if zero_out:  # inside a PLSTMBlock
        assert bool((conv.out.weight == 0).all())
    else:
        assert_projection_init(conv.out.weight)
    assert bool((conv.out.bias == 0).all())
    assert bool((conv.node_gates.weight == 0).all())
    bias = dict(zip(NODE_GATES, conv.node_gates.bias.detach().view(len(NODE_GATES), h)))
    for name in ("source", "mark", "direct"):
        assert bool((bias[name] == gate_bias).all()), (name, bias[name])
    assert bool((bias["transition"] == tau).all())
    if conv.edge_gates is not None:
        assert bool((conv.edge_gates.weight == 0).all())
    assert bool((conv.norm.weight == 1).all())

    # What the constants promise: constant gates whatever the input.
    data = small_batch(conv.in_channels, conv.edge_dim)
    dag = LineDAG.from_graph(data.edge_index, data.num_nodes, mode=conv.mode,
                             reverse=conv.reverse, batch=data.batch)
    assert dag.num_line_edges > 0
    with torch.no_grad():
        _, _, _, source, transition, mark, direct = conv.kernel_inputs(data.x, dag, data.edge_attr)
    gate = torch.sigmoid(torch.tensor(gate_bias))
    for g in (source, mark, direct):
        torch.testing.assert_close(g, torch.full_like(g, gate))
    if conv.mode == "D":
        expected = torch.full_like(transition, math.tanh(tau))
    else:  # "out": each of the d successors of e' receives τ / (α + d·τ); "in": by predecessors
        group = dag.line_index[0 if conv.p_norm == "out" else 1]
        d = torch.bincount(group, minlength=dag.num_edges)[group].to(transition.dtype)
        expected = (tau / (P_NORM_ALPHA + d * tau))[:, None].expand_as(transition)
    torch.testing.assert_close(transition, expected)


def assert_block_init(block: PLSTMBlock, gate_bias: float = GATE_BIAS,
                      transition_bias: Optional[float] = None) -> None:
    for conv in block.convs:
        assert_conv_init(conv, zero_out=True, gate_bias=gate_bias, transition_bias=transition_bias)
    for mlp in block.mlps:
        assert_default_linear(mlp[0])
        assert_default_linear(mlp[3])
    # local="gine": one GINE layer beside each pLSTM layer, epsilon 0, default-init MLP and
    # edge projection.
    assert len(block.local_convs) == (2 if block.local == "gine" else 0)
    for local in block.local_convs:
        assert float(local.eps) == 0.0 and local.eps.requires_grad
        assert_default_linear(local.nn[0])
        assert_default_linear(local.nn[3])
        if block.edge_dim is not None:
            assert_default_linear(local.lin)
    for norm in block.norms:
        assert_node_norm_init(norm)
    # Each pLSTM branch outputs exactly zero: the block starts as the identity plus its MLPs.
    data = small_batch(block.channels, block.edge_dim)
    for conv in block.convs:
        with torch.no_grad():
            out = conv(data.x, data.edge_index, data.edge_attr, data.batch)
        assert bool((out == 0).all())


def assert_node_norm_init(norm: torch.nn.Module) -> None:
    """RMSNorm: scale one. BatchNorm (block_norm="batch"): scale one, shift zero, running
    statistics reset (mean 0, variance 1, no batches seen)."""
    assert bool((norm.weight == 1).all())
    if isinstance(norm, torch.nn.BatchNorm1d):
        assert bool((norm.bias == 0).all())
        assert bool((norm.running_mean == 0).all()) and bool((norm.running_var == 1).all())
        assert int(norm.num_batches_tracked) == 0


def assert_net_init(net: PLSTMNet, gate_bias: float = GATE_BIAS,
                    transition_bias: Optional[float] = None) -> None:
    for block in net.blocks:
        assert_block_init(block, gate_bias, transition_bias)
    assert_node_norm_init(net.norm)
    assert_default_linear(net.head[0])
    assert_default_linear(net.head[3])
    if net.node_encoder.ogb_features:
        for emb in [*net.node_encoder.encoder.atom_embedding_list,
                    *net.edge_encoder.encoder.bond_embedding_list]:
            bound = math.sqrt(6.0 / sum(emb.weight.shape))  # Xavier-uniform
            w = emb.weight.detach()
            assert float(w.abs().max()) <= bound and float(w.std()) > 0
    else:
        assert_default_linear(net.node_encoder.encoder)
    assert_default_linear(net.degree_encoding.lin)


def assert_grid_layer_init(layer: PLSTM2D) -> None:
    for lin in (layer.qkv, layer.out):
        assert_projection_init(lin.weight)
        assert bool((lin.bias == 0).all())
    assert bool((layer.gates.weight == 0).all())
    bias = layer.gates.bias.detach().view(len(layer.gate_names), layer.orientations * layer.heads)
    for name, b in zip(layer.gate_names, bias):
        assert bool((b == grid_layer._BIAS_INIT.get(name, 0.0)).all()), name
    assert bool((layer.norm.weight == 1).all())


def assert_vision_init(model: PLSTMVision) -> None:
    for block in model.blocks:
        assert_grid_layer_init(block.mixer)
        assert_default_linear(block.mlp[0])
        assert_default_linear(block.mlp[3])
        assert bool((block.norm1.weight == 1).all()) and bool((block.norm2.weight == 1).all())
    assert abs(float(model.embed.pos.detach().std()) / 0.02 - 1) < 0.1  # 1024 entries
    assert bool((model.norm.weight == 1).all())
    assert_default_linear(model.head)


# ---------------------------------------------------------------------------------- cases
# Width 64: enough projection entries (≥ 4096) for the statistical check.
CASES: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[torch.nn.Module], None]]] = {
    "conv-P": (lambda: PLSTMConv(64, 64, heads=4, mode="P"), assert_conv_init),
    "conv-P-in-edges": (lambda: PLSTMConv(64, 64, heads=4, mode="P", p_norm="in", edge_dim=8),
                        assert_conv_init),
    "conv-D": (lambda: PLSTMConv(64, 64, heads=4, mode="D", reverse=True), assert_conv_init),
    "conv-D-edges": (lambda: PLSTMConv(64, 64, heads=4, mode="D", edge_dim=8), assert_conv_init),
    "block": (lambda: PLSTMBlock(64, heads=4), assert_block_init),
    "block-edges": (lambda: PLSTMBlock(64, heads=4, edge_dim=8, reverse=True), assert_block_init),
    "block-local": (lambda: PLSTMBlock(64, heads=4, edge_dim=8, local="gine"), assert_block_init),
    "block-local-no-edges": (lambda: PLSTMBlock(64, heads=4, local="gine"), assert_block_init),
    "net-local": (lambda: PLSTMNet(2, hidden_channels=64, num_blocks=2, in_channels=5,
                                   edge_dim=3, local="gine"), assert_net_init),
    "block-batch-norm": (lambda: PLSTMBlock(64, heads=4, edge_dim=8, block_norm="batch"),
                         assert_block_init),
    "net-batch-norm": (lambda: PLSTMNet(2, hidden_channels=64, num_blocks=2, in_channels=5,
                                        edge_dim=3, block_norm="batch"), assert_net_init),
    "net-plain": (lambda: PLSTMNet(2, hidden_channels=64, num_blocks=2, in_channels=5),
                  assert_net_init),
    "net-edges": (lambda: PLSTMNet(2, hidden_channels=64, num_blocks=1, in_channels=5, edge_dim=3),
                  assert_net_init),
    "net-ogb": (lambda: PLSTMNet(1, hidden_channels=64, num_blocks=2, ogb_features=True),
                assert_net_init),
    # gate_bias (PLSTMNet → PLSTMBlock → PLSTMConv): σ(−2) for every S, M, D gate instead.
    "conv-D-gate-bias": (lambda: PLSTMConv(64, 64, heads=4, mode="D", edge_dim=8, gate_bias=-2.0),
                         lambda m: assert_conv_init(m, gate_bias=-2.0)),
    "net-gate-bias": (lambda: PLSTMNet(2, hidden_channels=64, num_blocks=2, in_channels=5,
                                       edge_dim=3, gate_bias=-2.0),
                      lambda m: assert_net_init(m, gate_bias=-2.0)),
    # transition_bias: τ = 0 (no state passes from edge to edge; P: 0 / (α + 0)) or one value
    # for the P and the D layers alike.
    "conv-P-transition-bias": (lambda: PLSTMConv(64, 64, heads=4, mode="P", edge_dim=8,
                                                 transition_bias=0.0),
                               lambda m: assert_conv_init(m, transition_bias=0.0)),
    "net-transition-bias": (lambda: PLSTMNet(2, hidden_channels=64, num_blocks=2, in_channels=5,
                                             edge_dim=3, transition_bias=1.0),
                            lambda m: assert_net_init(m, transition_bias=1.0)),
    "plstm2d-P": (lambda: PLSTM2D(64, heads=4, mode="P"), assert_grid_layer_init),
    "plstm2d-D": (lambda: PLSTM2D(64, heads=4, mode="D", orientations=2),
                  assert_grid_layer_init),
    "vision": (lambda: PLSTMVision(2, image_size=32, patch_size=8, dim=64, depth=1, heads=4),
               assert_vision_init),
}


@pytest.mark.parametrize("name", CASES)
def test_fresh_module_has_the_documented_init(name):
    if name == "net-ogb":
        pytest.importorskip("ogb")
    build, check = CASES[name]
    check(build())


@pytest.mark.parametrize("name", CASES)
def test_reset_parameters_rewrites_every_parameter_to_the_documented_init(name):
    if name == "net-ogb":
        pytest.importorskip("ogb")
    build, check = CASES[name]
    module = build()
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(float("nan"))
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            bn.running_mean.fill_(float("nan")), bn.running_var.fill_(float("nan"))
            bn.num_batches_tracked.fill_(7)
    module.reset_parameters()
    left = [n for n, p in module.named_parameters() if bool(torch.isnan(p).any())]
    assert not left, f"reset_parameters() did not reset {left}"
    check(module)


def record_resets(model: torch.nn.Module) -> list[tuple[str, str | None]]:
    """Wrap every ``reset_parameters`` under ``model``; each call appends
    ``(module name, name of the innermost running reset or None)``."""
    names = {m: n for n, m in model.named_modules()}
    calls: list[tuple[str, str | None]] = []
    stack: list[str] = []
    for module, name in names.items():
        if hasattr(module, "reset_parameters"):
            def wrapped(_orig=module.reset_parameters, _name=name) -> None:
                calls.append((_name, stack[-1] if stack else None))
                stack.append(_name)
                try:
                    _orig()
                finally:
                    stack.pop()
            module.reset_parameters = wrapped
    return calls


def owner(name: str, resettable: set[str]) -> str:
    """Nearest ancestor of module ``name`` (dotted path) that has ``reset_parameters``."""
    parts = name.split(".")
    for i in range(len(parts) - 1, -1, -1):
        candidate = ".".join(parts[:i])
        if candidate in resettable:
            return candidate
    raise AssertionError(f"{name} has no resettable ancestor")


RESET_CASES = {**CASES,
               "vit": (lambda: ViT(2, image_size=32, patch_size=8, dim=32, depth=1, heads=2), None),
               "gin": (lambda: GINNet(2, hidden_channels=16, num_layers=2, in_channels=5), None)}


@pytest.mark.parametrize("name", RESET_CASES)
def test_each_submodule_is_reset_once_by_its_owner(name):
    if name == "net-ogb":
        pytest.importorskip("ogb")
    model = RESET_CASES[name][0]()
    resettable = {n for n, m in model.named_modules() if hasattr(m, "reset_parameters")}
    calls = record_resets(model)
    model.reset_parameters()
    assert calls[0] == ("", None) and all(by is not None for _, by in calls[1:])
    reset = [n for n, _ in calls]
    twice = sorted({n for n in reset if reset.count(n) > 1})
    assert not twice, f"reset more than once: {twice}"
    wrong = [(n, by) for n, by in calls[1:] if by != owner(n, resettable)]
    assert not wrong, f"(module, reset from inside) not reset by its owner: {wrong}"
