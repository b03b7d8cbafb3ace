"""``AddLineDAG.forward_batch`` (chunked structure precompute) equals per-graph ``AddLineDAG``."""
import pytest
import torch
from helpers import HIV_SMILES, molecule, path_graph, random_graph
from torch_geometric.data import Data
from torch_geometric.transforms import Compose

from plstm_geometric import AddLineDAG, LineDAG, LineDAGData
from plstm_geometric.structure import grid_edge_index as grid_graph
from plstm_geometric.train.cache import apply_pre_transform


def assert_same(want: list, got: list) -> None:
    """Same keys, and every tensor equal bitwise with the same dtype and layout."""
    assert len(want) == len(got)
    for a, b in zip(want, got):
        assert type(a) is type(b) and sorted(a.keys()) == sorted(b.keys())
        for key in a.keys():
            x, y = a[key], b[key]
            if isinstance(x, torch.Tensor):
                assert x.dtype == y.dtype and x.stride() == y.stride(), key
                assert torch.equal(x, y), key
            else:
                assert x == y, key


def edge_case_graphs() -> list[Data]:
    gen = torch.Generator().manual_seed(3)
    one_way = torch.tensor([[0, 1, 3], [1, 2, 2]])  # each undirected edge given once
    parallel = torch.tensor([[0, 1, 0, 1, 2], [1, 0, 1, 2, 1]])  # duplicate columns collapse
    graphs = [Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=0),
              Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=1),
              Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=4),
              Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2),
              Data(edge_index=one_way, num_nodes=4), Data(edge_index=parallel, num_nodes=3),
              Data(edge_index=path_graph(7), num_nodes=7),
              Data(edge_index=grid_graph(3, 4), num_nodes=12)]
    # Dense random graphs: D-mode pruning drops many line edges.
    graphs += [Data(edge_index=random_graph(n, 0.4, gen), num_nodes=n) for n in (9, 2, 15, 0, 11)]
    for i, data in enumerate(graphs):
        data.y = torch.tensor([float(i)])
        if i % 3 == 0:  # some graphs carry a node order, the others orient by node index
            data.node_order = torch.randperm(data.num_nodes, generator=gen).int()
    return graphs


@pytest.fixture(scope="module")
def molecules() -> tuple[list[Data], list[LineDAGData]]:
    """The HIV molecules, every other one with its canonical-SMILES order, and their per-graph
    structures."""
    pytest.importorskip("ogb")
    from plstm_geometric.transforms.node_order import CanonicalSmilesOrder

    order = CanonicalSmilesOrder(canonical_chirality=False)
    graphs = [order(molecule(s)) if i % 2 else molecule(s) for i, s in enumerate(HIV_SMILES)]
    return graphs, [AddLineDAG()(d) for d in graphs]


@pytest.mark.parametrize("max_edges", [1, 100, 10**6])
def test_molecules_equal_per_graph(molecules, max_edges):
    graphs, want = molecules
    assert_same(want, AddLineDAG().forward_batch(graphs, max_edges))


@pytest.mark.parametrize("modes,directions", [(("P", "D"), ("forward", "reverse")),
                                              (("D",), ("reverse",))])
@pytest.mark.parametrize("max_edges", [1, 30, 10**6])
def test_edge_cases_equal_per_graph(modes, directions, max_edges):
    graphs = edge_case_graphs()
    transform = AddLineDAG(modes=modes, directions=directions)
    got = transform.forward_batch(graphs, max_edges)
    assert_same([transform(d) for d in graphs], got)
    assert all(not isinstance(d, LineDAGData) for d in graphs)  # inputs untouched


def test_self_loops_and_existing_line_dag_data():
    graphs = [Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 1, 1]]), num_nodes=3),
              AddLineDAG(modes=["P"])(Data(edge_index=path_graph(4), num_nodes=4))]
    transform = AddLineDAG(drop_self_loops=True)
    assert_same([transform(d) for d in graphs], transform.forward_batch(graphs))
    assert not graphs[1].has_line_dag("D")  # a LineDAGData input is copied, not updated


@pytest.mark.parametrize("bad,message", [
    (Data(edge_index=torch.tensor([[0, 1], [1, 1]]), num_nodes=2), "graph 1: .*self-loop"),
    (Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=2), "graph 1: .*node 2"),
    (Data(edge_index=path_graph(3), num_nodes=3, node_order=torch.tensor([0, 1])), "2 entries"),
    (Data(edge_index=path_graph(3), num_nodes=3, node_order=torch.tensor([0, 1, 1])),
     "graph 1: .*tie"),
    (Data(edge_index=path_graph(3).int(), num_nodes=3), "torch.long"),
])
def test_invalid_graph_raises_as_per_graph(bad, message):
    # The bad graph sits between valid ones, so concatenation alone would not expose it.
    graphs = [Data(edge_index=path_graph(3), num_nodes=3), bad,
              Data(edge_index=path_graph(3), num_nodes=3)]
    with pytest.raises(ValueError, match=message):
        AddLineDAG().forward_batch(graphs)


def test_unbatch_gives_local_indices():
    sizes = [3, 0, 4]
    edges = [path_graph(3), torch.empty(2, 0, dtype=torch.long), path_graph(4)]
    start = torch.tensor([0, 3, 3])
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    big = LineDAG.from_graph(torch.cat([e + s for e, s in zip(edges, start)], 1), 7, batch=batch)
    parts = big.unbatch(torch.tensor([e.size(1) for e in edges]))
    for part, e, n in zip(parts, edges, sizes):
        want = LineDAG.from_graph(e, n)
        assert part.num_nodes == n and part.batch is None
        for field in ("dag_edge_index", "line_index", "edge_id", "edge_level"):
            assert torch.equal(getattr(part, field), getattr(want, field)), field
    with pytest.raises(ValueError, match="batch vector"):
        LineDAG.from_graph(path_graph(3), 3).unbatch(torch.tensor([4]))
    with pytest.raises(ValueError, match="only 2 entries"):
        big.unbatch(torch.tensor([4, 0]))


def test_apply_pre_transform_batches_inside_compose():
    class Mark:
        def __call__(self, data):
            data = data.clone()
            data.mark = torch.tensor([data.num_nodes])
            return data

    graphs = edge_case_graphs()
    transform = Compose([Mark(), Compose([AddLineDAG()])])
    assert_same([transform(d) for d in graphs], apply_pre_transform(transform, graphs))
