"""PLSTMConv's compiled path (``CompiledConv``: qk norm, gates, kernel and RMSNorm in one node,
reading q, k, v and the node gate parts in place in the projection) equals the layer's other
paths (kernel through ``plstm_dag``, torch normalize, torch gates, torch norm), outputs and
gradients, float64; and it is taken exactly where it applies."""
import pytest
import torch
from helpers import assert_grads_close, needs_compiled, random_graph
from test_conv import randomize
from torch_geometric.data import Batch, Data

import plstm_geometric.nn.conv as conv_module
from plstm_geometric import AddLineDAG, PLSTMConv
from plstm_geometric.ops.dag import compiled
from plstm_geometric.ops.dag.compiled import QK_AS_IS, CompiledConv
from plstm_geometric.structure import LineDAG

pytestmark = needs_compiled


def batch(mode, edge_dim, seed=0):
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for n in (9, 1, 14, 6):
        edge_index = random_graph(n, 0.4, gen)
        graphs.append(Data(x=torch.randn(n, 5, dtype=torch.float64, generator=gen),
                           edge_index=edge_index,
                           edge_attr=torch.randn(edge_index.size(1), edge_dim or 1,
                                                 dtype=torch.float64, generator=gen)))
    return Batch.from_data_list([AddLineDAG(modes=(mode,))(g) for g in graphs])


def run(conv, data, path, monkeypatch):
    """Output and gradients of x, edge_attr and every parameter; ``path``: ``"compiled"`` (the
    layer's choice here), ``"kernel"`` (compiled gates and kernel, torch norm) or ``"torch"``
    (torch gates, dense torch kernel, torch norm: the CUDA / no-compiler path)."""
    x = data.x.clone().requires_grad_()
    edge_attr = data.edge_attr.clone().requires_grad_() if conv.edge_dim else None
    calls = []
    with monkeypatch.context() as patch:
        real = CompiledConv.apply
        patch.setattr(CompiledConv, "apply", lambda *a: calls.append(1) or real(*a))
        if path != "compiled":
            patch.setattr(conv, "runs_compiled_conv", lambda *a: False)
        if path == "torch":
            patch.setattr(conv_module, "compiled_available", lambda *t: False)
            patch.setattr(conv, "form", "dense")
        y = conv(x, data.edge_index, edge_attr, data.batch, line_dag=data)
    assert bool(calls) == (path == "compiled")
    # Weighted by a fixed function of the output, so every gradient path is exercised.
    loss = (y * y.detach().sin()).sum()
    leaves = [x] + ([edge_attr] if edge_attr is not None else []) + list(conv.parameters())
    return y, torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("mode,p_norm", [("P", "out"), ("P", "in"), ("D", "out")])
@pytest.mark.parametrize("edge_dim", [None, 3])
@pytest.mark.parametrize("norm,out_gate", [("rms", False), ("none", False), ("rms", True)])
@pytest.mark.parametrize("qk_norm,scale_qk", [(False, False), (True, False), (True, True),
                                              (False, True)])
def test_compiled_conv_equals_the_other_paths(mode, p_norm, edge_dim, norm, out_gate, qk_norm,
                                              scale_qk, monkeypatch):
    data = batch(mode, edge_dim)
    conv = randomize(PLSTMConv(5, 8, heads=2, mode=mode, p_norm=p_norm, edge_dim=edge_dim,
                               norm=norm, out_gate=out_gate, qk_norm=qk_norm,
                               scale_qk=scale_qk, init="torch").double())
    if norm == "rms":
        with torch.no_grad():
            conv.norm.weight.uniform_(0.5, 1.5)
    got, got_grads = run(conv, data, "compiled", monkeypatch)
    for path in ("kernel", "torch"):
        want, want_grads = run(conv, data, path, monkeypatch)
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
        assert_grads_close(got_grads, want_grads, atol=1e-11)


@pytest.mark.parametrize("qk", [QK_AS_IS, (True, 1e-12, 0.7), (False, 0.0, 0.7)])
@pytest.mark.parametrize("normalise,norm", [(True, True), (False, True), (True, False)])
def test_compiled_conv_gradcheck(normalise, norm, qk):
    """``norm``: with the node bias and the RMSNorm, else with neither."""
    gen = torch.Generator().manual_seed(3)
    n, heads, k, v = 8, 2, 3, 2
    dag = LineDAG.from_graph(random_graph(n, 0.5, gen), n)
    src, dst = dag.line_index
    width = heads * (2 * k + v) + 4 * heads + 1  # one column past the parts: never read
    projection = torch.randn(n, width, dtype=torch.float64, generator=gen, requires_grad=True)
    edge = torch.randn(dag.num_edges, 4, heads, dtype=torch.float64, generator=gen,
                       requires_grad=True)
    weight = (torch.rand(heads, v, dtype=torch.float64, generator=gen) + 0.5).requires_grad_()
    bias = torch.randn(4, heads, dtype=torch.float64, generator=gen, requires_grad=True)
    layout = compiled.compiled_layout(dag)

    def f(p, b, e, w):
        return CompiledConv.apply(p, b if norm else None, e, w if norm else None, (heads, k, v),
                                  (dag.tail, dag.head, src, dst, src), normalise, 0.5, 1e-5,
                                  layout, qk)
    assert torch.autograd.gradcheck(f, (projection, bias, edge, weight))


def test_where_the_compiled_path_applies(monkeypatch):
    data = batch("P", 3)
    calls = []
    real = CompiledConv.apply
    monkeypatch.setattr(CompiledConv, "apply", lambda *a: calls.append(1) or real(*a))

    def taken(**options):
        calls.clear()
        conv = PLSTMConv(5, 8, heads=2, edge_dim=3, **options).double()
        conv(data.x, data.edge_index, data.edge_attr, data.batch, line_dag=data)
        return bool(calls)
    assert taken() and taken(form="compiled") and taken(norm="none")
    assert taken(qk_norm=True) and taken(scale_qk=True)
    # Another kernel form: the general path.
    assert not taken(form="dense") and not taken(form="state")
    with monkeypatch.context() as patch:  # as on CUDA or without a compiler
        patch.setattr(conv_module, "unavailable_reason", lambda *a: "unavailable")
        assert not taken()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # projections in half precision
        assert not taken()


def test_qk_norm_of_a_zero_row():
    """Below eps the norm's denominator is eps (a constant), as in torch's normalize."""
    data = batch("P", 3)
    conv = randomize(PLSTMConv(5, 8, heads=2, edge_dim=3, qk_norm=True, init="torch").double())
    with torch.no_grad():
        conv.qkv.weight[:4].zero_()  # head 0's query is zero for every node
    x = data.x.clone().requires_grad_()
    grads = []
    for compiled_path in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            if not compiled_path:
                patch.setattr(conv, "runs_compiled_conv", lambda *a: False)
            y = conv(x, data.edge_index, data.edge_attr, data.batch, line_dag=data)
        grads.append(torch.autograd.grad((y * y.detach().cos()).sum(), [x, conv.qkv.weight]))
    assert grads[0][1][:4].abs().max() > 1e6  # the gradient through 1 / eps
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-12)
