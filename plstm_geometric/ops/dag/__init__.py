"""The pLSTM kernel on DAGs: ``plstm_dag`` (level-parallel forms) and its sequential oracle."""
from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor

from ...structure import LineDAG
from ..utils import call_in_recurrence_dtype
from .chain import chain_layout, plstm_dag_chain
from .compiled import plstm_dag_compiled, unavailable_reason
from .dense import plstm_dag_dense
from .reference import plstm_dag_reference
from .state import plstm_dag_state

Form = Literal["auto", "dense", "compiled", "state", "chain"]
FORMS: dict[str, Callable[..., Tensor]] = {"dense": plstm_dag_dense, "compiled": plstm_dag_compiled,
                                          "state": plstm_dag_state, "chain": plstm_dag_chain}

#: Graphs up to this many DAG edges run in the dense per-graph form under ``form="auto"`` (the
#: compiled one on the CPU). Above it the E² matrices of the torch dense form cost more than the
#: K·V cell states (measured in ``experiments/bench_layer.py``; not remeasured for the compiled
#: form, which forms no E² matrix).
DENSE_MAX_EDGES = 256


def check_shapes(query: Tensor, key: Tensor, value: Tensor, source: Tensor, transition: Tensor,
                 mark: Tensor, direct: Tensor, line_dag: LineDAG) -> None:
    n, e, l = line_dag.num_nodes, line_dag.num_edges, line_dag.num_line_edges
    if query.dim() != 3:
        raise ValueError(f"query must be [N, H, K], got {list(query.shape)}")
    h, k = query.shape[1:]
    expected = {"query": (n, h, k), "key": (n, h, k), "value": (n, h, value.size(-1)),
                "source": (e, h), "transition": (l, h), "mark": (e, h), "direct": (n, h)}
    given = {"query": query, "key": key, "value": value, "source": source,
             "transition": transition, "mark": mark, "direct": direct}
    for name, tensor in given.items():
        if tuple(tensor.shape) != expected[name]:
            raise ValueError(f"{name} must have shape {list(expected[name])} for a line DAG with "
                             f"N={n} nodes, E={e} DAG edges, L={l} line edges and H={h} heads; "
                             f"got {list(tensor.shape)}")


def choose_form(line_dag: LineDAG) -> str:
    cached = line_dag.cache.get("auto_form")
    if cached is None:
        if line_dag.num_edges == 0:
            largest = 0
        elif line_dag.batch is None:
            largest = line_dag.num_edges
        else:
            largest = int(torch.bincount(line_dag.batch[line_dag.tail]).max())
        if largest <= DENSE_MAX_EDGES:
            cached = "dense"
        else:
            cached = "chain" if chain_layout(line_dag) is not None else "state"
        line_dag.cache["auto_form"] = cached
    return cached


def plstm_dag(query: Tensor, key: Tensor, value: Tensor, source: Tensor, transition: Tensor,
              mark: Tensor, direct: Tensor, line_dag: LineDAG, *, form: Form = "auto") -> Tensor:
    r"""The pLSTM recurrence on a (batch of) DAG(s), all graphs' levels at once (SPEC §2).

    .. math::
        C_e = \sum_{e' \to e} T_{e'\to e}\, C_{e'} + S_e\, k_{t(e)} v_{t(e)}^\top, \qquad
        y_n = \sum_{h(e) = n} M_e\, C_e^\top q_n + D_n\, (q_n \cdot k_n)\, v_n

    No :math:`1/\sqrt{K}` factor is applied. The recurrence runs in float32 (float64 stays
    float64) even under autocast; the result has the dtype of ``query``.

    Args:
        query, key: ``[N, H, K]``.
        value: ``[N, H, V]``.
        source, mark: ``[E, H]`` gates of the DAG edges (``line_dag.dag_edge_index`` order).
        transition: ``[L, H]`` gates of the line edges (``line_dag.line_index`` order).
        direct: ``[N, H]``.
        line_dag: the structure (:class:`~plstm_geometric.structure.LineDAG`).
        form: ``"dense"`` (per-graph closed form, for small graphs), ``"compiled"`` (the same
            closed form as a C++ loop per graph, CPU only, built at first use; see
            :mod:`~plstm_geometric.ops.dag.compiled`), ``"state"`` (level loop
            over cell states, memory O(E·H·K·V)), ``"chain"`` (line DAGs made of chains, e.g.
            paths: :func:`~plstm_geometric.ops.chain.plstm_1d`'s chunked scan) or ``"auto"``
            (dense when every graph has at most :data:`DENSE_MAX_EDGES` DAG edges, else chain
            where it applies, else state; on the CPU compiled instead of dense where it can run).

    Returns:
        ``[N, H, V]``.
    """
    check_shapes(query, key, value, source, transition, mark, direct, line_dag)
    if form == "auto":
        form = choose_form(line_dag)
        if form == "dense" and not unavailable_reason(line_dag, query.device):
            form = "compiled"
    if form not in FORMS:
        raise ValueError(f"form must be 'auto', 'dense', 'compiled', 'state' or 'chain', got "
                         f"{form!r}")
    return call_in_recurrence_dtype(FORMS[form], query, key, value, source, transition, mark,
                                    direct, line_dag)


__all__ = ["plstm_dag", "plstm_dag_reference", "plstm_dag_dense", "plstm_dag_compiled",
           "plstm_dag_state", "plstm_dag_chain",
           "DENSE_MAX_EDGES"]
