"""The compiled wavefront (``CompiledGrid``: the grid's cell-state recurrence node by node in
C++, what ``form="wavefront"`` runs on the CPU with the compiled library) against the torch
forms, float64 gradcheck, head sizes, threads, and the torch fallback. Its equality with
``plstm_dag`` and the reference (outputs and gradients) is in the GRID_FORMS tests."""
import pytest
import torch
from grid_helpers import needs_compiled

import plstm_geometric.ops.grid as grid
from plstm_geometric.ops.dag.compiled import CompiledGrid, compiled_available
from plstm_geometric.ops.grid import plstm_2d_orientations

FLIPS = [(False, False), (True, False), (False, True), (True, True)]


def orientation_inputs(B, X, Y, H, K, V, seed, drop=(), dtype=torch.float64):
    """q, k, v ``[B, X, Y, H, *]`` and the nine gates ``[B, 4, X, Y, H]``; gates at the
    positions in ``drop`` (3: T^ru, 4: T^dl) are None."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, X, Y, H, d, generator=gen, dtype=dtype) for d in (K, K, V))
    gates = [None if i in drop else torch.rand(B, 4, X, Y, H, generator=gen, dtype=dtype)
             for i in range(9)]
    return [q, k, v, *gates]


def run(inputs, form="wavefront"):
    return plstm_2d_orientations(*inputs, flips=FLIPS, form=form)


@needs_compiled
@pytest.mark.parametrize("drop", [(), (4,), (3, 4)], ids=["P", "D", "no-turns"])
@pytest.mark.parametrize("k,v", [(3, 4), (16, 16)])
def test_compiled_grid_gradcheck(drop, k, v):
    inputs = [t if t is None else t.requires_grad_()
              for t in orientation_inputs(1, 3, 2, 1, k, v, seed=1, drop=drop)]
    used = [i for i, t in enumerate(inputs) if t is not None]

    def f(*tensors):
        full = list(inputs)
        for i, t in zip(used, tensors):
            full[i] = t
        return CompiledGrid.apply(FLIPS, *full)

    assert torch.autograd.gradcheck(f, [inputs[i] for i in used])


@needs_compiled
@pytest.mark.parametrize("k,v", [(16, 16), (32, 32), (64, 64), (32, 16), (5, 7)])
def test_compiled_grid_head_sizes_equal_the_dense_form(k, v):
    """K = V in {16, 32, 64} run loops sized at compile time, others the generic ones."""
    inputs = [t if t is None else t.requires_grad_()
              for t in orientation_inputs(2, 4, 5, 2, k, v, seed=2, drop=(4,))]
    used = [t for t in inputs if t is not None]
    out, want = run(inputs), run(inputs, form="dense")
    torch.testing.assert_close(out, want, atol=1e-12, rtol=0)
    weight = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad((out * weight).sum(), used),
                    torch.autograd.grad((want * weight).sum(), used)):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=0)


@needs_compiled
def test_compiled_grid_threads_and_float32():
    """Images split over 3 threads give the 1-thread result exactly (an image's orientations
    add to its q, k, v gradients on one thread); float32 matches float64."""
    inputs = [t.requires_grad_() for t in orientation_inputs(5, 4, 3, 2, 16, 16, seed=3)]
    runs = []
    threads = torch.get_num_threads()
    for count in (1, 3):
        torch.set_num_threads(count)
        try:
            out = run(inputs)
            runs.append([out, *torch.autograd.grad(out.square().sum(), inputs)])
        finally:
            torch.set_num_threads(threads)
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    single = [t.detach().float().requires_grad_() for t in inputs]
    out = run(single)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), runs[0][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(out.square().sum(), single), runs[0][1:]):
        torch.testing.assert_close(a.double(), b, atol=1e-4, rtol=1e-4)


def test_torch_wavefront_without_the_library(monkeypatch):
    """PLSTM_COMPILED=0 (no compiler alike) and non-CPU tensors take the torch wavefront."""
    inputs = [t.requires_grad_() for t in orientation_inputs(2, 3, 4, 1, 2, 3, seed=4)]
    assert not compiled_available(inputs[0].to("meta"), *inputs[1:])
    monkeypatch.setenv("PLSTM_COMPILED", "0")
    assert not compiled_available(*inputs)
    monkeypatch.setattr(CompiledGrid, "apply", lambda *a: pytest.fail("compiled grid called"))
    out = run(inputs)
    torch.testing.assert_close(out, run(inputs, form="dense"), atol=1e-12, rtol=0)
    out.sum().backward()
    assert grid.choose_form(12, 12, torch.device("cpu")) == "dense"
