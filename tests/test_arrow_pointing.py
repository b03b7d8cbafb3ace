"""Arrow-pointing generator: label geometry, balance, determinism, any canvas size."""
import math

import pytest
import torch

from plstm_geometric.datasets import ArrowPointing, ray_hits_circle


@pytest.mark.parametrize("size,scale", [(64, 1 / 3), (128, 1 / 3), (100, 0.5)])
def test_label_is_ray_geometry(size, scale):
    ds = ArrowPointing(300, size, seed=3, object_scale=scale)
    for i in range(len(ds)):
        g = ds.geometry(i)
        # label 1 <=> the ray hits the circle shrunk by 1.2; label 0 even misses it enlarged.
        assert ray_hits_circle(g, g.radius / 1.2) == bool(g.label)
        if not g.label:
            assert not ray_hits_circle(g, g.radius * 1.2)
        # Objects are separate and their centres respect the padding.
        assert math.hypot(g.circle_x - g.arrow_x, g.circle_y - g.arrow_y) >= 2 * g.radius + g.arrow_length / 2
        for c in (g.arrow_x, g.arrow_y, g.circle_x, g.circle_y):
            assert ds.padding <= c <= size - ds.padding


def test_rendering_matches_geometry():
    ds = ArrowPointing(20, 96, seed=0, object_scale=0.5)
    for i in range(len(ds)):
        img, label = ds[i]
        g = ds.geometry(i)
        assert img.shape == (3, 96, 96) and img.dtype == torch.float32
        assert label == g.label
        assert 0.0 <= img.min() and img.max() <= 1.0
        assert img[0, int(g.circle_y), int(g.circle_x)] == 0.0  # inside the disc: black
        assert img.max() == 1.0  # white background
        # The arrow's centre lies on its shaft.
        assert img[0, int(g.arrow_y), int(g.arrow_x)] < 1.0


def test_balanced_and_deterministic():
    ds = ArrowPointing(101, 64, seed=5, object_scale=1 / 3)
    labels = [ds.geometry(i).label for i in range(len(ds))]
    assert abs(sum(labels) - len(labels) / 2) <= 0.5
    again = ArrowPointing(7, 64, seed=5, object_scale=1 / 3)  # per-sample seeding: size-independent
    assert torch.equal(ds[3][0], again[3][0])
    assert not torch.equal(ds[3][0], ArrowPointing(7, 64, seed=6, object_scale=1 / 3)[3][0])


def test_extrapolation_keeps_object_sizes():
    small = ArrowPointing(200, 64, seed=1, object_scale=1 / 3)
    large = ArrowPointing(200, 128, seed=1, object_scale=1 / 3)
    assert small.radius == large.radius and small.arrow_length == large.arrow_length
    mean_dist = [sum(math.hypot(g.circle_x - g.arrow_x, g.circle_y - g.arrow_y)
                     for g in map(ds.geometry, range(len(ds)))) / len(ds) for ds in (small, large)]
    assert mean_dist[1] > 1.5 * mean_dist[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="too small"):
        ArrowPointing(10, 64)  # 192 px objects on a 64 px canvas
    with pytest.raises(IndexError):
        ArrowPointing(3, 64, object_scale=1 / 3).geometry(3)
    assert repr(ArrowPointing(3, 64, object_scale=1 / 3)) == \
        "ArrowPointing(3, image_size=64, object_scale=0.333, seed=0)"
