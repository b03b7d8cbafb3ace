"""The training loop shared by every model and dataset: seeds × folds, best-validation
selection, exact resume, multi-process training, and the result files."""
from __future__ import annotations

import math
import os.path as osp
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import Compose

from ..datasets.molecule_csv import file_hash
from ..transforms.node_order import RandomSmilesOrder
from . import io
from .distributed import DistInfo, GlobalBatchSampler, all_reduce_sum, gather_objects, init_distributed
from .ema import ModelEMA, check_decay
from .factory import (build_model, check_model, model_kwargs, resolve_orientation,
                      structure_transform)
from .metrics import compute_metrics
from .results import plot_curves, summarise
from .tasks import DEFAULT_DATASET, GraphTask, check_name, load_config_task

# Hyper-parameters that define a run; --resume refuses an output folder made with others.
_IDENTITY = ("dataset", "model", "epochs", "batch_size", "lr", "weight_decay", "warmup",
             "clip", "hidden", "layers", "heads", "dropout", "virtual_node", "pool",
             "orientation", "limit", "data_path", "data_hash", "smiles_column", "target_columns",
             "task_type", "split", "split_sizes", "split_column", "plstm_norm", "out_gate",
             "qk_norm", "plstm_init", "head_norm", "prior_bias", "plstm_norm_eps", "random_order",
             "plstm_gate_bias", "plstm_local", "plstm_transition_bias", "ema",
             "plstm_block_norm")


@dataclass
class TrainConfig:
    """Everything ``plstm-geometric train`` takes; see ``plstm-geometric train --help``."""

    dataset: str = DEFAULT_DATASET
    # A user's CSV file instead of a named dataset (see load_csv_task); the CSV options stay
    # None for named datasets, so older run folders still resume.
    data_path: Optional[str] = None
    smiles_column: Optional[str] = None
    target_columns: Optional[List[str]] = None
    task_type: Optional[str] = None
    split: Optional[str] = None
    split_sizes: Optional[List[float]] = None
    split_column: Optional[str] = None
    data_hash: Optional[str] = None
    model: str = "plstm"
    root: str = "data"
    out: Optional[str] = None
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    clip: float = 1.0
    # Evaluate (and save as best.pt) an exponential moving average of the weights (ModelEMA).
    ema: Optional[float] = None
    seeds: int = 1
    first_seed: int = 0
    folds: Optional[int] = None
    hidden: Optional[int] = None
    layers: Optional[int] = None
    heads: int = 4
    dropout: Optional[float] = None
    virtual_node: bool = False
    pool: Optional[str] = None
    orientation: Optional[str] = None
    # Training graphs in the order of a random SMILES, drawn at every step (RandomSmilesOrder).
    random_order: bool = False
    # pLSTM layer options (None: PLSTMNet's default), see PLSTMConv.
    plstm_norm: Optional[str] = None
    plstm_norm_eps: Optional[float] = None
    plstm_gate_bias: Optional[float] = None
    plstm_transition_bias: Optional[float] = None
    plstm_local: Optional[str] = None
    plstm_block_norm: Optional[str] = None
    out_gate: Optional[bool] = None
    qk_norm: Optional[bool] = None
    plstm_init: Optional[str] = None
    head_norm: Optional[str] = None
    prior_bias: bool = False
    line_dag: str = "cached"
    limit: Optional[int] = None
    device: str = "auto"
    resume: bool = False
    stop_after: Optional[int] = None
    download: bool = True
    progress: bool = True
    command: str = field(default_factory=lambda: shlex.join(["plstm-geometric"] + sys.argv[1:]))

    @property
    def out_dir(self) -> str:
        return self.out or osp.join("runs", f"{self.dataset}-{self.model}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; valid: auto, cpu, cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no CUDA GPU")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cosine_warmup(total_steps: int, warmup_steps: int):
    """LR factor: linear warm-up over ``warmup_steps``, then cosine decay to zero."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def adamw_cosine(model: torch.nn.Module, lr: float, weight_decay: float, total_steps: int,
                 warmup: float):
    """AdamW and its per-step schedule: linear warm-up over the ``warmup`` fraction of
    ``total_steps`` (at least one step), then cosine decay to zero.

    Returns:
        ``(optimizer, scheduler)``; call ``scheduler.step()`` after every optimiser step.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_warmup(total_steps, max(1, round(warmup * total_steps))))
    return optimizer, scheduler


