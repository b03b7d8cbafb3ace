"""plstm_2d_orientations (all forms, several batch steps of the dense form), the auto form
choice, and the one dtype/autocast rule of every public kernel."""
import pytest
import torch
from grid_helpers import TORCH_WAVEFRONT, needs_compiled, plstm_dag_2d, random_1d, random_2d

import plstm_geometric.ops.grid.dense as dense
from plstm_geometric import LineDAG, plstm_dag
from plstm_geometric.ops import grid
from plstm_geometric.ops.chain import plstm_1d
from plstm_geometric.ops.grid import (DENSE_MAX_SIDE, GRAPH_MAX_SIDE, choose_form, plstm_2d,
                                     plstm_2d_orientations)

FLIPS = [(False, False), (True, False), (False, True), (True, True)]


def _orientation_inputs(X, Y, drop_dl, seed):
    """q, k, v ``[B, X, Y, H, *]`` and gates ``[B, 4, X, Y, H]`` (different per orientation)."""
    q, k, v, *_ = random_2d(3, X, Y, 2, 3, 2, seed=seed)
    gates = [torch.stack([g for g in random_2d(3, X, Y, 2, 1, 1, seed=seed + o)[3:]], 0)
             for o in range(4)]  # [4 orientations, 9 gates, B, X, Y, H]
    gates = [torch.stack([gates[o][i] for o in range(4)], 1) for i in range(9)]
    if drop_dl:
        gates[4] = None
    return [q, k, v, *gates]


def _dag_oracle(inputs, drop_dl):
    """Orientation o by plstm_dag on the grid DAG oriented towards its flips."""
    q, k, v, *gates = inputs
    # graph_run_2d drops trans_dl itself when drop_dl: any placeholder will do.
    per_o = [[q, k, v] + [gates[0][:, o] if g is None else g[:, o] for g in gates] for o in range(4)]
    return torch.stack([plstm_dag_2d(per_o[o], drop_dl, flip=flip)
                        for o, flip in enumerate(FLIPS)], 1)


@pytest.mark.parametrize("form", ["dense", "wavefront", TORCH_WAVEFRONT, "chunkwise",
                                  pytest.param("graph", marks=needs_compiled)])
@pytest.mark.parametrize("drop_dl", [False, True], ids=["P", "D"])
@pytest.mark.parametrize("step_entries", [1, 1 << 19], ids=["per-image", "one-step"])
def test_orientations_equal_plstm_dag(form, drop_dl, step_entries, monkeypatch):
    """Each orientation of one call equals plstm_dag (float64, outputs and gradients); the
    dense form also when its batch loop runs one image per step; the graph form with the
    orientations' graphs sharing q, k, v rows and Q K^T."""
    monkeypatch.setattr(dense, "DENSE_STEP_ENTRIES", step_entries)
    inputs = _orientation_inputs(4, 5, drop_dl, seed=3)
    used = [t.requires_grad_() for t in inputs if t is not None]
    out = plstm_2d_orientations(*inputs, flips=FLIPS, form=form)
    ref = _dag_oracle(inputs, drop_dl)
    assert out.shape == (3, 4, 4, 5, 2, 2)
    assert (out - ref).abs().max() <= 1e-9
    weight = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad((out * weight).sum(), used),
                    torch.autograd.grad((ref * weight).sum(), used)):
        assert (a - b).abs().max() <= 1e-9


def test_orientations_equal_single_calls():
    """Output o of plstm_2d_orientations is plstm_2d(flip=flips[o]) with gates[:, o].

    To float64 rounding, not bitwise: the batched call's einsums run MKL on other shapes than
    the single calls', and on an AVX-512 machine they differ by 1-4 ulp (up to 1.8e-15 here),
    while a wrong orientation, flip or gate slice differs by O(1)."""
    inputs = _orientation_inputs(3, 4, False, seed=5)
    q, k, v, *gates = inputs
    out = plstm_2d_orientations(*inputs, flips=FLIPS, form="dense")
    for o, flip in enumerate(FLIPS):
        single = plstm_2d(q, k, v, *(g[:, o] for g in gates), flip=flip, form="dense")
        torch.testing.assert_close(out[:, o], single, atol=1e-12, rtol=0)


