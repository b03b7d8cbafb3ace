"""PLSTM2D's compiled output norm (``CompiledNormSum``: per-head RMSNorm of every orientation,
summed) equals the torch ops it replaces (the path taken on CUDA, without a compiler and in half
precision), outputs and gradients, float64."""
import pytest
import torch
from helpers import needs_compiled

import plstm_geometric.nn.grid as grid_module
from plstm_geometric.nn.grid import PLSTM2D
from plstm_geometric.ops.dag import compiled
from plstm_geometric.ops.dag.compiled import CompiledNormSum, compiled_available


@needs_compiled
def test_compiled_norm_sum_gradcheck():
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(3, 4, 2, 5, 2, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(2, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: CompiledNormSum.apply(a, b, 1e-5), (y, weight))
    want = (torch.nn.functional.rms_norm(y, (6,), eps=1e-5) * weight).sum(1)
    torch.testing.assert_close(CompiledNormSum.apply(y, weight, 1e-5), want, atol=1e-13, rtol=0)


@needs_compiled
def test_compiled_norm_sum_threads_and_float32():
    """Images split over 2 threads give the 1-thread result (the weight's gradient sums the
    threads' partial sums, so only up to rounding); float32 matches float64."""
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(5, 4, 3, 3, 2, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(2, 8, dtype=torch.float64, generator=gen, requires_grad=True)
    d_out = torch.randn(5, 3, 3, 2, 8, dtype=torch.float64, generator=gen)
    runs = []
    threads = torch.get_num_threads()
    for count in (1, 2):
        torch.set_num_threads(count)
        try:
            out = CompiledNormSum.apply(y, weight, 1e-5)
            runs.append([out, *torch.autograd.grad(out, (y, weight), d_out)])
        finally:
            torch.set_num_threads(threads)
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, atol=1e-13, rtol=0)
    single = [t.detach().float().requires_grad_() for t in (y, weight)]
    out = CompiledNormSum.apply(*single, 1e-5)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), runs[0][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(out, single, d_out.float()), runs[0][1:]):
        torch.testing.assert_close(a.double(), b, atol=1e-4, rtol=1e-4)


def layer_pass(layer, x, compiled_norm, monkeypatch):
    calls = []
    with monkeypatch.context() as patch:
        if not compiled_norm:
            patch.setattr(grid_module, "compiled_available", lambda *tensors: False)
        real = CompiledNormSum.apply
        patch.setattr(CompiledNormSum, "apply", lambda *a: calls.append(1) or real(*a))
        out = layer(x)
    assert len(calls) == int(compiled_norm)
    loss = (out * out.detach().sin()).sum()
    return out, torch.autograd.grad(loss, [x, *layer.parameters()])


@needs_compiled
@pytest.mark.parametrize("mode,orientations", [("P", 4), ("D", 4), ("P", 2)])
def test_plstm2d_compiled_norm_equals_the_torch_ops(mode, orientations, monkeypatch):
    torch.manual_seed(0)
    layer = PLSTM2D(8, heads=2, mode=mode, orientations=orientations).double()
    torch.nn.init.normal_(layer.gates.weight, std=0.3)
    torch.nn.init.normal_(layer.norm.weight)
    x = torch.randn(2, 4, 3, 8, dtype=torch.float64, requires_grad=True)
    (out, grads), (want, want_grads) = (layer_pass(layer, x, c, monkeypatch) for c in (True, False))
    torch.testing.assert_close(out, want, atol=1e-12, rtol=0)
    for a, b in zip(grads, want_grads):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=0)


def test_torch_norm_without_the_library_or_in_half_precision(monkeypatch):
    y = torch.randn(1, 4, 3, 2, 4)
    weight = torch.ones(2, 4)
    assert not compiled_available(y.bfloat16(), weight.bfloat16())
    assert not compiled_available(y.double(), weight)
    monkeypatch.setattr(compiled, "_LIBRARY", (None, "no C++ compiler found ($CXX or c++)"))
    assert not compiled_available(y, weight)
    layer = PLSTM2D(8, heads=2)
    x = torch.randn(1, 3, 3, 8, requires_grad=True)
    monkeypatch.setattr(CompiledNormSum, "apply", lambda *a: pytest.fail("compiled norm called"))
    layer(x).sum().backward()
    assert torch.isfinite(x.grad).all()
