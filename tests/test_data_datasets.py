import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from torch_geometric.transforms import BaseTransform  # noqa: E402

from plstm_geometric.datasets import stage_raw  # noqa: E402
from plstm_geometric.train import DATASETS, load_task, transform_key  # noqa: E402
from plstm_geometric.utils import tu_folds  # noqa: E402
from helpers import SHARED_DATASETS, needs_shared_datasets  # noqa: E402



def test_offline_default_ships_with_rdkit(tmp_path):
    task = load_task("chembl2321810", str(tmp_path), log=False)
    assert len(task.dataset) == 1017 and task.task == "regression" and task.metric == "rmse"
    sizes = {k: len(v) for k, v in task.folds[0].items()}
    assert sizes == {"train": 813, "valid": 101, "test": 103}
    assert torch.cat(list(task.folds[0].values())).unique().numel() == 1017
    assert isinstance(task.dataset[0].smiles, str) and task.dataset[0].y.shape == (1, 1)


def test_unknown_dataset_lists_valid_names(tmp_path):
    with pytest.raises(ValueError) as err:
        load_task("zinc", str(tmp_path))
    assert all(name in str(err.value) for name in DATASETS)


def test_tu_folds_follow_the_paper_protocol():
    y = torch.tensor([0] * 120 + [1] * 68)
    folds = tu_folds(y)
    assert len(folds) == 10
    tests = torch.cat([f["test"] for f in folds])
    assert tests.sort().values.tolist() == list(range(188))  # every graph tested exactly once
    for f in folds:
        assert abs(len(f["train"]) / len(f["valid"]) - 8) < 0.5  # 8:1 inside the training folds
        assert not set(f["train"].tolist()) & set(f["valid"].tolist())
        assert abs(y[f["test"]].float().mean() - 68 / 188) < 0.05  # stratified
    assert all((a["test"] == b["test"]).all() for a, b in zip(folds, tu_folds(y)))  # seed 42


@needs_shared_datasets
def test_tu_and_moleculenet_from_a_staged_root(tmp_path):
    stage_raw("MUTAG", str(SHARED_DATASETS / "tudataset"), str(tmp_path))
    task = load_task("MUTAG", str(tmp_path), download=False, log=False)
    assert len(task.dataset) == 188 and task.num_outputs == 2 and len(task.folds) == 10
    stage_raw("bbbp", str(SHARED_DATASETS / "moleculenet"), str(tmp_path))  # from BBBP.orig.csv.gz
    task = load_task("bbbp", str(tmp_path), download=False, log=False)
    assert len(task.dataset) == 2039 and task.metric == "rocauc"  # 11 rows RDKit rejects


@needs_shared_datasets
def test_invalid_smiles_are_reported(tmp_path, capsys):
    raw = tmp_path / "esol" / "raw"
    raw.mkdir(parents=True)
    lines = (SHARED_DATASETS / "moleculenet" / "delaney-processed.csv").read_text().splitlines()
    bad = [line.rsplit(",", 1)[0] + ",C1CC(" for line in lines[1:4]]
    (raw / "delaney-processed.csv").write_text("\n".join([lines[0]] + lines[4:40] + bad) + "\n")
    task = load_task("esol", str(tmp_path), download=False)
    assert len(task.dataset) == 36
    out = capsys.readouterr().out
    assert "ESOL: skipped 3 SMILES that RDKit cannot parse" in out and "row 36: 'C1CC('" in out


def test_missing_roots_say_which_files_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"PTC_FM/raw/PTC_FM_A.txt.*prepare PTC_FM --source"):
        load_task("PTC_FM", str(tmp_path), download=False)
    with pytest.raises(FileNotFoundError, match=r"esol/raw/delaney-processed.csv.*prepare esol --source"):
        load_task("esol", str(tmp_path), download=False)


class Mark(BaseTransform):
    def __init__(self, value):
        self.value = value

    def forward(self, data):
        data.mark = torch.tensor([self.value])
        return data

    def __repr__(self):
        return f"Mark({self.value})"


