"""Collects the collapse-study arms (``experiments/run_collapse_arms.sh``) from their run folders.

    python experiments/collect_collapse.py [--runs runs/collapse]

For every ``<runs>/<dataset>-<arm>/seed<S>/metrics.json`` (finished runs only): the command, the
validation curve, the best validation epoch and the test metric at that epoch. Writes
``experiments/results/collapse/arms.json`` (everything, curves included) and ``arms.csv``
(one row per run) and prints a markdown table of mean over seeds per dataset and arm, ranked by
validation (the selection criterion; test is shown, never used to choose).
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os.path as osp
from collections import defaultdict

import numpy as np

from plstm_geometric.train.io import save_json


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs/collapse")
    p.add_argument("--metric", default="rmse")
    p.add_argument("--out", default="experiments/results/collapse")
    args = p.parse_args()
    rows = []
    for path in sorted(glob.glob(osp.join(args.runs, "*", "seed*", "metrics.json"))):
        run_dir = osp.dirname(osp.dirname(path))
        config = json.load(open(osp.join(run_dir, "config.json")))
        history = json.load(open(path))
        if len(history) < config["epochs"]:
            continue
        name = osp.basename(run_dir)
        dataset = config["dataset"]
        arm = name[len(dataset) + 1:]
        valid = [r[f"valid_{args.metric}"] for r in history]
        best = int(np.argmin(valid))
        rows.append({"dataset": dataset, "arm": arm, "seed": int(osp.basename(osp.dirname(path))[4:]),
                     "command": config["command"], "best_epoch": best + 1,
                     "best_valid": valid[best], "test_at_best": history[best][f"test_{args.metric}"],
                     "final_train_loss": history[-1]["train_loss"],
                     "min_train_loss_first_third": min(r["train_loss"] for r in history[:len(history) // 3]),
                     "valid_curve": valid, "train_loss_curve": [r["train_loss"] for r in history]})
    save_json(rows, osp.join(args.out, "arms.json"))
    with open(osp.join(args.out, "arms.csv"), "w", newline="") as f:
        fields = [k for k in rows[0] if not k.endswith("_curve")] if rows else []
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    groups = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["arm"])].append(r)
    print(f"| dataset | arm | seeds | best valid {args.metric} (mean) | per seed | test {args.metric} at best valid (mean) | per seed |")
    print("|---|---|---|---|---|---|---|")
    for dataset in sorted({d for d, _ in groups}):
        arms = sorted((a for d, a in groups if d == dataset),
                      key=lambda a: np.mean([r["best_valid"] for r in groups[(dataset, a)]]))
        for arm in arms:
            g = sorted(groups[(dataset, arm)], key=lambda r: r["seed"])
            valid, test = [r["best_valid"] for r in g], [r["test_at_best"] for r in g]
            seeds = ",".join(str(r["seed"]) for r in g)
            print(f"| {dataset} | {arm} | {seeds} | {np.mean(valid):.4f} | "
                  + " / ".join(f"{v:.3f}" for v in valid) + f" | {np.mean(test):.4f} | "
                  + " / ".join(f"{v:.3f}" for v in test) + " |")


if __name__ == "__main__":
    main()