def optimizer_step(model: torch.nn.Module, loss: torch.Tensor, optimizer, scheduler,
                   clip: float) -> None:
    """Backward, gradient-norm clipping (``clip > 0``), optimiser and schedule step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    scheduler.step()


class Objective:
    """Loss and output scaling of a task. Regression targets are standardised with the training
    mean / std (predictions are mapped back before scoring); binary labels may be NaN (missing)."""

    def __init__(self, task: str, mean: Optional[torch.Tensor] = None,
                 std: Optional[torch.Tensor] = None, prior: Optional[torch.Tensor] = None):
        self.task, self.mean, self.std, self.prior = task, mean, std, prior

    @classmethod
    def fit(cls, task: GraphTask, train_set) -> "Objective":
        # Graph by graph: on an InMemoryDataset subset, `.y` would collate every attribute of
        # every graph (x, edge_index, the stored structures) just to read the labels.
        y = torch.cat([d.y for d in train_set]).float()
        if task.task == "binary":  # positive rate per task over the labelled graphs
            return cls(task.task, prior=torch.nanmean(y.view(len(train_set), -1), 0))
        if task.task == "multiclass":
            counts = torch.bincount(y.view(-1).long(), minlength=task.num_outputs).float()
            return cls(task.task, prior=counts / counts.sum())
        # Per target over its labelled graphs (NaN = missing); a target with one label keeps
        # unit scale.
        labelled = [y[~y[:, t].isnan(), t] for t in range(y.size(1))]
        mean = torch.stack([v.mean() for v in labelled])
        std = torch.stack([v.std() if v.numel() > 1 else torch.tensor(1.0) for v in labelled])
        return cls(task.task, mean, std.clamp_min(1e-6))

    def output_bias(self) -> Optional[torch.Tensor]:
        """The output-layer bias at which a model with zero output weights predicts the training
        label prior: log-odds of each task's positive rate (binary), log class frequencies
        (multiclass); ``None`` for regression (standardised targets: the prior is 0)."""
        if self.prior is None:
            return None
        # A binary task without a labelled training graph has no prior (NaN rate): bias 0
        # there, instead of a NaN that would make every output NaN.
        p = self.prior.nan_to_num(0.5).clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - (torch.log1p(-p) if self.task == "binary" else 0.0)

    def loss_sum(self, out: torch.Tensor, y: torch.Tensor):
        """(sum of per-label losses, number of labels) of a batch."""
        if self.task == "multiclass":
            y = y.view(-1)
            return F.cross_entropy(out, y, reduction="sum"), y.numel()
        y = y.float().view(out.shape)
        mask = ~torch.isnan(y)
        if self.task == "regression":
            target = (y - self.mean.to(y.device)) / self.std.to(y.device)
            loss = F.mse_loss(out[mask], target[mask], reduction="sum")
        else:
            loss = F.binary_cross_entropy_with_logits(out[mask], y[mask], reduction="sum")
        return loss, int(mask.sum())

    def prediction(self, out: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            return out * self.std.to(out.device) + self.mean.to(out.device)
        return out

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    def load_state(self, state: dict) -> None:
        self.mean, self.std = state["mean"], state["std"]


def init_output_bias(model: torch.nn.Module, objective: Objective) -> None:
    """Sets the bias of ``model.head``'s last ``Linear`` to :meth:`Objective.output_bias`
    (no-op for regression), so training starts at the label prior instead of having to build
    the prior's logit out of the features (docs/results.md, "Collapse study")."""
    bias = objective.output_bias()
    if bias is None:
        return
    head = model.head[-1] if isinstance(model.head, torch.nn.Sequential) else model.head
    with torch.no_grad():
        head.bias.copy_(bias)


