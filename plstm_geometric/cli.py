"""``plstm-geometric``: train, evaluate, prepare datasets and benchmark from one command.

    plstm-geometric train                                  # offline default: ChEMBL2321810
    plstm-geometric train --dataset ogbg-molhiv --model gine --virtual-node --root data
    plstm-geometric prepare ogbg-molhiv --csv HIV.csv --root data
    plstm-geometric evaluate --checkpoint runs/chembl2321810-plstm/seed0/best.pt
    plstm-geometric bench --dataset ogbg-molhiv --models plstm,gin --root data
    plstm-geometric train --task arrow-pointing --model plstm,vit --seeds 3   # SPEC §6
    plstm-geometric train --data-path my.csv --smiles-column smiles --target-columns logS
    plstm-geometric predict --checkpoint runs/my-plstm --test-path new.csv --preds-path preds.csv
    plstm-geometric embed --checkpoint runs/my-plstm/seed0/best.pt --test-path new.csv --out emb.npy

Multi-process: ``torchrun --nproc_per_node 2 -m plstm_geometric train ...``.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from .train.tasks import DATASETS, DEFAULT_DATASET


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default="data", help="dataset root (default: %(default)s)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download; a missing dataset is an error naming the expected files")
    _add_device_args(p)


def _add_device_args(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--model", default="plstm", help="plstm, gin or gine; arrow-pointing: plstm and / or vit, "
                        "comma-separated (default: %(default)s)")
    p.add_argument("--hidden", type=int, help="width (default: 96 pLSTM, 300 GIN/GINE, 128 on TU)")
    p.add_argument("--layers", type=int, help="pLSTM blocks / GIN layers (default: 2 / 5, 4 on TU)")
    p.add_argument("--heads", type=int, default=4, help="pLSTM heads (default: %(default)s)")
    p.add_argument("--dropout", type=float, help="dropout (default: 0 pLSTM, 0.5 GIN/GINE)")
    p.add_argument("--virtual-node", action="store_true", help="add OGB's virtual node (GIN-virtual; also pLSTM)")
    p.add_argument("--pool", choices=("mean", "sum"), help="readout over a graph's nodes (default: pLSTM mean; GIN/GINE sum on TU, else mean)")
    p.add_argument("--orientation", choices=("smiles", "index"),
                   help="pLSTM DAG orientation: canonical-SMILES atom order (default for "
                        "molecules) or node index (the paper's; default for TU)")
    p.add_argument("--random-order", action="store_true",
                   help="pLSTM, molecules: train on the atom order of a random SMILES of each "
                        "molecule, drawn at every step (augmentation over DAG orientations; "
                        "those structures are built per mini-batch); evaluation keeps the "
                        "canonical order")
    _add_line_dag_arg(p)
    p.add_argument("--plstm-norm", choices=("rms", "graph", "none"),
                   help="pLSTM kernel-output norm: per-head RMSNorm of each node (the "
                        "paper's), one per graph and head (graph), or none (default: "
                        "PLSTMNet's)")
    p.add_argument("--plstm-norm-eps", type=float,
                   help="pLSTM: eps of the kernel-output norm (default: PLSTMNet's)")
    p.add_argument("--plstm-gate-bias", type=float,
                   help="pLSTM: initial bias of the source, mark and direct gates (default: "
                        "PLSTMNet's, the reference's -5)")
    p.add_argument("--plstm-transition-bias", type=float,
                   help="pLSTM: initial bias of the transition gates, P and D layers alike; 0 "
                        "starts each layer as one hop of message passing (default: PLSTMNet's, "
                        "the reference's 3 for P and 2 for D)")
    p.add_argument("--plstm-local", choices=("none", "gine"),
                   help="pLSTM: a local GINE layer beside each pLSTM layer, GraphGPS-style "
                        "(default: PLSTMNet's, none)")
    p.add_argument("--plstm-block-norm", choices=("rms", "batch"),
                   help="pLSTM: the node norms (each block's pre-norms and the one before "
                        "pooling), rms (per node, the paper's) or batch (BatchNorm1d over the "
                        "nodes of a batch) (default: PLSTMNet's, rms)")
    p.add_argument("--out-gate", action=argparse.BooleanOptionalAction,
                   help="pLSTM: xLSTM-style output gate sigma(W_o x) (default: PLSTMNet's)")
    p.add_argument("--qk-norm", action=argparse.BooleanOptionalAction,
                   help="pLSTM: L2-normalised queries and keys (default: PLSTMNet's)")
    p.add_argument("--plstm-init", choices=("reference", "torch"),
                   help="pLSTM layer init: the reference's gate biases, or PyTorch's default "
                        "Linear init (default: PLSTMNet's)")
    p.add_argument("--head-norm", choices=("none", "batch"),
                   help="pLSTM: norm of the pooled graph features before the head, none or "
                        "batch (BatchNorm1d over the graphs of a batch) (default: PLSTMNet's)")


def _add_arrow_args(p: argparse.ArgumentParser) -> None:
    from .train.vision import ArrowConfig

    d = ArrowConfig()
    g = p.add_argument_group(
        "arrow-pointing", "--task arrow-pointing trains each of --model (comma-separated: plstm = "
        "PLSTMVision, vit = ViT) with seeds 0..--seeds-1 at --image-size and tests at that size "
        "and at twice it with the same object sizes; --hidden / --layers / --heads set the token "
        f"width, (P, D) block pairs and heads (default: {d.dim}, {d.depth}, {d.heads}), --out the "
        "folder of results.json / results.md (default: runs/arrow-pointing). Object sizes are "
        "pixels on the paper's 192 px canvas, multiplied by --object-scale.")
    g.add_argument("--image-size", type=int, default=d.image_size,
                   help="training canvas side (default: %(default)s)")
    g.add_argument("--patch-size", type=int, default=d.patch_size, help="(default: %(default)s)")
    g.add_argument("--steps", type=int, help="optimiser steps (default: --epochs passes)")
    g.add_argument("--train-samples", type=int, default=d.train_samples,
                   help="size of the rendered training set (default: %(default)s)")
    g.add_argument("--test-samples", type=int, default=d.test_samples,
                   help="test images per size (default: %(default)s)")
    g.add_argument("--object-scale", type=float, default=d.object_scale,
                   help="factor on all object sizes (default: 1/3, the paper's sizes at 64 px)")
    g.add_argument("--radius", type=float, nargs=2, default=d.radius, metavar=("MIN", "MAX"),
                   help="circle radius range (default: %(default)s)")
    g.add_argument("--arrow-length", type=float, nargs=2, default=d.arrow_length,
                   metavar=("MIN", "MAX"), help="(default: %(default)s)")
    g.add_argument("--arrow-width", type=float, nargs=2, default=d.arrow_width,
                   metavar=("MIN", "MAX"), help="stroke width range (default: %(default)s)")
    g.add_argument("--padding", type=float, default=d.padding,
                   help="border kept free of object centres (default: %(default)s)")
    g.add_argument("--data-seed", type=int, default=d.data_seed,
                   help="training set seed; the test sets use seed + 1 (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plstm-geometric", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train and evaluate a model")
    p.add_argument("--task", choices=("graph", "arrow-pointing"), default="graph",
                   help="graph: a graph dataset (--dataset); arrow-pointing: the SPEC §6 image "
                        "extrapolation experiment (see 'arrow-pointing' below)")
    p.add_argument("--dataset", help=f"one of {', '.join(DATASETS)} (default: {DEFAULT_DATASET}, "
                                     "ships with RDKit)")
    _add_csv_args(p)
    _add_model_args(p)
    _add_data_args(p)
    p.add_argument("--epochs", type=int, help="passes over the training set (default: 30; "
                   "arrow-pointing: 1, unless --steps is given)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (all processes)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (default: 0.01; "
                                                      "arrow-pointing: 0.05)")
    p.add_argument("--warmup", type=float, default=0.05, help="warm-up fraction of all steps")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="evaluate, select and save an exponential moving average of the weights "
                        "with this decay per step, e.g. 0.999 (default: off, the weights as "
                        "trained)")
    p.add_argument("--prior-bias", action=argparse.BooleanOptionalAction,
                   help="start the output bias at the training label prior (log-odds / log "
                        "class frequencies; classification only)")
    p.add_argument("--seeds", type=int, default=1, help="train seeds 0..N-1 (default: 1)")
    p.add_argument("--first-seed", type=int,
                   help="start the seeds there: seeds S..S+N-1, to add seeds to a finished "
                        "setting in a new --out (default: 0)")
    p.add_argument("--folds", type=int, help="run only the first K folds (TU: 10 by default)")
    p.add_argument("--limit", type=int, help="use only the first N graphs of each split (smoke runs)")
    p.add_argument("--out", help="output folder (default: runs/<dataset>-<model>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--stop-after", type=int,
                   help="stop after this epoch (a time budget); --resume continues")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    _add_arrow_args(p)

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

    p = sub.add_parser("predict", help="predict the targets of the molecules in a CSV file")
    _add_inference_args(p)
    p.add_argument("--preds-path", required=True,
                   help="output CSV: every input row and column, one column per target "
                        "(+ <target>_std for an ensemble) and 'error'")
    p.add_argument("--target-columns", nargs="+", metavar="COL",
                   help="the targets expected from the checkpoint (an error if it has others)")

    p = sub.add_parser("embed", help="pooled graph representations of the molecules in a CSV file")
    _add_inference_args(p)
    p.add_argument("--out", required=True,
                   help="OUT.npy (float32 [rows, hidden], NaN rows for invalid SMILES) or OUT.csv")

    p = sub.add_parser("bench", help="time training steps per model on a dataset")
    p.add_argument("--dataset", default=DEFAULT_DATASET)
    p.add_argument("--models", default="plstm,gin", help="comma-separated (default: %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="timed training steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64)
    _add_line_dag_arg(p)
    _add_data_args(p)
    return parser


def _add_csv_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "your own molecules (CSV)", "--data-path trains on a CSV file instead of --dataset "
        "(options named as chemprop's). Blank target cells are missing labels; rows whose "
        "SMILES RDKit cannot parse are skipped and reported.")
    g.add_argument("--data-path", help="CSV file with a SMILES column and target columns")
    g.add_argument("--smiles-column", help="column of SMILES (default: smiles)")
    g.add_argument("--target-columns", nargs="+", metavar="COL",
                   help="target columns (default: every column but the SMILES / split column)")
    g.add_argument("--task-type", choices=("regression", "classification"),
                   help="regression (targets standardised, RMSE) or classification (0 / 1 "
                        "labels; ROC-AUC and PR-AUC) (default: regression)")
    g.add_argument("--split", choices=("scaffold", "random"),
                   help="scaffold (OGB's procedure) or random (seed 0) (default: scaffold)")
    g.add_argument("--split-sizes", type=float, nargs=3, metavar=("TRAIN", "VALID", "TEST"),
                   help="split fractions (default: 0.8 0.1 0.1)")
    g.add_argument("--split-column", help="column naming each row's split: train, val or test")


def _add_inference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True,
                   help="a best.pt, or a run folder: the ensemble of its seeds' best.pt")
    p.add_argument("--test-path", required=True, help="CSV file with a SMILES column")
    p.add_argument("--smiles-column", help="(default: the training file's)")
    p.add_argument("--batch-size", type=int, default=256, help="(default: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_device_args(p)


# Options that only mean something with --data-path.
_CSV_ONLY = ("smiles_column", "target_columns", "task_type", "split", "split_sizes", "split_column")
# Graph-only options of ``train`` (their defaults are None / False): --task arrow-pointing
# refuses them rather than silently ignoring them.
_GRAPH_ONLY = ("dataset", "first_seed", "folds", "limit", "resume", "stop_after", "dropout",
               "virtual_node", "pool", "orientation", "random_order", "data_path", "ema") + _CSV_ONLY


def cmd_train(args) -> None:
    if args.task == "arrow-pointing":
        cmd_train_arrow(args)
        return
    from .train import TrainConfig, run

    if args.data_path and args.dataset:
        raise ValueError("--data-path and --dataset are exclusive: train on a CSV file or on a "
                         "named dataset")
    given = [k for k in _CSV_ONLY if getattr(args, k) is not None]
    if given and not args.data_path:
        raise ValueError(", ".join("--" + k.replace("_", "-") for k in given) + " need(s) "
                         "--data-path")
    # Unset options (None) fall back to TrainConfig's defaults.
    fields = set(TrainConfig.__dataclass_fields__) - {"command"}
    run(TrainConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None}))


def cmd_train_arrow(args) -> None:
    from .train.vision import ArrowConfig, run_arrow_pointing

    given = [k for k in _GRAPH_ONLY if getattr(args, k) not in (None, False)]
    if given:
        raise SystemExit("--task arrow-pointing does not take " +
                         ", ".join("--" + k.replace("_", "-") for k in given))
    options = {k: v for k, v in vars(args).items() if k in ArrowConfig.__dataclass_fields__}
    options.update(models=args.model.split(","), dim=args.hidden, depth=args.layers)
    # Unset options (None) fall back to ArrowConfig's defaults.
    run_arrow_pointing(ArrowConfig(**{k: v for k, v in options.items()
                                      if v is not None and k != "command"}))


def cmd_evaluate(args) -> None:
    from .train import build_model, evaluate, structure_transform
    from .train.io import load_torch
    from .train.loop import Objective, resolve_device
    from .train.tasks import load_config_task

    ckpt = load_torch(args.checkpoint)
    cfg = ckpt["config"]
    device = resolve_device(args.device)
    transform = structure_transform(cfg["model"], cfg["orientation"], cfg.get("line_dag", "cached"))
    task = load_config_task(cfg, args.root, transform, download=args.download)
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


def cmd_predict(args) -> None:
    from .inference import load_checkpoint, predict_csv

    model = load_checkpoint(args.checkpoint, args.device)
    rows = predict_csv(model, args.test_path, args.preds_path, args.smiles_column,
                       args.target_columns, args.batch_size, progress=args.progress)
    print(f"wrote {args.preds_path}: {rows} rows, {', '.join(model.target_names)} from "
          f"{len(model)} model(s)")


def cmd_embed(args) -> None:
    from .inference import embed_csv, load_checkpoint

    model = load_checkpoint(args.checkpoint, args.device)
    rows, width = embed_csv(model, args.test_path, args.out, args.smiles_column, args.batch_size,
                            progress=args.progress)
    print(f"wrote {args.out}: {rows} rows x {width} (model {model.paths[0]})")


def cmd_prepare(args) -> None:
    from .datasets import build_ogbg_molhiv, stage_raw
    from .train import check_name

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

    from .train import build_model, load_task, model_kwargs, structure_transform
    from .train.factory import check_model, resolve_orientation
    from .train.loop import Objective, resolve_device

    device = resolve_device(args.device)
    orientation = resolve_orientation(None, args.dataset)
    for name in args.models.split(","):
        check_model(name)
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


# What the library raises for bad input (unknown names, malformed files, missing files or
# extras) or a diverged run (a non-finite loss): the CLI prints the message and exits with
# status 1 instead of a traceback.
USER_ERRORS = (ValueError, OSError, ImportError, FloatingPointError)


def main(argv: Optional[List[str]] = None) -> None:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", 0) > 0:
        import torch

        torch.set_num_threads(args.threads)
    command = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
               "embed": cmd_embed, "prepare": cmd_prepare, "bench": cmd_bench}[args.command]
    try:
        command(args)
    except USER_ERRORS as err:
        raise SystemExit(f"plstm-geometric {args.command}: error: {err}") from err


if __name__ == "__main__":
    main(sys.argv[1:])
