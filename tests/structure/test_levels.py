"""Levels by pointer jumping + anchor sweep, and the pruning fast path, against plain Kahn."""
import networkx as nx
import pytest
import torch
from helpers import path_graph, random_graph

from plstm_geometric.structure import LineDAG, greedy_multitree, topological_levels
from plstm_geometric.structure.levels import longest_paths


def random_dag(kind: str, n: int, gen: torch.Generator) -> torch.Tensor:
    """Directed edges u → v of a random DAG on a random node numbering."""
    label = torch.randperm(n, generator=gen)
    if kind == "out-tree":  # every node but the root has one parent: one anchor in all
        child = torch.arange(1, n)
        parent = (torch.rand(n - 1, generator=gen) * child).long()
        edges = torch.stack([parent, child])
    elif kind == "in-tree":  # the reverse: many sources merging into one sink
        child = torch.arange(1, n)
        parent = (torch.rand(n - 1, generator=gen) * child).long()
        edges = torch.stack([child, parent])
    elif kind == "chains+shortcuts":  # long chains with a few merges
        a = torch.arange(n - 1)
        extra = torch.randint(0, n - 2, (n // 10,), generator=gen)
        jump = extra + 1 + (torch.rand(extra.numel(), generator=gen) * (n - 1 - extra)).long()
        edges = torch.cat([torch.stack([a, a + 1]), torch.stack([extra, jump.clamp(max=n - 1)])], 1)
    else:  # Erdős–Rényi, oriented by index
        ei = random_graph(n, 0.2, gen)
        edges = ei[:, ei[0] < ei[1]]
    return label[edges]


def nx_levels(edges: torch.Tensor, n: int) -> list[int]:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(map(tuple, edges.t().tolist()))
    level = {}
    for u in nx.topological_sort(g):
        level[u] = max((level[p] + 1 for p in g.predecessors(u)), default=0)
    return [level[u] for u in range(n)]


@pytest.mark.parametrize("kind", ["out-tree", "in-tree", "chains+shortcuts", "er"])
@pytest.mark.parametrize("seed", range(4))
def test_levels_equal_longest_paths(kind, seed):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(3, 60, (1,), generator=gen))
    edges = random_dag(kind, n, gen)
    expected = nx_levels(edges, n)
    assert topological_levels(edges, n).tolist() == expected
    # the plain frontier sweep (every node an anchor, unit weights) agrees
    assert longest_paths(edges[0], edges[1], torch.ones_like(edges[0]), n)[0].tolist() == expected


@pytest.mark.parametrize("edges,stuck", [
    ([[0, 1, 2, 3], [1, 2, 0, 4]], 0),      # a ring of single-predecessor nodes, with a tail
    ([[0, 1, 2, 4, 3], [1, 2, 3, 2, 1]], 1),  # a cycle through merge nodes (in-degree 2)
])
def test_cycles_still_raise_naming_the_same_node(edges, stuck):
    edges = torch.tensor(edges)
    n = int(edges.max()) + 1
    left = longest_paths(edges[0], edges[1], torch.ones_like(edges[0]), n)[1]
    assert int((left > 0).nonzero()[0]) == stuck
    with pytest.raises(ValueError, match=f"node {stuck} lies on or after a cycle"):
        topological_levels(edges, n)


def test_long_path_levels_and_no_pruning():
    n = 3000
    for mode in "PD":
        ld = LineDAG.from_graph(path_graph(n), n, mode=mode)
        assert ld.edge_level.tolist() == list(range(n - 1))
        assert ld.num_line_edges == n - 2


def test_pruning_skips_only_graphs_without_merges():
    """A batch of a path, a tree and ring graphs prunes each graph as it would alone."""
    gen = torch.Generator().manual_seed(3)
    tree = torch.stack([torch.arange(1, 15), torch.arange(0, 14) // 2])
    graphs = [path_graph(30), torch.cat([tree, tree.flip(0)], 1), random_graph(12, 0.4, gen),
              random_graph(9, 0.5, gen)]
    sizes = [30, 15, 12, 9]
    offs = torch.tensor([0] + sizes).cumsum(0)
    batch = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    full = LineDAG.from_graph(torch.cat([g + o for g, o in zip(graphs, offs)], 1), sum(sizes),
                              mode="P", batch=batch)
    keep = greedy_multitree(full.line_index, full.edge_level, batch[full.tail])
    owner = batch[full.tail[full.line_index[1]]]
    assert bool(keep[owner < 2].all())  # path and tree: every line node has one predecessor
    for g in (2, 3):
        alone = LineDAG.from_graph(graphs[g], sizes[g], mode="P")
        mask = greedy_multitree(alone.line_index, alone.edge_level,
                                torch.zeros(alone.num_edges, dtype=torch.long))
        assert not bool(mask.all())  # the case exercises real pruning
        assert keep[owner == g].tolist() == mask.tolist()