def test_structure_cache_is_keyed_by_transform(tmp_path):
    assert transform_key(Mark(1)) != transform_key(Mark(2))
    first = load_task("chembl2321810", str(tmp_path), pre_transform=Mark(1), log=False)
    second = load_task("chembl2321810", str(tmp_path), pre_transform=Mark(2), log=False)
    assert first.dataset[0].mark.item() == 1 and second.dataset[0].mark.item() == 2
    again = load_task("chembl2321810", str(tmp_path), pre_transform=Mark(1), log=False)
    assert again.dataset[5].mark.item() == 1
    cached = sorted(p.name for p in (tmp_path / "chembl2321810").iterdir() if p.name.startswith("processed_"))
    assert len(cached) == 2


def test_structure_cache_interrupted_mid_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from plstm_geometric.train.cache import PreTransformedDataset

    real_save = PreTransformedDataset.save

    def killed_while_writing(data_list, path):
        real_save(data_list, path)
        with open(path, "r+b") as f:  # a half-written file, then the process dies
            f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(PreTransformedDataset, "save", staticmethod(killed_while_writing))
    with pytest.raises(KeyboardInterrupt):
        load_task("chembl2321810", str(tmp_path), pre_transform=Mark(3), log=False)
    left = sorted(p.name for p in (tmp_path / "chembl2321810").glob("processed_*/*")
                  if not p.name.startswith("pre_"))
    assert left == [], left
    monkeypatch.undo()
    again = load_task("chembl2321810", str(tmp_path), pre_transform=Mark(3), log=False)
    assert again.dataset[7].mark.item() == 3


@pytest.mark.parametrize("kind", ["chembl", "csv"])
def test_featurised_dataset_interrupted_mid_write_leaves_no_partial_file(tmp_path, monkeypatch, kind):
    from plstm_geometric.datasets import ChEMBLActivity, MoleculeCSV

    if kind == "chembl":
        cls = ChEMBLActivity
        build = lambda: load_task("chembl2321810", str(tmp_path), log=False).dataset  # noqa: E731
    else:
        cls = MoleculeCSV
        data = tmp_path / "mols.csv"
        data.write_text("smiles,y\nCCO,1.5\nCCN,2.5\nnot a smiles,0\nc1ccccc1,3.5\n")
        build = lambda: MoleculeCSV(str(tmp_path / "data"), str(data), "smiles", ["y"], log=False)  # noqa: E731
    real_save = cls.save

    def killed_while_writing(data_list, path):
        real_save(data_list, path)
        with open(path, "r+b") as f:  # a half-written file, then the process dies
            f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(cls, "save", staticmethod(killed_while_writing))
    with pytest.raises(KeyboardInterrupt):
        build()
    left = [p.name for p in tmp_path.rglob("processed/*") if not p.name.startswith("pre_")]
    assert left == [], left
    monkeypatch.undo()
    again = build()
    assert len(again) == (1017 if kind == "chembl" else 3)


def test_structure_cache_is_built_in_chunks_equal_to_per_graph(tmp_path, monkeypatch):
    from plstm_geometric.train import cache
    from plstm_geometric.train.factory import structure_transform

    monkeypatch.setattr(cache, "CHUNK_GRAPHS", 100)
    transform = structure_transform("plstm", "smiles")
    cached = load_task("chembl2321810", str(tmp_path), pre_transform=transform, log=False).dataset
    base = load_task("chembl2321810", str(tmp_path), log=False).dataset
    for i in [0, 99, 100, 101, 1016]:  # both sides of chunk boundaries
        want, got = transform(base[i]), cached[i]
        assert sorted(want.keys()) == sorted(got.keys())
        for key in want.keys():
            if isinstance(want[key], torch.Tensor):
                assert want[key].dtype == got[key].dtype and torch.equal(want[key], got[key]), key
