"""PLSTM2D layer and the vision models: shapes, reprs, orientation handling, size changes."""
import pytest
import torch

from plstm_geometric.models.vision import PLSTMVision, ViT
from plstm_geometric.nn.grid import PLSTM2D
from plstm_geometric.ops.grid import plstm_2d_reference


@pytest.mark.parametrize("mode", ["P", "D"])
def test_plstm2d_shapes_and_repr(mode):
    torch.manual_seed(0)
    layer = PLSTM2D(16, 24, heads=2, mode=mode)
    assert str(layer) == f"PLSTM2D(16, 24, heads=2, mode={mode}, orientations=4)"
    out = layer(torch.randn(3, 5, 7, 16))
    assert out.shape == (3, 5, 7, 24) and torch.isfinite(out).all()


@pytest.mark.parametrize("mode", ["P", "D"])
def test_plstm2d_equals_sum_of_reference_orientations(mode):
    """The batched flip trick equals running the reference once per orientation."""
    torch.manual_seed(1)
    layer = PLSTM2D(8, heads=2, mode=mode, chunk_size=2).double()
    torch.nn.init.normal_(layer.gates.weight, std=0.3)  # input-dependent gates
    x = torch.randn(2, 5, 3, 8, dtype=torch.float64)
    B, X, Y, _ = x.shape
    H, K = layer.heads, layer.head_dim
    q, k, v = layer.qkv(x).view(B, X, Y, 3, H, K).unbind(3)
    raw = layer.gates(x).view(B, X, Y, len(layer.gate_names), 4, H)
    total = 0
    for o in range(4):
        dims = [d for d, bit in ((1, 1), (2, 2)) if o & bit]
        g = layer._grid_gates(raw[..., o, :].flip(dims))
        y = plstm_2d_reference(*(t.flip(dims) for t in (q * K ** -0.5, k, v)), *g).flip(dims)
        total = total + layer.norm(y)
    expected = layer.out(total.reshape(B, X, Y, H * K))
    assert (layer(x) - expected).abs().max() < 1e-10


def test_plstm2d_p_mode_routes_mass():
    """P-mode: the two outgoing transitions of every edge and the two sources sum to one."""
    layer = PLSTM2D(8, heads=2, mode="P")
    torch.nn.init.normal_(layer.gates.weight)
    raw = layer.gates(torch.randn(2, 3, 3, 8)).view(2, 3, 3, len(layer.gate_names), -1)
    s_r, s_d, t_rl, t_ru, t_dl, t_du, m_l, m_u, d = layer._grid_gates(raw)
    for a, b in ((s_r, s_d), (t_rl, t_dl), (t_ru, t_du)):
        assert torch.allclose(a + b, torch.ones_like(a))
    assert torch.equal(m_l, m_u)


def test_plstm2d_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        PLSTM2D(8, mode="X")
    with pytest.raises(ValueError, match="divisible"):
        PLSTM2D(10, heads=4)
    with pytest.raises(ValueError, match="shape"):
        PLSTM2D(8, heads=2)(torch.randn(4, 8))


@pytest.mark.parametrize("cls", [PLSTMVision, ViT])
def test_vision_models_any_size(cls):
    torch.manual_seed(0)
    model = cls(2, image_size=32, patch_size=8, dim=32, depth=1, heads=2)
    for size in (32, 64, 48):  # train size, 2x, and a non-power-of-two patch grid
        out = model(torch.randn(2, 3, size, size))
        assert out.shape == (2, 2) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="patch size"):
        model(torch.randn(1, 3, 30, 30))
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_vit_is_matched_in_size():
    kw = dict(num_classes=2, image_size=64, patch_size=8, dim=64, depth=2, heads=4)
    n_plstm = sum(p.numel() for p in PLSTMVision(**kw).parameters())
    n_vit = sum(p.numel() for p in ViT(**kw).parameters())
    assert abs(n_plstm - n_vit) / n_vit < 0.15
    assert str(PLSTMVision(**kw)) == "PLSTMVision(2, dim=64, depth=2, heads=4, patch_size=8)"
