r"""Dense form: per-graph closed form for small graphs (molecules), no cell states.

With :math:`A[e, e'] = T_{e' \to e}` (strictly lower triangular once the edges of a graph are
ordered by level), the closed form of SPEC §2 is

.. math::
    X = (I - A)^{-1} B, \quad G = \mathcal{M} X + \operatorname{diag}(D), \quad
    y = (G \odot Q K^\top) V,

with :math:`B[e, m] = S_e [t(e) = m]` and :math:`\mathcal{M}[n, e] = M_e [h(e) = n]`. One
unit-triangular solve per graph and head replaces the level loop, and nothing of size K×V per
edge is ever formed: on molecules this moves ~K·V/n times less memory than the state form.

Graphs are bucketed by size and padded only to their bucket's largest graph, so one large
molecule does not inflate a whole batch; the buckets minimise a cost model of padding against
per-bucket overhead (:func:`merge_classes`). Every bucket's matrices live in one
flat buffer per kind (head-major ``[graphs·H, rows, cols]`` blocks, bucket after bucket), so
scatters, gathers and elementwise products run once over all buckets; only the solves and the
batched matmuls run per bucket. The backward is hand-written (:class:`DensePLSTM`): it reuses the
forward's ``X``, ``G`` and ``QKᵀ`` and reads the gate gradients at the gates' positions of the
dense gradients, instead of autograd's chain of per-bucket views, transposes and pads. All index
arithmetic is computed once per ``LineDAG`` and cached (the only host syncs happen there).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

from ...structure import LineDAG
from ...structure._index import expand_ranges, local_ids


def size_classes(size: Tensor) -> Tensor:
    """Fine size classes (``⌊4 log₂ size⌋``, steps of 2^¼) that :func:`merge_classes` joins into
    buckets; ``size`` is a graph's larger side (nodes or DAG edges)."""
    return torch.floor(4 * torch.log2(size.clamp_min(1).double())).long()


#: Cost model of :func:`merge_classes`, in multiply-adds at batched-matmul speed: a bucket's
#: fixed cost (~25 small ops of ~15 µs at ~50 GFLOP/s, one thread) and a triangular solve's
#: per-matrix overhead and relative slowness (MKL, measured ~5× below bmm for these sizes).
BUCKET_COST = 15e6
SOLVE_MATRIX_COST = 75e3
SOLVE_SLOWDOWN = 5


def graph_cost(n: int, e: int, width: int) -> float:
    """Forward + backward cost of one graph and head padded to ``n`` nodes and ``e`` edges."""
    solves = 2 * (SOLVE_SLOWDOWN * e * e * n + SOLVE_MATRIX_COST)
    return solves + 2 * e * e * n + 6 * n * n * e + 6 * n * n * width


def merge_classes(count: list[int], nodes: list[int], edges: list[int], heads: int,
                  width: int) -> list[int]:
    """Bucket of each size class (sorted ascending): the split of the classes into runs that
    minimises the modelled cost, by dynamic programming over run ends.

    Few large buckets waste work on padding, many small ones pay the fixed cost of their ~25
    ops each. On the four 128-molecule HIV batches of ``experiments/bench_layer.py`` the padded
    work is 1.24× the unpadded (√2 classes, used before: 1.37×) and the kernel 16% faster.
    """
    classes = len(count)
    best, start = [0.0] + [math.inf] * classes, [0] * (classes + 1)
    for j in range(classes):
        n = e = graphs = 0
        for i in range(j, -1, -1):  # run i..j
            n, e, graphs = max(n, nodes[i]), max(e, edges[i]), graphs + count[i]
            cost = best[i] + BUCKET_COST + heads * graphs * graph_cost(n, e, width)
            if cost < best[j + 1]:
                best[j + 1], start[j + 1] = cost, i
    bucket, j = [0] * classes, classes
    runs = []
    while j > 0:
        runs.append((start[j], j))
        j = start[j]
    for index, (i, j) in enumerate(reversed(runs)):
        bucket[i:j] = [index] * (j - i)
    return bucket


