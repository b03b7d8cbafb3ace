import pytest
import torch
from helpers import HIV_SMILES, molecule
from torch_geometric.data import Batch, InMemoryDataset
from torch_geometric.loader import DataLoader

from plstm_geometric import AddLineDAG, LineDAG, LineDAGData, LineDAGSpec
from plstm_geometric.data.line_dag_data import FIELDS, prefix

ogb = pytest.importorskip("ogb")


@pytest.fixture(scope="module")
def data_list():
    return [AddLineDAG()(molecule(s)) for s in HIV_SMILES[:10]]


def test_batch_structures_equal_structure_of_batch(data_list):
    batch = Batch.from_data_list(data_list)
    for mode in "PD":
        for reverse in (False, True):
            got = batch.line_dag(mode, reverse)
            want = LineDAG.from_graph(batch.edge_index, batch.num_nodes, mode=mode,
                                      reverse=reverse, batch=batch.batch)
            assert torch.equal(got.dag_edge_index, want.dag_edge_index)
            assert torch.equal(got.edge_level, want.edge_level)
            assert torch.equal(batch.edge_index[:, got.edge_id].sort(0).values,
                               batch.edge_index[:, want.edge_id].sort(0).values)
            assert sorted(map(tuple, got.line_index.t().tolist())) == \
                sorted(map(tuple, want.line_index.t().tolist()))


def test_to_data_list_round_trip(data_list):
    back = Batch.from_data_list(data_list).to_data_list()
    for a, b in zip(data_list, back):
        for mode in "PD":
            for reverse in (False, True):
                for field in FIELDS:
                    key = f"{prefix(LineDAGSpec(mode, reverse))}_{field}"
                    assert torch.equal(a[key], b[key])


def test_dataloader_and_in_memory_dataset(tmp_path, data_list):
    class Molecules(InMemoryDataset):
        def __init__(self, root):
            super().__init__(root)
            self.load(self.processed_paths[0])

        @property
        def processed_file_names(self):
            return ["data.pt"]

        def process(self):
            self.save(data_list, self.processed_paths[0])

    ds = Molecules(str(tmp_path))
    assert isinstance(ds[0], LineDAGData)
    assert torch.equal(ds[3].d_rev_line_index, data_list[3].d_rev_line_index)
    again = Molecules(str(tmp_path))  # reload from disk under weights_only=True
    batch = next(iter(DataLoader(again, batch_size=4)))
    assert batch.p_fwd_dag_edge_index.max() < batch.num_nodes
    assert batch.p_fwd_edge_id.max() < batch.edge_index.size(1)


def test_transform_uses_node_order_and_validates():
    d = molecule("CCO")
    d.node_order = torch.tensor([2, 1, 0])
    out = AddLineDAG(modes=["P"], directions=["forward"])(d)
    assert out.p_fwd_dag_edge_index.tolist() == [[2, 1], [1, 0]]
    assert not out.has_line_dag("D")
    with pytest.raises(ValueError, match=r"no line DAG for LineDAGSpec\(mode='D'"):
        out.line_dag("D")
    with pytest.raises(ValueError, match="directions"):
        AddLineDAG(directions=["sideways"])