@pytest.mark.parametrize("form", ["dense", pytest.param("graph", marks=needs_compiled)])
def test_gradcheck_2d_orientations(form):
    inputs = _orientation_inputs(2, 3, False, seed=1)
    inputs = [t[:1].clone().requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(
        lambda *a: plstm_2d_orientations(*a, flips=FLIPS, form=form), inputs)


@needs_compiled
def test_auto_form_choice(monkeypatch):
    """CPU: graph up to GRAPH_MAX_SIDE, the compiled wavefront beyond; without the compiled
    kernels dense up to DENSE_MAX_SIDE, the torch wavefront beyond (measured); CUDA: chunkwise
    (design)."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert (DENSE_MAX_SIDE, GRAPH_MAX_SIDE) == (12, 4)
    assert choose_form(4, 4, cpu) == choose_form(3, 4, cpu) == "graph"
    assert choose_form(5, 4, cpu) == choose_form(12, 12, cpu) == choose_form(64, 64, cpu) == (
        "wavefront")
    assert choose_form(8, 8, cuda) == choose_form(64, 64, cuda) == "chunkwise"
    # auto runs exactly the chosen form; a given chunk_size keeps its old meaning.
    q4, k4, v4, *g4 = random_2d(1, 4, 3, 1, 2, 2, seed=0)
    assert torch.equal(plstm_2d(q4, k4, v4, *g4), plstm_2d(q4, k4, v4, *g4, form="graph"))
    q, k, v, *g = random_2d(1, 5, 4, 1, 2, 2, seed=0)
    assert torch.equal(plstm_2d(q, k, v, *g), plstm_2d(q, k, v, *g, form="wavefront"))
    monkeypatch.setenv("PLSTM_COMPILED", "0")
    assert choose_form(12, 12, cpu) == choose_form(3, 12, cpu) == "dense"
    assert choose_form(13, 4, cpu) == "wavefront"
    auto = plstm_2d(q, k, v, *g)
    assert torch.equal(auto, plstm_2d(q, k, v, *g, form="dense"))
    assert torch.equal(plstm_2d(q, k, v, *g, chunk_size=1), plstm_2d(q, k, v, *g, form="wavefront"))
    assert torch.equal(plstm_2d(q, k, v, *g, chunk_size=2),
                       plstm_2d(q, k, v, *g, form="chunkwise", chunk_size=2))
    with pytest.raises(ValueError, match="'form' must be one of"):
        plstm_2d(q, k, v, *g, form="fast")
    with pytest.raises(ValueError, match=r"\[B, O, X, Y, H\] for 4 orientations"):
        plstm_2d_orientations(q, k, v, *g, flips=FLIPS)


def _dag_chain(T):
    e = torch.stack([torch.arange(T - 1), torch.arange(1, T)])
    return LineDAG.from_graph(e, T, mode="P", prune=None, directed=True)


def _kernels():
    """Each public kernel as ``fn(dtype) -> (inputs, call)`` on small random inputs."""
    def grid_2d(dtype):
        inputs = [t.to(dtype) for t in random_2d(1, 3, 4, 1, 2, 2, seed=1)]
        return inputs, lambda *a: plstm_2d(*a)

    def chain(dtype):
        inputs = [t.to(dtype) for t in random_1d(1, 5, 1, 2, 2, seed=1)]
        return inputs, lambda *a: plstm_1d(*a)

    def dag(dtype):
        ld = _dag_chain(5)
        q, k, v, S, T, M, D = random_1d(1, 5, 1, 2, 2, seed=1)
        inputs = [t[0].to(dtype) for t in (q, k, v)] + [S[0, :4].to(dtype), T[0, :3].to(dtype),
                                                       M[0, :4].to(dtype), D[0].to(dtype)]
        return inputs, lambda *a: plstm_dag(*a, ld)

    return {"plstm_2d": grid_2d, "plstm_1d": chain, "plstm_dag": dag}


@pytest.mark.parametrize("name", ["plstm_2d", "plstm_1d", "plstm_dag"])
def test_one_dtype_rule(name):
    """bf16 in: computed in float32, rounded once at the end; under autocast too; any
    float64 input: float64 recurrence, output in the query's dtype."""
    inputs, call = _kernels()[name](torch.bfloat16)
    out = call(*inputs)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, call(*[t.float() for t in inputs]).to(torch.bfloat16))
    f32 = [t.float() for t in inputs]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert call(*f32).dtype == torch.float32
    mixed = f32[:3] + [t.double() for t in f32[3:]]
    assert torch.equal(call(*mixed), call(*[t.double() for t in f32]).float())


def test_old_import_path_of_plstm_1d_warns():
    with pytest.deprecated_call(match="moved to plstm_geometric.ops.chain"):
        fn = grid.plstm_1d
    assert fn is plstm_1d
