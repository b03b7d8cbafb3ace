"""Arrow-pointing extrapolation: train at one canvas size, test at that size and at 2x.

pLSTM (PLSTMVision) vs. a ViT of matched size, several seeds each. Objects keep
their pixel size on the 2x canvas, so only distances grow (SPEC §6). Results go
to a JSON file (written atomically after every run) and a table is printed.

Example (the budget used for docs/results_arrow.md)::

    PYTHONPATH=. python experiments/arrow_pointing.py --models plstm vit --seeds 0 1 2

Runs split over processes (e.g. one per model) are merged into one table with
``--combine a.json b.json``.

Programmatic entry point (for ``plstm-geometric train --task arrow-pointing``):
:func:`run_arrow_pointing`, which takes the same options as keyword arguments.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from plstm_geometric.datasets import ArrowPointing
from plstm_geometric.models.vision import PLSTMVision, ViT


@dataclass
class ArrowConfig:
    """Everything that defines one arrow-pointing experiment."""

    models: list[str] = field(default_factory=lambda: ["plstm", "vit"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    image_size: int = 64
    patch_size: int = 8
    object_scale: float = 1 / 3
    # Object sizes in pixels of the paper's 192 px canvas (multiplied by object_scale).
    radius: list[float] = field(default_factory=lambda: [15.0, 30.0])
    arrow_length: list[float] = field(default_factory=lambda: [15.0, 30.0])
    arrow_width: list[float] = field(default_factory=lambda: [2.0, 3.0])
    padding: float = 30.0
    intersection_factor: float = 1.2
    train_samples: int = 12288
    test_samples: int = 1024
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    dim: int = 64
    depth: int = 2
    heads: int = 4
    threads: int = 2
    data_seed: int = 1000
    out: str = "runs/arrow_pointing/results.json"


def make_model(name: str, cfg: ArrowConfig) -> torch.nn.Module:
    kwargs = dict(num_classes=2, image_size=cfg.image_size, patch_size=cfg.patch_size,
                  dim=cfg.dim, depth=cfg.depth, heads=cfg.heads)
    if name == "plstm":
        return PLSTMVision(**kwargs)
    if name == "vit":
        return ViT(**kwargs)
    raise ValueError(f"unknown model {name!r} (expected 'plstm' or 'vit')")


def materialize(ds: ArrowPointing) -> tuple[torch.Tensor, torch.Tensor]:
    """All images as one uint8 grey tensor ``[N, S, S]`` plus labels (rendered once)."""
    images = torch.empty(len(ds), ds.image_size, ds.image_size, dtype=torch.uint8)
    labels = torch.empty(len(ds), dtype=torch.long)
    for i in tqdm(range(len(ds)), desc=f"render {ds.image_size}px", mininterval=5, leave=False):
        g = ds.geometry(i)
        images[i] = torch.from_numpy(ds.render(g) * 255).round().to(torch.uint8)
        labels[i] = g.label
    return images, labels


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 grey ``[B, S, S]`` -> normalised RGB float ``[B, 3, S, S]``."""
    return (images.float() / 127.5 - 1.0)[:, None].expand(-1, 3, -1, -1)


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(labels), batch_size):
        pred = model(to_input(images[i:i + batch_size])).argmax(-1)
        correct += int((pred == labels[i:i + batch_size]).sum())
    return correct / len(labels)


