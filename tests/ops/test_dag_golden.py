"""The kernel against vectors computed by the authors' reference implementation."""
import numpy as np
import pytest
import torch
from helpers import GOLDEN

from plstm_geometric.ops import plstm_dag, plstm_dag_reference
from plstm_geometric.structure import LineDAG

CASES = sorted(GOLDEN.glob("*.npz"))
NAMES = ["query", "key", "value", "source", "transition", "mark", "direct"]
pytestmark = pytest.mark.skipif(not CASES, reason=f"no golden vectors under {GOLDEN} "
                                 "(set PLSTM_SHARED to the shared folder)")


def load(path, mode):
    d = np.load(path)
    dag = torch.tensor(d["dag_edges"]).t().contiguous()
    line = torch.tensor(d["line_edges"]).t().contiguous()
    mask = torch.tensor(d["line_mask_D"]) if mode == "D" else torch.ones(line.size(1), dtype=bool)
    ld = LineDAG.from_edges(dag, line[:, mask].contiguous(), int(d["num_nodes"]))
    node_major = lambda a: torch.tensor(a).transpose(0, 1).contiguous()  # noqa: E731
    inputs = [node_major(d[n]) for n in NAMES]
    inputs[4] = inputs[4][mask].contiguous()
    expected = {"out": node_major(d[f"out_{mode}"]), "cell": node_major(d[f"cell_{mode}"])}
    for n in NAMES:
        g = node_major(d[f"grad_{n}_{mode}"])
        expected[n] = g[mask] if n == "transition" else g
    return d, ld, inputs, node_major(d["grad_output"]), expected


@pytest.mark.parametrize("form", ["dense", "state", "reference"])
@pytest.mark.parametrize("mode", ["P", "D"])
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path, mode, form):
    d, ld, inputs, grad_output, expected = load(path, mode)
    inputs = [t.requires_grad_() for t in inputs]
    if form == "reference":
        out, cells = plstm_dag_reference(*inputs, ld, return_cells=True)
        torch.testing.assert_close(cells, expected["cell"], atol=1e-9, rtol=0)
    else:
        out = plstm_dag(*inputs, ld, form=form)
    torch.testing.assert_close(out, expected["out"], atol=1e-9, rtol=0)
    grads = torch.autograd.grad((out * grad_output).sum(), inputs, allow_unused=True)
    for name, g in zip(NAMES, grads):
        g = torch.zeros_like(expected[name]) if g is None else g
        torch.testing.assert_close(g, expected[name], atol=1e-9, rtol=0, msg=name)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_structure_from_graph(path):
    """Orientation, line edges, greedy pruning and levels equal the reference's."""
    d = np.load(path)
    dag = torch.tensor(d["dag_edges"]).t().contiguous()
    ei = torch.cat([dag, dag.flip(0)], 1)
    line = torch.tensor(d["line_edges"]).t()
    for mode, mask in (("P", torch.ones(line.size(1), dtype=bool)),
                       ("D", torch.tensor(d["line_mask_D"]))):
        ld = LineDAG.from_graph(ei, int(d["num_nodes"]), mode=mode)
        assert torch.equal(ld.dag_edge_index, dag)
        assert torch.equal(ld.line_index, line[:, mask])
        assert ld.edge_level.tolist() == d[f"line_level_{mode}"].tolist()


def test_p_norm_in_matches_reference_layer():
    """``p_norm="in"`` is the reference edge layer's normalisation (golden ``pnorm_transition``)."""
    from plstm_geometric.nn import PLSTMConv

    d = np.load(GOLDEN / "04_caffeine.npz")
    dag = torch.tensor(d["dag_edges"]).t().contiguous()
    ld = LineDAG.from_edges(dag, torch.tensor(d["line_edges"]).t().contiguous(),
                            int(d["num_nodes"]))
    conv = PLSTMConv(4, 4, heads=int(d["H"]), p_norm="in")
    tau = torch.tensor(d["transition"]).t()
    torch.testing.assert_close(conv.p_normalize(tau, ld), torch.tensor(d["pnorm_transition"]).t())
