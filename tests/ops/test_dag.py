import pytest
import torch
from helpers import COMPILED, kernel_inputs, path_graph, random_graph

from plstm_geometric.ops import plstm_dag, plstm_dag_reference
from plstm_geometric.ops.dag import choose_form
from plstm_geometric.structure import LineDAG
from plstm_geometric.structure import grid_edge_index as grid_graph


def random_case(seed: int, mode: str):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(0, 14, (1,), generator=gen))
    ld = LineDAG.from_graph(random_graph(n, 0.3, gen), n, mode=mode)
    return ld, kernel_inputs(n, ld.num_edges, ld.num_line_edges, seed=seed)


def assert_equals_reference(ld, inputs, form):
    """Outputs and gradients (an unused input's counts as zero) equal the oracle's to 1e-12."""
    inputs = [t.requires_grad_() for t in inputs]
    ref = plstm_dag_reference(*inputs, ld)
    out = plstm_dag(*inputs, ld, form=form)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    if ld.num_nodes:
        up = torch.randn_like(ref)
        g_ref = torch.autograd.grad((ref * up).sum(), inputs, allow_unused=True)
        g_out = torch.autograd.grad((out * up).sum(), inputs, allow_unused=True)
        for a, b, x in zip(g_out, g_ref, inputs):
            zero = torch.zeros_like(x)
            torch.testing.assert_close(zero if a is None else a, zero if b is None else b,
                                       atol=1e-12, rtol=0)


@pytest.mark.parametrize("form", ["dense", COMPILED, "state"])
@pytest.mark.parametrize("mode", ["P", "D"])
@pytest.mark.parametrize("seed", range(12))
def test_forms_equal_reference(seed, mode, form):
    assert_equals_reference(*random_case(seed, mode), form)


@pytest.mark.parametrize("form", ["dense", COMPILED, "state"])
@pytest.mark.parametrize("mode", ["P", "D"])
def test_gradcheck(mode, form):
    gen = torch.Generator().manual_seed(5)
    ld = LineDAG.from_graph(random_graph(9, 0.4, gen), 9, mode=mode)
    assert ld.num_line_edges > 0
    inputs = [t.requires_grad_() for t in kernel_inputs(9, ld.num_edges, ld.num_line_edges)]
    assert torch.autograd.gradcheck(lambda *a: plstm_dag(*a, ld, form=form), inputs)


@pytest.mark.parametrize("form", ["dense", COMPILED, "state"])
def test_batch_equals_per_graph(form):
    """A batch (offsets, batch vector) gives exactly each graph's own result, gradients too."""
    gen = torch.Generator().manual_seed(9)
    sizes = [7, 0, 1, 12, 5, 30]
    graphs = [random_graph(n, 0.25, gen) for n in sizes]
    offs = torch.tensor([0] + sizes).cumsum(0)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    big = LineDAG.from_graph(torch.cat([g + o for g, o in zip(graphs, offs)], 1), sum(sizes),
                             mode="D", batch=batch)
    inputs = [t.requires_grad_() for t in kernel_inputs(sum(sizes), big.num_edges,
                                                        big.num_line_edges, seed=1)]
    out = plstm_dag(*inputs, big, form=form)
    grads = torch.autograd.grad(out.pow(2).sum(), inputs)
    e_off = l_off = 0
    for g, n, o in zip(graphs, sizes, offs.tolist()):
        part = LineDAG.from_graph(g, n, mode="D")
        e, l = part.num_edges, part.num_line_edges
        sub = [t.detach()[o:o + n] for t in inputs[:3]] + [
            inputs[3].detach()[e_off:e_off + e], inputs[4].detach()[l_off:l_off + l],
            inputs[5].detach()[e_off:e_off + e], inputs[6].detach()[o:o + n]]
        sub = [t.clone().requires_grad_() for t in sub]
        ref = plstm_dag_reference(*sub, part)
        torch.testing.assert_close(out[o:o + n], ref, atol=1e-12, rtol=0)
        if n:
            sub_grads = torch.autograd.grad(ref.pow(2).sum(), sub, allow_unused=True)
            torch.testing.assert_close(grads[0][o:o + n], sub_grads[0], atol=1e-12, rtol=0)
            if l:
                torch.testing.assert_close(grads[4][l_off:l_off + l], sub_grads[4], atol=1e-12,
                                           rtol=0)
        e_off, l_off = e_off + e, l_off + l


def test_state_form_on_grid_equals_dense():
    ld = LineDAG.from_graph(grid_graph(7, 5), 35, mode="P")
    inputs = kernel_inputs(35, ld.num_edges, ld.num_line_edges, seed=2)
    torch.testing.assert_close(plstm_dag(*inputs, ld, form="state"),
                               plstm_dag(*inputs, ld, form="dense"), atol=1e-12, rtol=0)


