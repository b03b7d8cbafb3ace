"""Result files of a training run: ``results.md`` (mean ± std table), ``summary.json`` and
learning curves."""
from __future__ import annotations

import math
import os.path as osp
from typing import Dict, List

import numpy as np

from . import io


def mean_std(values: List[float]) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


def summarise(cfg, task, runs: List[dict], write: bool = True) -> dict:
    """Aggregates per-run best-validation results; writes ``results.md`` and ``summary.json``."""
    keys = [f"{split}_{m}" for split in ("valid", "test") for m in task.metrics]
    summary = {
        "dataset": task.name, "model": cfg.model, "command": cfg.command,
        "selection": f"best valid_{task.metric}",
        "runs": [{k: v for k, v in r.items() if k != "history"} for r in runs],
        "mean": {k: float(np.nanmean([r.get(k, math.nan) for r in runs])) for k in keys},
        "std": {k: float(np.nanstd([r.get(k, math.nan) for r in runs])) for k in keys},
    }
    if not write:
        return summary
    header = ["run", "best epoch", "epochs", "s/epoch"] + keys
    lines = [f"# {task.name} / {cfg.model}", "", f"Command: `{cfg.command}`", "",
             f"Test metrics at the epoch with the best validation {task.metric}; "
             f"mean ± std over {len(runs)} run(s).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in runs:
        cells = [r["run"], str(r["best_epoch"]), str(r["epochs_run"]) + ("" if r["finished"] else " (unfinished)"),
                 f"{r['seconds_per_epoch']:.1f}"] + [f"{r.get(k, math.nan):.4f}" for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| **mean ± std** | | | " + f"{np.mean([r['seconds_per_epoch'] for r in runs]):.1f} | "
                 + " | ".join(mean_std([r.get(k, math.nan) for r in runs]) for k in keys) + " |")
    io.save_text("\n".join(lines) + "\n", osp.join(cfg.out_dir, "results.md"))
    io.save_json(summary, osp.join(cfg.out_dir, "summary.json"))
    print("\n".join(lines[4:]))
    return summary


def plot_curves(histories: Dict[str, List[dict]], metric: str, path: str) -> None:
    """Training loss and validation ``metric`` per epoch, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import io as _io

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 4))
    for name, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], label=name)
        ax_metric.plot(epochs, [r[f"valid_{metric}"] for r in rows], label=name)
    ax_loss.set(xlabel="epoch", ylabel="train loss", yscale="log")
    ax_metric.set(xlabel="epoch", ylabel=f"valid {metric}")
    if len(histories) <= 10:
        ax_metric.legend(fontsize="small")
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    io.save_text_bytes(buf.getvalue(), path)
