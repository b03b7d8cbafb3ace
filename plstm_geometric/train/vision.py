"""Arrow-pointing extrapolation (SPEC §6): train pLSTM / ViT at one canvas size, test at that
size and at twice the size with the same object sizes (only distances grow).

Entry points: ``plstm-geometric train --task arrow-pointing`` and :func:`run_arrow_pointing`.
"""
from __future__ import annotations

import json
import os.path as osp
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..datasets import ArrowPointing
from ..models.vision import PLSTMVision, ViT
from . import io
from .loop import adamw_cosine, optimizer_step, resolve_device, seed_everything

VISION_MODELS = ("plstm", "vit")

#: Images as uint8 grey ``[N, S, S]`` and labels ``[N]``.
ImageSet = Tuple[torch.Tensor, torch.Tensor]


@dataclass
class ArrowConfig:
    """Everything that defines one arrow-pointing experiment (all models × seeds).

    Object sizes are in pixels of the paper's 192 px canvas and are multiplied by
    ``object_scale`` (see :class:`~plstm_geometric.datasets.ArrowPointing`).
    """

    models: List[str] = field(default_factory=lambda: ["plstm", "vit"])
    seeds: int = 3
    image_size: int = 64
    patch_size: int = 8
    object_scale: float = 1 / 3
    radius: List[float] = field(default_factory=lambda: [15.0, 30.0])
    arrow_length: List[float] = field(default_factory=lambda: [15.0, 30.0])
    arrow_width: List[float] = field(default_factory=lambda: [2.0, 3.0])
    padding: float = 30.0
    intersection_factor: float = 1.2
    train_samples: int = 12800
    test_samples: int = 1024
    epochs: int = 1
    steps: Optional[int] = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    clip: float = 1.0
    dim: int = 64
    depth: int = 2
    heads: int = 4
    data_seed: int = 1000
    device: str = "auto"
    progress: bool = True
    out: str = osp.join("runs", "arrow-pointing")
    command: str = field(default_factory=lambda: shlex.join(["plstm-geometric"] + sys.argv[1:]))

    @property
    def test_sizes(self) -> Tuple[int, int]:
        return self.image_size, 2 * self.image_size

    @property
    def total_steps(self) -> int:
        """``steps`` if given, else ``epochs`` passes over the training set."""
        return self.steps or self.epochs * (self.train_samples // self.batch_size)


def check_vision_model(name: str) -> str:
    if name not in VISION_MODELS:
        raise ValueError(f"unknown model {name!r} for arrow-pointing; valid: "
                         f"{', '.join(VISION_MODELS)}")
    return name


def build_vision_model(name: str, cfg: ArrowConfig) -> torch.nn.Module:
    """A two-class :class:`PLSTMVision` (``"plstm"``) or :class:`ViT` (``"vit"``) of ``cfg``'s size."""
    cls = PLSTMVision if check_vision_model(name) == "plstm" else ViT
    return cls(num_classes=2, image_size=cfg.image_size, patch_size=cfg.patch_size, dim=cfg.dim,
               depth=cfg.depth, heads=cfg.heads)


def render_set(ds: ArrowPointing, progress: bool = False) -> ImageSet:
    """Renders every image of ``ds`` once: uint8 grey ``[N, S, S]`` (1/4 of the float RGB
    memory, so large training sets fit) and labels ``[N]``."""
    images = torch.empty(len(ds), ds.image_size, ds.image_size, dtype=torch.uint8)
    labels = torch.empty(len(ds), dtype=torch.long)
    for i in tqdm(range(len(ds)), desc=f"render {ds.image_size}px", mininterval=5, leave=False,
                  disable=not progress):
        g = ds.geometry(i)
        images[i] = torch.from_numpy(ds.render(g) * 255).round().to(torch.uint8)
        labels[i] = g.label
    return images, labels


def to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 grey ``[B, S, S]`` -> RGB float ``[B, 3, S, S]`` in ``[-1, 1]`` on ``device``."""
    return (images.to(device).float() / 127.5 - 1.0)[:, None].expand(-1, 3, -1, -1)


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: ImageSet, batch_size: int, device: torch.device) -> float:
    """Fraction of correctly classified images of ``data``."""
    model.eval()
    images, labels = data
    correct = 0
    for i in range(0, len(labels), batch_size):
        pred = model(to_input(images[i:i + batch_size], device)).argmax(-1).cpu()
        correct += int((pred == labels[i:i + batch_size]).sum())
    return correct / len(labels)


def make_data(cfg: ArrowConfig) -> Tuple[ImageSet, Dict[int, ImageSet]]:
    """The training set at ``image_size`` and one test set per size of ``cfg.test_sizes``
    (another data seed, the same object sizes)."""
    common = dict(object_scale=cfg.object_scale, radius=tuple(cfg.radius),
                  arrow_length=tuple(cfg.arrow_length), arrow_width=tuple(cfg.arrow_width),
                  padding=cfg.padding, intersection_factor=cfg.intersection_factor)
    train = render_set(ArrowPointing(cfg.train_samples, cfg.image_size, seed=cfg.data_seed,
                                     **common), cfg.progress)
    test = {size: render_set(ArrowPointing(cfg.test_samples, size, seed=cfg.data_seed + 1,
                                           **common), cfg.progress)
            for size in cfg.test_sizes}
    return train, test


def train_vision(name: str, seed: int, cfg: ArrowConfig, train: ImageSet,
                 test: Dict[int, ImageSet], device: torch.device) -> dict:
    """Trains one model with one seed for ``cfg.total_steps`` steps (reshuffling the training
    set every pass) and returns its record: accuracy per test size, timing, final loss."""
    seed_everything(seed)
    model = build_vision_model(name, cfg).to(device)
    total = cfg.total_steps
    optimizer, scheduler = adamw_cosine(model, cfg.lr, cfg.weight_decay, total, cfg.warmup)
    images, labels = train
    per_pass = len(labels) // cfg.batch_size
    if per_pass == 0:
        raise ValueError(f"--train-samples {len(labels)} is smaller than --batch-size {cfg.batch_size}")
    order = torch.Generator().manual_seed(seed)
    running = float("nan")
    start = time.perf_counter()
    model.train()
    with tqdm(total=total, desc=f"{name} seed {seed}", mininterval=10,
              disable=not cfg.progress) as bar:
        for step in range(total):
            if step % per_pass == 0:
                perm = torch.randperm(len(labels), generator=order)
            idx = perm[(step % per_pass) * cfg.batch_size:][:cfg.batch_size]
            loss = F.cross_entropy(model(to_input(images[idx], device)), labels[idx].to(device))
            optimizer_step(model, loss, optimizer, scheduler, cfg.clip)
            # Exponential average: the per-batch loss of a two-class task is too noisy to read.
            running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
            bar.update()
            bar.set_postfix(loss=f"{running:.3f}", refresh=False)
    record = dict(model=name, seed=seed, params=sum(p.numel() for p in model.parameters()),
                  steps=total, train_seconds=round(time.perf_counter() - start, 1),
                  final_train_loss=round(running, 4))
    for size, data in test.items():
        record[f"acc_{size}"] = accuracy(model, data, 2 * cfg.batch_size, device)
    return record


def summarise_records(records: List[dict], sizes: Tuple[int, ...]) -> Dict[str, dict]:
    """``{model: {size: {mean, std, n}}}`` of the test accuracies (std over seeds; 0 for one)."""
    out: Dict[str, dict] = {}
    for name in dict.fromkeys(r["model"] for r in records):
        accs = {size: [r[f"acc_{size}"] for r in records if r["model"] == name] for size in sizes}
        out[name] = {str(size): dict(mean=statistics.mean(a),
                                     std=statistics.stdev(a) if len(a) > 1 else 0.0, n=len(a))
                     for size, a in accs.items()}
    return out


def results_table(summary: Dict[str, dict], sizes: Tuple[int, int]) -> str:
    """Markdown table: mean ± std accuracy per model at the training size and at 2×."""
    a, b = (str(s) for s in sizes)
    lines = [f"| model | acc @ {a} px (train size) | acc @ {b} px (2×) | seeds |",
             "|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s[a]['mean']:.3f} ± {s[a]['std']:.3f} | "
                     f"{s[b]['mean']:.3f} ± {s[b]['std']:.3f} | {s[a]['n']} |")
    return "\n".join(lines)


def run_arrow_pointing(cfg: ArrowConfig) -> dict:
    """Trains every model of ``cfg.models`` with seeds ``0..cfg.seeds-1`` and writes
    ``<out>/results.json`` (config, per-run records, summary; rewritten atomically after every
    run, so an interrupted experiment keeps its finished runs) and ``<out>/results.md``.

    Returns:
        The ``results.json`` payload.
    """
    for name in cfg.models:  # before minutes of rendering
        check_vision_model(name)
    device = resolve_device(cfg.device)
    tic = time.perf_counter()
    train, test = make_data(cfg)
    payload = dict(task="arrow-pointing", command=cfg.command, config=asdict(cfg),
                   torch=torch.__version__, device=str(device),
                   render_seconds=round(time.perf_counter() - tic, 1), records=[], summary={})
    for name in cfg.models:
        for seed in range(cfg.seeds):
            record = train_vision(name, seed, cfg, train, test, device)
            print(json.dumps(record), flush=True)
            payload["records"].append(record)
            payload["summary"] = summarise_records(payload["records"], cfg.test_sizes)
            io.save_json(payload, osp.join(cfg.out, "results.json"))
    table = results_table(payload["summary"], cfg.test_sizes)
    io.save_text(f"{table}\n\nCommand: `{cfg.command}`\n", osp.join(cfg.out, "results.md"))
    print(table)
    return payload
