"""One structure spec: normalisation, the structure a layer accepts, the transform's cache key,
and the data class's stored specs."""
import copy

import pytest
import torch
from grid_helpers import local_line_dag
from helpers import path_graph, random_graph
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from plstm_geometric import AddLineDAG, LineDAG, LineDAGData, PLSTMBlock, PLSTMConv
from plstm_geometric.structure import grid_edge_index as grid_graph
from plstm_geometric.train.cache import transform_key


def spec_type():
    from plstm_geometric.structure.spec import LineDAGSpec

    return LineDAGSpec


def edge_set(dag_edge_index, line_index):
    return {(tuple(dag_edge_index[:, a].tolist()), tuple(dag_edge_index[:, b].tolist()))
            for a, b in line_index.t().tolist()}


def test_spec_normalises_and_validates():
    Spec = spec_type()
    assert Spec("P").prune is None and Spec("D").prune == "greedy"
    assert Spec("D", prune=None).prune is None
    assert Spec("D", prune="chirality", grid_shape=[4, 5]).grid_shape == (4, 5)
    assert Spec("D", True) == Spec(mode="D", reverse=True, prune="greedy")
    # Flags and shapes are stored canonically, so equal options give equal specs and reprs.
    assert Spec("P", 1) == Spec("P", True) and repr(Spec("P", 1)) == repr(Spec("P", True))
    assert Spec("D", prune="chirality", grid_shape=(torch.tensor(4), 5)).grid_shape == (4, 5)
    for bad in [(4,), (0, 5), (4.5, 5), "45"]:
        with pytest.raises(ValueError, match="grid_shape must be two positive ints"):
            Spec("D", prune="chirality", grid_shape=bad)
    with pytest.raises(ValueError, match="reverse must be a bool"):
        Spec("P", "yes")
    assert Spec("P").unpruned == Spec("D", prune="chirality", grid_shape=(2, 2)).unpruned
    assert Spec("P", reverse=True).unpruned != Spec("P").unpruned
    with pytest.raises(ValueError, match="mode"):
        Spec("Q")
    with pytest.raises(ValueError, match="prune"):
        Spec("D", prune="tree")
    with pytest.raises(ValueError, match="grid_shape"):
        Spec("D", prune="chirality")
    with pytest.raises(ValueError, match="only used by prune='chirality'"):
        Spec("D", grid_shape=(3, 3))
    with pytest.raises(ValueError, match="not both"):
        LineDAG.from_graph(path_graph(3), 3, Spec("P"), mode="D")
    with pytest.raises(Exception):
        Spec("P").mode = "D"  # frozen: a spec is a value


def test_structures_carry_their_spec():
    Spec = spec_type()
    ei = grid_graph(3, 3)
    full = LineDAG.from_graph(ei, 9, reverse=True)
    assert full.spec == Spec("P", True)
    assert full.pruned().spec == Spec("D", True)
    chiral = LineDAG.from_graph(ei, 9, mode="D", prune="chirality", grid_shape=(3, 3))
    assert chiral.spec == Spec("D", prune="chirality", grid_shape=(3, 3))
    assert LineDAG.from_graph(ei, 9, Spec("D", drop_self_loops=True)).spec.drop_self_loops
    assert LineDAG.from_edges(full.dag_edge_index, full.line_index, 9).spec is None
    parts = LineDAG.from_graph(ei, 9, mode="D", batch=torch.zeros(9, dtype=torch.long)).unbatch(
        torch.tensor([ei.size(1)]))
    assert parts[0].spec == Spec("D")
    with pytest.raises(ValueError, match="orients the graph differently"):
        full.derive(Spec("D"))


def test_layer_refuses_a_structure_built_with_another_prune_rule():
    # Finding: resolve_line_dag compared only mode and direction, so a layer built with
    # prune=None silently ran on a greedily pruned structure (a 3x3 grid loses line edges).
    ei = grid_graph(3, 3)
    pruned = LineDAG.from_graph(ei, 9, mode="D")
    assert pruned.num_line_edges < LineDAG.from_graph(ei, 9).num_line_edges
    conv = PLSTMConv(4, 4, mode="D", prune=None)
    x = torch.randn(9, 4)
    with pytest.raises(ValueError, match=r"prune=None.*prune='greedy'"):
        conv(x, ei, line_dag=pruned)
    with pytest.raises(ValueError, match="drop_self_loops=True"):
        PLSTMConv(4, 4)(x, ei, line_dag=LineDAG.from_graph(ei, 9, drop_self_loops=True))
    # The same options are accepted, and explicit edges (no spec) are the caller's choice.
    PLSTMConv(4, 4, mode="D")(x, ei, line_dag=pruned)
    PLSTMConv(4, 4, mode="D", prune=None)(
        x, ei, line_dag=LineDAG.from_edges(pruned.dag_edge_index, pruned.line_index, 9))


