import json
import subprocess
import sys
from pathlib import Path

import pytest

from plstm_geometric.cli import build_parser, main
from plstm_geometric.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def test_subcommands_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "plstm_geometric", "--help"], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    for command in ("train", "evaluate", "predict", "embed", "prepare", "bench"):
        assert command in out
    args = build_parser().parse_args(["train"])
    assert args.task == "graph" and args.model == "plstm" and args.threads == 1
    # Unset options fall back to TrainConfig's defaults (the offline default dataset).
    assert args.dataset is None and TrainConfig().dataset == "chembl2321810"


def test_unknown_names_list_the_valid_ones(tmp_path):
    with pytest.raises(SystemExit, match="unknown dataset 'qm9'; valid names: chembl2321810, ogbg-molhiv"):
        main(["train", "--dataset", "qm9", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown model 'gat'; valid names: plstm, gin, gine"):
        main(["train", "--model", "gat", "--root", str(tmp_path)])


def test_prepare_bad_input(tmp_path):
    with pytest.raises(SystemExit, match="needs --csv"):
        main(["prepare", "ogbg-molhiv", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="HIV.csv not found"):
        main(["prepare", "ogbg-molhiv", "--csv", str(tmp_path / "HIV.csv"), "--root", str(tmp_path)])
    (tmp_path / "bad.csv").write_text("smiles,label\nCCO,1\n")
    with pytest.raises(SystemExit, match=r"missing column\(s\) \['HIV_active'\]"):
        main(["prepare", "ogbg-molhiv", "--csv", str(tmp_path / "bad.csv"), "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs --source"):
        main(["prepare", "esol", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="delaney-processed.csv"):
        main(["prepare", "esol", "--source", str(tmp_path), "--root", str(tmp_path)])


def test_tu_has_no_smiles_orientation(tmp_path):
    with pytest.raises(SystemExit, match="--orientation smiles needs molecules"):
        main(["train", "--dataset", "MUTAG", "--orientation", "smiles", "--root", str(tmp_path)])


def test_train_arrow_pointing_smoke(tmp_path, capsys):
    # Tiny canvases (16 px, 2x2 patches of 8 px; objects at 1/12 of the paper's 192 px sizes).
    main(["train", "--task", "arrow-pointing", "--model", "plstm,vit", "--seeds", "2",
          "--image-size", "16", "--patch-size", "8", "--object-scale", str(1 / 12),
          "--steps", "3", "--train-samples", "16", "--test-samples", "6", "--batch-size", "8",
          "--hidden", "8", "--layers", "1", "--heads", "2", "--no-progress",
          "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "results.json").read_text())
    assert [(r["model"], r["seed"]) for r in payload["records"]] == [
        ("plstm", 0), ("plstm", 1), ("vit", 0), ("vit", 1)]
    for r in payload["records"]:
        assert r["steps"] == 3
        # 6 test images per size: accuracies are multiples of 1/6 at both sizes.
        for size in (16, 32):
            assert 0.0 <= r[f"acc_{size}"] <= 1.0 and round(6 * r[f"acc_{size}"], 9) % 1 == 0
    assert payload["config"]["image_size"] == 16 and payload["config"]["dim"] == 8
    assert set(payload["summary"]) == {"plstm", "vit"}
    assert payload["summary"]["vit"]["32"]["n"] == 2
    table = (tmp_path / "results.md").read_text()
    assert "| plstm |" in table and "acc @ 32 px (2×)" in table
    assert "acc @ 32 px (2×)" in capsys.readouterr().out


def test_train_arrow_pointing_refuses_graph_options(tmp_path):
    with pytest.raises(SystemExit, match="does not take --folds"):
        main(["train", "--task", "arrow-pointing", "--folds", "2", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown model 'gin' for arrow-pointing"):
        main(["train", "--task", "arrow-pointing", "--model", "gin", "--out", str(tmp_path)])
