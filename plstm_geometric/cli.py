"""``plstm-geometric``: train, evaluate, prepare datasets and benchmark from one command.

    plstm-geometric train                                  # offline default: ChEMBL2321810
    plstm-geometric train --dataset ogbg-molhiv --model gine --virtual-node --root data
    plstm-geometric prepare ogbg-molhiv --csv HIV.csv --root data
    plstm-geometric evaluate --checkpoint runs/chembl2321810-plstm/seed0/best.pt
    plstm-geometric bench --dataset ogbg-molhiv --models plstm,gin --root data

Multi-process: ``torchrun --nproc_per_node 2 -m plstm_geometric train ...``.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from .data.datasets import DATASETS, DEFAULT_DATASET


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default="data", help="dataset root (default: %(default)s)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download; a missing dataset is an error naming the expected files")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op CPU threads (default: %(default)s; graph batches are many small "
                        "kernels, and on a shared CPU torch's default pool spin-waits; raise it "
                        "on a dedicated many-core machine, 0 keeps torch's default)")


def _add_line_dag_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--line-dag", choices=("cached", "on-the-fly"), default="cached",
                   help="pLSTM structures: precomputed once (chunks of graphs at a time) and "
                        "cached with the dataset, or built per mini-batch at every step")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="plstm", help="plstm, gin or gine (default: %(default)s)")
    p.add_argument("--hidden", type=int, help="width (default: 96 pLSTM, 300 GIN/GINE, 128 on TU)")
    p.add_argument("--layers", type=int, help="pLSTM blocks / GIN layers (default: 2 / 5, 4 on TU)")
    p.add_argument("--heads", type=int, default=4, help="pLSTM heads (default: %(default)s)")
    p.add_argument("--dropout", type=float, help="dropout (default: 0 pLSTM, 0.5 GIN/GINE)")
    p.add_argument("--virtual-node", action="store_true", help="GIN/GINE: add a virtual node")
    p.add_argument("--pool", choices=("mean", "sum"), help="GIN/GINE pooling (default: sum on TU, else mean)")
    p.add_argument("--orientation", choices=("smiles", "index"),
                   help="pLSTM DAG orientation: canonical-SMILES atom order (default for "
                        "molecules) or node index (the paper's; default for TU)")
    _add_line_dag_arg(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plstm-geometric", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train and evaluate a model")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=f"one of {', '.join(DATASETS)} (default: %(default)s, ships with RDKit)")
    _add_model_args(p)
    _add_data_args(p)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (all processes)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.05, help="warm-up fraction of all steps")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--seeds", type=int, default=1, help="train seeds 0..N-1 (default: 1)")
    p.add_argument("--folds", type=int, help="run only the first K folds (TU: 10 by default)")
    p.add_argument("--limit", type=int, help="use only the first N graphs of each split (smoke runs)")
    p.add_argument("--out", help="output folder (default: runs/<dataset>-<model>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--stop-after", type=int,
                   help="stop after this epoch (a time budget); --resume continues")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    p = sub.add_parser("evaluate", help="score a saved best.pt checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--split", default="test", choices=("train", "valid", "test"))
    p.add_argument("--batch-size", type=int, default=256)
    _add_data_args(p)

    p = sub.add_parser("prepare", help="build or stage a dataset for offline use")
    p.add_argument("dataset", help="ogbg-molhiv (from --csv), or a MoleculeNet / TU name (from --source)")
    p.add_argument("--csv", help="ogbg-molhiv: path to MoleculeNet's HIV.csv")
    p.add_argument("--source", help="MoleculeNet / TU: folder with the publisher's files")
    p.add_argument("--root", default="data")
    p.add_argument("--force", action="store_true", help="rebuild an existing ogbg_molhiv folder")

    p = sub.add_parser("bench", help="time training steps per model on a dataset")
    p.add_argument("--dataset", default=DEFAULT_DATASET)
    p.add_argument("--models", default="plstm,gin", help="comma-separated (default: %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64)
    _add_line_dag_arg(p)
    _add_data_args(p)
    return parser


def cmd_train(args) -> None:
    from .train import TrainConfig, run

    fields = set(TrainConfig.__dataclass_fields__) - {"command"}
    run(TrainConfig(**{k: v for k, v in vars(args).items() if k in fields}))


def cmd_evaluate(args) -> None:
    from .data import load_task
    from .train import build_model, evaluate, structure_transform
    from .train.io import load_torch
    from .train.loop import Objective, resolve_device

    ckpt = load_torch(args.checkpoint)
    cfg = ckpt["config"]
    device = resolve_device(args.device)
    transform = structure_transform(cfg["model"], cfg["orientation"], cfg.get("line_dag", "cached"))
    task = load_task(cfg["dataset"], args.root, transform, download=args.download)
    model = build_model(ckpt["model_name"], ckpt["model_kwargs"]).to(device)
    model.load_state_dict(ckpt["model"])
    objective = Objective(task.task, **ckpt["objective"])
    index = task.folds[ckpt["fold"]][args.split]
    if cfg.get("limit"):
        index = index[:cfg["limit"]]
    metrics = evaluate(model, task.dataset, index, objective, task, device, args.batch_size)
    print(f"{cfg['dataset']} {cfg['model']} (epoch {ckpt['epoch']}, fold {ckpt['fold']}, "
          f"seed {ckpt['seed']}) {args.split}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


def cmd_prepare(args) -> None:
    from .data import build_ogbg_molhiv, check_name, stage_raw

    name = check_name(args.dataset)
    if name == "ogbg-molhiv":
        if not args.csv:
            raise SystemExit("prepare ogbg-molhiv needs --csv PATH/HIV.csv (MoleculeNet's file)")
        build_ogbg_molhiv(args.csv, args.root, force=args.force)
    elif args.source:
        for path in stage_raw(name, args.source, args.root):
            print(f"wrote {path}")
    else:
        raise SystemExit(f"prepare {name} needs --source DIR (a folder with the publisher's files)")


def cmd_bench(args) -> None:
    import torch
    from torch_geometric.loader import DataLoader

    from .data import load_task
    from .data.datasets import TU
    from .train import build_model, model_kwargs, structure_transform
    from .train.factory import check_model, resolve_orientation
    from .train.loop import Objective, resolve_device

    device = resolve_device(args.device)
    for name in args.models.split(","):
        check_model(name)
        orientation = resolve_orientation(None, args.dataset not in TU, args.dataset)
        task = load_task(args.dataset, args.root, structure_transform(name, orientation, args.line_dag),
                         download=args.download)
        train = task.dataset[task.folds[0]["train"]]
        objective = Objective.fit(task, train)
        torch.manual_seed(0)
        model = build_model(name, model_kwargs(name, task, train[0])).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
        times = []
        for step, batch in enumerate(loader):
            if step > args.steps:  # step 0 is warm-up (allocations, caches), not timed
                break
            tic = time.perf_counter()
            batch = batch.to(device)
            loss, count = objective.loss_sum(model(batch).float(), batch.y)
            optimizer.zero_grad()
            (loss / max(count, 1)).backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if step > 0:
                times.append(time.perf_counter() - tic)
        per_step = sum(times) / len(times)
        params = sum(p.numel() for p in model.parameters())
        print(f"{args.dataset} {name}: {params:,} parameters, {per_step * 1000:.1f} ms per training "
              f"step (batch {args.batch_size}, {len(times)} steps), ~{per_step * len(loader):.1f} s "
              f"per epoch of {len(train)} graphs on {device}")


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", 0) > 0:
        import torch

        torch.set_num_threads(args.threads)
    {"train": cmd_train, "evaluate": cmd_evaluate, "prepare": cmd_prepare,
     "bench": cmd_bench}[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
