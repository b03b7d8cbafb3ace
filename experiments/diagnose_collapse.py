"""Collapse diagnostic: per pLSTM layer, the node-wise std / RMS of its outputs, the kernel
output RMS and the gate means (:func:`plstm_geometric.nn.diagnostics.layer_statistics`).

    # a trained checkpoint (best.pt, or last.pt next to the run's config.json)
    python experiments/diagnose_collapse.py --checkpoint runs/hiv/seed0/last.pt --root data
    # a fresh model after N AdamW steps at a constant lr (pLSTM layer options as in the CLI)
    python experiments/diagnose_collapse.py --dataset esol --steps 100 --lr 1e-3 --plstm-norm none

Statistics are taken on the first ``--batches`` mini-batches of the validation split and
averaged over them; ``head`` adds the std / RMS over graphs of the pooled features the head
reads (``pooled_graphwise``) and the spread of the outputs over graphs. Prints a table and, with ``--json``, writes the records (with the
settings) to that file. A layer counts as collapsed when its ``out_nodewise`` is below 0.1.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
from typing import Dict, List

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from plstm_geometric.train.tasks import load_task
from plstm_geometric.nn.diagnostics import layer_statistics, nodewise_ratio
from plstm_geometric.train.factory import build_model, resolve_orientation, structure_transform
from plstm_geometric.train.io import load_torch, save_json
from plstm_geometric.train.loop import (Objective, TrainConfig, config_model_kwargs,
                                        optimizer_step, seed_everything)

COLLAPSE_THRESHOLD = 0.1
#: The run settings printed with the statistics (config.json keys; None where not given).
SETTINGS = ("plstm_norm", "out_gate", "qk_norm", "plstm_init", "head_norm", "plstm_norm_eps",
            "plstm_gate_bias", "plstm_transition_bias", "plstm_local", "virtual_node")


def averaged(model, batches) -> List[Dict[str, float]]:
    runs = [layer_statistics(model, batch) for batch in batches]
    return [{key: (rows[0][key] if key == "layer" else float(np.mean([r[key] for r in rows])))
             for key in rows[0]} for rows in zip(*runs)]


@torch.no_grad()
def head_statistics(model, batches) -> Dict[str, float]:
    """How much the graphs differ where the head reads them: the std / RMS over graphs of the
    pooled features (the head's input) and the std of the outputs over graphs."""
    pooled, outputs = [], []
    handle = model.head.register_forward_hook(lambda m, inp, out: pooled.append(inp[0]))
    model.eval()
    try:
        outputs = [model(batch) for batch in batches]
    finally:
        handle.remove()
    pooled, outputs = torch.cat(pooled), torch.cat(outputs)
    return {"pooled_graphwise": nodewise_ratio(pooled), "output_std": float(outputs.std(0).mean()),
            "output_mean": float(outputs.mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="best.pt or last.pt of a run")
    p.add_argument("--dataset", help="train a fresh pLSTM on this dataset for --steps")
    p.add_argument("--root", default="data")
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batches", type=int, default=4, help="validation batches to average over")
    p.add_argument("--plstm-norm", choices=("rms", "none"))
    p.add_argument("--out-gate", action=argparse.BooleanOptionalAction)
    p.add_argument("--qk-norm", action=argparse.BooleanOptionalAction)
    p.add_argument("--plstm-init", choices=("reference", "torch"))
    p.add_argument("--json", help="write the records here")
    args = p.parse_args()
    torch.set_num_threads(1)
    if bool(args.checkpoint) == bool(args.dataset):
        p.error("give exactly one of --checkpoint and --dataset")

    if args.checkpoint:
        ckpt = load_torch(args.checkpoint)
        cfg = ckpt.get("config") or json.load(open(osp.join(osp.dirname(osp.dirname(
            args.checkpoint)), "config.json")))
        fold = ckpt.get("fold", 0)
        settings = {"checkpoint": args.checkpoint, "epoch": ckpt.get("epoch"),
                    **{k: cfg.get(k) for k in ("dataset", "lr", "epochs", *SETTINGS)}}
    else:
        cfg = {"dataset": args.dataset, "model": "plstm", "orientation": None,
               "plstm_norm": args.plstm_norm, "out_gate": args.out_gate, "qk_norm": args.qk_norm,
               "plstm_init": args.plstm_init}
        fold, ckpt = 0, None
        settings = {"dataset": args.dataset, "steps": args.steps, "lr": args.lr,
                    "seed": args.seed, **{k: cfg.get(k) for k in SETTINGS}}
    orientation = resolve_orientation(cfg.get("orientation"), cfg["dataset"])
    task = load_task(cfg["dataset"], args.root, structure_transform("plstm", orientation),
                     download=False)
    # last.pt holds no model_kwargs: rebuild them from the run's config as training did.
    kwargs = (ckpt or {}).get("model_kwargs") or config_model_kwargs(TrainConfig(**{
        k: v for k, v in cfg.items() if k in TrainConfig.__dataclass_fields__}), task)
    seed_everything(args.seed)
    model = build_model("plstm", kwargs)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
    split = task.folds[fold]
    valid = list(DataLoader(task.dataset[split["valid"]], batch_size=args.batch_size))[:args.batches]

    losses = []
    if args.steps:
        train_set = task.dataset[split["train"]]
        objective = Objective.fit(task, train_set)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
        model.train()
        while len(losses) < args.steps:
            for batch in loader:
                loss_sum, count = objective.loss_sum(model(batch), batch.y)
                optimizer_step(model, loss_sum / max(count, 1), optimizer, scheduler, 1.0)
                losses.append(float(loss_sum.detach()) / max(count, 1))
                if len(losses) == args.steps:
                    break

    records = averaged(model, valid)
    head = head_statistics(model, valid)
    print(json.dumps(settings))
    print("head: " + ", ".join(f"{k} {v:.4f}" for k, v in head.items()))
    if losses:
        print(f"training loss: first 10 steps {np.mean(losses[:10]):.4f}, "
              f"last 10 steps {np.mean(losses[-10:]):.4f}")
    cols = ("out_nodewise", "pre_nodewise", "kernel_nodewise", "kernel_rms", "out_rms",
            "source_mean", "mark_mean", "direct_mean", "transition_abs_mean")
    print(f"{'layer':<22}" + "".join(f"{c:>20}" for c in cols))
    for r in records:
        print(f"{r['layer']:<22}" + "".join(f"{r[c]:>20.4f}" for c in cols))
    worst = min(r["out_nodewise"] for r in records)
    verdict = "collapsed" if not worst > COLLAPSE_THRESHOLD else "not collapsed"
    print(f"min out_nodewise over layers: {worst:.4f} ({verdict}, threshold {COLLAPSE_THRESHOLD})")
    if args.json:
        save_json({"settings": settings, "losses": losses, "layers": records, "head": head,
                   "min_out_nodewise": worst, "collapsed": verdict == "collapsed"}, args.json)


if __name__ == "__main__":
    main()
