"""A layer whose structure is precomputed runs its forward without a host sync.

On CPU the test replaces every Python-level way of reading a tensor value on the host
(``item``, ``tolist``, ``int()``, ``float()``, ``bool()``, ``__index__``, ``numpy``) with one that
raises, then runs the forward; on CUDA (``PLSTM_TEST_DEVICE=cuda``) it also turns on
``torch.cuda.set_sync_debug_mode("error")``.
"""
import contextlib

import pytest
import torch
from helpers import COMPILED, HIV_SMILES, molecule, path_graph
from torch_geometric.data import Batch, Data

from plstm_geometric import AddLineDAG, PLSTMConv
from plstm_geometric.structure import LineDAG

READS = ("item", "tolist", "numpy", "__int__", "__float__", "__bool__", "__index__")


@contextlib.contextmanager
def no_host_reads(monkeypatch, device):
    def refuse(name):
        def method(self, *args, **kwargs):
            raise AssertionError(f"host sync: Tensor.{name} called in the forward")
        return method

    with monkeypatch.context() as patch:
        for name in READS:
            patch.setattr(torch.Tensor, name, refuse(name))
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode("default")


def molecule_batch(device):
    pytest.importorskip("ogb")
    graphs = [AddLineDAG()(molecule(s)) for s in HIV_SMILES[:6]]
    return Batch.from_data_list(graphs).to(device)


@pytest.mark.parametrize("mode", ["P", "D"])
@pytest.mark.parametrize("form", ["auto", "dense", COMPILED, "state"])
def test_forward_with_precomputed_structure_does_not_sync(monkeypatch, device, mode, form):
    if form == "compiled" and device.type != "cpu":
        pytest.skip("the compiled form runs on the CPU only")
    batch = molecule_batch(device)
    conv = PLSTMConv(9, 16, heads=2, mode=mode, edge_dim=3, form=form).to(device)
    args = (batch.x, batch.edge_index, batch.edge_attr, batch.batch)
    first = conv(*args, line_dag=batch)  # builds the cached layouts (host values read here)
    with no_host_reads(monkeypatch, device):
        again = conv(*args, line_dag=batch)
    torch.testing.assert_close(again, first, rtol=0, atol=0)


def test_chain_form_with_precomputed_structure_does_not_sync(monkeypatch, device):
    n = 300  # more DAG edges than DENSE_MAX_EDGES: form="auto" takes the chain form
    ei = path_graph(n).to(device)
    dag = LineDAG.from_graph(ei, n, mode="D")
    conv = PLSTMConv(8, 8, heads=2, mode="D").to(device)
    x = torch.randn(n, 8, device=device)
    first = conv(x, ei, line_dag=dag)
    assert "chain_layout" in dag.cache and dag.cache["auto_form"] == "chain"
    with no_host_reads(monkeypatch, device):
        again = conv(x, ei, line_dag=dag)
    torch.testing.assert_close(again, first, rtol=0, atol=0)


def test_the_guard_catches_a_sync(monkeypatch, device):
    """The guard itself: a forward that reads a value on the host fails."""
    data = Data(x=torch.randn(3, 4), edge_index=path_graph(3)).to(device)
    conv = PLSTMConv(4, 4, heads=1).to(device)
    dag = LineDAG.from_graph(data.edge_index, 3)
    conv(data.x, data.edge_index, line_dag=dag)
    with no_host_reads(monkeypatch, device), pytest.raises(AssertionError, match="host sync"):
        conv(data.x, data.edge_index, line_dag=LineDAG.from_graph(data.edge_index, 3))
