"""The obviously-correct sequential pLSTM DAG kernel: one Python step per DAG edge and node.

Used by tests as the oracle and by the layer benchmark as the authors'-style baseline. It orders
line nodes with its own Kahn sweep, so it does not trust ``LineDAG.edge_level``.
"""
from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from ...structure import LineDAG


def plstm_dag_reference(query: Tensor, key: Tensor, value: Tensor, source: Tensor,
                        transition: Tensor, mark: Tensor, direct: Tensor, line_dag: LineDAG, *,
                        return_cells: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    r"""Sequential form of :func:`~plstm_geometric.ops.plstm_dag` (same signature and result).

    .. math::
        C_e = \sum_{e' \to e} T_{e'\to e} C_{e'} + S_e\, k_{t(e)} v_{t(e)}^\top, \qquad
        y_n = \sum_{h(e) = n} M_e\, C_e^\top q_n + D_n (q_n \cdot k_n)\, v_n

    With ``return_cells=True`` also returns the cell states ``[E, H, K, V]``.
    """
    tail, head = line_dag.dag_edge_index.tolist()
    src, dst = line_dag.line_index.tolist()
    num_edges = len(tail)
    preds: list[list[tuple[int, int]]] = [[] for _ in range(num_edges)]
    succs: list[list[int]] = [[] for _ in range(num_edges)]
    for line, (a, b) in enumerate(zip(src, dst)):
        preds[b].append((line, a))
        succs[a].append(b)
    waiting = [len(p) for p in preds]
    ready = deque(e for e in range(num_edges) if waiting[e] == 0)
    cells: list[Tensor | None] = [None] * num_edges
    while ready:
        e = ready.popleft()
        cell = source[e, :, None, None] * key[tail[e], :, :, None] * value[tail[e], :, None, :]
        for line, a in preds[e]:
            cell = cell + transition[line, :, None, None] * cells[a]
        cells[e] = cell
        for b in succs[e]:
            waiting[b] -= 1
            if waiting[b] == 0:
                ready.append(b)
    if any(c is None for c in cells):
        raise ValueError("line DAG has a cycle")

    incoming: list[list[int]] = [[] for _ in range(query.size(0))]
    for e, h in enumerate(head):
        incoming[h].append(e)
    outputs = []
    for n in range(query.size(0)):
        y = direct[n, :, None] * (query[n] * key[n]).sum(-1, keepdim=True) * value[n]
        for e in incoming[n]:
            y = y + mark[e, :, None] * torch.einsum("hk,hkv->hv", query[n], cells[e])
        outputs.append(y)
    out = torch.stack(outputs) if outputs else value.new_zeros(value.shape)
    if return_cells:
        empty = value.new_zeros(0, *key.shape[1:], value.size(-1))
        return out, torch.stack(cells) if cells else empty
    return out
