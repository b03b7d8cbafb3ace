"""Print the docs/results.md rows from the runs' result files (never edit numbers by hand).

    python experiments/collect_results.py runs/MUTAG-gin runs/MUTAG-plstm ...
    python experiments/collect_results.py experiments/results/chemprop-esol-seed*.json

A ``.json`` argument is a record of ``experiments/run_chemprop.py``; the records of one dataset
make one chemprop row (chemprop selects its own best-validation epoch by its loss, so the row
has no validation metric of ours).

Finished runs are read from summary.json. A run stopped by the time budget (no summary.json, or
one whose runs are not all finished) is read from its metrics.csv: best validation epoch so far,
marked "(stopped)".
"""
import argparse
import csv
import json
import math
import statistics
from pathlib import Path

from plstm_geometric.datasets import MOLECULENET, TU


def primary_metric(dataset: str) -> str:
    if dataset in TU:
        return "accuracy"
    if dataset == "ogbg-molpcba":
        return "ap"
    regression = dataset == "chembl2321810" or MOLECULENET.get(dataset, ("", "", ""))[2] == "regression"
    return "rmse" if regression else "rocauc"


def fmt(values) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.pstdev(values):.4f}"


def partial_runs(folder: Path, metric: str):
    runs = []
    for path in sorted(folder.glob("seed*/metrics.csv")):
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(path))]
        sign = -1 if metric in ("rmse", "mae") else 1
        best = max(rows, key=lambda r: sign * r[f"valid_{metric}"])
        runs.append({**best, "best_epoch": int(best["epoch"]), "epochs_run": len(rows),
                     "seconds_per_epoch": statistics.mean(r["epoch_seconds"] for r in rows)})
    return runs


def chemprop_rows(paths):
    by_dataset = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        by_dataset.setdefault(record["dataset"], []).append(record)
    for dataset, records in by_dataset.items():
        records.sort(key=lambda r: r["seed"])
        seeds = ",".join(str(r["seed"]) for r in records)
        keys = list(records[0]["test"])
        command = records[0]["command"].replace(f"--seed {records[0]['seed']}", "--seed S")
        cells = [dataset, records[0]["chemprop_version"], str(len(records)),
                 str(records[0]["epochs"]), "chemprop's", f"{statistics.mean(r['seconds'] for r in records):.0f} s/run",
                 f"— ({records[0]['rejected_molecules']} molecules rejected)" if records[0]["rejected_molecules"] else "—"]
        cells += [f"{k} {fmt([r['test'][k] for r in records])}" for k in keys]
        print("| " + " | ".join(cells) + f" | `{command}`, S = {seeds} |")


def main(folders):
    chemprop_rows([f for f in folders if f.endswith(".json")])
    for folder in (Path(f) for f in folders if not f.endswith(".json")):
        config = json.loads((folder / "config.json").read_text())
        metric = primary_metric(config["dataset"])
        summary = (json.loads((folder / "summary.json").read_text())
                   if (folder / "summary.json").exists() else None)
        # A summary written at a --stop-after budget is stale once a resumed run has gone on.
        if summary and all(r.get("finished", True) for r in summary["runs"]):
            runs, command, note = summary["runs"], summary["command"], ""
        else:
            runs, command = partial_runs(folder, metric), config["command"]
            note = f" (stopped; {config['epochs']} scheduled)"
        keys = [k for k in runs[0] if k.startswith("test_")]
        epochs = "/".join(map(str, sorted({r["epochs_run"] for r in runs}))) + note
        best = "/".join(map(str, sorted({r["best_epoch"] for r in runs}))) if len(runs) == 1 else "per run"
        seconds = statistics.mean(r["seconds_per_epoch"] for r in runs)
        cells = [config["dataset"], config["model"] + (" +VN" if config.get("virtual_node") else "")
                 + (f", head norm {config['head_norm']}" if config.get("head_norm") else "")
                 + (f", dropout {config['dropout']}" if config.get("dropout") is not None else "")
                 + (f", {config['pool']} pool" if config.get("pool") else "")
                 + (f", hidden {config['hidden']}" if config.get("hidden") else "")
                 + (f", {config['layers']} layers" if config.get("layers") else "")
                 + (f", {config['plstm_norm']} norm" if config.get("plstm_norm") else "")
                 + (f", norm eps {config['plstm_norm_eps']:g}" if config.get("plstm_norm_eps") else "")
                 + (f", init {config['plstm_init']}" if config.get("plstm_init") else "")
                 + (", qk norm" if config.get("qk_norm") else ", no qk norm"
                    if config.get("qk_norm") is False else "")
                 + (", out gate" if config.get("out_gate") else "")
                 + (f", lr {config['lr']:g}" if config.get("lr", 1e-3) != 1e-3 else "")
                 + (f", weight decay {config['weight_decay']:g}"
                    if config.get("weight_decay", 0.01) != 0.01 else "")
                 + (f", warm-up {config['warmup']:g}" if config.get("warmup", 0.05) != 0.05 else ""),
                 str(len(runs)), epochs, best, f"{seconds:.1f}",
                 f"valid {metric} {fmt([r[f'valid_{metric}'] for r in runs])}"]
        cells += [f"{k[5:]} {fmt([r[k] for r in runs])}" for k in keys]
        print("| " + " | ".join(cells) + f" | `{command}` |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+",
                        help="run folders (config.json + summary.json or metrics.csv) and / or "
                             "run_chemprop.py records (.json)")
    main(parser.parse_args().results)