def train_one(name: str, seed: int, cfg: ArrowConfig, data: dict) -> dict:
    """Train one model with one seed; returns its record (accuracies, timing)."""
    torch.manual_seed(seed)
    model = make_model(name, cfg)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    images, labels = data["train"]
    steps_per_epoch = len(labels) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup_fraction * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup))))
    order_gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    bar = tqdm(total=total, desc=f"{name} seed {seed}", mininterval=10)
    running = None
    for _ in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(labels), generator=order_gen)
        for s in range(steps_per_epoch):
            idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            loss = F.cross_entropy(model(to_input(images[idx])), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            bar.set_postfix(loss=f"{running:.3f}", refresh=False)
            bar.update()
    bar.close()
    train_time = time.perf_counter() - start
    record = dict(model=name, seed=seed, params=params, steps=total,
                  train_seconds=round(train_time, 1), final_train_loss=round(running, 4))
    for key, (imgs, labs) in data["test"].items():
        record[f"acc_{key}"] = accuracy(model, imgs, labs, 2 * cfg.batch_size)
    return record


def summarize(records: list[dict], cfg: ArrowConfig) -> dict:
    out = {}
    sizes = (cfg.image_size, 2 * cfg.image_size)
    for name in cfg.models:
        rs = [r for r in records if r["model"] == name]
        if not rs:
            continue
        out[name] = {}
        for size in sizes:
            accs = [r[f"acc_{size}"] for r in rs]
            out[name][str(size)] = dict(mean=statistics.mean(accs),
                                        std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
                                        n=len(accs))
    return out


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(tmp, path)


def table(summary: dict, cfg: ArrowConfig) -> str:
    a, b = cfg.image_size, 2 * cfg.image_size
    lines = [f"| model | acc @ {a} px (train size) | acc @ {b} px (2x) | seeds |",
             "|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s[str(a)]['mean']:.3f} ± {s[str(a)]['std']:.3f} | "
                     f"{s[str(b)]['mean']:.3f} ± {s[str(b)]['std']:.3f} | {s[str(a)]['n']} |")
    return "\n".join(lines)


def run_arrow_pointing(command: str | None = None, **options) -> dict:
    """Run the experiment (all models x seeds) and return the JSON payload.

    Keyword arguments are the fields of :class:`ArrowConfig`.
    """
    cfg = ArrowConfig(**options)
    torch.set_num_threads(cfg.threads)
    common = dict(object_scale=cfg.object_scale, radius=tuple(cfg.radius),
                  arrow_length=tuple(cfg.arrow_length), arrow_width=tuple(cfg.arrow_width),
                  padding=cfg.padding, intersection_factor=cfg.intersection_factor)
    data = {"train": materialize(ArrowPointing(cfg.train_samples, cfg.image_size,
                                               seed=cfg.data_seed, **common)),
            "test": {size: materialize(ArrowPointing(cfg.test_samples, size,
                                                     seed=cfg.data_seed + 1, **common))
                     for size in (cfg.image_size, 2 * cfg.image_size)}}
    payload = dict(task="arrow-pointing", command=command, config=asdict(cfg),
                   torch=torch.__version__, records=[], summary={})
    for name in cfg.models:
        for seed in cfg.seeds:
            record = train_one(name, seed, cfg, data)
            print(json.dumps(record), flush=True)
            payload["records"].append(record)
            payload["summary"] = summarize(payload["records"], cfg)
            write_json(cfg.out, payload)
    print(table(payload["summary"], cfg))
    return payload


def combine(paths: list[str], out: str) -> dict:
    """Merge result files of runs that share a configuration except models/seeds."""
    payloads = [json.load(open(p)) for p in paths]
    cfg = ArrowConfig(**{**payloads[0]["config"],
                         "models": [m for p in payloads for m in p["config"]["models"]]})
    records = [r for p in payloads for r in p["records"]]
    merged = dict(task="arrow-pointing", commands=[p["command"] for p in payloads],
                  config=asdict(cfg), torch=payloads[0]["torch"], records=records,
                  summary=summarize(records, cfg))
    write_json(out, merged)
    print(table(merged["summary"], cfg))
    return merged


def main(argv: list[str] | None = None) -> None:
    defaults = ArrowConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f, value in asdict(defaults).items():
        flag = "--" + f.replace("_", "-")
        if isinstance(value, list):
            parser.add_argument(flag, nargs="+", type=type(value[0]), default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    parser.add_argument("--combine", nargs="+", metavar="JSON",
                        help="only merge the records of these result files, print the table "
                             "and write it to --out")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.combine:
        combine(args.combine, args.out)
        return
    del args.combine
    command = "python experiments/arrow_pointing.py " + shlex.join(argv)
    run_arrow_pointing(command=command.strip(), **vars(args))


if __name__ == "__main__":
    main()
