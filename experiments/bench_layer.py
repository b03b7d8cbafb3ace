"""Layer benchmark: PLSTMConv vs PyG GINEConv and vs the sequential reference kernel.

All numbers come from this run on this machine; ratios compare timings taken in the same run.

    python experiments/bench_layer.py --csv ../shared/datasets/moleculenet/HIV.csv

Prints a table and writes JSON (default ``experiments/results/bench_layer.json``).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINEConv

from plstm_geometric import AddLineDAG, PLSTMConv, plstm_dag, plstm_dag_reference
from plstm_geometric.utils import smiles_to_data
from plstm_geometric.train.io import save_json

DEFAULT_CSV = Path(os.environ.get("PLSTM_SHARED", Path(__file__).resolve().parents[2] / "shared")
                   ) / "datasets" / "moleculenet" / "HIV.csv"


def load_molecules(csv: Path, count: int) -> list[Data]:
    import pandas as pd

    if not csv.exists():
        raise SystemExit(f"HIV.csv not found at {csv}: pass --csv PATH (MoleculeNet HIV.csv, "
                         "e.g. ../shared/datasets/moleculenet/HIV.csv)")
    graphs = []
    for smiles in pd.read_csv(csv)["smiles"]:
        data = smiles_to_data(smiles)
        if data is None:
            continue
        del data.smiles  # the benchmark batches tensors only
        graphs.append(data)
        if len(graphs) == count:
            break
    return graphs


def timed(fn: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``fn`` in seconds after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fwd_bwd(module_call: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def step() -> None:
        module_call().square().mean().backward()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-molecules", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                        "bench_layer.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from ogb.graphproppred.mol_encoder import AtomEncoder, BondEncoder

    graphs = load_molecules(args.csv, args.batch_size * args.batches)
    transform = AddLineDAG()
    start = time.perf_counter()
    graphs = [transform(g) for g in graphs]
    preprocess_ms = 1e3 * (time.perf_counter() - start) / len(graphs)

    h = args.hidden
    atom, bond = AtomEncoder(h), BondEncoder(h)
    gine = GINEConv(torch.nn.Sequential(torch.nn.Linear(h, h), torch.nn.ReLU(),
                                        torch.nn.Linear(h, h)))
    convs = {form: PLSTMConv(h, h, heads=args.heads, edge_dim=h, form=form)
             for form in ("auto", "dense", "state")}
    batches = []
    for i in range(args.batches):
        b = Batch.from_data_list(graphs[i * args.batch_size:(i + 1) * args.batch_size])
        with torch.no_grad():
            x, e = atom(b.x), bond(b.edge_attr)
        batches.append((b, x.requires_grad_(), e.requires_grad_()))

    def per_batch(call) -> float:
        return statistics.mean(timed(fwd_bwd(lambda: call(b, x, e)), args.repeats)
                               for b, x, e in batches)

    rows = {"GINEConv": per_batch(lambda b, x, e: gine(x, b.edge_index, e))}
    for form, conv in convs.items():
        rows[f"PLSTMConv[{form}]"] = per_batch(
            lambda b, x, e, c=conv: c(x, b.edge_index, e, b.batch, line_dag=b))
    conv = convs["auto"]
    rows["PLSTMConv gates+projections"] = per_batch(
        lambda b, x, e: sum(t.sum() for t in conv.kernel_inputs(x, b.line_dag("P"), e)))

    # Kernel alone: batched plstm_dag vs the sequential reference, same inputs, per molecule.
    b, x, e = batches[0]
    dag = b.line_dag("P")
    with torch.no_grad():
        inputs = [t.detach() for t in conv.kernel_inputs(x, dag, e)]
    leaf = [t.clone().requires_grad_() for t in inputs]
    kernel_ms = 1e3 * timed(fwd_bwd(lambda: plstm_dag(*leaf, dag)), args.repeats) / b.num_graphs
    ref_graphs = graphs[:args.reference_molecules]
    ref_times = []
    for g in ref_graphs:
        gx, ge = atom(g.x).detach(), bond(g.edge_attr).detach()
        gdag = g.line_dag("P")
        with torch.no_grad():
            gin = [t.detach().requires_grad_() for t in conv.kernel_inputs(gx, gdag, ge)]
        ref_times.append(timed(fwd_bwd(lambda: plstm_dag_reference(*gin, gdag)), 2))
        # The authors' way end to end: the same layer, one graph at a time, sequential kernel.
    reference_ms = 1e3 * statistics.mean(ref_times)
    layer_ref_times = []
    conv_ref = PLSTMConv(h, h, heads=args.heads, edge_dim=h)
    conv_ref.load_state_dict(conv.state_dict())
    for g in ref_graphs:
        gx, ge = atom(g.x).detach().requires_grad_(), bond(g.edge_attr).detach()
        gdag = g.line_dag("P")

        def one_graph() -> torch.Tensor:
            y = plstm_dag_reference(*conv_ref.kernel_inputs(gx, gdag, ge), gdag)
            return conv_ref.out(conv_ref.norm(y).reshape(gx.size(0), -1))
        layer_ref_times.append(timed(fwd_bwd(one_graph), 2))
    layer_reference_ms = 1e3 * statistics.mean(layer_ref_times)

    nodes = statistics.mean(bb.num_nodes for bb, _, _ in batches)
    gine_ms = 1e3 * rows["GINEConv"]
    result = {
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "setup": {"batch_size": args.batch_size, "batches": args.batches, "hidden": h,
                  "heads": args.heads, "mean_nodes_per_batch": nodes, "csv": str(args.csv)},
        "per_batch_ms": {k: 1e3 * v for k, v in rows.items()},
        "ratio_to_GINEConv": {k: v / rows["GINEConv"] for k, v in rows.items()},
        "preprocess_ms_per_molecule": preprocess_ms,
        "kernel_ms_per_molecule": {"plstm_dag (batched)": kernel_ms,
                                   "plstm_dag_reference": reference_ms,
                                   "speedup": reference_ms / kernel_ms},
        "layer_ms_per_molecule": {
            "PLSTMConv (batched)": 1e3 * rows["PLSTMConv[auto]"] / args.batch_size,
            "PLSTMConv with reference kernel, one graph at a time": layer_reference_ms,
            "speedup": layer_reference_ms / (1e3 * rows["PLSTMConv[auto]"] / args.batch_size)},
    }
    print(f"forward+backward per batch of {args.batch_size} HIV molecules "
          f"(~{nodes:.0f} nodes), hidden {h}, {args.heads} heads, {torch.get_num_threads()} threads")
    print(f"{'layer':32s} {'ms/batch':>10s} {'x GINEConv':>11s}")
    for k, v in rows.items():
        print(f"{k:32s} {1e3 * v:10.2f} {1e3 * v / gine_ms:11.2f}")
    print(f"structure preprocessing (AddLineDAG, 4 structures): {preprocess_ms:.2f} ms/molecule")
    print(f"kernel per molecule: batched {kernel_ms:.4f} ms vs sequential reference "
          f"{reference_ms:.2f} ms -> {reference_ms / kernel_ms:.0f}x")
    print(f"layer per molecule: batched {result['layer_ms_per_molecule']['PLSTMConv (batched)']:.4f}"
          f" ms vs one-graph-at-a-time reference {layer_reference_ms:.2f} ms -> "
          f"{result['layer_ms_per_molecule']['speedup']:.0f}x")
    save_json(result, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
