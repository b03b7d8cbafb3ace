"""Your own molecules: train on a CSV file, predict and embed from the checkpoint (CLI and
``load_checkpoint``), and every bad-input message. CSVs are cut from the shared MoleculeNet files
with renamed columns, invalid SMILES and blank labels injected; runs are 2 epochs of width 16."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

import plstm_geometric  # noqa: E402
from plstm_geometric.cli import main  # noqa: E402
from plstm_geometric.inference import embed_csv, predict_csv  # noqa: E402
from plstm_geometric.train import compute_metrics, load_csv_task  # noqa: E402
from helpers import SHARED_DATASETS, needs_shared_datasets  # noqa: E402

MOLECULENET = SHARED_DATASETS / "moleculenet"
SMALL = ["--hidden", "16", "--layers", "2", "--epochs", "2", "--batch-size", "16", "--no-progress"]
INVALID = {3: "C1CC(", 17: "not a smiles"}  # 0-based data rows -> injected SMILES


def bace_csv(path, n=100):
    """BACE's own columns (``mol``, ``pIC50``, ``Class``) and an ``id``; two invalid SMILES and
    three blank pIC50 cells."""
    frame = pd.read_csv(MOLECULENET / "bace.csv")
    # Both classes in every part of the file (BACE is sorted by class).
    frame = pd.concat([frame.iloc[:n // 2], frame.iloc[-(n - n // 2):]]).reset_index(drop=True)
    frame = frame[["mol", "pIC50", "Class"]].assign(id=[f"m{i}" for i in range(len(frame))])
    for row, smiles in INVALID.items():
        frame.loc[row, "mol"] = smiles
    frame["pIC50"] = frame["pIC50"].astype(object)
    frame.loc[[5, 2 * n // 5, 3 * n // 4], "pIC50"] = ""
    frame.to_csv(path, index=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def train(tmp_path, data, out, *extra):
    main(["train", "--data-path", str(data), "--root", str(tmp_path / "data"), "--out", str(out)]
         + SMALL + list(extra))
    return json.loads((out / "summary.json").read_text())


def split_rows(tmp_path, out, frame, split="test"):
    rows = json.loads((out / "splits.json").read_text())[0][split]
    path = tmp_path / f"{split}.csv"
    frame.iloc[rows].to_csv(path, index=False)
    return path, frame.iloc[rows]


def labels(frame, columns):
    return torch.tensor(frame[columns].replace("", "nan").astype(float).to_numpy())


@needs_shared_datasets
def test_regression_round_trip_ensemble_and_embed(tmp_path, capsys):
    data, out = tmp_path / "bace.csv", tmp_path / "run"
    frame = bace_csv(data)
    summary = train(tmp_path, data, out, "--smiles-column", "mol", "--target-columns", "pIC50",
                    "--seeds", "2")
    printed = capsys.readouterr().out
    # Invalid training SMILES: counted, reported by row number (row 1 = first data row), skipped.
    assert "bace.csv: skipped 2 SMILES that RDKit cannot parse (row 4: 'C1CC(', row 18: " \
           "'not a smiles')" in printed
    splits = json.loads((out / "splits.json").read_text())[0]
    assert sorted(sum(splits.values(), [])) == [r for r in range(100) if r not in INVALID]

    # predict on the checkpoint's own test rows reproduces the test metric train reported.
    test_path, test_frame = split_rows(tmp_path, out, frame)
    for seed, run in enumerate(summary["runs"]):
        preds = tmp_path / f"test_preds{seed}.csv"
        main(["predict", "--checkpoint", str(out / f"seed{seed}" / "best.pt"), "--test-path",
              str(test_path), "--preds-path", str(preds), "--no-progress"])
        got = pd.read_csv(preds)
        metrics = compute_metrics("regression", labels(test_frame, ["pIC50"]),
                                  torch.tensor(got[["pIC50_pred"]].to_numpy()))
        assert metrics["rmse"] == pytest.approx(run["test_rmse"], rel=1e-5)
        assert f"rmse {run['test_rmse']:.4f}" in f"rmse {metrics['rmse']:.4f}"

    # A run folder is an ensemble: every row, in order, original cells, mean and std columns.
    preds = tmp_path / "preds.csv"
    main(["predict", "--checkpoint", str(out), "--test-path", str(data), "--preds-path",
          str(preds), "--no-progress"])
    got = pd.read_csv(preds, dtype=str, keep_default_na=False)
    assert list(got.columns) == ["mol", "pIC50", "Class", "id", "pIC50_pred", "pIC50_std", "error"]
    assert got[["mol", "pIC50", "Class", "id"]].equals(frame)
    for row, smiles in INVALID.items():
        assert got.loc[row, "pIC50_pred"] == got.loc[row, "pIC50_std"] == ""
        assert got.loc[row, "error"] == f"RDKit cannot parse SMILES {smiles!r}"
    valid = got.drop(index=list(INVALID))
    assert (valid["error"] == "").all()
    std = valid["pIC50_std"].astype(float)
    assert (std >= 0).all() and (std > 0).any()  # two seeds disagree somewhere

    # The Python API gives the same numbers, NaN rows for invalid SMILES.
    model = plstm_geometric.load_checkpoint(str(out))
    assert len(model) == 2 and model.target_names == ["pIC50"] and model.task == "regression"
    mean, std_api = model.predict(frame["mol"].tolist(), return_std=True)
    assert mean.shape == (100, 1) and np.isnan(mean[list(INVALID)]).all()
    np.testing.assert_allclose(mean[valid.index, 0], valid["pIC50_pred"].astype(float), rtol=1e-6)
    np.testing.assert_allclose(std_api[valid.index, 0], std, rtol=1e-5, atol=1e-7)

    # embed: one pooled representation (width = hidden) per row, NaN rows for invalid SMILES.
    main(["embed", "--checkpoint", str(out), "--test-path", str(data), "--out",
          str(tmp_path / "emb.npy"), "--no-progress"])
    emb = np.load(tmp_path / "emb.npy")
    assert emb.shape == (100, 16) and emb.dtype == np.float32
    assert np.isnan(emb[list(INVALID)]).all() and np.isfinite(emb[valid.index]).all()
    np.testing.assert_allclose(emb, model.embed(frame["mol"].tolist()), rtol=1e-5, atol=1e-6)
    # The head maps the embedding to the (standardised) prediction of the first model.
    first = model.models[0]
    head = first.head(torch.from_numpy(emb[valid.index[:4]])).double()
    single = plstm_geometric.load_checkpoint(str(out / "seed0" / "best.pt"))
    np.testing.assert_allclose(model.objectives[0].prediction(head).detach().numpy(),
                               single.predict(frame["mol"].iloc[valid.index[:4]].tolist()),
                               rtol=1e-5)
    main(["embed", "--checkpoint", str(out / "seed0" / "best.pt"), "--test-path", str(data),
          "--out", str(tmp_path / "emb.csv"), "--no-progress"])
    table = pd.read_csv(tmp_path / "emb.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == list(frame.columns) + [f"emb_{j}" for j in range(16)] + ["error"]
    assert len(table) == 100 and table.loc[3, "emb_0"] == "" and table.loc[3, "error"] != ""


@needs_shared_datasets
def test_multitask_classification_round_trip(tmp_path):
    # Tox21: 3 tasks with its own blank (missing) labels; renamed SMILES column; GINE.
    frame = pd.read_csv(MOLECULENET / "tox21.csv").iloc[:160]
    frame = frame[["smiles", "NR-AhR", "SR-ARE", "SR-MMP"]].rename(columns={"smiles": "SMILES"})
    frame.loc[7, "SMILES"] = "C1CC("
    data, out = tmp_path / "tox.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    targets = ["NR-AhR", "SR-ARE", "SR-MMP"]
    summary = train(tmp_path, data, out, "--model", "gine", "--smiles-column", "SMILES",
                    "--target-columns", *targets, "--task-type", "classification",
                    "--split", "random")
    run = summary["runs"][0]
    for key in ["test_rocauc", "test_ap"] + [f"test_{m}_{t}" for m in ("rocauc", "ap") for t in targets]:
        assert key in run, key
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    test_path, test_frame = split_rows(tmp_path, out, frame)
    preds = tmp_path / "preds.csv"
    main(["predict", "--checkpoint", str(out), "--test-path", str(test_path), "--preds-path",
          str(preds), "--smiles-column", "SMILES", "--target-columns", *targets, "--no-progress"])
    got = pd.read_csv(preds)
    probs = got[[f"{t}_pred" for t in targets]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()  # probabilities of label 1
    metrics = compute_metrics("binary", labels(test_frame, targets), torch.tensor(probs),
                              target_names=targets)
    for key in ("rocauc", "ap", "rocauc_SR-ARE"):
        if not math.isnan(run[f"test_{key}"]):
            assert metrics[key] == pytest.approx(run[f"test_{key}"], rel=1e-5), key
    assert not math.isnan(run["test_rocauc"])


@needs_shared_datasets
def test_multitask_regression_with_blanks_round_trip(tmp_path, capsys):
    # FreeSolv's own columns: smiles / expt, plus the calculated value as a second target.
    frame = pd.read_csv(MOLECULENET / "SAMPL.csv").iloc[:90][["smiles", "expt", "calc"]]
    frame["expt"] = frame["expt"].astype(object)
    frame.loc[frame.index % 7 == 0, "expt"] = ""
    data, out = tmp_path / "freesolv.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    summary = train(tmp_path, data, out, "--model", "gin", "--target-columns", "expt", "calc")
    run = summary["runs"][0]
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    test_path, test_frame = split_rows(tmp_path, out, frame)
    preds = tmp_path / "preds.csv"
    main(["predict", "--checkpoint", str(out / "seed0" / "best.pt"), "--test-path",
          str(test_path), "--preds-path", str(preds), "--no-progress"])
    got = pd.read_csv(preds)
    metrics = compute_metrics("regression", labels(test_frame, ["expt", "calc"]),
                              torch.tensor(got[["expt_pred", "calc_pred"]].to_numpy()),
                              target_names=["expt", "calc"])
    for key in ("rmse", "mae", "rmse_expt", "rmse_calc"):
        assert metrics[key] == pytest.approx(run[f"test_{key}"], rel=1e-5), key
    # Blank labels are masked: the standardisation used only labelled training rows.
    ckpt = torch.load(out / "seed0" / "best.pt", weights_only=False)
    train_rows = json.loads((out / "splits.json").read_text())[0]["train"]
    expt = frame["expt"].iloc[train_rows].replace("", "nan").astype(float)
    assert ckpt["objective"]["mean"][0].item() == pytest.approx(expt.mean(), rel=1e-5)
    assert ckpt["objective"]["std"][0].item() == pytest.approx(expt.std(), rel=1e-5)
    assert ckpt["target_names"] == ["expt", "calc"] and ckpt["format"] == 1
    # evaluate rebuilds the CSV task (file, columns, split) from the checkpoint alone.
    main(["evaluate", "--checkpoint", str(out / "seed0" / "best.pt"), "--root", str(tmp_path / "data")])
    assert f"rmse {run['test_rmse']:.4f}" in capsys.readouterr().out.strip().splitlines()[-1]


@needs_shared_datasets
def test_split_column_resume_and_cache_key(tmp_path):
    frame = pd.read_csv(MOLECULENET / "SAMPL.csv").iloc[:40][["smiles", "expt"]]
    frame["fold"] = ["train"] * 30 + ["val"] * 5 + ["TEST"] * 5
    data, out = tmp_path / "f.csv", tmp_path / "run"
    frame.to_csv(data, index=False)
    args = ["train", "--data-path", str(data), "--split-column", "fold", "--target-columns",
            "expt", "--root", str(tmp_path / "data"), "--out", str(out), "--hidden", "16",
            "--epochs", "3", "--batch-size", "16", "--no-progress"]
    main(args + ["--stop-after", "1"])
    main(args + ["--resume"])
    assert len(pd.read_csv(out / "seed0" / "metrics.csv")) == 3
    assert json.loads((out / "splits.json").read_text())[0] == {
        "train": list(range(30)), "valid": list(range(30, 35)), "test": list(range(35, 40))}
    # An edited file is another dataset: resume refuses it, and its graphs get their own cache.
    frame.loc[0, "expt"] = 0.0
    frame.to_csv(data, index=False)
    with pytest.raises(SystemExit, match="other settings: data_hash="):
        main(args + ["--resume"])
    # ... and so does evaluate, which would otherwise score the run on the edited rows.
    with pytest.raises(SystemExit, match="f.csv changed since the run was trained on it"):
        main(["evaluate", "--checkpoint", str(out / "seed0" / "best.pt"),
              "--root", str(tmp_path / "data")])
    load_csv_task(str(data), target_columns=["expt"], split_column="fold",
                  root=str(tmp_path / "data"), log=False)
    assert len(list((tmp_path / "data" / "csv").glob("f-*"))) == 2


@needs_shared_datasets
def test_a_run_config_hashes_its_csv_once_and_reuses_the_cache(tmp_path, monkeypatch):
    from plstm_geometric.datasets import molecule_csv
    from plstm_geometric.train import tasks

    frame = pd.read_csv(MOLECULENET / "SAMPL.csv").iloc[:30][["smiles", "expt"]]
    data = tmp_path / "f.csv"
    frame.to_csv(data, index=False)
    root = str(tmp_path / "data")
    load_csv_task(str(data), target_columns=["expt"], root=root, log=False)  # builds the cache
    calls, file_hash = [], molecule_csv.file_hash

    def counted(path):
        calls.append(path)
        return file_hash(path)

    monkeypatch.setattr(tasks, "file_hash", counted)
    monkeypatch.setattr(molecule_csv, "file_hash", counted)
    cfg = dict(data_path=str(data), data_hash=file_hash(str(data)),
               smiles_column="smiles", target_columns=["expt"], task_type="regression",
               split="scaffold", split_sizes=[0.8, 0.1, 0.1], split_column=None)
    task = tasks.load_config_task(cfg, root, log=False)
    assert calls == [str(data)]  # the guard's hash names the cache too
    assert len(task.dataset) == 30 and len(list((tmp_path / "data" / "csv").glob("f-*"))) == 1


@needs_shared_datasets
def test_predict_streams_in_chunks(tmp_path, monkeypatch):
    frame = bace_csv(tmp_path / "bace.csv", n=40)
    out = tmp_path / "run"
    train(tmp_path, tmp_path / "bace.csv", out, "--model", "gin", "--smiles-column", "mol",
          "--target-columns", "pIC50", "--epochs", "1")
    model = plstm_geometric.load_checkpoint(str(out))
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    predict_csv(model, str(tmp_path / "bace.csv"), str(whole), progress=False)
    seen = []
    featurise = model.featurise
    monkeypatch.setattr(model, "featurise", lambda smiles: seen.append(len(smiles)) or featurise(smiles))
    predict_csv(model, str(tmp_path / "bace.csv"), str(chunked), chunk_rows=7, progress=False)
    assert seen == [7] * 5 + [5]  # never more than a chunk of rows featurised at once
    assert whole.read_text() == chunked.read_text()
    assert len(pd.read_csv(chunked)) == len(frame)


def test_named_dataset_checkpoint_predicts_from_smiles(tmp_path):
    out = tmp_path / "run"
    main(["train", "--model", "gin", "--limit", "48", "--root", str(tmp_path / "data"),
          "--out", str(out)] + SMALL)
    model = plstm_geometric.load_checkpoint(str(out / "seed0" / "best.pt"))
    assert model.target_names == ["chembl2321810_0"] and model.smiles_column == "smiles"
    pred = model.predict(["CCO", "C1CC("])
    assert pred.shape == (2, 1) and np.isfinite(pred[0]).all() and np.isnan(pred[1]).all()


# Bad input -----------------------------------------------------------------------------------

def write(path, text):
    path.write_text(text)
    return str(path)


SPLIT_ROWS = "".join(f"{s},{y},{split}\n" for s, y, split in [
    ("CCO", 1, "train"), ("CCN", 2, "train"), ("CCC", 3, "val"), ("CCCl", "", "test")])
BAD_TRAINING_FILES = [  # (file, load_csv_task options, message)
    ("mol,y\nCCO,1\n", {}, r"x.csv has no column 'smiles'; its columns are: 'mol', 'y'"),
    ("smiles,y\nCCO,1\n", {"target_columns": ["pIC50"]},
     r"has no column 'pIC50'; its columns are: 'smiles', 'y'"),
    ("smiles,y\nCCO,1\nCCN,abc\n", {}, r"x.csv, row 2, column 'y': 'abc' is not a number"),
    ("smiles,y\nCCO,2\n", {"task_type": "classification"},
     r"row 1, column 'y': '2' is not a 0 / 1 label"),
    ("", {}, r"x.csv is empty"),
    ("smiles,y\n", {}, r"x.csv has a header but no rows"),
    ("smiles,y\nC1CC(,1\nxx,2\n", {}, r"none of the 2 SMILES in column 'smiles' can be parsed"),
    ("smiles,y,s\n" + SPLIT_ROWS, {"split_column": "s"},
     r"target 'y' has no labels in the test split \(1 molecules\)"),
    ("smiles,y,s\nCCO,1,train\nCCN,2,dev\n", {"split_column": "s"},
     r"row 2: split 'dev'; expected train, val or test"),
    ("smiles,y\nCCO,1\n", {"split_sizes": (0.8, 0.1, 0.2)},
     r"--split-sizes must be three non-negative fractions"),
    # Default targets: every column but the SMILES; a text column is named in the error.
    ("smiles,name,y\nCCO,ethanol,1\n", {"target_columns": None},
     r"row 1, column 'name': 'ethanol' is not a number"),
]


@pytest.mark.parametrize("text, options, message", BAD_TRAINING_FILES)
def test_bad_training_files(tmp_path, text, options, message):
    options = {"target_columns": ["y"], **options}
    with pytest.raises(ValueError, match=message):
        load_csv_task(write(tmp_path / "x.csv", text), root=str(tmp_path / "data"), log=False,
                      **options)


def test_cli_option_errors(tmp_path):
    data = write(tmp_path / "x.csv", "smiles,y\nCCO,1\n")
    with pytest.raises(SystemExit, match="--data-path and --dataset are exclusive"):
        main(["train", "--data-path", data, "--dataset", "esol", "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="--smiles-column need"):
        main(["train", "--smiles-column", "mol", "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="--task arrow-pointing does not take --data-path"):
        main(["train", "--task", "arrow-pointing", "--data-path", data, "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="no best.pt"):
        main(["predict", "--checkpoint", str(tmp_path), "--test-path", data, "--preds-path",
              str(tmp_path / "p.csv")])


@pytest.mark.parametrize("kind", ["predict", "embed.npy", "embed.csv"])
def test_interrupted_output_keeps_the_previous_file_and_leaves_no_temp_file(tmp_path, kind):
    smiles = ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1", "CC(=O)O"] * 2
    data = write(tmp_path / "t.csv", "smiles,a,s\n" + "".join(
        f"{m},{i}.5,{'train' if i < 8 else 'val' if i < 10 else 'test'}\n" for i, m in enumerate(smiles)))
    out = tmp_path / "run"
    main(["train", "--data-path", data, "--target-columns", "a", "--split-column", "s", "--model", "gin",
          "--root", str(tmp_path / "data"), "--out", str(out)] + SMALL)
    model = plstm_geometric.load_checkpoint(str(out))
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / ("p.csv" if kind == "predict" else "e" + kind[len("embed"):])

    def write_output(chunk_rows):
        if kind == "predict":
            predict_csv(model, data, str(target), chunk_rows=chunk_rows, progress=False)
        else:
            embed_csv(model, data, str(target), chunk_rows=chunk_rows, progress=False)

    write_output(chunk_rows=5)
    before = target.read_bytes()
    method = "predict_rows" if kind == "predict" else "embed_rows"
    calls, rows = [], getattr(model, method)

    def fail_on_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return rows(*args)

    setattr(model, method, fail_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        write_output(chunk_rows=5)
    assert len(calls) == 2  # the first chunk had been written when the run was stopped
    assert [p.name for p in folder.iterdir()] == [target.name]
    assert target.read_bytes() == before


def test_bad_prediction_input_and_checkpoints(tmp_path):
    smiles = ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1", "CC(=O)O", "CCBr", "OCCO", "CC(C)O", "CCOC"]
    rows = "".join(f"{s},{i % 3}.5,{i % 2},{'train' if i < 6 else 'val' if i < 8 else 'test'}\n"
                   for i, s in enumerate(smiles))
    data = write(tmp_path / "t.csv", "smiles,a,b,s\n" + rows)
    out = tmp_path / "run"
    main(["train", "--data-path", data, "--target-columns", "a", "b", "--split-column", "s",
          "--model", "gin", "--root", str(tmp_path / "data"), "--out", str(out)] + SMALL)
    best = str(out / "seed0" / "best.pt")
    model = plstm_geometric.load_checkpoint(best)
    # Other target names than the checkpoint's.
    with pytest.raises(ValueError, match=r"the checkpoint predicts \['a', 'b'\], not \['a'\]"):
        model.check_targets(["a"])
    with pytest.raises(SystemExit, match=r"predicts \['a', 'b'\], not \['pIC50'\]"):
        main(["predict", "--checkpoint", best, "--test-path", data, "--preds-path",
              str(tmp_path / "p.csv"), "--target-columns", "pIC50"])
    # Missing SMILES column, empty and header-only files.
    other = write(tmp_path / "o.csv", "mol,id\nCCO,1\n")
    with pytest.raises(SystemExit, match=r"o.csv has no column 'smiles'; its columns are: 'mol', 'id'"):
        main(["predict", "--checkpoint", best, "--test-path", other, "--preds-path",
              str(tmp_path / "p.csv")])
    with pytest.raises(ValueError, match="is empty"):
        predict_csv(model, write(tmp_path / "e.csv", ""), str(tmp_path / "p.csv"))
    with pytest.raises(ValueError, match="has a header but no rows"):
        predict_csv(model, write(tmp_path / "h.csv", "smiles\n"), str(tmp_path / "p.csv"))
    assert not (tmp_path / "p.csv").exists()  # nothing half-written
    # Blank and invalid SMILES: kept, empty predictions, the reason in 'error'.
    predict_csv(model, write(tmp_path / "n.csv", "smiles,id\n,1\nC1CC(,2\nCCO,3\n"),
                str(tmp_path / "p.csv"), progress=False)
    got = pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False)
    assert got["error"].tolist() == ["empty SMILES", "RDKit cannot parse SMILES 'C1CC('", ""]
    assert got["a"].tolist()[:2] == ["", ""] and got["a"].tolist()[2] != ""
    # Incompatible checkpoint formats.
    ckpt = torch.load(best, weights_only=False)
    torch.save({**ckpt, "format": 99, "version": "9.0"}, tmp_path / "new.pt")
    with pytest.raises(ValueError, match=r"format 99 \(written by plstm_geometric 9.0\), but "
                                         r"plstm_geometric .* reads format 1: upgrade"):
        plstm_geometric.load_checkpoint(str(tmp_path / "new.pt"))
    torch.save({k: v for k, v in ckpt.items() if k != "format"}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="not a self-contained checkpoint"):
        plstm_geometric.load_checkpoint(str(tmp_path / "old.pt"))
    with pytest.raises(ValueError, match="not a self-contained checkpoint"):
        plstm_geometric.load_checkpoint(str(out / "seed0" / "last.pt"))
