"""Structure precompute: per-graph ``AddLineDAG`` vs ``AddLineDAG.forward_batch`` on HIV molecules.

Molecules are featurised with :func:`plstm_geometric.utils.smiles_to_data` and oriented by
the canonical-SMILES atom order (as the ogbg-molhiv pipeline does; untimed). Every path builds all
four structures (P/D x forward/reverse); the batched results are checked to equal the per-graph
ones before anything is timed. For comparison, ``--line-dag on-the-fly`` builds the same four
structures per training batch (``LineDAG.from_graph`` on a ``Batch``), again in every epoch.

    python experiments/bench_structure.py --molecules 2000 --threads 1

With ``--ogbg-molhiv-root ROOT`` (a root prepared by ``plstm-geometric prepare ogbg-molhiv``) it
also times ``forward_batch`` on all of ogbg-molhiv (read from its node-order cache, built first if
missing) and the whole structure cache as training builds it (OGB loading, canonical-SMILES node
order, structures, saving), which it writes to ``ROOT/ogbg_molhiv/processed_<key>/``.

Prints a table and writes JSON (default ``experiments/results/bench_structure.json``).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from torch_geometric.data import Batch
from torch_geometric.transforms import Compose

from plstm_geometric import AddLineDAG, LineDAG
from plstm_geometric.train import load_task, transform_key
from plstm_geometric.utils import smiles_to_data
from plstm_geometric.train.factory import structure_transform
from plstm_geometric.train.io import save_json
from plstm_geometric.transforms.line_dag import CHUNK_EDGES
from plstm_geometric.transforms.node_order import CanonicalSmilesOrder

DEFAULT_CSV = Path(os.environ.get("PLSTM_SHARED", Path(__file__).resolve().parents[2] / "shared")
                   ) / "datasets" / "moleculenet" / "HIV.csv"


def load(csv: Path, count: int) -> list:
    """The first ``count`` parseable molecules of ``csv`` with their canonical-SMILES node order."""
    import pandas as pd

    if not csv.exists():
        raise SystemExit(f"HIV.csv not found at {csv}: pass --csv PATH")
    order = CanonicalSmilesOrder()
    graphs = []
    for smiles in pd.read_csv(csv)["smiles"]:
        data = smiles_to_data(smiles)
        if data is not None:
            graphs.append(order(data))
        if len(graphs) == count:
            break
    return graphs


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def molhiv(root: Path) -> dict:
    """Seconds for ``forward_batch`` on every ogbg-molhiv graph and for the full cached build."""
    transform = structure_transform("plstm", "smiles")
    cache = root / "ogbg_molhiv" / f"processed_{transform_key(transform)}"
    if cache.exists():
        raise SystemExit(f"{cache} exists; remove it (or use another root) to time its build")
    graphs = load_task("ogbg-molhiv", str(root), Compose([CanonicalSmilesOrder()]),
                       download=False, log=False).dataset
    graphs = [graphs[i] for i in range(len(graphs))]
    load_before = os.getloadavg()
    structures = seconds(lambda: AddLineDAG().forward_batch(graphs))
    build = seconds(lambda: load_task("ogbg-molhiv", str(root), transform, download=False,
                                      log=False))
    result = {"graphs": len(graphs), "forward_batch_s": structures, "full_cache_build_s": build,
              "load_average_before": load_before, "load_average_after": os.getloadavg()}
    print(f"ogbg-molhiv, {len(graphs)} graphs: forward_batch {structures:.1f} s "
          f"({1e3 * structures / len(graphs):.2f} ms/molecule); full structure cache build "
          f"(OGB loading, node order, structures, save) {build:.1f} s; load average "
          f"{load_before[0]:.2f} -> {result['load_average_after'][0]:.2f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--molecules", type=int, default=2000)
    parser.add_argument("--chunk-edges", type=int, nargs="+",
                        default=[1024, 4096, 16384, CHUNK_EDGES, 131072],
                        help="max_edges values of forward_batch to time")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="training batch size of the on-the-fly row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ogbg-molhiv-root", type=Path,
                        help="also time ogbg-molhiv's structure cache under this data root")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                        "bench_structure.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    graphs = load(args.csv, args.molecules)
    transform = AddLineDAG()

    single = [transform(g) for g in graphs[:20]]  # warm-up, and the reference for the check
    for a, b in zip(single, transform.forward_batch(graphs[:20])):
        for key in a.keys():
            if isinstance(a[key], torch.Tensor):
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key

    load_before = os.getloadavg()
    rows = {"AddLineDAG per graph": 1e3 * seconds(lambda: [transform(g) for g in graphs])
            / len(graphs)}
    for edges in args.chunk_edges:
        rows[f"forward_batch max_edges={edges}"] = 1e3 * seconds(
            lambda e=edges: transform.forward_batch(graphs, max_edges=e)) / len(graphs)
    batches = [Batch.from_data_list(graphs[i:i + args.batch_size])
               for i in range(0, len(graphs), args.batch_size)]

    def on_the_fly() -> None:
        for b in batches:
            for mode in "PD":
                for reverse in (False, True):
                    LineDAG.from_graph(b.edge_index, b.num_nodes, mode=mode, reverse=reverse,
                                       node_order=b.node_order, batch=b.batch)
    rows[f"on-the-fly, batches of {args.batch_size}"] = 1e3 * seconds(on_the_fly) / len(graphs)
    load_after = os.getloadavg()

    baseline = rows["AddLineDAG per graph"]
    nodes = sum(g.num_nodes for g in graphs) / len(graphs)
    print(f"{len(graphs)} HIV molecules (mean {nodes:.1f} atoms), 4 structures each, "
          f"{torch.get_num_threads()} thread(s), load average {load_before[0]:.2f} -> "
          f"{load_after[0]:.2f}")
    print(f"{'path':36s} {'ms/molecule':>12s} {'speed-up':>9s}")
    for name, ms in rows.items():
        print(f"{name:36s} {ms:12.3f} {baseline / ms:9.1f}")
    print("(on-the-fly is paid again in every epoch; the other rows once per dataset)")
    full = molhiv(args.ogbg_molhiv_root) if args.ogbg_molhiv_root else None
    save_json({"machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                           "torch": torch.__version__, "load_average_before": load_before,
                           "load_average_after": load_after},
               "setup": {"molecules": len(graphs), "batch_size": args.batch_size,
                         "mean_atoms": nodes, "csv": str(args.csv)},
               "ms_per_molecule": rows,
               "speedup_vs_per_graph": {k: baseline / v for k, v in rows.items()},
               "ogbg_molhiv": full},
              str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
