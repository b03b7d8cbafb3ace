"""Property-based tests: random batches of graphs with multi-edges, both or one direction per
edge, isolated nodes, empty graphs, unsorted ``batch`` vectors and random node orders.

Structure invariants are checked against brute-force definitions (SPEC §1, §3), and the kernel
forms against the sequential oracle, batched against graph by graph (float64).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from helpers import kernel_inputs, library
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import Tensor

from plstm_geometric import LineDAG, LineDAGSpec, plstm_dag, plstm_dag_reference

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
SPECS = [LineDAGSpec("P"), LineDAGSpec("P", True), LineDAGSpec("D"), LineDAGSpec("D", True)]


@dataclass
class Batch:
    edge_index: Tensor  # [2, M], columns in random order
    num_nodes: int
    batch: Tensor  # [N] graph per node, unsorted
    node_order: Optional[Tensor]  # [N] rank, distinct within a graph
    graphs: list[tuple[Tensor, int, Optional[Tensor]]]  # per graph: edge_index, nodes, order
    nodes: list[Tensor]  # batch node ids of every graph, in the graph's local numbering


@st.composite
def batches(draw, max_graphs: int = 3, max_nodes: int = 8) -> Batch:
    """Graphs whose nodes are interleaved in the batch (an unsorted ``batch`` vector).

    Hypothesis draws the shape of the case (graphs, density, whether a node order is given) and
    a seed for the rest: drawing every edge with hypothesis made almost only tiny graphs, which
    hide the diamonds that D-mode pruning must break.
    """
    num_graphs = draw(st.integers(1, max_graphs))
    density = draw(st.sampled_from([0.15, 0.4, 0.7, 1.0]))
    with_order = draw(st.booleans())
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    sizes = torch.randint(0, max_nodes + 1, (num_graphs,), generator=gen).tolist()
    total = sum(sizes)
    placement = torch.randperm(total, generator=gen)  # batch node id of each (graph, local) node
    graphs, nodes, start = [], [], 0
    for n in sizes:
        u, v = torch.triu_indices(n, n, offset=1)
        keep = torch.rand(u.numel(), generator=gen) < density
        u, v = u[keep], v[keep]
        # How an edge is given: u -> v, v -> u, both, or u -> v twice and v -> u (multi-edges).
        form = torch.randint(0, 4, (u.numel(),), generator=gen)
        ei = torch.cat([torch.stack([u, v])[:, form != 1], torch.stack([v, u])[:, form >= 1],
                        torch.stack([u, v])[:, form == 3]], 1)
        order = torch.randperm(n, generator=gen) * 3 + 7 if with_order else None
        graphs.append((ei, n, order))
        nodes.append(placement[start:start + n])
        start += n
    batch = torch.empty(total, dtype=torch.long)
    order = torch.empty(total, dtype=torch.long) if with_order else None
    columns = []
    for g, ((ei, n, o), ids) in enumerate(zip(graphs, nodes)):
        batch[ids] = g
        if with_order:
            order[ids] = o
        columns.append(ids[ei])
    edge_index = torch.cat(columns, 1)
    edge_index = edge_index[:, torch.randperm(edge_index.size(1), generator=gen)]
    return Batch(edge_index, total, batch, order, graphs, nodes)


def rank(data: Batch, spec: LineDAGSpec) -> Tensor:
    r = data.node_order if data.node_order is not None else torch.arange(data.num_nodes)
    return -r if spec.reverse else r


def build(data: Batch, spec: LineDAGSpec) -> LineDAG:
    return LineDAG.from_graph(data.edge_index, data.num_nodes, spec, node_order=data.node_order,
                              batch=data.batch)


def head_to_tail_pairs(dag_edge_index: Tensor) -> set[tuple[int, int]]:
    tail, head = dag_edge_index.tolist()
    return {(a, b) for a in range(len(tail)) for b in range(len(tail)) if head[a] == tail[b]}


def path_counts(line_index: Tensor, num_edges: int) -> Tensor:
    """Number of directed paths (length >= 1) between line nodes, clamped at 2."""
    adj = torch.zeros(num_edges, num_edges, dtype=torch.long)
    adj[line_index[0], line_index[1]] = 1
    step, total = adj.clone(), adj.clone()
    for _ in range(num_edges):
        step = (step @ adj).clamp(max=2)
        total = (total + step).clamp(max=2)
    return total


@SETTINGS
@given(batches())
def test_structure_invariants(data: Batch):
    for spec in SPECS:
        ld = build(data, spec)
        tail, head = ld.dag_edge_index
        r, E = rank(data, spec), ld.num_edges
        # DAG: every edge points up in rank, within one graph, once per node pair.
        assert bool((r[tail] < r[head]).all())
        assert bool((data.batch[tail] == data.batch[head]).all())
        pairs = {tuple(sorted(p)) for p in data.edge_index.t().tolist()}
        assert {tuple(sorted(p)) for p in ld.dag_edge_index.t().tolist()} == pairs
        assert E == len(pairs)
        # Edge ids: distinct valid columns that join the DAG edge's two nodes.
        assert ld.edge_id.unique().numel() == E
        if E:
            assert 0 <= int(ld.edge_id.min()) and int(ld.edge_id.max()) < data.edge_index.size(1)
            cols = data.edge_index[:, ld.edge_id].sort(0).values
            assert torch.equal(cols, ld.dag_edge_index.sort(0).values)
        if data.edge_index.size(1) == E:  # every edge given once: the ids permute the columns
            assert torch.equal(ld.edge_id.sort().values, torch.arange(E))
        # Line DAG: P is every head-to-tail pair; D a subset of it.
        line = set(map(tuple, ld.line_index.t().tolist()))
        assert len(line) == ld.num_line_edges
        full = head_to_tail_pairs(ld.dag_edge_index)
        assert line == full if spec.mode == "P" else line <= full
        # Levels are longest-path depths: 0 without predecessors, else 1 + the deepest one.
        src, dst = ld.line_index
        assert bool((ld.edge_level[dst] > ld.edge_level[src]).all())
        want = torch.zeros(E, dtype=torch.long)
        for e in sorted(range(E), key=lambda e: int(ld.edge_level[e])):
            preds = src[dst == e]
            want[e] = int(ld.edge_level[preds].max()) + 1 if preds.numel() else 0
        assert torch.equal(ld.edge_level, want)
        if spec.mode == "D":
            # Multitree: at most one directed path between any two line nodes; pruning keeps
            # a predecessor for every line node that had one.
            assert E == 0 or int(path_counts(ld.line_index, E).max()) <= 1
            had = {b for _, b in full}
            assert {b for _, b in line} == had


@SETTINGS
@given(batches())
def test_batch_equals_graph_by_graph(data: Batch):
    for spec in SPECS:
        ld = build(data, spec)
        inputs = kernel_inputs(data.num_nodes, ld.num_edges, ld.num_line_edges, seed=1)
        out = plstm_dag(*inputs, ld)
        for (ei, n, order), ids in zip(data.graphs, data.nodes):
            # Without a node order the batch orients by batch node id: give the graph those ranks.
            part = LineDAG.from_graph(ei, n, spec, node_order=ids if order is None else order)
            # The graph's DAG edges and line edges are the batch's, renumbered.
            to_batch = ids[part.dag_edge_index]
            mine = {tuple(c) for c in to_batch.t().tolist()}
            rows = [i for i, c in enumerate(ld.dag_edge_index.t().tolist()) if tuple(c) in mine]
            assert len(rows) == part.num_edges
            row_of = {tuple(c): i for i, c in enumerate(ld.dag_edge_index.t().tolist())}
            local_row = torch.tensor([row_of[tuple(c)] for c in to_batch.t().tolist()],
                                     dtype=torch.long).reshape(-1)
            lines = {tuple(p) for p in local_row[part.line_index].t().tolist()}
            assert lines == {p for p in map(tuple, ld.line_index.t().tolist()) if p[1] in rows}
            assert torch.equal(ld.edge_level[local_row], part.edge_level)
            # The kernel on the graph alone, with the batch's gates of its edges.
            line_rows = torch.tensor(
                [i for i, p in enumerate(map(tuple, ld.line_index.t().tolist())) if p[1] in rows],
                dtype=torch.long)
            pos = {p: i for i, p in enumerate(map(tuple, ld.line_index.t().tolist()))}
            line_order = torch.tensor([pos[p] for p in map(tuple, local_row[part.line_index]
                                                          .t().tolist())], dtype=torch.long)
            assert line_rows.numel() == line_order.numel()
            q, k, v, s, t, m, d = inputs
            y = plstm_dag(q[ids], k[ids], v[ids], s[local_row], t[line_order], m[local_row],
                          d[ids], part)
            torch.testing.assert_close(out[ids], y, atol=1e-12, rtol=0)


@SETTINGS
@given(batches(max_graphs=2, max_nodes=6))
def test_kernel_forms_equal_the_reference(data: Batch):
    for spec in SPECS:
        ld = build(data, spec)
        inputs = kernel_inputs(data.num_nodes, ld.num_edges, ld.num_line_edges, seed=2)
        want = plstm_dag_reference(*inputs, ld)
        for form in ("dense", "state") + (("compiled",) if library()[0] is not None else ()):
            torch.testing.assert_close(plstm_dag(*inputs, ld, form=form), want, atol=1e-12,
                                       rtol=0)


@SETTINGS
@given(batches(max_graphs=4), st.sampled_from([1, 8, 10**6]))
def test_forward_batch_equals_graph_by_graph(data: Batch, max_edges: int):
    from torch_geometric.data import Data

    from plstm_geometric import AddLineDAG

    graphs = [Data(edge_index=ei, num_nodes=n, **({} if o is None else {"node_order": o}))
              for ei, n, o in data.graphs]
    transform = AddLineDAG(specs=SPECS + [LineDAGSpec("D", prune=None)])
    for one, chunked in zip([transform(g) for g in graphs],
                            transform.forward_batch(graphs, max_edges=max_edges)):
        assert one.keys() == chunked.keys()
        for key in one.keys():
            if torch.is_tensor(one[key]):
                assert one[key].dtype == chunked[key].dtype and torch.equal(one[key], chunked[key])
