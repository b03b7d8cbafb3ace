"""Kernel output magnitude vs graph size with layer-generated gates (P and D mode).

    python experiments/stability_sweep.py

For paths of growing length and n×n grids, runs ``plstm_dag`` with the gates a freshly
initialised ``PLSTMConv`` produces, with source/mark gates and transitions opened wide
(bias +5) so that long-range mass is as large as the layer can make it, on constant input.
A control run uses unnormalised unit transitions (T = 1), whose grid output counts lattice
paths and grows exponentially. Writes ``experiments/results/stability.json`` and prints a table.
"""
from __future__ import annotations

from pathlib import Path

import torch

from plstm_geometric import LineDAG, PLSTMConv, plstm_dag
from plstm_geometric.structure import grid_edge_index
from plstm_geometric.train.io import save_json


def path(n: int) -> torch.Tensor:
    a = torch.arange(n - 1)
    return torch.stack([torch.cat([a, a + 1]), torch.cat([a + 1, a])])


def peak(edge_index: torch.Tensor, n: int, mode: str, control: bool = False) -> float:
    torch.manual_seed(0)  # the same projections for every graph, so rows differ only by graph
    conv = PLSTMConv(8, 8, heads=2, mode=mode)
    with torch.no_grad():
        conv.node_gates.bias.view(4, 2)[:2].fill_(5.0)
        conv.node_gates.bias.view(4, 2)[3].fill_(5.0)
        dag = LineDAG.from_graph(edge_index, n, mode=mode)
        inputs = list(conv.kernel_inputs(torch.ones(n, 8), dag))
        if control:
            inputs[4] = torch.ones_like(inputs[4])
        out = plstm_dag(*[t.double() for t in inputs], dag)
        return float(out.abs().max() / inputs[2].abs().max())


def main() -> None:
    rows = []
    for n in (10, 100, 1000, 5000):
        rows.append({"graph": f"path {n}", "nodes": n, **{m: peak(path(n), n, m) for m in "PD"}})
    for side in (4, 8, 16, 32, 60):
        n = side * side
        rows.append({"graph": f"grid {side}x{side}", "nodes": n,
                     **{m: peak(grid_edge_index(side, side), n, m) for m in "PD"},
                     "control_T=1": peak(grid_edge_index(side, side), n, "P", control=True) if side <= 32 else None})
    print(f"{'graph':14s} {'nodes':>6s} {'P':>10s} {'D':>10s} {'T=1 control':>14s}")
    for r in rows:
        ctrl = r.get("control_T=1")
        print(f"{r['graph']:14s} {r['nodes']:6d} {r['P']:10.3f} {r['D']:10.3f} "
              f"{'' if ctrl is None else format(ctrl, '14.3e')}")
    out = Path(__file__).parent / "results" / "stability.json"
    save_json(rows, str(out))


if __name__ == "__main__":
    main()
