import networkx as nx
import pytest
import torch
from helpers import path_graph, random_graph

from plstm_geometric.structure import LineDAG
from plstm_geometric.structure import grid_edge_index as grid_graph


def as_nx(edges: torch.Tensor, n: int) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(map(tuple, edges.t().tolist()))
    return g


def is_multitree(line_dag: LineDAG) -> bool:
    """At most one directed path between any two line nodes (path counting by DP)."""
    g = as_nx(line_dag.line_index, line_dag.num_edges)
    for s in g.nodes:
        paths = {s: 1}
        for u in nx.topological_sort(g):
            for w in g.successors(u):
                paths[w] = paths.get(w, 0) + paths.get(u, 0)
        if any(c > 1 for c in paths.values()):
            return False
    return True


@pytest.mark.parametrize("seed", range(8))
def test_structure_matches_networkx(seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 25, (1,), generator=gen))
    ei = random_graph(n, 0.25, gen)
    ld = LineDAG.from_graph(ei, n)
    tail, head = ld.dag_edge_index
    assert bool((tail < head).all())
    assert ld.num_edges == ei.size(1) // 2
    dag = as_nx(ld.dag_edge_index, n)
    line = nx.line_graph(dag)
    ids = {tuple(e): i for i, e in enumerate(ld.dag_edge_index.t().tolist())}
    expected = sorted((ids[a], ids[b]) for a, b in line.edges)
    assert sorted(map(tuple, ld.line_index.t().tolist())) == expected
    lg = as_nx(ld.line_index, ld.num_edges)
    longest = {}
    for u in nx.topological_sort(lg):
        longest[u] = max((longest[p] + 1 for p in lg.predecessors(u)), default=0)
    assert ld.edge_level.tolist() == [longest[e] for e in range(ld.num_edges)]
    assert torch.equal(ei[:, ld.edge_id].sort(0).values, ld.dag_edge_index)


@pytest.mark.parametrize("seed", range(10))
def test_greedy_pruning_gives_multitree(seed):
    gen = torch.Generator().manual_seed(100 + seed)
    n = int(torch.randint(4, 20, (1,), generator=gen))
    ei = random_graph(n, 0.35, gen)
    full = LineDAG.from_graph(ei, n, mode="P")
    pruned = LineDAG.from_graph(ei, n, mode="D")
    assert is_multitree(pruned)
    kept = set(map(tuple, pruned.line_index.t().tolist()))
    assert kept <= set(map(tuple, full.line_index.t().tolist()))
    # every line node with predecessors keeps at least one: its first in (level, row) order
    for e in full.line_index[1].unique().tolist():
        preds = full.line_index[0, full.line_index[1] == e].tolist()
        first = min(preds, key=lambda p: (int(full.edge_level[p]), p))
        assert (first, e) in kept
    # levels are longest paths in the pruned line DAG
    lg = as_nx(pruned.line_index, pruned.num_edges)
    for u in nx.topological_sort(lg):
        assert int(pruned.edge_level[u]) == max(
            (int(pruned.edge_level[p]) + 1 for p in lg.predecessors(u)), default=0)


def test_chirality_drops_left_down_turns_only():
    mx, my = 4, 3
    ei = grid_graph(mx, my)
    full = LineDAG.from_graph(ei, mx * my)
    ld = LineDAG.from_graph(ei, mx * my, mode="D", prune="chirality", grid_shape=(mx, my))
    delta = ld.dag_edge_index[1] - ld.dag_edge_index[0]
    src, dst = ld.line_index
    assert not bool(((delta[src] == my) & (delta[dst] == 1)).any())
    fsrc, fdst = full.line_index
    removed = ((delta[fsrc] == my) & (delta[fdst] == 1)).sum()
    assert full.num_line_edges - ld.num_line_edges == int(removed) > 0
    assert is_multitree(ld)
    with pytest.raises(ValueError, match="grid"):
        LineDAG.from_graph(ei, mx * my, mode="D", prune="chirality", grid_shape=(3, 4))


def test_column_permutation_gives_identical_structure():
    gen = torch.Generator().manual_seed(7)
    ei = random_graph(30, 0.2, gen)
    perm = torch.randperm(ei.size(1), generator=gen)
    for mode in "PD":
        a = LineDAG.from_graph(ei, 30, mode=mode)
        b = LineDAG.from_graph(ei[:, perm], 30, mode=mode)
        assert torch.equal(a.dag_edge_index, b.dag_edge_index)
        assert torch.equal(a.line_index, b.line_index)
        assert torch.equal(a.edge_level, b.edge_level)
        assert torch.equal(ei[:, a.edge_id], ei[:, perm][:, b.edge_id])


def test_node_order_equivariance_of_structure():
    gen = torch.Generator().manual_seed(3)
    n = 15
    ei = random_graph(n, 0.3, gen)
    order = torch.randperm(n, generator=gen)
    perm = torch.randperm(n, generator=gen)  # new index of old node i is perm[i]
    new_order = torch.empty_like(order)
    new_order[perm] = order
    for mode in "PD":
        a = LineDAG.from_graph(ei, n, mode=mode, node_order=order)
        b = LineDAG.from_graph(perm[ei], n, mode=mode, node_order=new_order)
        assert torch.equal(perm[a.dag_edge_index], b.dag_edge_index)
        assert torch.equal(a.line_index, b.line_index)
        assert torch.equal(a.edge_level, b.edge_level)


def test_reverse_flips_edges():
    ei = path_graph(5)
    fwd = LineDAG.from_graph(ei, 5)
    rev = LineDAG.from_graph(ei, 5, reverse=True)
    assert sorted(map(tuple, rev.dag_edge_index.flip(0).t().tolist())) == \
        sorted(map(tuple, fwd.dag_edge_index.t().tolist()))
    assert rev.edge_level.tolist() == [0, 1, 2, 3]


