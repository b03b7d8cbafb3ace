r"""Dense form: per-graph closed form for small graphs (molecules), no cell states.

With :math:`A[e, e'] = T_{e' \to e}` (strictly lower triangular once the edges of a graph are
ordered by level), the closed form of SPEC §2 is

.. math::
    X = (I - A)^{-1} B, \quad G = \mathcal{M} X + \operatorname{diag}(D), \quad
    y = (G \odot Q K^\top) V,

with :math:`B[e, m] = S_e [t(e) = m]` and :math:`\mathcal{M}[n, e] = M_e [h(e) = n]`. One
unit-triangular solve per graph and head replaces the level loop, and nothing of size K×V per
edge is ever formed: on molecules this moves ~K·V/n times less memory than the state form.

Graphs are bucketed by size (classes growing by √2) and padded only to their bucket's largest graph, so
one large molecule does not inflate a whole batch. All index arithmetic is computed once per
``LineDAG`` and cached; a forward is a handful of scatters, and per bucket one solve and three
batched matmuls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ...structure import LineDAG
from ...structure._index import local_ids


def bucket_key(size: int) -> int:
    """Graphs whose larger side (nodes or DAG edges) shares a key are padded together.

    Size classes grow by √2: on 128-molecule HIV batches this measured ~15% faster than powers of
    two (less padding) and ~6× faster than one padded block (``experiments/bench_layer.py``).
    """
    return int(2 * math.log2(size))


@dataclass
class Bucket:
    graphs: int
    nodes: int  # padded node count n
    edges: int  # padded edge count e
    rows: slice  # rows of the padded node buffers
    a: slice  # flat ranges of the [graphs, H, ·, ·] buffers
    b: slice
    m: slice
    d: slice


@dataclass
class DenseLayout:
    buckets: list[Bucket]
    node_row: Tensor  # [N] row of every node in the padded node buffers
    a_index: Tensor  # [L, H] flat positions of T in A
    b_index: Tensor  # [E, H] flat positions of S in B
    m_index: Tensor  # [E, H] flat positions of M in the mark matrix
    d_index: Tensor  # [N, H] flat positions of D
    sizes: tuple[int, int, int, int, int]  # rows, |A|, |B|, |M|, |D|


def dense_layout(line_dag: LineDAG, heads: int) -> DenseLayout:
    cache_key = f"dense_layout_{heads}"
    if cache_key in line_dag.cache:
        return line_dag.cache[cache_key]
    device = line_dag.dag_edge_index.device
    num_nodes = line_dag.num_nodes
    node_graph = line_dag.batch if line_dag.batch is not None else torch.zeros(
        num_nodes, dtype=torch.long, device=device)
    num_graphs = int(node_graph.max()) + 1 if num_nodes else 0
    tail, head = line_dag.dag_edge_index
    edge_graph = node_graph[tail]
    node_local, n_count = local_ids(node_graph, torch.arange(num_nodes, device=device), num_graphs)
    # Topological order inside each graph makes A strictly lower triangular.
    order_key = line_dag.edge_level * max(line_dag.num_edges, 1) + torch.arange(
        line_dag.num_edges, device=device)
    edge_local, e_count = local_ids(edge_graph, order_key, num_graphs)

    n_list, e_list = n_count.tolist(), e_count.tolist()
    keys = [bucket_key(max(n, e, 1)) if n else -1 for n, e in zip(n_list, e_list)]
    slot, bucket_of = [0] * num_graphs, [0] * num_graphs
    members: dict[int, list[int]] = {}
    for g, k in enumerate(keys):
        if k >= 0:
            slot[g] = len(members.setdefault(k, []))
            members[k].append(g)
    buckets, offsets = [], [0, 0, 0, 0, 0]
    g_off = [[0] * num_graphs for _ in range(5)]  # per graph: start of its block in each buffer
    dims = []
    for index, k in enumerate(sorted(members)):
        graphs = members[k]
        n = max(n_list[g] for g in graphs)
        e = max(e_list[g] for g in graphs)
        block = (n, heads * e * e, heads * e * n, heads * n * e, heads * n)
        start = list(offsets)
        for g in graphs:
            bucket_of[g] = index
            for j in range(5):
                g_off[j][g] = start[j] + slot[g] * block[j]
        for j in range(5):
            offsets[j] += len(graphs) * block[j]
        buckets.append(Bucket(len(graphs), n, e, *(slice(start[j], offsets[j]) for j in range(5))))
        dims.append((n, e))
    as_tensor = lambda values: torch.tensor(values, dtype=torch.long, device=device)  # noqa: E731
    dims_t = as_tensor(dims).view(-1, 2)
    bucket_t = as_tensor(bucket_of)
    n_pad = dims_t[bucket_t, 0] if num_graphs else bucket_t
    e_pad = dims_t[bucket_t, 1] if num_graphs else bucket_t
    off = [as_tensor(o) for o in g_off]
    h = torch.arange(heads, device=device)

    node_row = off[0][node_graph] + node_local
    src, dst = line_dag.line_index
    lg = edge_graph[dst]
    a_base = off[1][lg] + edge_local[dst] * e_pad[lg] + edge_local[src]
    a_index = a_base[:, None] + h * (e_pad[lg] ** 2)[:, None]
    eg = edge_graph
    b_base = off[2][eg] + edge_local * n_pad[eg] + node_local[tail]
    b_index = b_base[:, None] + h * (e_pad[eg] * n_pad[eg])[:, None]
    m_base = off[3][eg] + node_local[head] * e_pad[eg] + edge_local
    m_index = m_base[:, None] + h * (e_pad[eg] * n_pad[eg])[:, None]
    d_index = (off[4][node_graph] + node_local)[:, None] + h * n_pad[node_graph][:, None]
    layout = DenseLayout(buckets, node_row, a_index, b_index, m_index, d_index, tuple(offsets))
    line_dag.cache[cache_key] = layout
    return layout


def scatter_flat(values: Tensor, index: Tensor, size: int) -> Tensor:
    return values.new_zeros(size).scatter(0, index.reshape(-1), values.reshape(-1))


def plstm_dag_dense(query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                    transition: Tensor, mark: Tensor, direct: Tensor,
                    line_dag: LineDAG) -> Tensor:
    """Dense form of :func:`~plstm_geometric.ops.plstm_dag` (same signature and result)."""
    heads = query.size(1)
    layout = dense_layout(line_dag, heads)
    rows, size_a, size_b, size_m, size_d = layout.sizes
    # torch.split (not slicing) so that each backward assembles one gradient with a single cat
    # instead of a zero-filled full-size buffer per bucket.
    split = lambda x, part: torch.split(x, [getattr(bk, part).stop - getattr(bk, part).start  # noqa: E731
                                            for bk in layout.buckets])
    pad = lambda x: split(x.new_zeros(rows, *x.shape[1:]).index_copy(  # noqa: E731
        0, layout.node_row, x), "rows")
    q_pad, k_pad, v_pad = pad(query), pad(key), pad(value)
    a_parts = split(scatter_flat(transition, layout.a_index, size_a), "a")
    b_parts = split(scatter_flat(source, layout.b_index, size_b), "b")
    m_parts = split(scatter_flat(mark, layout.m_index, size_m), "m")
    d_parts = split(scatter_flat(direct, layout.d_index, size_d), "d")
    outs = []
    for i, bk in enumerate(layout.buckets):
        g, n, e = bk.graphs, bk.nodes, bk.edges
        as_heads = lambda x: x[i].view(g, n, heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = as_heads(q_pad), as_heads(k_pad), as_heads(v_pad)
        gate = torch.diag_embed(d_parts[i].view(g, heads, n))
        if e:
            a = a_parts[i].view(g, heads, e, e)
            b = b_parts[i].view(g, heads, e, n)
            x = torch.linalg.solve_triangular(-a, b, upper=False, unitriangular=True)
            gate = gate + m_parts[i].view(g, heads, n, e) @ x
        y = (gate * (q @ k.transpose(-1, -2))) @ v
        outs.append(y.transpose(1, 2).reshape(g * n, heads, -1))
    if not outs:
        return value.new_zeros(value.shape)
    return torch.cat(outs)[layout.node_row]
