"""chemprop beside us: chemprop's default model on exactly our split, scored by our metric code.

    python -m venv .venv-chemprop && .venv-chemprop/bin/pip install torch==2.13.0 chemprop==2.3.1
    python experiments/run_chemprop.py --dataset esol --seed 0 --epochs 30 --root data

Writes the dataset's SMILES, targets and our split (fold 0 of ``load_task``: ``train`` /
``val`` / ``test`` in a ``split`` column) to ``<work>/data.csv``, runs
``chemprop train --splits-column split`` with chemprop's default model and the given epoch
budget (``--pytorch-seed`` = ``--data-seed`` = seed, one CPU thread), reads its test predictions
(chemprop's own best-validation checkpoint) and scores them with
:func:`plstm_geometric.train.metrics.compute_metrics`, the function our training loop uses.
Molecules our featuriser rejected (zero atoms) or RDKit cannot parse (chemprop stops on them;
ogbg-molhiv has 7) are left out and counted; the test metric is then over the remaining test
molecules. Writes a JSON record
(command, chemprop version, per-epoch validation curve, test metrics, seconds) to ``--json``
(default ``experiments/results/chemprop-<dataset>-seed<S>.json``).
"""
from __future__ import annotations

import argparse
import csv
import glob
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

import numpy as np
import torch

from plstm_geometric.train.tasks import load_task
from plstm_geometric.train.io import save_json
from plstm_geometric.train.metrics import compute_metrics

CHEMPROP_TASK = {"regression": "regression", "binary": "classification"}


def graph_smiles(task, root: str) -> list[str]:
    """The SMILES of every graph: the graphs' own ``smiles`` (MoleculeNet), or, for an OGB
    dataset, whose graphs carry none, the folder's ``mapping/mol.csv.gz`` in graph order."""
    if task.ogb_name:
        from plstm_geometric.datasets.ogb import load_ogb

        return load_ogb(task.ogb_name, root, download=False)[2]
    return [task.dataset[i].smiles for i in range(len(task.dataset))]


def write_split_csv(task, path: str, smiles: list[str]) -> tuple[list[int], list[str], int]:
    """Rows of fold 0 with a split label; returns (test indices in row order, target columns,
    rejected molecules). A molecule is rejected when our featuriser gave it no atoms or RDKit
    cannot parse its SMILES (chemprop stops on those: ogbg-molhiv has 7 hypervalent ones)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    split = task.folds[0]
    label = {}
    for key, name in (("train", "train"), ("valid", "val"), ("test", "test")):
        for i in split[key].tolist():
            label[i] = name
    targets = [f"y{t}" for t in range(task.num_outputs)]
    test, rejected = [], 0
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["smiles", *targets, "split"])
        for i in sorted(label):
            data = task.dataset[i]
            if data.num_nodes == 0 or Chem.MolFromSmiles(smiles[i].strip()) is None:
                rejected += 1
                continue
            y = data.y.view(-1).float().tolist()
            writer.writerow([smiles[i].strip(), *["" if np.isnan(v) else f"{v:.7g}" for v in y], label[i]])
            if label[i] == "test":
                test.append(i)
    return test, targets, rejected


def read_curve(work: str) -> list[dict]:
    """chemprop's per-epoch validation metrics from its Lightning CSV log."""
    rows = []
    for path in sorted(glob.glob(osp.join(work, "model_0", "trainer_logs", "**", "metrics.csv"),
                              recursive=True)):
        with open(path) as f:
            rows += [{k: float(v) for k, v in r.items() if v not in ("", None)}
                     for r in csv.DictReader(f)]
    return [r for r in rows if any(k.startswith("val") for k in r)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", default="data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--chemprop", default=".venv-chemprop/bin/chemprop")
    p.add_argument("--work", help="chemprop's output folder (default: runs/chemprop-<dataset>-seed<S>)")
    p.add_argument("--json", help="result record (default: experiments/results/chemprop-<dataset>-seed<S>.json)")
    args = p.parse_args()
    work = args.work or osp.join("runs", f"chemprop-{args.dataset}-seed{args.seed}")
    out = args.json or osp.join("experiments", "results", f"chemprop-{args.dataset}-seed{args.seed}.json")
    os.makedirs(work, exist_ok=True)

    task = load_task(args.dataset, args.root, None, download=False)
    if task.task not in CHEMPROP_TASK:
        raise SystemExit(f"{args.dataset}: task {task.task!r} is not run with chemprop here")
    csv_path = osp.join(work, "data.csv")
    smiles = graph_smiles(task, args.root)
    test, targets, rejected = write_split_csv(task, csv_path, smiles)
    cmd = [args.chemprop, "train", "-i", csv_path, "-s", "smiles", "--target-columns", *targets,
           "--splits-column", "split", "-t", CHEMPROP_TASK[task.task], "--epochs", str(args.epochs),
           "--pytorch-seed", str(args.seed), "--data-seed", str(args.seed), "--num-workers", "0",
           "--accelerator", "cpu", "--devices", "1", "-o", osp.join(work, "chemprop")]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    tic = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    seconds = time.perf_counter() - tic

    (pred_path,) = glob.glob(osp.join(work, "chemprop", "**", "model_0", "test_predictions.csv"),
                             recursive=True)
    with open(pred_path) as f:
        rows = list(csv.DictReader(f))
    if [r["smiles"] for r in rows] != [smiles[i].strip() for i in test]:
        raise SystemExit(f"{pred_path}: test rows are not our test split in order")
    pred = torch.tensor([[float(r[t]) for t in targets] for r in rows])
    y = torch.stack([task.dataset[i].y.view(-1).float() for i in test])
    metrics = compute_metrics(task.task, y, pred, task.ogb_name)
    version = subprocess.run([args.chemprop, "--version"], capture_output=True, text=True).stdout
    record = {
        "dataset": args.dataset, "seed": args.seed, "epochs": args.epochs,
        "command": shlex.join(["python", *sys.argv]), "chemprop_command": shlex.join(cmd),
        "chemprop_version": version.strip(),
        "test": metrics, "test_molecules": len(test), "rejected_molecules": rejected,
        "valid_curve": read_curve(osp.dirname(osp.dirname(pred_path))), "seconds": seconds,
    }
    save_json(record, out)
    print(f"{args.dataset} seed {args.seed}: chemprop test " + ", ".join(
        f"{k} {v:.4f}" for k, v in metrics.items()) + f" ({seconds:.0f} s) -> {out}")


if __name__ == "__main__":
    main()
