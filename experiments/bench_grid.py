"""Grid kernel benchmark: ``plstm_2d`` vs ``plstm_dag`` on the same grid DAG.

Forward + backward of the kernel alone (leaf inputs, gates already in each kernel's
layout), batch of images, float32. All kernels are timed alternately within every
repeat so that machine load hits them alike; ratios are medians of the same run.
``plstm_2d[wavefront]`` is ``chunk_size=1`` (node-level wavefront), ``plstm_2d[chunk=c]``
the chunkwise form, ``plstm_2d[auto]`` ``chunk_size=None``. The 1-minute load average
is recorded before and after each grid size.

    PYTHONPATH=. python experiments/bench_grid.py --threads 1 --repeats 7

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
from plstm_geometric.ops.grid import plstm_2d
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
    return run


def _grid_name(chunk: int) -> str:
    return "plstm_2d[wavefront]" if chunk == 1 else f"plstm_2d[chunk={chunk}]"


def bench_size(size: int, args: argparse.Namespace) -> dict:
    B, H, K, V = args.batch_size, args.heads, args.head_dim, args.head_dim
    gen = torch.Generator().manual_seed(size)
    X = Y = size
    q, k, v = (torch.randn(B, X, Y, H, d, generator=gen) for d in (K, K, V))
    q = q * K ** -0.5
    gates = [torch.rand(B, X, Y, H, generator=gen) * 0.5 for _ in range(9)]
    grid_leaves = [t.clone().requires_grad_() for t in (q, k, v, *gates)]

    start = time.perf_counter()
    dag = batched_grid_dag(B, X, Y)
    structure_s = time.perf_counter() - start
    N, E, L = dag.num_nodes, dag.num_edges, dag.num_line_edges
    dag_leaves = [t.reshape(N, H, -1).clone().requires_grad_() for t in (q, k, v)]
    dag_leaves += [(torch.rand(n, H, generator=gen) * 0.5).requires_grad_() for n in (E, L, E)]
    dag_leaves.append(gates[-1].reshape(N, H).clone().requires_grad_())

    runs = {_grid_name(c): step(lambda c=c: plstm_2d(*grid_leaves, chunk_size=c), grid_leaves)
            for c in args.chunks}
    runs["plstm_2d[auto]"] = step(lambda: plstm_2d(*grid_leaves), grid_leaves)
    runs["plstm_dag"] = step(lambda: plstm_dag(*dag_leaves, dag), dag_leaves)
    load_before = os.getloadavg()[0]
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    best = min((_grid_name(c) for c in args.chunks), key=ms.get)
    return dict(size=size, nodes_per_image=X * Y, dag_edges=E, line_edges=L,
                structure_build_s=structure_s, load_avg_1min=(load_before, os.getloadavg()[0]),
                ms=ms, best_grid=best,
                dag_over_best_grid=ms["plstm_dag"] / ms[best],
                dag_over_auto_grid=ms["plstm_dag"] / ms["plstm_2d[auto]"],
                dag_over_grid={n: ms["plstm_dag"] / t for n, t in ms.items() if n != "plstm_dag"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="plstm_2d chunk sizes to time; 1 is the node-level wavefront")
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
              + f" -> plstm_dag / {r['best_grid']} = {r['dag_over_best_grid']:.2f}x, "
              f"plstm_dag / plstm_2d[auto] = {r['dag_over_auto_grid']:.2f}x, "
              f"load {r['load_avg_1min'][0]:.2f} -> {r['load_avg_1min'][1]:.2f}", flush=True)

    print(f"\nforward+backward, batch {args.batch_size}, {args.heads} heads, K=V={args.head_dim}, "
          f"float32, {torch.get_num_threads()} threads (median of {args.repeats})")
    names = list(rows[0]["ms"])
    print(f"{'grid':>7s} " + " ".join(f"{n:>20s}" for n in names)
          + f" {'dag/best grid':>14s} {'dag/auto grid':>14s} {'load':>11s}")
    for r in rows:
        print(f"{r['size']:>4d}^2 " + " ".join(f"{r['ms'][n]:17.1f} ms" for n in names)
              + f" {r['dag_over_best_grid']:13.2f}x {r['dag_over_auto_grid']:13.2f}x"
              + " {:5.2f}-{:5.2f}".format(*r["load_avg_1min"]))
    result = {"machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__},
              "setup": {"batch_size": args.batch_size, "heads": args.heads,
                        "head_dim": args.head_dim, "repeats": args.repeats,
                        "dtype": "float32", "pass": "forward+backward"},
              "rows": rows}
    save_json(result, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
