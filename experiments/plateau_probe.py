"""Loss-plateau probe on ogbg-molhiv (issue 11): the CLI's training step and schedule, with the
training loss, the gradient norm and the lr logged every ``--every`` steps, so that a remedy can
be judged inside two epochs at a fraction of a full run's cost.

    python experiments/plateau_probe.py --steps 1028 --json out.json [--lr 1e-3] [model options]

The schedule is the CLI's: AdamW, linear warm-up over ``--warmup`` of ``--epochs`` epochs, then
cosine decay; so ``--steps 1028`` is exactly the first two epochs of
``plstm-geometric train --dataset ogbg-molhiv --epochs 10`` (515 batches of 64 per epoch) and
the per-epoch mean losses printed at the end are those the CLI's metrics.csv would show.
``--model gine --virtual-node`` probes the baseline the same way.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from plstm_geometric.nn.diagnostics import layer_statistics
from plstm_geometric.train.distributed import DistInfo, GlobalBatchSampler
from plstm_geometric.train.factory import build_model, model_kwargs, structure_transform
from plstm_geometric.train.io import save_json
from plstm_geometric.train.loop import Objective, adamw_cosine, evaluate, seed_everything
from plstm_geometric.train.tasks import load_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ogbg-molhiv")
    p.add_argument("--root", default="data")
    p.add_argument("--model", default="plstm")
    p.add_argument("--virtual-node", action="store_true")
    p.add_argument("--steps", type=int, default=1028)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--epochs", type=int, default=10, help="schedule length (as the CLI's)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.05)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--beta2", type=float, default=0.999, help="AdamW's second-moment decay")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int)
    p.add_argument("--layers", type=int)
    p.add_argument("--dropout", type=float)
    p.add_argument("--plstm-norm", choices=("rms", "none"))
    p.add_argument("--qk-norm", action=argparse.BooleanOptionalAction)
    p.add_argument("--head-norm", choices=("none", "batch", "layer"))
    p.add_argument("--norm-eps", type=float, help="PLSTMNet(norm_eps=...)")
    p.add_argument("--lr-scale", action="append", default=[], metavar="SUBSTRING=FACTOR",
                   help="scale the lr of parameters whose name contains SUBSTRING (repeatable)")
    p.add_argument("--valid", action="store_true", help="score the validation split at the end")
    p.add_argument("--json", help="write the records here")
    args = p.parse_args()
    torch.set_num_threads(1)

    task = load_task(args.dataset, args.root, structure_transform(args.model, "smiles"),
                     download=False, log=False)
    split = task.folds[0]
    train_set = task.dataset[split["train"]]
    objective = Objective.fit(task, train_set)
    options = {"norm": args.plstm_norm, "qk_norm": args.qk_norm,
               "head_norm": "batch" if args.head_norm == "batch" else None,
               "norm_eps": args.norm_eps}
    kwargs = model_kwargs(args.model, task, task.dataset[0], args.hidden, args.layers, 4,
                          args.dropout, args.virtual_node, None,
                          **(options if args.model == "plstm" else {}))
    seed_everything(args.seed)
    model = build_model(args.model, kwargs)
    if args.head_norm == "layer" or (args.head_norm == "batch" and args.model != "plstm"):
        # A norm on the pooled features, before the head (PLSTMNet has head_norm="batch").
        width = model.head[0].in_features
        norm = (torch.nn.BatchNorm1d(width) if args.head_norm == "batch"
                else torch.nn.LayerNorm(width))
        model.head = torch.nn.Sequential(norm, *model.head)
    sampler = GlobalBatchSampler(len(train_set), args.batch_size, DistInfo(), args.seed)
    loader = DataLoader(train_set, batch_sampler=sampler)
    optimizer, scheduler = adamw_cosine(model, args.lr, args.weight_decay,
                                        args.epochs * len(sampler), args.warmup)
    for group in optimizer.param_groups:
        group["betas"] = (group["betas"][0], args.beta2)
    if args.lr_scale:  # one group per factor; the schedule's lambda scales every group alike
        rules = [(k, float(v)) for k, v in (r.split("=") for r in args.lr_scale)]
        groups = {}
        for name, param in model.named_parameters():
            factor = next((f for k, f in rules if k in name), 1.0)
            groups.setdefault(factor, []).append(param)
        optimizer = torch.optim.AdamW([{"params": ps, "lr": args.lr * f} for f, ps in groups.items()],
                                      lr=args.lr, weight_decay=args.weight_decay,
                                      betas=(0.9, args.beta2))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, scheduler.lr_lambdas[0])
        print("lr groups: " + ", ".join(f"x{f}: {len(ps)} tensors" for f, ps in groups.items()))
    prior = objective.prior.clamp(1e-6, 1 - 1e-6)
    entropy = float(-(prior * prior.log() + (1 - prior) * (1 - prior).log()).mean())
    print(f"{args.dataset} {args.model} {json.dumps({k: v for k, v in vars(args).items() if v is not None})}")
    print(f"label-prior entropy {entropy:.4f}; {len(sampler)} steps per epoch")
    rows, losses, norms, step, tic = [], [], [], 0, time.perf_counter()
    epoch = 0
    while step < args.steps:
        epoch += 1
        sampler.set_epoch(epoch)
        model.train()
        for batch in loader:
            loss_sum, count = objective.loss_sum(model(batch).float(), batch.y)
            loss = loss_sum / max(count, 1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                  args.clip if args.clip > 0 else float("inf"))
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(float(loss.detach()))
            norms.append(float(norm))
            if step % args.every == 0:
                row = {"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0],
                       "loss": float(np.mean(losses[-args.every:])),
                       "grad_norm": float(np.median(norms[-args.every:])),
                       "seconds": time.perf_counter() - tic}
                rows.append(row)
                print(f"step {step:5d} ep {epoch} lr {row['lr']:.2e} loss {row['loss']:.4f} "
                      f"grad {row['grad_norm']:.3f} ({row['seconds']:.0f} s)", flush=True)
            if step == args.steps:
                break
    per_epoch = [float(np.mean(losses[i:i + len(sampler)])) for i in range(0, len(losses), len(sampler))]
    print("epoch mean losses: " + " / ".join(f"{v:.4f}" for v in per_epoch))
    record = {"settings": vars(args), "prior_entropy": entropy, "rows": rows,
              "epoch_losses": per_epoch}
    if args.model == "plstm":
        valid = list(DataLoader(task.dataset[split["valid"]], batch_size=64))[:4]
        model.eval()
        stats = [layer_statistics(model, b) for b in valid]
        record["out_nodewise"] = [float(np.mean([s[i]["out_nodewise"] for s in stats]))
                                  for i in range(len(stats[0]))]
        print("out_nodewise per layer: " + ", ".join(f"{v:.3f}" for v in record["out_nodewise"]))
    if args.valid:
        record["valid"] = evaluate(model, task.dataset, split["valid"], objective, task,
                                   torch.device("cpu"), 256)
        print("valid: " + json.dumps(record["valid"]))
    if args.json:
        save_json(record, args.json)


if __name__ == "__main__":
    main()
