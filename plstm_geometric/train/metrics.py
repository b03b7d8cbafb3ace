"""Evaluation metrics; OGB datasets are scored by OGB's official ``Evaluator``."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, Optional, Sequence

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


def _regression(y_true: np.ndarray, y_pred: np.ndarray) -> Dict[str, float]:
    err = y_pred - y_true
    ss_tot = ((y_true - y_true.mean()) ** 2).sum()
    return {"rmse": float(np.sqrt((err ** 2).mean())), "mae": float(np.abs(err).mean()),
            "r2": float(1.0 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan")}


def _binary(y_true: np.ndarray, y_pred: np.ndarray) -> Dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"rocauc": _per_task(y_true, y_pred, roc_auc_score),
            "ap": _per_task(y_true, y_pred, average_precision_score)}


def _mean_over_tasks(y_true: np.ndarray, y_pred: np.ndarray) -> Dict[str, float]:
    # Each regression target is scored on its labelled graphs; the metric is the mean over
    # targets (one target: the plain metric).
    per_task = [_regression(y_true[m, t], y_pred[m, t]) for t in range(y_true.shape[1])
                for m in [~np.isnan(y_true[:, t])] if m.any()]
    return {k: float(np.mean([p[k] for p in per_task])) if per_task else float("nan")
            for k in ("rmse", "mae", "r2")}


def compute_metrics(task: str, y_true: Tensor, y_pred: Tensor, ogb_name: Optional[str] = None,
                    target_names: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Metrics for predictions ``y_pred`` (regression values, binary logits or class logits).

    Args:
        task (str): ``"regression"``, ``"binary"`` or ``"multiclass"``.
        y_true (Tensor): Labels, NaN = missing (regression and binary).
        y_pred (Tensor): Predictions of the same shape (class logits for ``"multiclass"``).
        ogb_name (str, optional): Also score with this OGB dataset's ``Evaluator``.
        target_names (list of str, optional): With more than one target, every metric is also
            reported per target as ``<metric>_<name>``.

    Returns:
        ``rmse``, ``mae``, ``r2`` (regression; per target on its labelled graphs, then the mean
        over targets); ``rocauc``, ``ap`` (binary: ROC-AUC and PR-AUC, NaN labels ignored, mean
        over targets with both classes); ``accuracy`` (multiclass).
    """
    y_true, y_pred = y_true.double().cpu().numpy(), y_pred.double().cpu().numpy()
    if task == "multiclass":
        return {"accuracy": float((y_pred.argmax(-1) == y_true.reshape(-1)).mean())}
    if task not in ("regression", "binary"):
        raise ValueError(f"unknown task {task!r}")
    score = _mean_over_tasks if task == "regression" else _binary
    out = score(y_true, y_pred)
    # OGB's Evaluator raises when no task has both classes; ours then reports NaN.
    if task == "binary" and ogb_name is not None and not np.isnan(out["rocauc"]):
        evaluator = _ogb_evaluator(ogb_name)
        key = evaluator.eval_metric
        out[key] = float(evaluator.eval({"y_true": y_true, "y_pred": y_pred})[key])
    if target_names is not None and len(target_names) > 1:
        for t, name in enumerate(target_names):
            for key, value in score(y_true[:, t:t + 1], y_pred[:, t:t + 1]).items():
                out[f"{key}_{name}"] = value
    return out
