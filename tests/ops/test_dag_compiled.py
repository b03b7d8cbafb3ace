"""The compiled form (``ops/dag/compiled.py``): its build, its fallback and the cases only it has
(node orders that are not the index order, DAG edges with a cycle, threads, float32).
Its equality with the oracle on random graphs runs with the other forms in ``test_dag.py``."""
import pytest
import torch
from helpers import kernel_inputs, needs_compiled, random_graph
from test_dag import assert_equals_reference

from plstm_geometric.ops import plstm_dag, plstm_dag_reference
from plstm_geometric.ops.dag import FORMS, compiled
from plstm_geometric.structure import LineDAG


def batch_case(seed=0, mode="P", directed=False, reverse_ids=False):
    gen = torch.Generator().manual_seed(seed)
    sizes = [9, 1, 0, 14, 6]
    graphs = [random_graph(n, 0.35, gen) for n in sizes]
    offs = torch.tensor([0] + sizes).cumsum(0)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    ei = torch.cat([g + o for g, o in zip(graphs, offs)], 1)
    if reverse_ids:  # orient every edge from the higher to the lower index
        ei = torch.stack([ei.max(0).values, ei.min(0).values])
    ld = LineDAG.from_graph(ei, sum(sizes), mode=mode, directed=directed, batch=batch)
    return ld, kernel_inputs(sum(sizes), ld.num_edges, ld.num_line_edges, seed=seed)


def spy(monkeypatch, name):
    calls = []
    real = FORMS[name]
    monkeypatch.setitem(FORMS, name, lambda *a: calls.append(name) or real(*a))
    return calls


@needs_compiled
def test_auto_takes_the_compiled_form_on_cpu(monkeypatch):
    ld, inputs = batch_case()
    calls = spy(monkeypatch, "compiled")
    torch.testing.assert_close(plstm_dag(*inputs, ld), plstm_dag_reference(*inputs, ld),
                               atol=1e-12, rtol=0)
    assert calls == ["compiled"]


@needs_compiled
@pytest.mark.parametrize("mode", ["P", "D"])
def test_directed_edges_against_the_index_order(mode):
    """Edges from higher to lower index: node ranks come from the DAG's levels, not the ids."""
    ld, inputs = batch_case(seed=3, mode=mode, directed=True, reverse_ids=True)
    assert not bool((ld.dag_edge_index[0] < ld.dag_edge_index[1]).all())
    assert_equals_reference(ld, inputs, "compiled")


@needs_compiled
def test_dag_edges_with_a_cycle_fall_back_to_dense(monkeypatch):
    """``from_edges`` allows a node cycle (0 → 1 → 0) under an acyclic line DAG."""
    ld = LineDAG.from_edges(torch.tensor([[0, 1, 1], [1, 0, 2]]), torch.tensor([[0, 0], [1, 2]]), 3)
    inputs = kernel_inputs(3, ld.num_edges, ld.num_line_edges)
    with pytest.raises(ValueError, match="form='compiled' is unavailable: the DAG edges have a "
                                         "directed cycle"):
        plstm_dag(*inputs, ld, form="compiled")
    calls = spy(monkeypatch, "dense")
    torch.testing.assert_close(plstm_dag(*inputs, ld), plstm_dag_reference(*inputs, ld),
                               atol=1e-12, rtol=0)
    assert calls == ["dense"]