def test_layer_refuses_stored_structures_of_another_spec():
    # Finding: data from AddLineDAG stores the greedy D structure; a prune=None D layer took it.
    data = AddLineDAG()(Data(x=torch.randn(9, 4), edge_index=grid_graph(3, 3)))
    conv = PLSTMConv(4, 4, mode="D", prune=None)
    with pytest.raises(ValueError, match=r"no line DAG for .*prune=None.*holds .*prune='greedy'"):
        conv(data.x, data.edge_index, line_dag=data)
    batch = Batch.from_data_list([data, data])
    with pytest.raises(ValueError, match="prune=None"):
        conv(batch.x, batch.edge_index, batch=batch.batch, line_dag=batch)


def test_chirality_layer_runs_and_follows_the_grid_d_rule():
    # Finding: PLSTMConv(prune="chirality") could never run, no grid_shape reached from_graph.
    X, Y = 4, 5
    ei, n = grid_graph(X, Y), X * Y
    conv = PLSTMConv(6, 8, heads=2, mode="D", prune="chirality", grid_shape=(X, Y))
    with torch.no_grad():
        for p in conv.parameters():
            p.add_(torch.randn(p.shape) * 0.3)
    x = torch.randn(n, 6)
    out = conv(x, ei)
    assert out.shape == (n, 8) and torch.isfinite(out).all()
    # The structure it builds is the grid D rule (SPEC §5: no left -> down turn), built
    # independently, and the layer computes the same on that independent structure.
    dag, line = local_line_dag(ei, n, chirality_y=Y)
    built = LineDAG.from_graph(ei, n, conv.spec)
    assert edge_set(built.dag_edge_index, built.line_index) == edge_set(dag, line)
    torch.testing.assert_close(out, conv(x, ei, line_dag=LineDAG.from_edges(dag, line, n)),
                               atol=1e-6, rtol=0)
    assert "prune='chirality', grid_shape=(4, 5)" in repr(conv)
    block = PLSTMBlock(8, heads=2, prune="chirality", grid_shape=(X, Y))
    assert block(torch.randn(n, 8), ei).shape == (n, 8)


def test_add_line_dag_cache_key_names_drop_self_loops():
    # Finding: the repr (= processed-cache key) omitted drop_self_loops: two configurations
    # shared one processed cache.
    assert transform_key(AddLineDAG()) != transform_key(AddLineDAG(drop_self_loops=True))
    assert "drop_self_loops=True" in repr(AddLineDAG(drop_self_loops=True))


def test_add_line_dag_repr_is_a_distinct_cache_key_per_configuration():
    Spec = spec_type()
    configs = [AddLineDAG(), AddLineDAG(drop_self_loops=True), AddLineDAG(node_order_attr=None),
               AddLineDAG(modes=["P"]), AddLineDAG(directions=["reverse", "forward"]),
               AddLineDAG(specs=[Spec("P"), Spec("D", prune=None)]),
               AddLineDAG(specs=[Spec("P"), Spec("D", directed=True)]),
               AddLineDAG(specs=[Spec("D", prune="chirality", grid_shape=(4, 5))]),
               AddLineDAG(specs=[Spec("D", prune="chirality", grid_shape=(5, 4))])]
    keys = [transform_key(t) for t in configs]
    assert len(set(keys)) == len(keys)
    assert transform_key(AddLineDAG()) == transform_key(AddLineDAG())
    text = repr(AddLineDAG(drop_self_loops=True))
    assert "drop_self_loops=True" in text and "node_order_attr='node_order'" in text
    assert AddLineDAG().specs == (Spec("P"), Spec("D"), Spec("P", True), Spec("D", True))
    with pytest.raises(ValueError, match="not both"):
        AddLineDAG(modes=["P"], specs=[Spec("P")])
    with pytest.raises(ValueError, match="duplicates"):
        AddLineDAG(specs=[Spec("D"), Spec("D", prune="greedy")])


