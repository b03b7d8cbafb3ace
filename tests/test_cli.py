import subprocess
import sys
from pathlib import Path

import pytest

from plstm_geometric.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def test_subcommands_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "plstm_geometric", "--help"], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout
    for command in ("train", "evaluate", "prepare", "bench"):
        assert command in out
    args = build_parser().parse_args(["train"])
    assert args.dataset == "chembl2321810" and args.model == "plstm" and args.threads == 1


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
