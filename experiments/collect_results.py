"""Print the docs/results.md rows from the runs' result files (never edit numbers by hand).

    python experiments/collect_results.py runs/MUTAG-gin runs/MUTAG-plstm ...
    python experiments/collect_results.py experiments/results/chemprop-esol-seed*.json
    python experiments/collect_results.py runs/A-s34+experiments/results/A.md   # one row, all seeds

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
from plstm_geometric.train.loop import _IDENTITY


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
        runs.append({**best, "run": path.parent.name, "best_epoch": int(best["epoch"]),
                     "epochs_run": len(rows), "seconds_per_epoch": statistics.mean(r["epoch_seconds"] for r in rows)})
    return runs


def chemprop_rows(paths):
    by_budget = {}
    for path in paths:
        record = json.loads(Path(path).read_text())
        # One row per dataset and epoch budget: records of two budgets are two rows.
        by_budget.setdefault((record["dataset"], record["epochs"]), []).append(record)
    for (dataset, _), records in by_budget.items():
        records.sort(key=lambda r: r["seed"])
        seeds = ",".join(str(r["seed"]) for r in records)
        keys = list(records[0]["test"])
        # The seed also names the default --work / --json paths (…-seed<S>…).
        seed = records[0]["seed"]
        command = records[0]["command"].replace(f"--seed {seed}", "--seed S").replace(f"seed{seed}", "seedS")
        cells = [dataset, records[0]["chemprop_version"], str(len(records)),
                 str(records[0]["epochs"]), "chemprop's", f"{statistics.mean(r['seconds'] for r in records):.0f} s/run",
                 f"— ({records[0]['rejected_molecules']} molecules rejected)" if records[0]["rejected_molecules"] else "—"]
        cells += [f"{k} {fmt([r['test'][k] for r in records])}" for k in keys]
        print("| " + " | ".join(cells) + f" | `{command}`, S = {seeds} |")


def read_runs(folder: Path, metric: str):
    """``(config, runs, command, note)`` of one run folder."""
    config = json.loads((folder / "config.json").read_text())
    summary = (json.loads((folder / "summary.json").read_text())
               if (folder / "summary.json").exists() else None)
    # A summary written at a --stop-after budget is stale once a resumed run has gone on.
    if summary and all(r.get("finished", True) for r in summary["runs"]):
        return config, summary["runs"], summary["command"], ""
    return config, partial_runs(folder, metric), config["command"], \
        f" (stopped; {config['epochs']} scheduled)"


def recorded_runs(path: Path):
    """``(None, runs, command, note)`` from a run's ``results.md`` as copied to
    ``experiments/results/`` (its per-run table and command), for runs whose folder is gone."""
    lines = path.read_text().splitlines()
    command = next(line.split("`")[1] for line in lines if line.startswith("Command: `"))
    table = [line.strip("|").split("|") for line in lines if line.startswith("| ")]
    header = [c.strip().replace(" ", "_") for c in table[0]]
    runs = []
    for cells in table[1:]:
        row = dict(zip(header, (c.strip() for c in cells)))
        if row["run"].startswith("seed"):
            runs.append({"run": row["run"], "best_epoch": int(row["best_epoch"]),
                         "epochs_run": int(row["epochs"]), "seconds_per_epoch": float(row["s/epoch"]),
                         **{k: float(v) for k, v in row.items() if k.startswith(("valid_", "test_"))}})
    return None, runs, command, ""


def pooled_runs(spec: str):
    """``A+B+...``: one row of the runs of several folders of one setting (e.g. seeds 0-2 and,
    from ``--first-seed 3``, seeds 3-4), whose settings must agree; a part may be the
    ``results.md`` record of a folder that is gone (its settings are then read from its
    command, not checked). The first part must be a folder."""
    paths = [Path(f) for f in spec.split("+")]
    config = json.loads((paths[0] / "config.json").read_text())
    metric = primary_metric(config["dataset"])
    parts = [recorded_runs(p) if p.suffix == ".md" else read_runs(p, metric) for p in paths]
    for path, (other, *_) in zip(paths[1:], parts[1:]):
        diff = [k for k in _IDENTITY if other is not None and other.get(k) != config.get(k)]
        if diff:
            raise SystemExit(f"{path} is another setting than {paths[0]}: {', '.join(diff)}")
    runs = [r for _, rs, _, _ in parts for r in rs]
    command = "`; `".join(c for _, _, c, _ in parts)
    note = "".join(sorted({n for *_, n in parts}))
    return config, metric, runs, command, note


def main(folders):
    chemprop_rows([f for f in folders if f.endswith(".json")])
    for spec in (f for f in folders if not f.endswith(".json")):
        config, metric, runs, command, note = pooled_runs(spec)
        keys = [k for k in runs[0] if k.startswith("test_")]
        epochs = "/".join(map(str, sorted({r["epochs_run"] for r in runs}))) + note
        best = "/".join(map(str, sorted({r["best_epoch"] for r in runs}))) if len(runs) == 1 else "per run"
        seconds = statistics.mean(r["seconds_per_epoch"] for r in runs)
        seeds = sorted({int(r["run"][4:].split("-")[0]) for r in runs})  # seed<S>[-fold<F>]
        cells = [config["dataset"], config["model"] + (" +VN" if config.get("virtual_node") else "")
                 + (f", head norm {config['head_norm']}" if config.get("head_norm") else "")
                 + (f", dropout {config['dropout']}" if config.get("dropout") is not None else "")
                 + (f", {config['pool']} pool" if config.get("pool") else "")
                 + (f", hidden {config['hidden']}" if config.get("hidden") else "")
                 + (f", {config['layers']} layers" if config.get("layers") else "")
                 + (f", {config['plstm_norm']} norm" if config.get("plstm_norm") else "")
                 + (f", norm eps {config['plstm_norm_eps']:g}" if config.get("plstm_norm_eps") else "")
                 + (f", gate bias {config['plstm_gate_bias']:g}"
                    if config.get("plstm_gate_bias") is not None else "")
                 + (f", transition bias {config['plstm_transition_bias']:g}"
                    if config.get("plstm_transition_bias") is not None else "")
                 + (f", init {config['plstm_init']}" if config.get("plstm_init") else "")
                 + (", qk norm" if config.get("qk_norm") else ", no qk norm"
                    if config.get("qk_norm") is False else "")
                 + (", out gate" if config.get("out_gate") else "")
                 + (", random SMILES order" if config.get("random_order") else "")
                 + (f", {config['plstm_block_norm']} block norm"
                    if config.get("plstm_block_norm") else "")
                 + (f", EMA {config['ema']:g}" if config.get("ema") is not None else "")
                 + (f", lr {config['lr']:g}" if config.get("lr", 1e-3) != 1e-3 else "")
                 + (f", weight decay {config['weight_decay']:g}"
                    if config.get("weight_decay", 0.01) != 0.01 else "")
                 + (f", warm-up {config['warmup']:g}" if config.get("warmup", 0.05) != 0.05 else "")
                 + (f", seeds {','.join(map(str, seeds))}" if seeds != list(range(len(seeds))) else ""),
                 str(len(runs)), epochs, best, f"{seconds:.1f}",
                 f"valid {metric} {fmt([r[f'valid_{metric}'] for r in runs])}"]
        cells += [f"{k[5:]} {fmt([r[k] for r in runs])}" for k in keys]
        print("| " + " | ".join(cells) + f" | `{command}` |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+",
                        help="run folders (config.json + summary.json or metrics.csv), A+B for "
                             "one row of several folders (or results.md records) of one "
                             "setting, and / or "
                             "run_chemprop.py records (.json)")
    main(parser.parse_args().results)