@pytest.mark.parametrize("seed", range(3))
def test_transform_stores_every_spec_and_batches_it(seed):
    Spec = spec_type()
    specs = [Spec("P"), Spec("D", prune=None), Spec("D", True, drop_self_loops=True),
             Spec("P", drop_self_loops=True), Spec("D", prune="chirality", grid_shape=(3, 4)),
             Spec("D", True, prune="chirality", grid_shape=(3, 4))]
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(3):
        ei = grid_graph(3, 4)
        keep = torch.rand(ei.size(1), generator=gen) < 0.8
        graphs.append(Data(edge_index=ei[:, keep], num_nodes=12,
                           node_order=torch.randperm(12, generator=gen)))
    transform = AddLineDAG(specs=specs)
    one_by_one = [transform(g) for g in graphs]
    batched = transform.forward_batch(graphs, max_edges=40)
    for a, b in zip(one_by_one, batched):
        assert set(a.line_dag_specs()) == set(b.line_dag_specs()) == set(specs)
        assert a.keys() == b.keys()
        for key in a.keys():
            assert torch.equal(a[key], b[key]) if torch.is_tensor(a[key]) else a[key] == b[key]
    batch = next(iter(DataLoader(one_by_one, batch_size=3)))
    for spec in specs:
        got = batch.line_dag(spec)
        want = LineDAG.from_graph(batch.edge_index, 36, spec, node_order=batch.node_order,
                                  batch=batch.batch)
        assert got.spec == spec
        for name in ("dag_edge_index", "line_index", "edge_id", "edge_level"):
            assert torch.equal(getattr(got, name), getattr(want, name)), (spec, name)
    with pytest.raises(ValueError, match=r"no line DAG for LineDAGSpec\(mode='D', reverse=True, "
                                         r"prune='greedy'"):
        batch.line_dag("D", True)


def test_crossing_batch_raises():
    # Finding: a batch putting the two ends of an edge into different graphs gave finite wrong
    # numbers from the dense form. The edge list of two paths, with node 2 moved to graph 1.
    ei = torch.cat([path_graph(3), path_graph(3) + 3], 1)
    batch = torch.tensor([0, 0, 1, 1, 1, 1])
    conv = PLSTMConv(4, 4, edge_dim=2)
    with pytest.raises(ValueError, match=r"column 1 joins node 1 of graph 0 and node 2 of graph 1"):
        conv(torch.randn(6, 4), ei, torch.randn(ei.size(1), 2), batch=batch)
    with pytest.raises(ValueError, match="graph 0 and .* graph 1"):
        LineDAG.from_edges(torch.tensor([[1], [2]]), torch.empty(2, 0, dtype=torch.long), 6,
                           batch=batch)


@pytest.mark.parametrize("mode", ["P", "D"])
@pytest.mark.parametrize("num_nodes", [0, 5])
def test_no_edges_or_no_nodes(mode, num_nodes):
    # Finding: 0 nodes / 0 edges raised "cannot reshape tensor of 0 elements".
    ei = torch.empty(2, 0, dtype=torch.long)
    conv = PLSTMConv(4, 8, heads=2, mode=mode, edge_dim=3)
    x = torch.randn(num_nodes, 4)
    out = conv(x, ei, torch.randn(0, 3))
    assert out.shape == (num_nodes, 8)
    # Without edges only the direct term D_n (q_n . k_n) v_n is left.
    q, k, v, _, _, _, direct = conv.kernel_inputs(x, LineDAG.from_graph(ei, num_nodes),
                                                  torch.randn(0, 3))
    y = direct[..., None] * (q * k).sum(-1, keepdim=True) * v
    torch.testing.assert_close(out, conv.out(conv.norm(y).reshape(num_nodes, 8)))
    block = PLSTMBlock(8, heads=2, edge_dim=3)
    assert block(torch.randn(num_nodes, 8), ei, torch.randn(0, 3)).shape == (num_nodes, 8)
    assert PLSTMConv(4, 8)(x, ei, batch=torch.zeros(num_nodes, dtype=torch.long)).shape == \
        (num_nodes, 8)


def test_edge_attr_with_the_wrong_number_of_rows():
    # Finding: a bare IndexError (too few rows), or silently unused rows (too many).
    conv = PLSTMConv(4, 4, edge_dim=2)
    x, ei = torch.randn(3, 4), path_graph(3)
    for rows in (3, 5):
        with pytest.raises(ValueError, match=f"edge_attr has {rows} rows but edge_index has 4 "
                                             "columns"):
            conv(x, ei, torch.randn(rows, 2))
    with pytest.raises(ValueError, match=r"shape \[4, 3\], but the layer has edge_dim=2"):
        conv(x, ei, torch.randn(4, 3))


def structure_tensors(line_dag):
    return [line_dag.dag_edge_index, line_dag.line_index, line_dag.edge_id, line_dag.edge_level]


