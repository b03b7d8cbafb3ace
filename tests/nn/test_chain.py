"""PLSTM1D: the pLSTM layer on sequences equals PLSTMConv (plstm_dag) on the chain graph."""
import pytest
import torch

from plstm_geometric.nn import PLSTM1D, PLSTMConv


def chain_batch(B: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """B undirected paths 0 - 1 - ... - T-1 (both directions, PyG style) and their batch vector."""
    t = torch.arange(T - 1)
    one = torch.stack([torch.cat([t, t + 1]), torch.cat([t + 1, t])])
    edge_index = torch.cat([one + b * T for b in range(B)], 1)
    return edge_index, torch.arange(B).repeat_interleave(T)


# The layer options of PLSTMConv (PLSTMNet's default uses qk_norm) reach PLSTM1D too.
OPTIONS = [{}, {"qk_norm": True, "out_gate": True, "scale_qk": True}, {"norm": "none"}]


@pytest.mark.parametrize("mode", ["P", "D"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,chunk", [(1, 4), (9, 4), (23, 8)])
@pytest.mark.parametrize("options", OPTIONS, ids=["paper", "qk-gate-scale", "no-norm"])
def test_plstm1d_equals_plstm_conv_on_chain(mode, reverse, T, chunk, options):
    torch.manual_seed(T)
    layer = PLSTM1D(6, 8, heads=2, mode=mode, reverse=reverse, chunk_size=chunk,
                    **options).double()
    with torch.no_grad():  # input-dependent gates and transitions (the init has constant ones)
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    conv = PLSTMConv(6, 8, heads=2, mode=mode, reverse=reverse, **options).double()
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(3, T, 6, dtype=torch.float64, requires_grad=True)
    edge_index, batch = chain_batch(3, T)
    out = layer(x)
    expected = conv(x.reshape(3 * T, 6), edge_index, batch=batch).view(3, T, 8)
    assert out.shape == (3, T, 8)
    assert (out - expected).abs().max() <= 1e-10
    weight = torch.randn_like(out)
    grads = torch.autograd.grad((out * weight).sum(), [x, *layer.parameters()])
    expected_grads = torch.autograd.grad((expected * weight).sum(), [x, *conv.parameters()])
    for a, b in zip(grads, expected_grads):
        assert (a - b).abs().max() <= 1e-10


def test_plstm1d_repr_and_bad_input():
    layer = PLSTM1D(16, 32, heads=4, mode="D", reverse=True)
    assert str(layer) == "PLSTM1D(16, 32, heads=4, mode=D, reverse=True)"
    with pytest.raises(ValueError, match=r"\[B, T, F\]"):
        layer(torch.randn(5, 16))
