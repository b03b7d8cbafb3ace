"""Grid kernels vs. the sequential reference and a dense closed-form oracle on the same DAG."""
import pytest
import torch

from grid_helpers import (GRID_FORMS, dense_dag, flip_rank, form_kwargs, graph_run_2d,
                          grid_edge_index, local_line_dag, random_1d, random_2d, run_grid_2d)
from plstm_geometric.ops.chain import plstm_1d, plstm_1d_reference
from plstm_geometric.ops.grid import plstm_2d, plstm_2d_reference

TOL = 1e-9

# (X, Y, chunk): single cell, non-square, non-power-of-two, one chunk, many chunks, degenerate rows.
GRIDS_2D = [(1, 1, 8), (2, 3, 8), (5, 7, 8), (5, 7, 2), (9, 6, 4), (1, 6, 2), (7, 1, 4), (12, 16, 8)]

def _dense_2d(inputs, drop_dl=False, flip=(False, False)):
    q = inputs[0]
    X, Y = q.shape[1:3]
    rank = flip_rank(X, Y, flip)
    dags = local_line_dag(grid_edge_index(X, Y), X * Y, rank=rank,
                          chirality_y=Y if drop_dl else None)

    def kernel(q, k, v, S, T, M, D, b):
        return dense_dag(q, k, v, S, T, M, D, *dags)

    return graph_run_2d(kernel, dags, inputs, drop_dl=drop_dl)


@GRID_FORMS
@pytest.mark.parametrize("X,Y,chunk", GRIDS_2D)
@pytest.mark.parametrize("drop_dl", [False, True], ids=["P", "D"])
def test_plstm_2d_matches_dense_dag(X, Y, chunk, drop_dl, form):
    inputs = random_2d(2, X, Y, 2, 3, 2, seed=X * 100 + Y)
    out = run_grid_2d(inputs, drop_dl, **form_kwargs(form, chunk))
    assert out.shape == (2, X, Y, 2, 2)
    assert (out - _dense_2d(inputs, drop_dl)).abs().max() <= TOL


@GRID_FORMS
@pytest.mark.parametrize("flip", [(True, False), (False, True), (True, True)])
def test_plstm_2d_flip_matches_reoriented_dag(flip, form):
    inputs = random_2d(1, 5, 6, 2, 2, 3, seed=7)
    out = run_grid_2d(inputs, flip=flip, **form_kwargs(form, 2))
    assert (out - _dense_2d(inputs, flip=flip)).abs().max() <= TOL


@GRID_FORMS
@pytest.mark.parametrize("drop_dl", [False, True], ids=["P", "D"])
def test_plstm_2d_gradients_match_dense_dag(drop_dl, form):
    inputs = random_2d(1, 6, 5, 2, 2, 3, seed=3, requires_grad=True)
    weight = torch.randn(1, 6, 5, 2, 3, dtype=torch.float64)
    used = [t for i, t in enumerate(inputs) if not (drop_dl and i == 7)]
    out = run_grid_2d(inputs, drop_dl, **form_kwargs(form, 2))
    grads_grid = torch.autograd.grad((out * weight).sum(), used)
    grads_dense = torch.autograd.grad((_dense_2d(inputs, drop_dl) * weight).sum(), used)
    for a, b in zip(grads_grid, grads_dense):
        assert (a - b).abs().max() <= TOL


@GRID_FORMS
@pytest.mark.parametrize("X,Y,chunk", [(3, 5, 8), (11, 4, 4)])
def test_plstm_2d_matches_sequential_reference(X, Y, chunk, form):
    inputs = random_2d(2, X, Y, 3, 2, 2, seed=11)
    q, k, v, *g = inputs
    g[3] = None  # the kernel and the reference agree on removed turns too
    assert (plstm_2d(q, k, v, *g, **form_kwargs(form, chunk))
            - plstm_2d_reference(q, k, v, *g)).abs().max() <= TOL


@pytest.mark.parametrize("T,chunk", [(1, 4), (7, 4), (16, 4), (37, 8), (37, 64)])
def test_plstm_1d_matches_dense_dag(T, chunk):
    q, k, v, S, Tr, M, D = random_1d(2, T, 2, 3, 2, seed=T)
    out = plstm_1d(q, k, v, S, Tr, M, D, chunk_size=chunk)
    # A chain is the X = T, Y = 1 grid: every edge runs along x.
    dags = local_line_dag(grid_edge_index(T, 1), T)
    grid_inputs = [t[:, :, None] for t in (q, k, v, S, S, Tr, Tr, Tr, Tr, M, M, D)]
    ref = graph_run_2d(lambda *a: dense_dag(*a[:7], *dags), dags, grid_inputs)[:, :, 0]
    assert (out - ref).abs().max() <= TOL
    assert (out - plstm_1d_reference(q, k, v, S, Tr, M, D)).abs().max() <= TOL


def test_plstm_1d_gradients_match_reference():
    inputs = random_1d(2, 19, 2, 3, 2, seed=5, requires_grad=True)
    weight = torch.randn(2, 19, 2, 2, dtype=torch.float64)
    ga = torch.autograd.grad((plstm_1d(*inputs, chunk_size=4) * weight).sum(), inputs)
    gb = torch.autograd.grad((plstm_1d_reference(*inputs) * weight).sum(), inputs)
    for a, b in zip(ga, gb):
        assert (a - b).abs().max() <= TOL


def test_gradcheck_plstm_1d():
    inputs = random_1d(1, 6, 1, 2, 2, seed=0, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: plstm_1d(*a, chunk_size=2), inputs)


@GRID_FORMS
@pytest.mark.parametrize("drop_dl", [False, True], ids=["P", "D"])
def test_gradcheck_plstm_2d(drop_dl, form):
    inputs = random_2d(1, 3, 4, 1, 2, 2, seed=0, requires_grad=True)
    q, k, v, *g = inputs
    if drop_dl:
        g[4] = None
    used = [q, k, v] + [t for t in g if t is not None]

    def fn(*args):
        it = iter(args)
        return plstm_2d(*[None if t is None else next(it) for t in [q, k, v] + g],
                        **form_kwargs(form, 2))

    assert torch.autograd.gradcheck(fn, used)


def test_recurrence_runs_in_float32_for_half_inputs():
    """bf16 inputs: the recurrence runs in float32, only the result is rounded to bf16."""
    inputs = [t.to(torch.bfloat16) for t in random_2d(1, 4, 4, 1, 2, 2, seed=1)]
    out = plstm_2d(*inputs)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, plstm_2d(*[t.float() for t in inputs]).to(torch.bfloat16))
    q, k, v, *g = [t.float() for t in random_1d(1, 5, 1, 2, 2, seed=1)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert plstm_1d(q, k, v, *g).dtype == torch.float32


def test_bad_inputs_raise_value_error():
    q, k, v, *g = random_2d(1, 4, 4, 1, 2, 2, seed=1)
    with pytest.raises(ValueError, match="gate 'mark_l'"):
        plstm_2d(q, k, v, *g[:6], g[6][..., :1, :], *g[7:])
    with pytest.raises(ValueError, match="'query' and 'key'"):
        plstm_2d(q, k[..., :1], v, *g)
    with pytest.raises(ValueError, match="required"):
        plstm_2d(q, k, v, None, *g[1:])
    with pytest.raises(ValueError, match="power of two"):
        plstm_2d(q, k, v, *g, chunk_size=6)
    q1, k1, v1, *g1 = random_1d(1, 5, 1, 2, 2, seed=1)
    with pytest.raises(ValueError, match="4 dimensions"):
        plstm_1d(q1[0], k1, v1, *g1)
