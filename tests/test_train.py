"""Two-epoch smoke runs of every dataset family through the CLI, on small subsets, plus the
result files and exact resume."""
import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from plstm_geometric.cli import main  # noqa: E402
from plstm_geometric.datasets import stage_raw, write_ogb_mol_folder  # noqa: E402
from plstm_geometric.utils import scaffold_split  # noqa: E402
from helpers import SHARED_DATASETS, needs_shared_datasets  # noqa: E402

SMALL = ["--hidden", "16", "--layers", "2", "--epochs", "2", "--batch-size", "16", "--no-progress",
         "--no-download"]


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def small_esol(root: Path, n: int = 60) -> None:
    raw = root / "esol" / "raw"
    raw.mkdir(parents=True)
    lines = (SHARED_DATASETS / "moleculenet" / "delaney-processed.csv").read_text().splitlines()
    (raw / "delaney-processed.csv").write_text("\n".join(lines[:n + 1]) + "\n")


def test_offline_default_writes_every_result_file(tmp_path):
    out = tmp_path / "run"
    main(["train", "--model", "gin", "--limit", "48", "--root", str(tmp_path / "data"),
          "--out", str(out)] + SMALL)
    for name in ("config.json", "results.md", "summary.json", "curves.png", "seed0/metrics.csv",
                 "seed0/metrics.json", "seed0/best.pt", "seed0/last.pt", "seed0/curve.png"):
        assert (out / name).exists(), name
    history = rows(out / "seed0" / "metrics.csv")
    assert [r["epoch"] for r in history] == ["1", "2"]
    assert {"train_loss", "valid_rmse", "test_rmse", "test_r2", "lr", "epoch_seconds"} <= set(history[0])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "chembl2321810" and "test_r2" in summary["mean"]
    assert "Command: `plstm-geometric" in (out / "results.md").read_text()
    with pytest.raises(SystemExit, match="already holds a run"):
        main(["train", "--model", "gin", "--limit", "48", "--root", str(tmp_path / "data"),
              "--out", str(out)] + SMALL)


@needs_shared_datasets
def test_moleculenet_plstm_and_evaluate(tmp_path, capsys):
    small_esol(tmp_path / "data")
    out = tmp_path / "run"
    # pLSTM layer options (--plstm-norm graph, --plstm-norm-eps, ...) reach the model and its
    # checkpoint, so that evaluate rebuilds the same model and reproduces the test metric (for
    # the per-graph norm also with the evaluation's own batches).
    main(["train", "--dataset", "esol", "--model", "plstm", "--plstm-norm", "graph",
          "--plstm-norm-eps", "0.01", "--plstm-gate-bias", "-2", "--plstm-local", "gine",
          "--plstm-transition-bias", "0", "--plstm-block-norm", "batch",
          "--root", str(tmp_path / "data"), "--out", str(out)] + SMALL)
    best = json.loads((out / "summary.json").read_text())["runs"][0]
    kwargs = torch.load(out / "seed0" / "best.pt", weights_only=False)["model_kwargs"]
    assert (kwargs["norm"], kwargs["norm_eps"], kwargs["gate_bias"], kwargs["local"],
            kwargs["transition_bias"], kwargs["block_norm"]) == ("graph", 0.01, -2.0, "gine", 0.0,
                                                                 "batch")
    main(["evaluate", "--checkpoint", str(out / "seed0" / "best.pt"), "--root", str(tmp_path / "data")])
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"rmse {best['test_rmse']:.4f}" in printed


@needs_shared_datasets
@pytest.mark.parametrize("model", ["plstm", "gine"])
def test_tu_one_fold(tmp_path, model):
    stage_raw("MUTAG", str(SHARED_DATASETS / "tudataset"), str(tmp_path / "data"))
    out = tmp_path / "run"
    main(["train", "--dataset", "MUTAG", "--model", model, "--folds", "2", "--root",
          str(tmp_path / "data"), "--out", str(out)] + SMALL)
    summary = json.loads((out / "summary.json").read_text())
    assert [r["run"] for r in summary["runs"]] == ["seed0-fold0", "seed0-fold1"]
    assert 0.0 <= summary["mean"]["test_accuracy"] <= 1.0


@needs_shared_datasets
@pytest.mark.parametrize("model", ["plstm", "gin"])
def test_ogbg_molhiv_offline_build(tmp_path, model):
    frame = pd.read_csv(SHARED_DATASETS / "moleculenet" / "HIV.csv")
    # Enough positives for ROC-AUC in every split of a 60-molecule build.
    picked = frame.index[frame.HIV_active == 1][:30].tolist() + list(range(30))
    frame.iloc[picked].to_csv(tmp_path / "HIV.csv", index=False)
    main(["prepare", "ogbg-molhiv", "--csv", str(tmp_path / "HIV.csv"), "--root", str(tmp_path / "data")])
    out = tmp_path / "run"
    main(["train", "--dataset", "ogbg-molhiv", "--model", model, "--virtual-node", "--root",
          str(tmp_path / "data"), "--out", str(out)] + SMALL)
    history = rows(out / "seed0" / "metrics.csv")
    assert "valid_rocauc" in history[0] and len(history) == 2


