"""Vision training-step benchmark: ``PLSTMVision`` vs the matched ``ViT`` (issue 9's acceptance).

One training step = forward, cross-entropy, backward and an AdamW step, on a random batch of
RGB images (batch 32 by default) at each ``IMAGE/PATCH`` setting, both models built with the
same ``dim`` / ``depth`` / ``heads`` (parameter counts are printed). The models are timed
alternately within every repeat so that machine load hits them alike; the ratio is the median
step time of ``PLSTMVision`` over that of ``ViT`` in the same run. ``--forms`` also times
``PLSTMVision`` with the grid kernel's form forced (``plstm_2d(form=...)``) next to ``auto``.

    PYTHONPATH=. python experiments/bench_vision.py --threads 1 --repeats 5

``--profile`` prints a ``torch.profiler`` table (self CPU time per op, forward and backward)
of a few PLSTMVision steps per setting instead of timing. Writes JSON (default
``experiments/results/bench_vision.json``).
"""
from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from bench_grid import time_alternately  # experiments/ is on sys.path when run as a script
from plstm_geometric.models.vision import PLSTMVision, ViT
from plstm_geometric.train.io import save_json


def parse_setting(text: str) -> tuple[int, int]:
    image, patch = text.split("/")
    return int(image), int(patch)


def set_form(model: torch.nn.Module, form: Optional[str]) -> None:
    """Force the grid kernel form of every PLSTM2D layer (``None``: the layer's default)."""
    for module in model.modules():
        if hasattr(module, "form"):
            module.form = "auto" if form is None else form


def train_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor
               ) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return run


def build(image: int, patch: int, args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    kw = dict(num_classes=2, image_size=image, patch_size=patch, dim=args.dim, depth=args.depth,
              heads=args.heads)
    torch.manual_seed(0)
    models: dict[str, torch.nn.Module] = {"ViT": ViT(**kw), "PLSTMVision": PLSTMVision(**kw)}
    for form in args.forms:
        torch.manual_seed(0)
        models[f"PLSTMVision[{form}]"] = PLSTMVision(**kw)
        set_form(models[f"PLSTMVision[{form}]"], form)
    return models


def bench_setting(image: int, patch: int, args: argparse.Namespace) -> dict:
    gen = torch.Generator().manual_seed(image * 100 + patch)
    images = torch.randn(args.batch_size, 3, image, image, generator=gen)
    labels = torch.randint(0, 2, (args.batch_size,), generator=gen)
    models = build(image, patch, args)
    runs = {name: train_step(m, images, labels) for name, m in models.items()}
    load_before = os.getloadavg()[0]
    ms = time_alternately(runs, args.repeats)
    grid = image // patch
    return dict(image_size=image, patch_size=patch, grid=f"{grid}x{grid}",
                params={name: sum(p.numel() for p in m.parameters()) for name, m in models.items()},
                load_avg_1min=(load_before, os.getloadavg()[0]), ms=ms,
                ratio_over_vit={n: t / ms["ViT"] for n, t in ms.items() if n != "ViT"})


def profile_setting(image: int, patch: int, args: argparse.Namespace) -> str:
    from torch.profiler import ProfilerActivity, profile

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, image, image, generator=gen)
    labels = torch.randint(0, 2, (args.batch_size,), generator=gen)
    model = build(image, patch, args)["PLSTMVision"]
    step = train_step(model, images, labels)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=parse_setting, nargs="+",
                        default=[(64, 8), (192, 16)], help="IMAGE/PATCH pairs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--forms", nargs="*", default=[],
                        help="also time PLSTMVision with plstm_2d's form forced to each of these")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "bench_vision.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        for image, patch in args.settings:
            print(f"== PLSTMVision {image} px / patch {patch}, batch {args.batch_size}, 3 steps")
            print(profile_setting(image, patch, args))
        return
    rows = []
    for image, patch in args.settings:
        rows.append(bench_setting(image, patch, args))
        r = rows[-1]
        print(f"{image} px / patch {patch} ({r['grid']}): "
              + ", ".join(f"{n} {t:.1f} ms" for n, t in r["ms"].items())
              + " -> " + ", ".join(f"{n}/ViT = {x:.2f}x" for n, x in r["ratio_over_vit"].items())
              + "; params " + ", ".join(f"{n} {p:,}" for n, p in r["params"].items())
              + " ; load {:.2f} -> {:.2f}".format(*r["load_avg_1min"]), flush=True)
    result = {"machine": {"platform": platform.platform(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__},
              "setup": {"batch_size": args.batch_size, "dim": args.dim, "depth": args.depth,
                        "heads": args.heads, "repeats": args.repeats, "optimizer": "AdamW",
                        "pass": "forward+backward+step"},
              "rows": rows}
    save_json(result, str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
