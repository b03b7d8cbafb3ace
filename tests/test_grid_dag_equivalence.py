"""Acceptance: the grid kernels equal ``plstm_dag`` on the DAG built by ``LineDAG.from_graph``
(node index ``x * Y + y``, gate mapping of SPEC §5), forward and backward, float64."""
import pytest
import torch

from grid_helpers import GRID_FORMS, form_kwargs, plstm_dag_2d, random_1d, random_2d, run_grid_2d
from plstm_geometric.ops.chain import plstm_1d

TOL = 1e-9

@GRID_FORMS
@pytest.mark.parametrize("X,Y,chunk", [(1, 1, 8), (3, 5, 8), (7, 4, 2), (9, 6, 4), (13, 10, 4)])
@pytest.mark.parametrize("drop_dl", [False, True], ids=["P", "D"])
def test_plstm_2d_equals_plstm_dag(X, Y, chunk, drop_dl, form):
    inputs = random_2d(2, X, Y, 2, 3, 2, seed=X * 31 + Y, requires_grad=True)
    weight = torch.randn(2, X, Y, 2, 2, dtype=torch.float64)
    used = [t for i, t in enumerate(inputs) if not (drop_dl and i == 7)]
    out_grid = run_grid_2d(inputs, drop_dl, **form_kwargs(form, chunk))
    out_dag = plstm_dag_2d(inputs, drop_dl)
    assert (out_grid - out_dag).abs().max() <= TOL
    g_grid = torch.autograd.grad((out_grid * weight).sum(), used, allow_unused=True)
    g_dag = torch.autograd.grad((out_dag * weight).sum(), used, allow_unused=True)
    for a, b, t in zip(g_grid, g_dag, used):
        # A 1x1 grid has no edges: the graph never touches the edge gates.
        a, b = (torch.zeros_like(t) if g is None else g for g in (a, b))
        assert (a - b).abs().max() <= TOL


@GRID_FORMS
@pytest.mark.parametrize("drop_dl", [False, True], ids=["P", "D"])
def test_plstm_2d_equals_plstm_dag_level_loop(drop_dl, form):
    """Also against the cell-state level loop of ``plstm_dag`` (not only its dense form)."""
    inputs = random_2d(1, 9, 6, 2, 2, 3, seed=23)
    out_dag = plstm_dag_2d(inputs, drop_dl, form="state")
    out_grid = run_grid_2d(inputs, drop_dl, **form_kwargs(form, 4))
    assert (out_grid - out_dag).abs().max() <= TOL


@GRID_FORMS
@pytest.mark.parametrize("flip", [(True, False), (False, True), (True, True)])
def test_plstm_2d_flips_equal_plstm_dag_with_node_order(flip, form):
    inputs = random_2d(1, 5, 6, 2, 2, 3, seed=17)
    out_grid = run_grid_2d(inputs, flip=flip, **form_kwargs(form, 2))
    assert (out_grid - plstm_dag_2d(inputs, flip=flip)).abs().max() <= TOL


@pytest.mark.parametrize("T,chunk", [(1, 4), (9, 4), (37, 8)])
def test_plstm_1d_equals_plstm_dag(T, chunk):
    inputs = random_1d(2, T, 2, 3, 2, seed=T, requires_grad=True)
    q, k, v, S, Tr, M, D = inputs
    weight = torch.randn(2, T, 2, 2, dtype=torch.float64)
    out_grid = plstm_1d(*inputs, chunk_size=chunk)
    # A chain is the X = T, Y = 1 grid: every edge runs along x.
    grid_inputs = [t[:, :, None] for t in (q, k, v, S, S, Tr, Tr, Tr, Tr, M, M, D)]
    out_dag = plstm_dag_2d(grid_inputs)[:, :, 0]
    assert (out_grid - out_dag).abs().max() <= TOL
    for a, b, t in zip(torch.autograd.grad((out_grid * weight).sum(), inputs, allow_unused=True),
                       torch.autograd.grad((out_dag * weight).sum(), inputs, allow_unused=True), inputs):
        a, b = (torch.zeros_like(t) if g is None else g for g in (a, b))
        assert (a - b).abs().max() <= TOL