@dataclass
class Bucket:
    graphs: int
    nodes: int  # padded node count n
    edges: int  # padded edge count e


@dataclass
class DenseLayout:
    buckets: list[Bucket]
    rows: Tensor  # [N·H] row of every (node, head) in the head-major padded q/k/v buffers
    gather: Tensor  # [rows] (node·H + head) each padded row is read from (see ``pad_gather``)
    a_index: Tensor  # [L·H] flat positions of T in A ([graphs·H, e, e] blocks)
    b_index: Tensor  # [E·H] flat positions of S in B ([graphs·H, e, n])
    m_index: Tensor  # [E·H] flat positions of M in the mark matrix ([graphs·H, n, e])
    d_index: Tensor  # [N·H] flat positions of D on the diagonal of G ([graphs·H, n, n])
    sizes: tuple[int, int, int, int]  # rows, |A|, |B| (= |M|), |G|
    # Per bucket: split sizes of the row, A, B (= M) and G buffers, and the block shapes.
    splits: tuple[list[int], list[int], list[int], list[int]]
    shapes: dict[str, list[tuple[int, int, int]]]


def dense_layout(line_dag: LineDAG, heads: int, width: int = 64) -> DenseLayout:
    """Bucket assignment and scatter positions of the dense form, cached on ``line_dag``.

    ``width``: K + V per head, for the cost model of :func:`merge_classes`.
    """
    cache_key = f"dense_layout_{heads}_{width}"
    if cache_key in line_dag.cache:
        return line_dag.cache[cache_key]
    device = line_dag.dag_edge_index.device
    num_nodes, num_edges = line_dag.num_nodes, line_dag.num_edges
    node_graph = line_dag.batch if line_dag.batch is not None else torch.zeros(
        num_nodes, dtype=torch.long, device=device)
    num_graphs = int(node_graph.max()) + 1 if num_nodes else 0
    tail, head = line_dag.dag_edge_index
    edge_graph = node_graph[tail]
    node_local, n_count = local_ids(node_graph, torch.arange(num_nodes, device=device), num_graphs)
    # Topological order inside each graph makes A strictly lower triangular.
    order_key = line_dag.edge_level * max(num_edges, 1) + torch.arange(num_edges, device=device)
    edge_local, e_count = local_ids(edge_graph, order_key, num_graphs)

    # Buckets in increasing size; graphs without nodes get none (they own no rows).
    used = n_count > 0
    classes, class_of = torch.unique(size_classes(torch.maximum(n_count, e_count))[used],
                                     return_inverse=True)
    zeros = torch.zeros(classes.numel(), dtype=torch.long, device=device)
    per_class = torch.stack([torch.bincount(class_of, minlength=classes.numel()),
                             zeros.scatter_reduce(0, class_of, n_count[used], reduce="amax"),
                             zeros.scatter_reduce(0, class_of, e_count[used], reduce="amax")])
    merged = torch.tensor(merge_classes(*per_class.tolist(), heads, width), dtype=torch.long,
                          device=device)
    bucket_of = torch.full_like(n_count, -1)
    bucket_of[used] = merged[class_of]
    num_buckets = int(merged.max()) + 1 if merged.numel() else 0
    slot = torch.zeros_like(bucket_of)
    if num_buckets:
        slot[used] = local_ids(bucket_of[used], torch.nonzero(used).view(-1), num_buckets)[0]
    member = bucket_of.clamp_min(0)
    zeros = torch.zeros(num_buckets, dtype=torch.long, device=device)
    count = torch.bincount(bucket_of[used], minlength=num_buckets)
    n_pad = zeros.scatter_reduce(0, bucket_of[used], n_count[used], reduce="amax")
    e_pad = zeros.scatter_reduce(0, bucket_of[used], e_count[used], reduce="amax")
    # Per graph and head a block of n rows, e² (A), e·n (B, X, and M as n·e) and n² (G) entries.
    block_size = torch.stack([n_pad, e_pad * e_pad, e_pad * n_pad, n_pad * n_pad]) * heads
    starts = cumsum(block_size * count, dim=1)[:, :-1]
    graph_start = starts[:, member] + slot * block_size[:, member]  # [4, G]
    info = torch.cat([count[None], n_pad[None], e_pad[None], block_size * count]).tolist()
    buckets = [Bucket(*(info[j][i] for j in range(3))) for i in range(num_buckets)]
    splits = tuple(info[3 + j] for j in range(4))
    sizes = tuple(sum(part) for part in splits)
    gh = [bk.graphs * heads for bk in buckets]
    shapes = {"a": [(g, bk.edges, bk.edges) for g, bk in zip(gh, buckets)],
              "b": [(g, bk.edges, bk.nodes) for g, bk in zip(gh, buckets)],
              "m": [(g, bk.nodes, bk.edges) for g, bk in zip(gh, buckets)],
              "g": [(g, bk.nodes, bk.nodes) for g, bk in zip(gh, buckets)]}

    h = torch.arange(heads, device=device)
    n_of, e_of = n_pad[member], e_pad[member]  # padded sizes of every graph's bucket
    ng = node_graph
    rows = (graph_start[0, ng] + node_local)[:, None] + (h * n_of[ng][:, None])
    gather = pad_gather(rows, graph_start[0], n_of, node_graph, used, heads, sizes[0])
    d_index = (graph_start[3, ng] + node_local * (n_of[ng] + 1))[:, None] + h * (n_of[ng] ** 2)[:, None]
    src, dst = line_dag.line_index
    lg = edge_graph[dst]
    a_index = (graph_start[1, lg] + edge_local[dst] * e_of[lg] + edge_local[src])[:, None] + \
        h * (e_of[lg] ** 2)[:, None]
    eg = edge_graph
    stride = (e_of[eg] * n_of[eg])[:, None] * h
    b_index = (graph_start[2, eg] + edge_local * n_of[eg] + node_local[tail])[:, None] + stride
    m_index = (graph_start[2, eg] + node_local[head] * e_of[eg] + edge_local)[:, None] + stride
    layout = DenseLayout(buckets, rows.reshape(-1), gather, a_index.reshape(-1), b_index.reshape(-1),
                         m_index.reshape(-1), d_index.reshape(-1), sizes, splits, shapes)
    line_dag.cache[cache_key] = layout
    return layout