def _autocast(device: torch.device):
    # bf16 on GPU only; the pLSTM recurrence itself keeps float32 inside the op.
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def train_epoch(model, loader, optimizer, scheduler, objective: Objective, device, clip: float,
                info: DistInfo, bar=None, epoch: int = 1, ema: Optional[ModelEMA] = None) -> float:
    """One pass over ``loader``; returns the mean loss per label over all processes. ``ema``,
    if given, is updated after every optimiser step.

    Each process weights its summed loss by ``world_size / global label count`` so that DDP's
    gradient average equals the gradient of the global batch mean, also when processes hold
    different numbers of labels.

    Raises:
        FloatingPointError: when the loss of a step is NaN or infinite on any process, before
            that step updates the weights (naming ``epoch`` and the step).
    """
    model.train()
    total = torch.zeros(2, dtype=torch.float64)
    for step, batch in enumerate(loader, 1):
        batch = batch.to(device)
        with _autocast(device):
            out = model(batch)
        loss_sum, count = objective.loss_sum(out.float(), batch.y)
        # The flag travels with the label count, so every process stops at the same step.
        finite = bool(torch.isfinite(loss_sum.detach()))
        global_count, non_finite = all_reduce_sum(
            torch.tensor([float(count), float(not finite)]), info).tolist()
        if non_finite:
            raise FloatingPointError(
                f"non-finite training loss at epoch {epoch}, step {step} (of {len(loader)})"
                + ("" if finite else f": {loss_sum.item()}") + "; lower the learning rate, "
                "or check the inputs and labels of that batch for NaN / inf")
        loss = loss_sum * info.world_size / max(global_count, 1.0)
        optimizer_step(model, loss, optimizer, scheduler, clip)
        if ema is not None:  # DDP keeps the replicas equal, so every process averages the same
            ema.update()
        loss_value = loss_sum.item()
        total += torch.tensor([loss_value, count], dtype=torch.float64)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value / max(count, 1):.4f}")
    total = all_reduce_sum(total, info)
    return float(total[0] / total[1].clamp_min(1))


@torch.no_grad()
def evaluate(model, dataset, index: torch.Tensor, objective: Objective, task: GraphTask, device,
             batch_size: int, info: DistInfo = DistInfo()) -> Dict[str, float]:
    """Metrics of ``model`` on ``dataset[index]``; processes score interleaved shards and every
    process gets the metrics of the whole set."""
    model.eval()
    shard = index[info.rank::info.world_size]
    preds, ys = [], []
    for batch in DataLoader(dataset[shard], batch_size=batch_size):
        batch = batch.to(device)
        with _autocast(device):
            out = model(batch)
        preds.append(objective.prediction(out.float()).cpu())
        ys.append(batch.y.cpu())
    parts = gather_objects((torch.cat(preds), torch.cat(ys)) if preds else None, info)
    parts = [p for p in parts if p is not None]
    pred, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    if task.task != "multiclass":
        y = y.view(pred.shape)
    return compute_metrics(task.task, y, pred, task.ogb_name, task.target_names)


def _resolve_csv_options(cfg: TrainConfig) -> None:
    """Defaults of the CSV options (as chemprop's), the file stem as the dataset name and the
    file's hash (``--resume`` refuses an edited file)."""
    cfg.smiles_column = cfg.smiles_column or "smiles"
    cfg.task_type = cfg.task_type or "regression"
    cfg.split = cfg.split or "scaffold"
    cfg.split_sizes = list(cfg.split_sizes or (0.8, 0.1, 0.1))
    cfg.dataset = osp.splitext(osp.basename(cfg.data_path))[0]
    cfg.data_hash = file_hash(cfg.data_path) if osp.exists(cfg.data_path) else None


def checkpoint_metadata(cfg: TrainConfig, task: GraphTask) -> dict:
    """What a ``best.pt`` carries besides the weights so that
    :func:`plstm_geometric.load_checkpoint` predicts from SMILES with nothing else: the format
    and library versions, the task, target names, featurisation and structure options."""
    from .. import __version__

    return {"format": io.CHECKPOINT_FORMAT, "version": __version__, "task": task.task,
            "target_names": task.target_names or [f"{task.name}_{i}" for i in range(task.num_outputs)],
            "featurisation": "ogb" if task.ogb_features and task.task != "multiclass" else None,
            "smiles_column": cfg.smiles_column or "smiles", "orientation": cfg.orientation,
            "line_dag": cfg.line_dag}


def config_model_kwargs(cfg: TrainConfig, task: GraphTask) -> dict:
    """The model constructor arguments a run with ``cfg`` trains (also what tools that rebuild
    a run's model from its config.json, e.g. experiments/diagnose_collapse.py, call)."""
    return model_kwargs(cfg.model, task, task.dataset[0], cfg.hidden, cfg.layers, cfg.heads,
                        cfg.dropout, cfg.virtual_node, cfg.pool, norm=cfg.plstm_norm,
                        out_gate=cfg.out_gate, qk_norm=cfg.qk_norm, init=cfg.plstm_init,
                        head_norm=cfg.head_norm, norm_eps=cfg.plstm_norm_eps,
                        gate_bias=cfg.plstm_gate_bias,
                        transition_bias=cfg.plstm_transition_bias, local=cfg.plstm_local,
                        block_norm=cfg.plstm_block_norm)


