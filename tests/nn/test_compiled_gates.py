"""PLSTMConv's compiled gate pass (``CompiledGates``) equals its torch ops (the path taken on
CUDA, without a compiler and in half precision), outputs and gradients, float64."""
import pytest
import torch
from helpers import assert_grads_close, needs_compiled, random_graph

import plstm_geometric.nn.conv as conv_module
from plstm_geometric import PLSTMConv
from plstm_geometric.ops.dag.compiled import CompiledGates
from plstm_geometric.structure import LineDAG

pytestmark = needs_compiled


def gate_pass(conv, x, dag, edge_attr, compiled, monkeypatch):
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(conv_module, "compiled_available", lambda *tensors: False)
        inputs = conv.kernel_inputs(x, dag, edge_attr)
    # Weighted by a fixed function of each output, so every gradient path is exercised.
    loss = sum((t * t.detach().sin() * (i + 1)).sum() for i, t in enumerate(inputs[3:]))
    leaves = [x] + ([edge_attr] if edge_attr is not None else []) + list(conv.parameters())
    return inputs, torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("mode,p_norm", [("P", "out"), ("P", "in"), ("D", "out")])
@pytest.mark.parametrize("edge_dim", [None, 3])
def test_compiled_gates_equal_the_torch_ops(mode, p_norm, edge_dim, monkeypatch):
    gen = torch.Generator().manual_seed(1)
    n = 13
    edge_index = random_graph(n, 0.4, gen)
    conv = PLSTMConv(5, 8, heads=2, mode=mode, p_norm=p_norm, edge_dim=edge_dim,
                     init="torch").double()
    x = torch.randn(n, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    edge_attr = (torch.randn(edge_index.size(1), 3, dtype=torch.float64, generator=gen,
                             requires_grad=True) if edge_dim else None)
    dag = LineDAG.from_graph(edge_index, n, mode=mode)
    assert dag.num_line_edges > 0
    (out, grads), (want, want_grads) = (gate_pass(conv, x, dag, edge_attr, c, monkeypatch)
                                        for c in (True, False))
    for a, b in zip(out, want):
        torch.testing.assert_close(a, b, atol=1e-13, rtol=0)
    assert_grads_close(grads, want_grads, atol=1e-12)


@pytest.mark.parametrize("normalise", [True, False])
def test_compiled_gates_gradcheck(normalise):
    gen = torch.Generator().manual_seed(2)
    dag = LineDAG.from_graph(random_graph(8, 0.5, gen), 8)
    src, dst = dag.line_index
    node = torch.randn(8, 4, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    edge = torch.randn(dag.num_edges, 4, 2, dtype=torch.float64, generator=gen,
                       requires_grad=True)
    index = (dag.tail, dag.head, src, dst, src)
    assert torch.autograd.gradcheck(
        lambda a, b: CompiledGates.apply(a, b, index, normalise, 0.5), (node, edge))