def test_directed_input():
    ei = torch.tensor([[2, 1], [1, 0]])
    ld = LineDAG.from_graph(ei, 3, directed=True)
    assert ld.dag_edge_index.tolist() == [[1, 2], [0, 1]]
    assert ld.line_index.tolist() == [[1], [0]]
    with pytest.raises(ValueError, match="directed cycle"):
        LineDAG.from_graph(torch.tensor([[0, 1, 2], [1, 2, 0]]), 3, directed=True)


@pytest.mark.parametrize("n,ei", [(0, torch.empty(2, 0, dtype=torch.long)),
                                  (1, torch.empty(2, 0, dtype=torch.long)),
                                  (4, torch.empty(2, 0, dtype=torch.long)),
                                  (5, torch.tensor([[0, 1], [1, 0]]))])
def test_degenerate_graphs(n, ei):
    for mode in "PD":
        ld = LineDAG.from_graph(ei, n, mode=mode)
        assert ld.num_nodes == n and ld.num_line_edges == 0
        assert ld.num_edges == ei.size(1) // 2


@pytest.mark.parametrize("kwargs,message", [
    (dict(edge_index=torch.tensor([[0, 1], [1, 1]]), num_nodes=2), "self-loop"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 5]]), num_nodes=3), "node 5"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 0]]).int(), num_nodes=2), "torch.long"),
    (dict(edge_index=torch.tensor([0, 1]), num_nodes=2), "shape"),
    (dict(edge_index=path_graph(3), num_nodes=3, node_order=torch.tensor([0, 1])), "2 entries"),
    (dict(edge_index=path_graph(3), num_nodes=3, node_order=torch.tensor([0, 1, 1])), "tie"),
    (dict(edge_index=path_graph(3), num_nodes=3, mode="X"), "mode"),
    (dict(edge_index=path_graph(3), num_nodes=-1), "num_nodes"),
])
def test_bad_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LineDAG.from_graph(**kwargs)


def test_error_names_the_graph():
    ei = torch.tensor([[0, 1, 3], [1, 0, 3]])
    with pytest.raises(ValueError, match="graph 1, node 3"):
        LineDAG.from_graph(ei, 4, batch=torch.tensor([0, 0, 1, 1]))


def test_drop_self_loops():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 1, 1]])
    ld = LineDAG.from_graph(ei, 3, drop_self_loops=True)
    assert ld.dag_edge_index.tolist() == [[0, 1], [1, 2]]


def test_from_edges_rejects_bad_line_edges():
    dag = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="head to tail"):
        LineDAG.from_edges(dag, torch.tensor([[1], [0]]), 3)


def test_batched_structure_equals_per_graph():
    gen = torch.Generator().manual_seed(11)
    graphs = [random_graph(n, 0.3, gen) for n in (6, 1, 9, 0, 12)]
    sizes = [6, 1, 9, 0, 12]
    offs = torch.tensor([0] + sizes).cumsum(0)
    ei = torch.cat([g + o for g, o in zip(graphs, offs)], 1)
    batch = torch.repeat_interleave(torch.arange(5), torch.tensor(sizes))
    for mode in "PD":
        big = LineDAG.from_graph(ei, sum(sizes), mode=mode, batch=batch)
        parts = [LineDAG.from_graph(g, n, mode=mode) for g, n in zip(graphs, sizes)]
        e_off = torch.tensor([0] + [p.num_edges for p in parts]).cumsum(0)
        assert torch.equal(big.dag_edge_index,
                           torch.cat([p.dag_edge_index + o for p, o in zip(parts, offs)], 1))
        assert sorted(map(tuple, big.line_index.t().tolist())) == sorted(map(tuple, torch.cat(
            [p.line_index + o for p, o in zip(parts, e_off)], 1).t().tolist()))
        assert torch.equal(big.edge_level, torch.cat([p.edge_level for p in parts]))


@pytest.mark.parametrize("seed", range(4))
def test_pruning_a_full_line_dag_equals_building_d_mode(seed):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.cat([random_graph(12, 0.3, gen), random_graph(13, 0.3, gen) + 12], 1)
    batch = (torch.arange(25) >= 12).long()
    for reverse in (False, True):
        full = LineDAG.from_graph(ei, 25, reverse=reverse, batch=batch)
        built = LineDAG.from_graph(ei, 25, mode="D", reverse=reverse, batch=batch)
        pruned = full.pruned("greedy")
        assert (pruned.mode, pruned.reverse) == ("D", reverse)
        for name in ("dag_edge_index", "line_index", "edge_id", "edge_level"):
            assert torch.equal(getattr(pruned, name), getattr(built, name)), name
    grid = LineDAG.from_graph(grid_graph(4, 5), 20)
    chiral = LineDAG.from_graph(grid_graph(4, 5), 20, mode="D", prune="chirality",
                                grid_shape=(4, 5))
    assert torch.equal(grid.pruned("chirality", grid_shape=(4, 5)).line_index, chiral.line_index)
    with pytest.raises(ValueError, match="grid_shape"):
        grid.pruned("chirality")
    with pytest.raises(ValueError, match="rule"):
        grid.pruned(None)


def test_grid_edge_index_numbering():
    from plstm_geometric.structure import grid_edge_index

    # 2 x 3 grid, node x*3 + y: right edges (x -> x+1), then down edges (y -> y+1), then reversed.
    right, down = [[0, 1, 2], [3, 4, 5]], [[0, 1, 3, 4], [1, 2, 4, 5]]
    expected = torch.tensor([right[0] + down[0], right[1] + down[1]])
    assert torch.equal(grid_edge_index(2, 3), torch.cat([expected, expected.flip(0)], 1))