def test_ogbg_molpcba_stand_in(tmp_path):
    # ogbg-molpcba is too large to carry: a stand-in with its schema (128 tasks, NaN = missing).
    smiles = ["CCO", "CCN", "CCC", "c1ccccc1", "c1ccccc1O", "CC(=O)O", "CCCl", "CCBr", "C1CCCCC1",
              "C1CCCCC1N", "CC(C)O", "OCCO"] * 3
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (len(smiles), 128)).astype(float)
    labels[rng.random(labels.shape) < 0.3] = np.nan
    write_ogb_mol_folder(str(tmp_path / "data" / "ogbg_molpcba"), smiles, labels,
                         [f"task{i}" for i in range(128)], scaffold_split(smiles), progress=False)
    out = tmp_path / "run"
    main(["train", "--dataset", "ogbg-molpcba", "--model", "gin", "--root", str(tmp_path / "data"),
          "--out", str(out)] + SMALL)
    assert "test_ap" in rows(out / "seed0" / "metrics.csv")[0]


@needs_shared_datasets
def test_resume_continues_exactly(tmp_path):
    small_esol(tmp_path / "data")
    args = ["train", "--dataset", "esol", "--model", "plstm", "--dropout", "0.1", "--hidden", "16",
            "--batch-size", "16", "--no-progress", "--no-download", "--root", str(tmp_path / "data")]
    args_3 = args + ["--epochs", "3"]
    main(args_3 + ["--out", str(tmp_path / "straight")])
    main(args_3 + ["--out", str(tmp_path / "resumed"), "--stop-after", "2"])
    assert len(rows(tmp_path / "resumed" / "seed0" / "metrics.csv")) == 2
    main(args_3 + ["--out", str(tmp_path / "resumed"), "--resume"])
    straight = rows(tmp_path / "straight" / "seed0" / "metrics.csv")
    resumed = rows(tmp_path / "resumed" / "seed0" / "metrics.csv")
    assert len(resumed) == 3
    for a, b in zip(straight, resumed):
        a.pop("epoch_seconds"), b.pop("epoch_seconds")
        assert a == b
    with pytest.raises(SystemExit, match="other settings: epochs=3"):
        main(args + ["--epochs", "4", "--out", str(tmp_path / "resumed"), "--resume"])


@needs_shared_datasets
def test_random_order_trains_on_drawn_orders_and_resumes_exactly(tmp_path):
    small_esol(tmp_path / "data")
    args = ["train", "--dataset", "esol", "--model", "plstm", "--hidden", "16", "--epochs", "2",
            "--batch-size", "16", "--no-progress", "--no-download", "--root", str(tmp_path / "data")]
    main(args + ["--random-order", "--out", str(tmp_path / "straight")])
    main(args + ["--random-order", "--out", str(tmp_path / "resumed"), "--stop-after", "1"])
    main(args + ["--random-order", "--out", str(tmp_path / "resumed"), "--resume"])
    main(args + ["--out", str(tmp_path / "canonical")])
    straight, resumed, canonical = (rows(tmp_path / name / "seed0" / "metrics.csv")
                                    for name in ("straight", "resumed", "canonical"))
    for a, b in zip(straight, resumed):  # the orders come from the checkpointed torch RNG
        a.pop("epoch_seconds"), b.pop("epoch_seconds")
        assert a == b
    # Other orders train another model (the first epoch's loss already differs).
    assert straight[0]["train_loss"] != canonical[0]["train_loss"]
    assert json.loads((tmp_path / "straight" / "config.json").read_text())["random_order"] is True
    with pytest.raises(SystemExit, match="random_order draws SMILES atom orders"):
        main(args + ["--random-order", "--model", "gin", "--out", str(tmp_path / "gin")])


@needs_shared_datasets
def test_first_seed_trains_the_later_seeds_of_a_setting(tmp_path):
    small_esol(tmp_path / "data")
    args = ["train", "--dataset", "esol", "--model", "gin", "--hidden", "16", "--layers", "2",
            "--epochs", "1", "--batch-size", "16", "--no-progress", "--no-download",
            "--root", str(tmp_path / "data")]
    main(args + ["--seeds", "2", "--out", str(tmp_path / "both")])
    main(args + ["--first-seed", "1", "--out", str(tmp_path / "later")])
    assert not (tmp_path / "later" / "seed0").exists()
    both, later = rows(tmp_path / "both" / "seed1" / "metrics.csv"), rows(tmp_path / "later" / "seed1" / "metrics.csv")
    for a, b in zip(both, later):
        a.pop("epoch_seconds"), b.pop("epoch_seconds")
        assert a == b
    assert both != rows(tmp_path / "both" / "seed0" / "metrics.csv")


def test_cosine_warmup_schedule():
    from plstm_geometric.train.loop import cosine_warmup

    f = cosine_warmup(100, 10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5) and f(100) == pytest.approx(0.0)
    assert torch.tensor([f(s) for s in range(10, 100)]).diff().le(0).all()


@needs_shared_datasets
def test_collapse_diagnostic_rebuilds_a_runs_model_from_last_pt(tmp_path, capsys, monkeypatch):
    # last.pt carries no model_kwargs, so experiments/diagnose_collapse.py rebuilds the model
    # from config.json; every model option of the run (here the virtual node) must reach it.
    import runpy
    import sys

    small_esol(tmp_path / "data")
    out = tmp_path / "run"
    main(["train", "--dataset", "esol", "--model", "plstm", "--virtual-node", "--plstm-norm-eps",
          "0.01", "--root", str(tmp_path / "data"), "--out", str(out)] + SMALL)
    script = Path(__file__).parents[1] / "experiments" / "diagnose_collapse.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--checkpoint", str(out / "seed0" / "last.pt"),
                                      "--root", str(tmp_path / "data"), "--batches", "1"])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert '"virtual_node": true' in printed and '"plstm_norm_eps": 0.01' in printed
    assert printed.count("(P)") == 2 and "min out_nodewise over layers" in printed
