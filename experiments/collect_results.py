"""Print the docs/results.md rows from the runs' summary.json files (never edit numbers by hand).

    python experiments/collect_results.py runs/MUTAG-gin runs/MUTAG-plstm ...
"""
import json
import math
import sys
from pathlib import Path


def fmt(mean: float, std: float, runs: int) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.4f} ± {std:.4f}" if runs > 1 else f"{mean:.4f}"


def main(folders):
    for folder in map(Path, folders):
        summary = json.loads((folder / "summary.json").read_text())
        runs = summary["runs"]
        metrics = [k for k in summary["mean"] if k.startswith("test_")]
        epochs = sorted({r["epochs_run"] for r in runs})
        seconds = sum(r["seconds_per_epoch"] for r in runs) / len(runs)
        cells = [summary["dataset"], summary["model"], str(len(runs)), "/".join(map(str, epochs)),
                 f"{seconds:.1f}"] + [f"{k[5:]} {fmt(summary['mean'][k], summary['std'][k], len(runs))}"
                                      for k in metrics] + [f"`{summary['command']}`"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
