import numpy as np
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("ogb")

from ogb.utils import smiles2graph  # noqa: E402

from plstm_geometric.utils.smiles import (  # noqa: E402
    InvalidSmilesReport, featurise_smiles, mol_to_graph, murcko_scaffold, parse_smiles,
    smiles_to_data)
from plstm_geometric.utils.split import assign_scaffold_groups, scaffold_split  # noqa: E402

SMILES = ["CCO", "c1ccccc1C(=O)O", "C[C@H](N)C(=O)O", "O=C1O[Al]23(OC1=O)(OC(=O)C(=O)O2)OC(=O)C(=O)O3"]


@pytest.mark.parametrize("smiles", SMILES[:3])
def test_mol_to_graph_equals_smiles2graph(smiles):
    ours, ogb = mol_to_graph(parse_smiles(smiles)), smiles2graph(smiles)
    for key in ("node_feat", "edge_index", "edge_feat"):
        np.testing.assert_array_equal(ours[key], ogb[key])
    assert ours["num_nodes"] == ogb["num_nodes"]


def test_lenient_parse_keeps_hypervalent_aluminium():
    smiles = SMILES[3]  # HIV.csv row 137
    assert parse_smiles(smiles) is None
    assert smiles_to_data(smiles) is None
    data = smiles_to_data(smiles, lenient=True)
    assert data.num_nodes == 19 and data.x.shape == (19, 9) and data.edge_index.size(1) == 2 * 21
    assert murcko_scaffold(smiles, lenient=True)
    assert smiles_to_data("C1CC(") is None and smiles_to_data("C1CC(", lenient=True) is None


def test_scaffold_assignment_rule():
    # Groups sorted by (size, first index) descending; whole groups; 80/10/10 of n = 10.
    groups = [[0, 1, 2, 3], [4, 5, 6], [7], [8], [9]]
    split = assign_scaffold_groups(groups, 10)
    assert split["train"].tolist() == [0, 1, 2, 3, 4, 5, 6, 9]
    assert split["valid"].tolist() == [8] and split["test"].tolist() == [7]


def test_scaffold_split_groups_same_scaffold():
    smiles = ["c1ccccc1C", "c1ccccc1CC", "c1ccccc1O", "C1CCCCC1", "CCO", "CCN", "C1CC1", "C1CC1C",
              "c1ccncc1", "c1ccncc1C"]
    split = scaffold_split(smiles)
    assert sorted(sum((v.tolist() for v in split.values()), [])) == list(range(10))
    benzene = {0, 1, 2}
    assert any(benzene <= set(v.tolist()) for v in split.values())


def test_invalid_smiles_report_message():
    report = InvalidSmilesReport("X")
    for i in range(7):
        report.add(i, f"bad{i}")
    msg = report.message(shown=2)
    assert msg.startswith("X: skipped 7 SMILES") and "row 0: 'bad0'" in msg and "(5 more)" in msg


def test_featurise_smiles_strips_cells_and_marks_blank_and_rejected_ones():
    out = list(featurise_smiles([" CCO ", None, "  ", "C1CC(", "c1ccccc1"]))
    assert [s for s, _ in out] == ["CCO", "", "", "C1CC(", "c1ccccc1"]
    assert [d is None for _, d in out] == [False, True, True, True, False]
    assert out[0][1].smiles == "CCO" and out[0][1].num_nodes == 3


def test_invalid_smiles_report_saves_and_loads_its_message(tmp_path):
    report = InvalidSmilesReport("X")
    report.save(str(tmp_path))
    assert InvalidSmilesReport.load_message(str(tmp_path)) == ""  # nothing skipped
    report.add(4, "C1CC(")
    report.save(str(tmp_path))
    assert InvalidSmilesReport.load_message(str(tmp_path)) == report.message()