def test_low_precision_inputs_run_in_float32():
    ld = LineDAG.from_graph(grid_graph(3, 4), 12)
    inputs = kernel_inputs(12, ld.num_edges, ld.num_line_edges, dtype=torch.float32)
    ref = plstm_dag(*inputs, ld)
    out = plstm_dag(*[t.bfloat16() for t in inputs], ld)
    assert out.dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = plstm_dag(*inputs, ld)
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, ref)


def test_shape_errors_are_specific():
    ld = LineDAG.from_graph(grid_graph(2, 2), 4)
    inputs = kernel_inputs(4, ld.num_edges, ld.num_line_edges)
    inputs[4] = inputs[4][:-1]
    with pytest.raises(ValueError, match="transition must have shape"):
        plstm_dag(*inputs, ld)
    with pytest.raises(ValueError, match="form"):
        plstm_dag(*kernel_inputs(4, ld.num_edges, ld.num_line_edges), ld, form="fast")


def chain_case(lengths, mode="P", reverse=False, seed=0):
    """A batch of paths (each ``n`` nodes), plus a star whose line DAG is edges without links."""
    parts = [path_graph(n) for n in lengths] + [torch.tensor([[0, 0, 0], [1, 2, 3]])]
    sizes = list(lengths) + [4]
    offs = torch.tensor([0] + sizes).cumsum(0)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    ei = torch.cat([g + o for g, o in zip(parts, offs)], 1)
    ld = LineDAG.from_graph(ei, sum(sizes), mode=mode, reverse=reverse, batch=batch)
    return ld, kernel_inputs(sum(sizes), ld.num_edges, ld.num_line_edges, seed=seed)


@pytest.mark.parametrize("mode,reverse", [("P", False), ("D", True)])
@pytest.mark.parametrize("lengths", [[2], [9], [5, 7, 6], [70, 1, 66]])
def test_chain_form_equals_reference(lengths, mode, reverse):
    """plstm_1d's chunks (64) are crossed by the long paths; gradients included."""
    assert_equals_reference(*chain_case(lengths, mode, reverse), "chain")


def test_chain_form_gradcheck_and_auto_choice():
    ld, inputs = chain_case([6, 4])
    inputs = [t.requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(lambda *a: plstm_dag(*a, ld, form="chain"), inputs)
    long_path = LineDAG.from_graph(path_graph(400), 400)
    assert choose_form(long_path) == "chain"
    grid = LineDAG.from_graph(grid_graph(20, 20), 400)
    assert choose_form(grid) == "state"
    assert choose_form(ld) == "dense"
    with pytest.raises(ValueError, match="form='chain' needs"):
        plstm_dag(*kernel_inputs(400, grid.num_edges, grid.num_line_edges), grid, form="chain")


@pytest.mark.parametrize("form", ["dense", COMPILED, "state", "chain"])
def test_forms_on_the_test_device_equal_reference(device, form):
    """Every form on ``PLSTM_TEST_DEVICE`` (CUDA in experiments/gpu_check.sh) against the CPU oracle."""
    if form == "compiled" and device.type != "cpu":
        pytest.skip("the compiled form runs on the CPU only")
    if form == "chain":
        ld, inputs = chain_case([70, 3, 12], mode="D")
    else:
        gen = torch.Generator().manual_seed(4)
        sizes = [6, 11, 1, 8]
        graphs = [random_graph(n, 0.35, gen) for n in sizes]
        offs = torch.tensor([0] + sizes).cumsum(0)
        batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
        ld = LineDAG.from_graph(torch.cat([g + o for g, o in zip(graphs, offs)], 1), sum(sizes),
                                batch=batch)
        inputs = kernel_inputs(sum(sizes), ld.num_edges, ld.num_line_edges, seed=3)
    inputs = [t.requires_grad_() for t in inputs]
    ref = plstm_dag_reference(*inputs, ld)
    on_device = [t.detach().to(device).requires_grad_() for t in inputs]
    out = plstm_dag(*on_device, ld.to(device), form=form)
    torch.testing.assert_close(out.cpu(), ref, atol=1e-10, rtol=0)
    up = torch.randn_like(ref)
    g_ref = torch.autograd.grad((ref * up).sum(), inputs)
    g_out = torch.autograd.grad((out * up.to(device)).sum(), on_device)
    for a, b in zip(g_out, g_ref):
        torch.testing.assert_close(a.cpu(), b, atol=1e-10, rtol=0)
