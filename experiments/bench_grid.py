"""Grid kernel benchmark: ``plstm_2d`` vs ``plstm_dag`` on the same grid DAG.

Forward + backward of the kernel alone (leaf inputs, gates already in each kernel's
layout), batch of images, float32. All kernels are timed alternately within every
repeat so that machine load hits them alike; ratios are medians of the same run.
``plstm_2d[dense]``, ``[wavefront]``, ``[chunk=c]`` (the chunkwise form) and ``[auto]`` are
the forms of ``plstm_2d``. With ``--orientations 4`` every grid kernel runs the four
orientations of a vision layer in one ``plstm_2d_orientations`` call (gates per
orientation) and ``plstm_dag`` runs the four oriented DAGs as one batch: the workload that
``form="auto"`` is tuned for. The 1-minute load average is recorded before and after each
grid size.

    PYTHONPATH=. python experiments/bench_grid.py --threads 1 --repeats 7
    PYTHONPATH=. python experiments/bench_grid.py --threads 1 --orientations 4 --batch-size 32 \
        --sizes 8 12 16 24 --no-dag

Prints a table and writes JSON (default ``experiments/results/bench_grid.json``).
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

from plstm_geometric.ops.dag import plstm_dag
from plstm_geometric.ops.grid import plstm_2d_orientations
from plstm_geometric.structure import LineDAG, grid_edge_index
from plstm_geometric.train.io import save_json


def batched_grid_dag(B: int, X: int, Y: int) -> LineDAG:
    n = X * Y
    e = grid_edge_index(X, Y)
    edge_index = torch.cat([e + b * n for b in range(B)], 1)
    batch = torch.arange(B).repeat_interleave(n)
    return LineDAG.from_graph(edge_index, B * n, mode="P", prune=None, batch=batch)


def step(fn: Callable[[], torch.Tensor], leaves: list[torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        for t in leaves:
            t.grad = None
        fn().square().mean().backward()
        if leaves[0].is_cuda:
            torch.cuda.synchronize()  # time the kernels, not their launch
    return run


def time_alternately(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each run after one warm-up call; every repeat calls all runs in
    turn, so that machine load hits them alike."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


FLIPS = [(False, False), (True, False), (False, True), (True, True)]
GRID_FORMS = ("dense", "wavefront")


def _grid_name(form: str) -> str:
    return f"plstm_2d[{form}]"


def bench_size(size: int, args: argparse.Namespace) -> dict:
    B, H, K, V, O = args.batch_size, args.heads, args.head_dim, args.head_dim, args.orientations
    gen = torch.Generator().manual_seed(size)
    X = Y = size
    q, k, v = (torch.randn(B, X, Y, H, d, generator=gen) for d in (K, K, V))
    q = q * K ** -0.5
    gates = [torch.rand(B, O, X, Y, H, generator=gen) * 0.5 for _ in range(9)]
    grid_leaves = [t.to(args.device).requires_grad_() for t in (q, k, v, *gates)]
    flips = FLIPS[:O]

    def grid(**kw):
        return lambda: plstm_2d_orientations(*grid_leaves, flips=flips, **kw)

    runs = {_grid_name(f): step(grid(form=f), grid_leaves) for f in GRID_FORMS}
    for c in args.chunks:
        runs[f"plstm_2d[chunk={c}]"] = step(grid(form="chunkwise", chunk_size=c), grid_leaves)
    runs["plstm_2d[auto]"] = step(grid(), grid_leaves)
    row: dict = dict(size=size, nodes_per_image=X * Y)
    if not args.no_dag:
        # The O oriented copies of every image run as one batch of the unflipped DAG.
        start = time.perf_counter()
        dag = batched_grid_dag(B * O, X, Y).to(args.device)
        row["structure_build_s"] = time.perf_counter() - start
        N, E, L = dag.num_nodes, dag.num_edges, dag.num_line_edges
        dag_leaves = [t.repeat(O, 1, 1, 1, 1).reshape(N, H, -1) for t in (q, k, v)]
        dag_leaves += [torch.rand(n, H, generator=gen) * 0.5 for n in (E, L, E)]
        dag_leaves.append(gates[-1].transpose(0, 1).reshape(N, H))
        dag_leaves = [t.to(args.device).requires_grad_() for t in dag_leaves]
        runs["plstm_dag"] = step(lambda: plstm_dag(*dag_leaves, dag), dag_leaves)
        row.update(dag_edges=E // (B * O), line_edges=L // (B * O))
    load_before = os.getloadavg()[0]
    ms = time_alternately(runs, args.repeats)
    grid_names = [n for n in ms if n.startswith("plstm_2d[") and n != "plstm_2d[auto]"]
    best = min(grid_names, key=ms.get)
    row.update(load_avg_1min=(load_before, os.getloadavg()[0]), ms=ms, best_grid=best,
               auto_over_best=ms["plstm_2d[auto]"] / ms[best])
    if "plstm_dag" in ms:
        row.update(dag_over_best_grid=ms["plstm_dag"] / ms[best],
                   dag_over_auto_grid=ms["plstm_dag"] / ms["plstm_2d[auto]"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--chunks", type=int, nargs="*", default=[2, 4, 8],
                        help="chunk sizes of the chunkwise form to time")
    parser.add_argument("--orientations", type=int, default=1, choices=(1, 2, 4))
    parser.add_argument("--no-dag", action="store_true", help="do not time plstm_dag")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "bench_grid.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for size in args.sizes:
        rows.append(bench_size(size, args))
        r = rows[-1]
        print(f"{size}x{size}: " + ", ".join(f"{n} {t:.1f} ms" for n, t in r["ms"].items())
              + f" -> best {r['best_grid']}, auto / best = {r['auto_over_best']:.2f}"
              + (f", plstm_dag / auto = {r['dag_over_auto_grid']:.2f}x" if "plstm_dag" in r["ms"]
                 else "")
              + f", load {r['load_avg_1min'][0]:.2f} -> {r['load_avg_1min'][1]:.2f}", flush=True)

    print(f"\nforward+backward, batch {args.batch_size}, {args.orientations} orientation(s), "
          f"{args.heads} heads, K=V={args.head_dim}, float32, {torch.get_num_threads()} threads "
          f"(median of {args.repeats})")
    names = list(rows[0]["ms"])
    print(f"{'grid':>7s} " + " ".join(f"{n:>20s}" for n in names) + f" {'best':>20s} {'load':>11s}")
    for r in rows:
        print(f"{r['size']:>4d}^2 " + " ".join(f"{r['ms'][n]:17.1f} ms" for n in names)
              + f" {r['best_grid']:>20s}" + " {:5.2f}-{:5.2f}".format(*r["load_avg_1min"]))
    result = {"machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                          "device": args.device,
                          "torch": torch.__version__},
              "setup": {"batch_size": args.batch_size, "orientations": args.orientations,
                        "heads": args.heads,
                        "head_dim": args.head_dim, "repeats": args.repeats,
                        "dtype": "float32", "pass": "forward+backward"},
              "rows": rows}
    save_json(result, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
