"""State form: the recurrence over per-edge K×V cell states, one level of the line DAG at a time.

Memory O(E·H·K·V): the forward fills one cell buffer in place (levels are processed in order,
and a level only reads earlier levels), and a hand-written backward (SPEC §2) sweeps the levels
in reverse with one gradient buffer, instead of letting autograd keep a copy per level.
Used for large graphs and grids, where per-graph dense matrices would not fit.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ...structure import LineDAG


def level_schedule(line_dag: LineDAG) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per level ≥ 1: (line-edge ids, their sources, their targets), grouped by target level."""
    cached = line_dag.cache.get("level_schedule")
    if cached is None:
        src, dst = line_dag.line_index
        level = line_dag.edge_level[dst]
        order = torch.argsort(level, stable=True)
        counts = torch.bincount(level, minlength=line_dag.num_levels).tolist()
        cached = [(ids, src[ids], dst[ids]) for ids in torch.split(order, counts) if ids.numel()]
        line_dag.cache["level_schedule"] = cached
    return cached


class StatePLSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                transition: Tensor, mark: Tensor, direct: Tensor, tail: Tensor, head: Tensor,
                schedule: list[tuple[Tensor, Tensor, Tensor]]) -> Tensor:
        key_t, value_t = key[tail], value[tail]
        cells = source[:, :, None, None] * key_t[..., None] * value_t[..., None, :]
        for line, src, dst in schedule:
            cells.index_add_(0, dst, transition[line, :, None, None] * cells[src])
        query_h = query[head]
        read = mark[..., None] * torch.einsum("ehk,ehkv->ehv", query_h, cells)
        qk = (query * key).sum(-1)
        out = (direct * qk)[..., None] * value
        out.index_add_(0, head, read)
        ctx.save_for_backward(query, key, value, source, transition, mark, direct, tail, head,
                              cells)
        ctx.schedule = schedule
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        query, key, value, source, transition, mark, direct, tail, head, cells = ctx.saved_tensors
        key_t, value_t = key[tail], value[tail]
        query_h, grad_h = query[head], grad_out[head]
        grad_cells = mark[:, :, None, None] * query_h[..., None] * grad_h[..., None, :]
        grad_transition = torch.zeros_like(transition)
        for line, src, dst in reversed(ctx.schedule):
            upstream = grad_cells[dst]
            grad_transition[line] = torch.einsum("lhkv,lhkv->lh", cells[src], upstream)
            grad_cells.index_add_(0, src, transition[line, :, None, None] * upstream)

        read = torch.einsum("ehkv,ehv->ehk", cells, grad_h)
        grad_mark = (query_h * read).sum(-1)
        to_key = torch.einsum("ehkv,ehv->ehk", grad_cells, value_t)
        to_value = torch.einsum("ehkv,ehk->ehv", grad_cells, key_t)
        grad_source = (key_t * to_key).sum(-1)

        qk = (query * key).sum(-1)
        v_dy = (value * grad_out).sum(-1)
        grad_direct = qk * v_dy
        scale = (direct * v_dy)[..., None]
        grad_query = (scale * key).index_add_(0, head, mark[..., None] * read)
        grad_key = (scale * query).index_add_(0, tail, source[..., None] * to_key)
        grad_value = ((direct * qk)[..., None] * grad_out).index_add_(
            0, tail, source[..., None] * to_value)
        return (grad_query, grad_key, grad_value, grad_source, grad_transition, grad_mark,
                grad_direct, None, None, None)


def plstm_dag_state(query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                    transition: Tensor, mark: Tensor, direct: Tensor,
                    line_dag: LineDAG) -> Tensor:
    """State form of :func:`~plstm_geometric.ops.plstm_dag` (same signature and result)."""
    return StatePLSTM.apply(query, key, value, source, transition, mark, direct, line_dag.tail,
                            line_dag.head, level_schedule(line_dag))