def _run_name(seed: int, fold: int, num_folds: int) -> str:
    return f"seed{seed}" + (f"-fold{fold}" if num_folds > 1 else "")


def train_one(cfg: TrainConfig, task: GraphTask, fold: int, seed: int, run_dir: str,
              device: torch.device, info: DistInfo, kwargs: dict) -> dict:
    """Trains one (seed, fold); returns its summary (best epoch, metrics, seconds per epoch)."""
    split = task.folds[fold]
    if cfg.limit:
        split = {k: v[:cfg.limit] for k, v in split.items()}
    train_set = task.dataset[split["train"]]
    objective = Objective.fit(task, train_set)
    if cfg.random_order:  # on the training copy only: evaluation keeps the canonical order
        train_set.transform = RandomSmilesOrder() if train_set.transform is None else \
            Compose([train_set.transform, RandomSmilesOrder()])
    seed_everything(seed)
    model = build_model(cfg.model, kwargs)
    if cfg.prior_bias:
        init_output_bias(model, objective)
    model = model.to(device)
    ddp_model = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
                 if info.enabled else model)
    sampler = GlobalBatchSampler(len(train_set), cfg.batch_size, info, seed)
    loader = DataLoader(train_set, batch_sampler=sampler)
    optimizer, scheduler = adamw_cosine(model, cfg.lr, cfg.weight_decay, cfg.epochs * len(sampler),
                                        cfg.warmup)
    ema = ModelEMA(model, cfg.ema) if cfg.ema is not None else None
    # What is evaluated, selected and saved as best.pt: the average when there is one.
    scored = ema.module if ema is not None else model
    history: List[dict] = []
    best: Optional[dict] = None
    start = 1
    last_path, best_path = osp.join(run_dir, "last.pt"), osp.join(run_dir, "best.pt")
    if cfg.resume and osp.exists(last_path):
        ckpt = io.load_torch(last_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        objective.load_state(ckpt["objective"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        history, best, start = ckpt["history"], ckpt["best"], ckpt["epoch"] + 1
        set_rng_state(ckpt["rng"][info.rank] if isinstance(ckpt["rng"], list) else ckpt["rng"])
    sign = 1.0 if task.higher_is_better else -1.0
    from tqdm.auto import tqdm

    show = cfg.progress and info.is_main
    epochs_bar = tqdm(total=cfg.epochs, initial=start - 1, desc=f"{task.name} {cfg.model} "
                      f"{osp.basename(run_dir)}", unit="epoch", disable=not show)
    for epoch in range(start, cfg.epochs + 1):
        if cfg.stop_after is not None and epoch > cfg.stop_after:
            break
        sampler.set_epoch(epoch)
        tic = time.perf_counter()
        with tqdm(total=len(sampler), desc=f"epoch {epoch}", unit="batch", leave=False,
                  disable=not show) as bar:
            loss = train_epoch(ddp_model, loader, optimizer, scheduler, objective, device,
                               cfg.clip, info, bar, epoch, ema)
        seconds = time.perf_counter() - tic
        row = {"epoch": epoch, "lr": scheduler.get_last_lr()[0], "train_loss": loss,
               "epoch_seconds": seconds}
        for key in ("valid", "test"):
            for name, value in evaluate(scored, task.dataset, split[key], objective, task, device,
                                        cfg.batch_size, info).items():
                row[f"{key}_{name}"] = value
        history.append(row)
        score = row[f"valid_{task.metric}"]
        # A NaN score (e.g. ROC-AUC on a one-class split) never wins, but is beaten by any number.
        improved = best is None or (not math.isnan(score) and (
            math.isnan(best["score"]) or sign * score > sign * best["score"]))
        if improved:
            best = {"epoch": epoch, "score": score}
        if info.is_main:
            if improved:
                io.save_torch({"model": scored.state_dict(), "model_name": cfg.model,
                               "model_kwargs": kwargs, "objective": objective.state(),
                               "config": asdict(cfg), "fold": fold, "seed": seed, "epoch": epoch,
                               **checkpoint_metadata(cfg, task)}, best_path)
            io.save_csv(history, osp.join(run_dir, "metrics.csv"))
            io.save_json(history, osp.join(run_dir, "metrics.json"))
        rngs = gather_objects(rng_state(), info)
        if info.is_main:
            io.save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "objective": objective.state(),
                           "history": history, "best": best, "epoch": epoch,
                           **({"ema": ema.state_dict()} if ema is not None else {}),
                           "rng": rngs if info.enabled else rngs[0]}, last_path)
        epochs_bar.update(1)
        epochs_bar.set_postfix({f"valid_{task.metric}": f"{score:.4f}"})
        info.barrier()
    epochs_bar.close()
    finished = bool(history) and history[-1]["epoch"] == cfg.epochs
    best_row = history[best["epoch"] - 1] if best else {}
    if info.is_main and history:
        plot_curves({osp.basename(run_dir): history}, task.metric, osp.join(run_dir, "curve.png"))
    return {"run": osp.basename(run_dir), "finished": finished, "best_epoch": best and best["epoch"],
            "epochs_run": len(history),
            "seconds_per_epoch": float(np.mean([r["epoch_seconds"] for r in history])) if history else float("nan"),
            **{k: v for k, v in best_row.items() if k.startswith(("valid_", "test_"))},
            "history": history}


def run(cfg: TrainConfig) -> dict:
    """Runs ``cfg.seeds`` seeds (from ``cfg.first_seed`` on) × the dataset's folds (or the
    first ``cfg.folds``) and writes ``results.md`` / ``summary.json`` / ``curves.png`` to
    ``cfg.out_dir``.

    Returns:
        The summary: per-run results and mean ± std of every metric.
    """
    if cfg.data_path:
        _resolve_csv_options(cfg)
    else:
        cfg.dataset = check_name(cfg.dataset)
    check_model(cfg.model)
    if cfg.ema is not None:
        check_decay(cfg.ema)
    device = resolve_device(cfg.device)
    info = init_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    cfg.orientation = resolve_orientation(cfg.orientation, cfg.dataset,
                                          has_smiles=True if cfg.data_path else None)
    if cfg.random_order and (cfg.model != "plstm" or cfg.orientation != "smiles"):
        raise ValueError(f"random_order draws SMILES atom orders for pLSTM's DAGs; it needs "
                         f"model 'plstm' and orientation 'smiles', got {cfg.model!r} and "
                         f"{cfg.orientation!r}")
    out = cfg.out_dir
    config_path = osp.join(out, "config.json")
    if info.is_main:
        if osp.exists(config_path):
            old = io.load_json(config_path)
            if not cfg.resume:
                raise FileExistsError(f"{out} already holds a run; pass --resume to continue it "
                                      f"or choose another --out")
            # A setting added after the folder was made compares as its default.
            fields = TrainConfig.__dataclass_fields__
            diff = [k for k in _IDENTITY if old.get(k, fields[k].default) != getattr(cfg, k)]
            if diff:
                raise ValueError(f"--resume: {out} was made with other settings: " + ", ".join(
                    f"{k}={old.get(k, fields[k].default)!r} (now {getattr(cfg, k)!r})" for k in diff))
    # Rank 0 builds the dataset caches first; the others then read them.
    if not info.is_main:
        info.barrier()
    task = load_config_task(asdict(cfg), cfg.root,
                            structure_transform(cfg.model, cfg.orientation, cfg.line_dag),
                            download=cfg.download, log=cfg.progress and info.is_main)
    if info.is_main:
        info.barrier()
        io.save_json(asdict(cfg), config_path)
        if task.skipped:
            print(task.skipped)
        if task.rows is not None:  # which file rows each split holds, as chemprop's splits.json
            io.save_json([{k: task.rows[v[:cfg.limit] if cfg.limit else v].tolist()
                           for k, v in fold.items()} for fold in task.folds],
                         osp.join(out, "splits.json"))
    kwargs = config_model_kwargs(cfg, task)
    folds = range(min(cfg.folds or len(task.folds), len(task.folds)))
    runs = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        for fold in folds:
            run_dir = osp.join(out, _run_name(seed, fold, len(task.folds)))
            runs.append(train_one(cfg, task, fold, seed, run_dir, device, info, kwargs))
    summary = summarise(cfg, task, runs, write=info.is_main)
    if info.is_main:
        plot_curves({r["run"]: r["history"] for r in runs}, task.metric, osp.join(out, "curves.png"))
    return summary
