"""Shared helpers for the grid tests: grid graphs, the grid -> DAG gate mapping of
SPEC §5, and a dense closed-form oracle of SPEC §2 built from an edge list."""
from __future__ import annotations

from typing import Optional

import pytest
import torch
from torch import Tensor

from plstm_geometric import LineDAG, plstm_dag
from plstm_geometric.ops.grid import plstm_2d
from plstm_geometric.structure import grid_edge_index  # noqa: F401 (re-export)
from helpers import needs_compiled


def flip_rank(X: int, Y: int, flip: tuple[bool, bool]) -> Tensor:
    """Node ranks that orient the grid towards decreasing x and/or y."""
    x = torch.arange(X).view(X, 1).expand(X, Y)
    y = torch.arange(Y).view(1, Y).expand(X, Y)
    x = X - 1 - x if flip[0] else x
    y = Y - 1 - y if flip[1] else y
    return (x * Y + y).reshape(-1)


def local_line_dag(edge_index: Tensor, num_nodes: int, rank: Optional[Tensor] = None,
                   chirality_y: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """Independent construction of (dag_edge_index, line_index) following SPEC §1.

    ``chirality_y=Y`` drops line edges from an x-edge (arriving from the left)
    into a y-edge (leaving downwards): the grid D-mode of SPEC §5.
    """
    rank = torch.arange(num_nodes) if rank is None else rank
    u, v = edge_index
    keep = rank[u] < rank[v]
    dag = torch.stack([u[keep], v[keep]])
    tail, head = dag
    lines = []
    for e_in in range(dag.shape[1]):
        for e_out in range(dag.shape[1]):
            if head[e_in] == tail[e_out]:
                if chirality_y is not None:
                    in_x = tail[e_in] // chirality_y != head[e_in] // chirality_y
                    out_x = tail[e_out] // chirality_y != head[e_out] // chirality_y
                    if in_x and not out_x:
                        continue
                lines.append((e_in, e_out))
    line = torch.tensor(lines, dtype=torch.long).t().reshape(2, -1)
    return dag, line


def grid_gates_to_dag(dag_edge_index: Tensor, line_index: Tensor, Y: int, source_r: Tensor,
                      source_d: Tensor, trans_rl: Tensor, trans_ru: Optional[Tensor],
                      trans_dl: Optional[Tensor], trans_du: Tensor, mark_l: Tensor,
                      mark_u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Map per-node grid gates ``[N, H]`` to (source [E, H], transition [L, H], mark [E, H]).

    An edge along x ("right" in the propagation direction) takes ``S_r`` of its
    tail and ``M_l`` of its head; an edge along y takes ``S_d`` and ``M_u``.
    A line edge takes the transition of its shared node by (incoming, outgoing) type.
    """
    tail, head = dag_edge_index
    is_x = (tail // Y != head // Y)[:, None]
    source = torch.where(is_x, source_r[tail], source_d[tail])
    mark = torch.where(is_x, mark_l[head], mark_u[head])
    e_in, e_out = line_index
    node = head[e_in]
    zero = torch.zeros_like(trans_rl)
    trans_ru = zero if trans_ru is None else trans_ru
    trans_dl = zero if trans_dl is None else trans_dl
    in_x, out_x = is_x[e_in], is_x[e_out]
    transition = torch.where(out_x, torch.where(in_x, trans_rl[node], trans_ru[node]),
                             torch.where(in_x, trans_dl[node], trans_du[node]))
    return source, transition, mark


def dense_dag(query: Tensor, key: Tensor, value: Tensor, source: Tensor, transition: Tensor,
              mark: Tensor, direct: Tensor, dag_edge_index: Tensor, line_index: Tensor) -> Tensor:
    """Closed form of SPEC §2, ``y = (G ⊙ QKᵀ)V`` with ``P = (I - A)^{-1}``; [N, H, *] in/out."""
    N, H, _ = query.shape
    E = dag_edge_index.shape[1]
    tail, head = dag_edge_index
    out = []
    for h in range(H):
        A = query.new_zeros(E, E)
        A = A.index_put((line_index[1], line_index[0]), transition[:, h])
        P = torch.linalg.solve(torch.eye(E, dtype=query.dtype) - A, torch.eye(E, dtype=query.dtype))
        Mmat = query.new_zeros(N, E).index_put((head, torch.arange(E)), mark[:, h])
        Smat = query.new_zeros(E, N).index_put((torch.arange(E), tail), source[:, h])
        G = Mmat @ P @ Smat + torch.diag(direct[:, h])
        qh, kh, vh = query[:, h], key[:, h], value[:, h]
        out.append((G * (qh @ kh.t())) @ vh)
    return torch.stack(out, 1)


def random_2d(B: int, X: int, Y: int, H: int, K: int, V: int, seed: int,
              dtype: torch.dtype = torch.float64, requires_grad: bool = False) -> list[Tensor]:
    """q, k, v and nine gates (source_r, source_d, trans_rl, trans_ru, trans_dl, trans_du,
    mark_l, mark_u, direct) with signs, so that no sign convention can hide."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(B, X, Y, H, K), (B, X, Y, H, K), (B, X, Y, H, V)] + [(B, X, Y, H)] * 9
    ts = [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]
    ts[3:] = [0.6 * t for t in ts[3:]]
    return [t.requires_grad_(requires_grad) for t in ts]


def random_1d(B: int, T: int, H: int, K: int, V: int, seed: int,
              dtype: torch.dtype = torch.float64, requires_grad: bool = False) -> list[Tensor]:
    """q, k, v and four gates (source, transition, mark, direct)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = [(B, T, H, K), (B, T, H, K), (B, T, H, V)] + [(B, T, H)] * 4
    ts = [torch.randn(*s, generator=gen, dtype=dtype) for s in shapes]
    ts[3:] = [0.9 * t for t in ts[3:]]
    return [t.requires_grad_(requires_grad) for t in ts]


def graph_run_2d(kernel, dags: tuple[Tensor, Tensor], inputs: list[Tensor],
                 drop_dl: bool = False) -> Tensor:
    """Run a graph kernel ``kernel(q, k, v, S, T, M, D, b)`` per batch element on grid inputs."""
    q, k, v, *gates = inputs
    B, X, Y, H, _ = q.shape
    dag_edge_index, line_index = dags
    outs = []
    for b in range(B):
        flat = [g[b].reshape(X * Y, H) for g in gates]
        if drop_dl:
            flat[4] = None
        S, T, M = grid_gates_to_dag(dag_edge_index, line_index, Y, *flat[:8])
        outs.append(kernel(q[b].reshape(X * Y, H, -1), k[b].reshape(X * Y, H, -1),
                           v[b].reshape(X * Y, H, -1), S, T, M, flat[8], b)
                    .reshape(X, Y, H, -1))
    return torch.stack(outs)


#: The torch wavefront (with the compiled library the CPU runs the compiled one).
TORCH_WAVEFRONT = pytest.param("wavefront", id="wavefront-torch", marks=pytest.mark.torch_kernels)
# Every form of plstm_2d; the chunk size of a test case applies to the chunkwise form.
GRID_FORMS = pytest.mark.parametrize(
    "form", ["wavefront", TORCH_WAVEFRONT, "chunkwise", "dense",
             pytest.param("graph", marks=needs_compiled)])


def form_kwargs(form: str, chunk: int) -> dict:
    return dict(form=form, chunk_size=chunk if form == "chunkwise" else None)


def run_grid_2d(inputs: list[Tensor], drop_dl: bool = False, **kwargs) -> Tensor:
    """``plstm_2d`` on ``random_2d`` inputs; ``drop_dl`` removes the left->down turn (D-mode)."""
    q, k, v, *gates = inputs
    if drop_dl:
        gates[4] = None
    return plstm_2d(q, k, v, *gates, **kwargs)


def plstm_dag_2d(inputs: list[Tensor], drop_dl: bool = False,
                 flip: tuple[bool, bool] = (False, False), form: str = "auto") -> Tensor:
    """``plstm_dag`` on the grid DAG of ``LineDAG.from_graph`` (oriented by ``flip``) with the
    grid gates of ``random_2d`` inputs mapped onto it."""
    X, Y = inputs[0].shape[1:3]
    kwargs = dict(prune="chirality", grid_shape=(X, Y)) if drop_dl else {}
    if any(flip):
        kwargs["node_order"] = flip_rank(X, Y, flip)
    line_dag = LineDAG.from_graph(grid_edge_index(X, Y), X * Y, mode="D" if drop_dl else "P",
                                  **kwargs)
    dags = (line_dag.dag_edge_index, line_dag.line_index)

    def kernel(q, k, v, S, T, M, D, b):
        return plstm_dag(q, k, v, S, T, M, D, line_dag, form=form)

    return graph_run_2d(kernel, dags, inputs, drop_dl=drop_dl)
