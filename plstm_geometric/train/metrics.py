"""Evaluation metrics; OGB datasets are scored by OGB's official ``Evaluator``."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Optional

import numpy as np
from torch import Tensor


def _per_task(y_true: np.ndarray, y_pred: np.ndarray, score) -> float:
    # OGB's rule: average over tasks that have both classes among their labelled graphs.
    values = []
    for t in range(y_true.shape[1]):
        mask = ~np.isnan(y_true[:, t])
        if mask.any() and 0 < y_true[mask, t].sum() < mask.sum():
            values.append(score(y_true[mask, t], y_pred[mask, t]))
    return float(np.mean(values)) if values else float("nan")


@lru_cache(maxsize=None)
def _ogb_evaluator(name: str):
    # The constructor reads OGB's master table; scoring runs twice every epoch.
    from ogb.graphproppred import Evaluator

    return Evaluator(name)


def compute_metrics(task: str, y_true: Tensor, y_pred: Tensor,
                    ogb_name: Optional[str] = None) -> Dict[str, float]:
    """Metrics for predictions ``y_pred`` (regression values, binary logits or class logits).

    Returns:
        ``rmse``, ``mae``, ``r2`` (regression); ``rocauc``, ``ap`` (binary, NaN labels ignored);
        ``accuracy`` (multiclass).
    """
    y_true, y_pred = y_true.double().cpu().numpy(), y_pred.double().cpu().numpy()
    if task == "regression":
        err = y_pred - y_true
        ss_tot = ((y_true - y_true.mean(0)) ** 2).sum()
        return {"rmse": float(np.sqrt((err ** 2).mean())), "mae": float(np.abs(err).mean()),
                "r2": float(1.0 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan")}
    if task == "binary":
        from sklearn.metrics import average_precision_score, roc_auc_score

        out = {"rocauc": _per_task(y_true, y_pred, roc_auc_score),
               "ap": _per_task(y_true, y_pred, average_precision_score)}
        # OGB's Evaluator raises when no task has both classes; ours then reports NaN.
        if ogb_name is not None and not np.isnan(out["rocauc"]):
            evaluator = _ogb_evaluator(ogb_name)
            key = evaluator.eval_metric
            out[key] = float(evaluator.eval({"y_true": y_true, "y_pred": y_pred})[key])
        return out
    if task == "multiclass":
        return {"accuracy": float((y_pred.argmax(-1) == y_true.reshape(-1)).mean())}
    raise ValueError(f"unknown task {task!r}")
