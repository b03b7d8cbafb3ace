"""The offline ogbg-molhiv builder: the published split from scaffolds alone (~15 s), a small build
read by the unchanged OGB loader, and the full 41,127-graph build (~1 CPU-minute plus OGB's own
processing)."""

import pandas as pd
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from plstm_geometric.datasets.ogb import (MOLHIV_NUM_GRAPHS, MOLHIV_SPLIT_SIZES,  # noqa: E402
                                          build_ogbg_molhiv, load_ogb)
from plstm_geometric.train import load_task  # noqa: E402
from plstm_geometric.utils import scaffold_split, smiles_to_data  # noqa: E402
from helpers import SHARED_DATASETS  # noqa: E402

HIV = SHARED_DATASETS / "moleculenet" / "HIV.csv"
needs_hiv = pytest.mark.skipif(not HIV.exists(), reason=f"{HIV} not found (set PLSTM_SHARED_DATASETS)")
REJECTED_ROWS = [137, 987, 12882, 18293, 30784, 30785, 35728]


@needs_hiv
def test_published_split_sizes_from_scaffolds():
    smiles = pd.read_csv(HIV)["smiles"].tolist()
    assert len(smiles) == MOLHIV_NUM_GRAPHS
    split = scaffold_split(smiles, lenient=True)
    assert {k: len(v) for k, v in split.items()} == MOLHIV_SPLIT_SIZES


@needs_hiv
def test_small_build_reads_with_unchanged_ogb_loader(tmp_path):
    # The first 40 rows plus a row current RDKit rejects (137): nothing may be dropped.
    frame = pd.read_csv(HIV)
    frame.iloc[list(range(40)) + [137]].to_csv(tmp_path / "HIV.csv", index=False)
    build_ogbg_molhiv(str(tmp_path / "HIV.csv"), str(tmp_path / "root"), progress=False)
    dataset, split, smiles = load_ogb("ogbg-molhiv", str(tmp_path / "root"), download=False)
    assert len(dataset) == 41 and sum(len(v) for v in split.values()) == 41
    assert smiles[40] == frame.smiles[137] and dataset[40].num_nodes == 19
    reference = smiles_to_data(frame.smiles[0])  # OGB re-adds the inverse of every stored bond
    assert dataset[0].edge_index.size(1) == reference.edge_index.size(1)
    assert (dataset[0].x == reference.x).all()
    assert int(dataset.y.sum()) == int(frame.HIV_active.iloc[list(range(40)) + [137]].sum())
    with pytest.raises(FileExistsError, match="already exists"):
        build_ogbg_molhiv(str(tmp_path / "HIV.csv"), str(tmp_path / "root"), progress=False)


def test_missing_release_file_is_an_error_not_a_prompt(tmp_path):
    (tmp_path / "ogbg_molhiv" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="RELEASE_v1.txt"):
        load_task("ogbg-molhiv", str(tmp_path), download=False)


def test_missing_dataset_message_names_files_and_builder(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_task("ogbg-molhiv", str(tmp_path), download=False)
    msg = str(err.value)
    assert f"{tmp_path}/ogbg_molhiv/raw/edge.csv.gz" in msg and "RELEASE_v1.txt" in msg
    assert "plstm-geometric prepare ogbg-molhiv --csv" in msg


@needs_hiv
def test_full_build(tmp_path):
    # The whole 41,127-molecule build through OGB's own loader: ~1 CPU-minute, the acceptance test
    # of the offline builder.
    build_ogbg_molhiv(str(HIV), str(tmp_path), progress=False)
    task = load_task("ogbg-molhiv", str(tmp_path), download=False, log=False)
    assert len(task.dataset) == MOLHIV_NUM_GRAPHS
    assert {k: len(v) for k, v in task.folds[0].items()} == MOLHIV_SPLIT_SIZES
    assert all(task.dataset[i].num_nodes > 0 for i in REJECTED_ROWS)