def test_line_dag_cache_follows_moves_copies_and_replacements():
    # Finding: LineDAGData.line_dag() cached LineDAG views in __dict__; Data.to() moved the
    # stored tensors but not the cache (copy.copy shared it), so layers got stale structures.
    data = AddLineDAG()(Data(x=torch.randn(9, 4), edge_index=grid_graph(3, 3)))
    first = data.line_dag("D")
    assert data.line_dag("D") is first  # cached while nothing changed

    def holds_data_tensors(d, mode="D"):
        view = d.line_dag(mode)
        prefix = f"{mode.lower()}_fwd"
        return all(a is d[f"{prefix}_{f}"] for a, f in zip(
            structure_tensors(view), ("dag_edge_index", "line_index", "edge_id", "edge_level")))

    device = "cuda" if torch.cuda.is_available() else "meta"
    moved = copy.copy(data).to(device)  # Data.to moves a (shallow) copy in place
    assert moved.line_dag("D").line_index.device.type == device
    assert holds_data_tensors(moved)
    assert data.line_dag("D") is first and data.line_dag("D").line_index.device.type == "cpu"

    applied = copy.copy(data)
    applied.apply(lambda t: t.clone())
    assert holds_data_tensors(applied) and applied.line_dag("D") is not first

    cloned = data.clone()
    assert holds_data_tensors(cloned) and cloned.line_dag("D") is not first

    data.d_fwd_line_index = data.d_fwd_line_index[:, :1].clone()  # attribute replaced
    assert data.line_dag("D").num_line_edges == 1 and holds_data_tensors(data)

    view = data.line_dag("P")
    view.cache["derived"] = 1
    data.p_fwd_edge_level.add_(0)  # an in-place edit bumps the version: derived data is stale
    assert "derived" not in data.line_dag("P").cache and holds_data_tensors(data, "P")


def test_line_dag_cache_with_inference_tensors():
    # Inference tensors have no version counter; structures built under inference_mode work.
    with torch.inference_mode():
        data = AddLineDAG()(Data(x=torch.randn(9, 4), edge_index=grid_graph(3, 3)))
        out = PLSTMConv(4, 4, mode="D")(data.x, data.edge_index, line_dag=data)
    assert out.shape == (9, 4) and data.line_dag("D") is data.line_dag("D")


def test_line_dag_data_saves_without_its_cache(tmp_path):
    from plstm_geometric.datasets.ogb import register_safe_globals

    register_safe_globals()  # PyG's storage classes; LineDAG views must not be needed
    data = AddLineDAG()(Data(x=torch.randn(9, 4), edge_index=grid_graph(3, 3)))
    data.line_dag("P")
    torch.save(data, tmp_path / "d.pt")
    back = torch.load(tmp_path / "d.pt", weights_only=True)
    assert isinstance(back, LineDAGData) and "_line_dags" not in back.__dict__
    assert torch.equal(back.line_dag("P").line_index, data.line_dag("P").line_index)


def test_random_graph_batch_uses_stored_structures_per_graph():
    # The layer finds its spec's structure in batched data and matches the on-the-fly build.
    gen = torch.Generator().manual_seed(3)
    graphs = [Data(x=torch.randn(n, 4), edge_index=random_graph(n, 0.4, gen)) for n in (5, 7, 6)]
    batch = Batch.from_data_list(AddLineDAG().forward_batch(graphs))
    for mode in "PD":
        conv = PLSTMConv(4, 4, mode=mode, reverse=True)
        torch.testing.assert_close(conv(batch.x, batch.edge_index, batch=batch.batch,
                                        line_dag=batch),
                                   conv(batch.x, batch.edge_index, batch=batch.batch))


def test_only_spec_named_attributes_batch_as_structures():
    # A user attribute that merely ends like a structure field batches as PyG would batch it
    # (before, any "*_edge_id" was shifted by the edge count like a stored structure's ids).
    graphs = [AddLineDAG(modes=["P"], directions=["forward"])(
        Data(edge_index=path_graph(3), num_nodes=3, my_edge_id=torch.tensor([1]))) for _ in "ab"]
    batch = Batch.from_data_list(graphs)
    assert batch.my_edge_id.tolist() == [1, 1]
    assert batch.p_fwd_edge_id.tolist() == [0, 1, 4, 5]  # the structure's ids are shifted


def test_only_a_full_structure_can_be_pruned():
    ei = grid_graph(3, 3)
    with pytest.raises(ValueError, match="only a full line DAG"):
        LineDAG.from_graph(ei, 9, mode="D").pruned()
    full = LineDAG.from_graph(ei, 9)
    with pytest.raises(ValueError, match="only a full line DAG"):
        LineDAG.from_edges(full.dag_edge_index, full.line_index, 9).pruned()