def test_without_a_compiler_auto_uses_the_torch_dense_form(monkeypatch):
    assert compiled.load_library(compiler="no-such-c++-compiler") == (
        None, "no C++ compiler found ($CXX or c++)")
    ld, inputs = batch_case()
    monkeypatch.delenv("PLSTM_COMPILED", raising=False)
    monkeypatch.setattr(compiled, "_LIBRARY", (None, "no C++ compiler found ($CXX or c++)"))
    calls = spy(monkeypatch, "dense")
    torch.testing.assert_close(plstm_dag(*inputs, ld), plstm_dag_reference(*inputs, ld),
                               atol=1e-12, rtol=0)
    assert calls == ["dense"]
    with pytest.raises(ValueError, match=r"unavailable: no C\+\+ compiler found"):
        plstm_dag(*inputs, ld, form="compiled")


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("PLSTM_COMPILED", "0")
    ld, inputs = batch_case()
    calls = spy(monkeypatch, "dense")
    plstm_dag(*inputs, ld)
    assert calls == ["dense"]
    assert compiled.library() == (None, "disabled by PLSTM_COMPILED=0")


@needs_compiled
def test_build_caches_and_reports_compiler_errors(tmp_path):
    lib, why = compiled.load_library(directory=tmp_path)
    assert lib is not None and why == ""
    built = list(tmp_path.glob("plstm_dense_*.so"))
    assert len(built) == 1 and not [p for p in tmp_path.iterdir() if p.is_dir()]
    stamp = built[0].stat().st_mtime_ns
    assert compiled.load_library(directory=tmp_path)[0] is not None
    assert built[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    lib, why = compiled.load_library(compiler="false", directory=tmp_path / "failing")
    assert lib is None and why.startswith(f"{compiled.shutil.which('false')} failed")


@needs_compiled
def test_threads_and_float32_match():
    ld, inputs = batch_case(seed=5, mode="D")
    inputs = [t.requires_grad_() for t in inputs]
    one = plstm_dag(*inputs, ld, form="compiled")
    grads_one = torch.autograd.grad(one.square().sum(), inputs)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        two = plstm_dag(*inputs, ld, form="compiled")
        grads_two = torch.autograd.grad(two.square().sum(), inputs)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(two, one, atol=0, rtol=0)
    for a, b in zip(grads_two, grads_one):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    single = [t.detach().float().requires_grad_() for t in inputs]
    out = plstm_dag(*single, ld, form="compiled")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), one, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(out.square().sum(), single), grads_one):
        torch.testing.assert_close(a.double(), b, atol=1e-4, rtol=1e-4)


@needs_compiled
@pytest.mark.parametrize("k,v", [(16, 16), (32, 32), (64, 64), (32, 16)])
def test_head_sizes_with_compiled_loops(k, v):
    """K = V in {16, 32, 64} run loops sized at compile time, others the generic ones (the
    random cases of test_dag.py: K = 3, V = 4)."""
    ld, _ = batch_case(seed=7, mode="D")
    inputs = kernel_inputs(ld.num_nodes, ld.num_edges, ld.num_line_edges, k=k, v=v, seed=7)
    assert_equals_reference(ld, inputs, "compiled")


@needs_compiled
def test_shared_qkv_rows_over_threads():
    """The grid graph form shares an image's q, k, v rows between its orientations' graphs
    (added-to gradients, one thread per group of graphs): 3 threads give the 1-thread result."""
    from grid_helpers import random_2d

    from plstm_geometric.ops.grid import plstm_2d_orientations

    q, k, v, *gates = random_2d(5, 4, 3, 2, 3, 2, seed=11, requires_grad=True)
    gates = [g.detach()[:, None].expand(5, 4, 4, 3, 2).contiguous().requires_grad_()
             for g in gates]
    inputs = [q, k, v, *gates]
    flips = [(False, False), (True, False), (False, True), (True, True)]
    runs = []
    threads = torch.get_num_threads()
    for count in (1, 3):
        torch.set_num_threads(count)
        try:
            out = plstm_2d_orientations(*inputs[:3], *inputs[3:], flips=flips, form="graph")
            runs.append([out, *torch.autograd.grad(out.square().sum(), inputs)])
        finally:
            torch.set_num_threads(threads)
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    dense = plstm_2d_orientations(*inputs[:3], *inputs[3:], flips=flips, form="dense")
    torch.testing.assert_close(runs[0][0], dense, atol=1e-12, rtol=0)
