"""The layers against their independent reference (``tests/layer_reference.py``, SPEC §4/§5).

All parameters are randomised first: at init the gate weights are zero and the S/M/D biases
equal, so swapped gates, nodes or weight blocks would not change a single number.

Mutations of the library these tests catch (``experiments/mutation_check.py`` applies them and
more; results in docs/design.md, "Tests with teeth"):

- τ read at the tail of e' instead of the shared node n = h(e') = t(e)
  -> test_kernel_inputs_match_reference, test_layer_matches_reference (P and D)
- ``p_norm="out"`` normalising over the incoming group -> the same tests, ``P-out`` cases
- the mark gate read at the tail instead of the head -> the same tests, every case
- the two edge-feature parts of τ swapped -> the same tests, ``edges`` cases
- PLSTM2D D-mode S_r and S_d swapped -> test_plstm2d_matches_reference, ``D`` cases
"""
from __future__ import annotations

import pytest
import torch
from helpers import random_graph
from layer_reference import (conv_kernel_inputs, conv_reference, plstm2d_reference,
                             randomize_all)
from torch_geometric.data import Batch, Data

from plstm_geometric import LineDAG, PLSTM2D, PLSTMConv

NAMES = ("query", "key", "value", "source", "transition", "mark", "direct")
TOL = dict(atol=1e-10, rtol=1e-10)


def graph_batch(in_channels: int, edge_dim: int | None, seed: int = 0) -> Batch:
    """Random graphs with parallel edges (distinct features), isolated nodes and a one-node
    graph, batched."""
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for n in (7, 1, 10, 6):
        ei = random_graph(n, 0.5, torch.Generator().manual_seed(seed * 100 + n))
        if ei.size(1):  # a parallel copy of the first edge, in both directions
            ei = torch.cat([ei, ei[:, :1], ei[:, :1].flip(0)], 1)
        num_nodes = n + 1 if n > 1 else n  # one isolated node per graph
        graphs.append(Data(
            x=torch.randn(num_nodes, in_channels, generator=gen, dtype=torch.float64),
            edge_index=ei, edge_attr=None if edge_dim is None else
            torch.randn(ei.size(1), edge_dim, generator=gen, dtype=torch.float64)))
    return Batch.from_data_list(graphs)


CONV_CASES = [("P", "out", False), ("P", "in", False), ("D", "out", False),
              ("P", "out", True), ("D", "out", True)]


def build_conv(mode: str, p_norm: str, reverse: bool, edge_dim: int | None,
               scale_qk: bool = False, **options) -> PLSTMConv:
    conv = PLSTMConv(6, 8, heads=2, mode=mode, p_norm=p_norm, reverse=reverse, edge_dim=edge_dim,
                     key_dim=3, value_dim=4, scale_qk=scale_qk, **options).double()
    return randomize_all(conv, seed=1)


def case_id(case) -> str:
    mode, p_norm, reverse = case
    return f"{mode}-{p_norm}" + ("-reverse" if reverse else "")


@pytest.mark.parametrize("edge_dim", [None, 3], ids=["no-edges", "edges"])
@pytest.mark.parametrize("case", CONV_CASES, ids=case_id)
def test_kernel_inputs_match_reference(case, edge_dim):
    mode, p_norm, reverse = case
    conv = build_conv(mode, p_norm, reverse, edge_dim)
    data = graph_batch(6, edge_dim)
    dag = LineDAG.from_graph(data.edge_index, data.num_nodes, mode=mode, reverse=reverse,
                             batch=data.batch)
    assert dag.num_line_edges > 40
    with torch.no_grad():
        got = conv.kernel_inputs(data.x, dag, data.edge_attr)
        expected = conv_kernel_inputs(conv, data.x, data.edge_index, dag, data.edge_attr)
    for name, a, b in zip(NAMES, got, expected):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("edge_dim", [None, 3], ids=["no-edges", "edges"])
@pytest.mark.parametrize("case", CONV_CASES, ids=case_id)
def test_layer_matches_reference(case, edge_dim):
    """The whole layer: reference gates -> ``plstm_dag_reference`` -> RMSNorm -> out."""
    mode, p_norm, reverse = case
    conv = build_conv(mode, p_norm, reverse, edge_dim, scale_qk=reverse)
    data = graph_batch(6, edge_dim, seed=2)
    with torch.no_grad():
        got = conv(data.x, data.edge_index, data.edge_attr, data.batch)
        expected = conv_reference(conv, data.x, data.edge_index, data.edge_attr, data.batch)
    assert float(expected.std()) > 0.1
    torch.testing.assert_close(got, expected, **TOL)


@pytest.mark.parametrize("options", [dict(qk_norm=True), dict(norm="none"), dict(out_gate=True),
                                     dict(qk_norm=True, norm="none", out_gate=True)],
                         ids=["qk_norm", "no-norm", "out_gate", "all"])
@pytest.mark.parametrize("mode", ["P", "D"])
def test_layer_options_match_reference(mode, options):
    """The collapse-study options (docs/results.md) against the reference written from their
    docstrings: L2-normalised q / k, no norm, output gate σ(W_o x)."""
    conv = build_conv(mode, "out", False, 3, **options)
    data = graph_batch(6, 3, seed=3)
    with torch.no_grad():
        got = conv(data.x, data.edge_index, data.edge_attr, data.batch)
        expected = conv_reference(conv, data.x, data.edge_index, data.edge_attr, data.batch)
    assert float(expected.std()) > 0.1
    torch.testing.assert_close(got, expected, **TOL)


@pytest.mark.parametrize("X,Y", [(3, 4), (4, 2)])
@pytest.mark.parametrize("mode", ["P", "D"])
def test_plstm2d_matches_reference(mode, X, Y):
    """PLSTM2D's gate mapping (SPEC §5) against per-node grid DAGs and ``plstm_dag_reference``,
    all four orientations."""
    layer = randomize_all(PLSTM2D(8, 6, heads=2, mode=mode, chunk_size=2).double(), seed=3)
    x = torch.randn(2, X, Y, 8, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        got = layer(x)
        expected = plstm2d_reference(layer, x)
    assert float(expected.std()) > 0.1
    torch.testing.assert_close(got, expected, **TOL)
