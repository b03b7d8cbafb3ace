"""Layer benchmark: PLSTMConv vs PyG GINEConv and vs the sequential reference kernel.

All numbers come from this run on this machine; ratios compare timings taken in the same run.

    python experiments/bench_layer.py --csv ../shared/datasets/moleculenet/HIV.csv
    python experiments/bench_layer.py --threads 1 --repeats 3   # the acceptance run
    python experiments/bench_layer.py --device cuda              # experiments/gpu_check.sh

Rows are timed in interleaved rounds (every round runs every row once) and the median round
is reported, so that load changes hit all rows alike. Prints a table and writes JSON (default
``experiments/results/bench_layer.json``).
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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock_fn(name: str) -> Callable[[], float]:
    """``wall``: ``time.perf_counter``; ``cpu``: this process's CPU time, which a loaded machine
    inflates less (other processes' time is not counted; 1 thread only)."""
    return time.perf_counter if name == "wall" else time.process_time


def timed(fn: Callable[[], None], repeats: int, device: torch.device,
          clock: Callable[[], float] = time.perf_counter) -> float:
    """Median time of ``fn`` in seconds after one warm-up call."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        sync(device)
        times.append(clock() - start)
    return statistics.median(times)


def interleaved(rows: dict[str, Callable[[], None]], repeats: int, device: torch.device,
                clock: Callable[[], float]) -> dict[str, float]:
    """Median seconds per row over ``repeats`` rounds; each round runs every row once, so load
    changes during the run hit all rows alike and the same-run ratios stay comparable."""
    for fn in rows.values():
        fn()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, fn in rows.items():
            start = clock()
            fn()
            sync(device)
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def fwd_bwd(module_call: Callable[[], torch.Tensor]) -> Callable[[], None]:
    def step() -> None:
        module_call().square().mean().backward()
    return step


def profile_table(step: Callable[[], None], rows: int = 25) -> str:
    """``torch.profiler`` per-op table (self CPU time) of five calls of ``step``."""
    from torch.profiler import ProfilerActivity, profile

    step()
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for _ in range(5):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def long_path(nodes: int, hidden: int, heads: int, repeats: int, device: torch.device,
              clock: Callable[[], float]) -> dict[str, float]:
    """Forward of PLSTMConv on a path of ``nodes`` nodes, structure built on the fly (seconds)."""
    a = torch.arange(nodes - 1, device=device)
    edge_index = torch.stack([torch.cat([a, a + 1]), torch.cat([a + 1, a])])
    x = torch.randn(nodes, hidden, device=device)
    result = {}
    for mode in ("P", "D"):
        conv = PLSTMConv(hidden, hidden, heads=heads, mode=mode).to(device)
        with torch.no_grad():
            result[mode] = timed(lambda: conv(x, edge_index), repeats, device, clock)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed rounds; every round runs every row once (interleaved), and "
                             "the table shows the median round per row")
    parser.add_argument("--reference-molecules", type=int, default=16)
    parser.add_argument("--path-nodes", type=int, default=100_000,
                        help="nodes of the long-path forward (P and D, structure on the fly); "
                             "0 skips it")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time (default) or this process's CPU time (less inflated on "
                             "a loaded machine; CPU and 1 thread only)")
    parser.add_argument("--profile", action="store_true",
                        help="also print torch.profiler's per-op table of PLSTMConv fwd+bwd")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                        "bench_layer.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.clock == "cpu" and device.type != "cpu":
        raise SystemExit("--clock cpu measures CPU time and needs --device cpu")
    clock = clock_fn(args.clock)
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
                                        torch.nn.Linear(h, h))).to(device)
    convs = {form: PLSTMConv(h, h, heads=args.heads, edge_dim=h, form=form).to(device)
             for form in ("auto", "dense", "state")}
    batches = []
    for i in range(args.batches):
        b = Batch.from_data_list(graphs[i * args.batch_size:(i + 1) * args.batch_size])
        with torch.no_grad():
            x, e = atom(b.x), bond(b.edge_attr)
        b = b.to(device)
        batches.append((b, x.to(device).requires_grad_(), e.to(device).requires_grad_()))

    def per_batch(call) -> Callable[[], None]:
        steps = [fwd_bwd(lambda b=b, x=x, e=e: call(b, x, e)) for b, x, e in batches]
        return lambda: [step() for step in steps] and None

    conv = convs["auto"]
    rows = {"GINEConv": per_batch(lambda b, x, e: gine(x, b.edge_index, e))}
    for form, c in convs.items():
        rows[f"PLSTMConv[{form}]"] = per_batch(
            lambda b, x, e, c=c: c(x, b.edge_index, e, b.batch, line_dag=b))
    rows["PLSTMConv[auto] on the fly"] = per_batch(lambda b, x, e: conv(x, b.edge_index, e, b.batch))
    rows["PLSTMConv gates+projections"] = per_batch(
        lambda b, x, e: sum(t.sum() for t in conv.kernel_inputs(x, b.line_dag("P"), e)))
    rows = {k: v / args.batches for k, v in interleaved(rows, args.repeats, device, clock).items()}

    # Kernel alone: batched plstm_dag vs the sequential reference, same inputs, per molecule.
    b, x, e = batches[0]
    dag = b.line_dag("P")
    with torch.no_grad():
        inputs = [t.detach() for t in conv.kernel_inputs(x, dag, e)]
    leaf = [t.clone().requires_grad_() for t in inputs]
    kernel_ms = 1e3 * timed(fwd_bwd(lambda: plstm_dag(*leaf, dag)), args.repeats, device,
                            clock) / b.num_graphs
    # The sequential oracle and the authors' way end to end (the same layer, one graph at a
    # time, sequential kernel) run on the CPU: they are Python loops over edges.
    ref_graphs = graphs[:args.reference_molecules]
    conv_ref = PLSTMConv(h, h, heads=args.heads, edge_dim=h)
    conv_ref.load_state_dict(conv.state_dict())
    cpu = torch.device("cpu")
    ref_times, layer_ref_times = [], []
    for g in ref_graphs:
        gx, ge = atom(g.x).detach().requires_grad_(), bond(g.edge_attr).detach()
        gdag = g.line_dag("P")
        with torch.no_grad():
            gin = [t.detach().requires_grad_() for t in conv_ref.kernel_inputs(gx, gdag, ge)]
        ref_times.append(timed(fwd_bwd(lambda: plstm_dag_reference(*gin, gdag)), 2, cpu, clock))

        def one_graph() -> torch.Tensor:
            y = plstm_dag_reference(*conv_ref.kernel_inputs(gx, gdag, ge), gdag)
            return conv_ref.out(conv_ref.norm(y).reshape(gx.size(0), -1))
        layer_ref_times.append(timed(fwd_bwd(one_graph), 2, cpu, clock))
    reference_ms = 1e3 * statistics.mean(ref_times)
    layer_reference_ms = 1e3 * statistics.mean(layer_ref_times)
    path_s = long_path(args.path_nodes, h, args.heads, min(args.repeats, 3), device, clock) \
        if args.path_nodes else {}

    nodes = statistics.mean(bb.num_nodes for bb, _, _ in batches)
    gine_ms = 1e3 * rows["GINEConv"]
    layer_ms = 1e3 * rows["PLSTMConv[auto]"] / args.batch_size
    result = {
        "machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "device": str(device), "clock": args.clock,
                    "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "setup": {"batch_size": args.batch_size, "batches": args.batches, "hidden": h,
                  "heads": args.heads, "mean_nodes_per_batch": nodes, "csv": str(args.csv),
                  "repeats": args.repeats},
        "per_batch_ms": {k: 1e3 * v for k, v in rows.items()},
        "ratio_to_GINEConv": {k: v / rows["GINEConv"] for k, v in rows.items()},
        "preprocess_ms_per_molecule": preprocess_ms,
        "kernel_ms_per_molecule": {"plstm_dag (batched)": kernel_ms,
                                   "plstm_dag_reference": reference_ms,
                                   "speedup": reference_ms / kernel_ms},
        "layer_ms_per_molecule": {
            "PLSTMConv (batched)": layer_ms,
            "PLSTMConv with reference kernel, one graph at a time": layer_reference_ms,
            "speedup": layer_reference_ms / layer_ms},
        "long_path_forward_s": {"nodes": args.path_nodes, **path_s},
    }
    print(f"forward+backward per batch of {args.batch_size} HIV molecules "
          f"(~{nodes:.0f} nodes), hidden {h}, {args.heads} heads, {torch.get_num_threads()} "
          f"threads, {device}, {args.clock} clock, medians of {args.repeats} interleaved rounds")
    print(f"{'layer':32s} {'ms/batch':>10s} {'x GINEConv':>11s}")
    for k, v in rows.items():
        print(f"{k:32s} {1e3 * v:10.2f} {1e3 * v / gine_ms:11.2f}")
    print(f"structure preprocessing (AddLineDAG, 4 structures): {preprocess_ms:.2f} ms/molecule")
    print(f"kernel per molecule: batched {kernel_ms:.4f} ms vs sequential reference "
          f"{reference_ms:.2f} ms -> {reference_ms / kernel_ms:.0f}x")
    print(f"layer per molecule: batched {layer_ms:.4f} ms vs one-graph-at-a-time reference "
          f"{layer_reference_ms:.2f} ms -> {layer_reference_ms / layer_ms:.0f}x")
    if path_s:
        print(f"{args.path_nodes}-node path, forward, structure on the fly: "
              f"P {path_s['P']:.2f} s, D {path_s['D']:.2f} s")
    if args.profile:
        print("\ntorch.profiler, PLSTMConv[auto] fwd+bwd, batch 0, 5 calls:")
        print(profile_table(fwd_bwd(lambda: conv(x, b.edge_index, e, b.batch, line_dag=b))))
    save_json(result, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