def pad_gather(rows: Tensor, block_start: Tensor, n_of: Tensor, node_graph: Tensor,
               used: Tensor, heads: int, num_rows: int) -> Tensor:
    """Source row (node·H + head) of every padded q/k/v row: real rows read their own node, a
    graph's padding rows repeat its first node (same head).

    Padding needs no zeros: ``G`` is exactly zero on padded rows and columns (no gate lands
    there), so a repeated finite row adds ``0·(q·k)`` to ``P`` and ``0·v`` to ``y``; its gradient
    rows are never read. A gather is ~3× cheaper than zero-fill plus ``index_copy_``.
    """
    device = rows.device
    num_graphs = n_of.numel()
    first = torch.full((num_graphs,), node_graph.numel(), dtype=torch.long, device=device)
    first = first.scatter_reduce(0, node_graph, torch.arange(node_graph.numel(), device=device),
                                 reduce="amin")
    graph = torch.nonzero(used).view(-1).repeat_interleave(heads)  # one block per (graph, head)
    head = torch.arange(heads, device=device).repeat(graph.numel() // heads)
    length = n_of[graph]
    gather = torch.empty(num_rows, dtype=torch.long, device=device)
    gather[expand_ranges(block_start[graph] + head * length, length)] = torch.repeat_interleave(
        first[graph] * heads + head, length, output_size=num_rows)
    gather[rows.reshape(-1)] = torch.arange(rows.numel(), device=device)
    return gather


def blocks(buffer: Tensor, sizes: list[int], shapes: list[tuple[int, ...]]) -> list[Tensor]:
    """The buckets' blocks of a flat buffer (one ``split``, then a view per bucket)."""
    return [part.view(shape) for part, shape in zip(buffer.view(-1).split(sizes), shapes)]


class DensePLSTM(torch.autograd.Function):
    """Forward and hand-written backward of the dense form over a cached :class:`DenseLayout`.

    Per bucket, with ``Q, K, V`` head-major and ``P = G ⊙ QKᵀ``: ``dV = Pᵀ dY``,
    ``dP = dY Vᵀ``, ``dG = dP ⊙ QKᵀ``, ``d(QKᵀ) = dP ⊙ G``, ``dQ = d(QKᵀ) K``,
    ``dK = d(QKᵀ)ᵀ Q``; then ``dD = diag(dG)``, ``d𝓜 = dG Xᵀ``, ``dX = 𝓜ᵀ dG``,
    ``Z = (I − A)⁻ᵀ dX``, ``dB = Z`` and ``dA = Z Xᵀ``, each read at its gates' positions.
    """

    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                transition: Tensor, mark: Tensor, direct: Tensor,
                layout: DenseLayout) -> Tensor:
        num_nodes, heads, k_dim = query.shape
        v_dim = value.size(-1)
        num_rows, size_a, size_b, size_g = layout.sizes
        split_r, split_a, split_b, split_g = layout.splits
        shape = layout.shapes
        edges = [bk.edges for bk in layout.buckets]

        def padded(x: Tensor) -> Tensor:  # [N, H, C] -> [rows, C], head-major per graph
            return x.reshape(-1, x.size(-1)).index_select(0, layout.gather)

        def rows(x: Tensor) -> list[Tensor]:
            c = x.size(-1)
            return blocks(x, [r * c for r in split_r], [(g, n, c) for g, n, _ in shape["g"]])

        def flat(values: Tensor, index: Tensor, size: int) -> Tensor:
            return values.new_zeros(size).scatter_(0, index, values.reshape(-1))

        q_pad, k_pad, v_pad = padded(query), padded(key), padded(value)
        # -A: with unitriangular=True the solve reads the strictly lower part only, so
        # solving with -A solves with I - A.
        neg_a = flat(-transition, layout.a_index, size_a)
        x_buf = flat(source, layout.b_index, size_b)  # B, overwritten by X bucket by bucket
        m_buf = flat(mark, layout.m_index, size_b)
        g_buf = query.new_zeros(size_g)
        qk_buf = torch.empty_like(g_buf)
        g_parts, qk_parts = blocks(g_buf, split_g, shape["g"]), blocks(qk_buf, split_g, shape["g"])
        for e, a, x, m, g, q, k, qk in zip(edges, blocks(neg_a, split_a, shape["a"]),
                                           blocks(x_buf, split_b, shape["b"]),
                                           blocks(m_buf, split_b, shape["m"]), g_parts,
                                           rows(q_pad), rows(k_pad), qk_parts):
            if e:
                torch.linalg.solve_triangular(a, x, upper=False, unitriangular=True, out=x)
                torch.bmm(m, x, out=g)
            torch.bmm(q, k.transpose(1, 2), out=qk)
        g_buf.scatter_add_(0, layout.d_index, direct.reshape(-1))
        p_buf = g_buf * qk_buf
        y_pad = torch.empty(num_rows, v_dim, dtype=value.dtype, device=value.device)
        for p, v, y in zip(blocks(p_buf, split_g, shape["g"]), rows(v_pad), rows(y_pad)):
            torch.bmm(p, v, out=y)
        ctx.save_for_backward(q_pad, k_pad, v_pad, neg_a, x_buf, m_buf, g_buf, qk_buf)
        ctx.layout, ctx.shapes = layout, (num_nodes, heads, k_dim, v_dim)
        return y_pad.index_select(0, layout.rows).view(num_nodes, heads, v_dim)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        q_pad, k_pad, v_pad, neg_a, x_buf, m_buf, g_buf, qk_buf = ctx.saved_tensors
        layout: DenseLayout = ctx.layout
        num_nodes, heads, k_dim, v_dim = ctx.shapes
        split_r, split_a, split_b, split_g = layout.splits
        shape = layout.shapes
        edges = [bk.edges for bk in layout.buckets]

        def rows(x: Tensor) -> list[Tensor]:
            c = x.size(-1)
            return blocks(x, [r * c for r in split_r], [(g, n, c) for g, n, _ in shape["g"]])

        dy_pad = grad_out.reshape(-1, v_dim).index_select(0, layout.gather)
        dv_pad, dp_buf = torch.empty_like(v_pad), torch.empty_like(g_buf)
        p_buf = g_buf * qk_buf
        for p, dy, v, dv, dp in zip(blocks(p_buf, split_g, shape["g"]), rows(dy_pad), rows(v_pad),
                                    rows(dv_pad), blocks(dp_buf, split_g, shape["g"])):
            torch.bmm(p.transpose(1, 2), dy, out=dv)
            torch.bmm(dy, v.transpose(1, 2), out=dp)
        dqk_buf = torch.mul(dp_buf, g_buf, out=p_buf)  # P is not needed any more
        dg_buf = dp_buf.mul_(qk_buf)
        dq_pad, dk_pad = torch.empty_like(q_pad), torch.empty_like(k_pad)
        for dqk, q, k, dq, dk in zip(blocks(dqk_buf, split_g, shape["g"]), rows(q_pad),
                                     rows(k_pad), rows(dq_pad), rows(dk_pad)):
            torch.bmm(dqk, k, out=dq)
            torch.bmm(dqk.transpose(1, 2), q, out=dk)
        dm_buf, dx_buf = torch.empty_like(m_buf), torch.empty_like(x_buf)
        da_buf = torch.empty_like(neg_a)
        for e, dg, x, m, a, dm, z, da in zip(
                edges, blocks(dg_buf, split_g, shape["g"]), blocks(x_buf, split_b, shape["b"]),
                blocks(m_buf, split_b, shape["m"]), blocks(neg_a, split_a, shape["a"]),
                blocks(dm_buf, split_b, shape["m"]), blocks(dx_buf, split_b, shape["b"]),
                blocks(da_buf, split_a, shape["a"])):
            if e:
                torch.bmm(dg, x.transpose(1, 2), out=dm)
                torch.bmm(m.transpose(1, 2), dg, out=z)
                torch.linalg.solve_triangular(a.transpose(1, 2), z, upper=True,
                                              unitriangular=True, out=z)
                torch.bmm(z, x.transpose(1, 2), out=da)
        by_node = lambda t: t.index_select(0, layout.rows).view(num_nodes, heads, -1)  # noqa: E731
        by_gate = lambda t, index: t.index_select(0, index).view(-1, heads)  # noqa: E731
        return (by_node(dq_pad), by_node(dk_pad), by_node(dv_pad), by_gate(dx_buf, layout.b_index),
                by_gate(da_buf, layout.a_index), by_gate(dm_buf, layout.m_index),
                by_gate(dg_buf, layout.d_index), None)


def plstm_dag_dense(query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                    transition: Tensor, mark: Tensor, direct: Tensor,
                    line_dag: LineDAG) -> Tensor:
    """Dense form of :func:`~plstm_geometric.ops.plstm_dag` (same signature and result)."""
    if query.size(0) == 0:
        return value.new_zeros(value.shape)
    layout = dense_layout(line_dag, query.size(1), query.size(-1) + value.size(-1))
    return DensePLSTM.apply(query, key, value, source, transition, mark, direct, layout)
