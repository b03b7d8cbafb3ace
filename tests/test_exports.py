"""Public names: each package exports the documented objects, ``__all__`` is sorted, and the
core import needs no chemistry packages."""
import importlib
import subprocess
import sys

import pytest

import plstm_geometric
from plstm_geometric.data.line_dag_data import LineDAGData
from plstm_geometric.datasets.arrow_pointing import ArrowPointing
from plstm_geometric.models.baselines import GINNet
from plstm_geometric.models.plstm_net import PLSTMNet
from plstm_geometric.models.virtual_node import VirtualNode
from plstm_geometric.models.vision import PLSTMVision, ViT
from plstm_geometric.nn.chain import PLSTM1D
from plstm_geometric.nn.grid import PLSTM2D
from plstm_geometric.ops.chain import plstm_1d, plstm_1d_reference
from plstm_geometric.ops.grid import plstm_2d, plstm_2d_orientations, plstm_2d_reference
from plstm_geometric.transforms.node_order import CanonicalSmilesOrder, RandomSmilesOrder

EXPECTED = {
    "plstm_geometric": {"PLSTM1D": PLSTM1D, "PLSTM2D": PLSTM2D, "PLSTMVision": PLSTMVision, "ViT": ViT,
                        "plstm_1d": plstm_1d, "plstm_2d": plstm_2d, "ArrowPointing": ArrowPointing,
                        "PLSTMNet": PLSTMNet, "GINNet": GINNet,
                        "CanonicalSmilesOrder": CanonicalSmilesOrder,
                        "RandomSmilesOrder": RandomSmilesOrder},
    "plstm_geometric.ops": {"plstm_1d": plstm_1d, "plstm_2d": plstm_2d,
                            "plstm_1d_reference": plstm_1d_reference,
                            "plstm_2d_reference": plstm_2d_reference,
                            "plstm_2d_orientations": plstm_2d_orientations},
    "plstm_geometric.ops.chain": {"plstm_1d": plstm_1d, "plstm_1d_reference": plstm_1d_reference},
    "plstm_geometric.ops.grid": {"plstm_2d": plstm_2d, "plstm_2d_orientations": plstm_2d_orientations,
                                 "plstm_2d_reference": plstm_2d_reference},
    "plstm_geometric.nn": {"PLSTM1D": PLSTM1D, "PLSTM2D": PLSTM2D},
    "plstm_geometric.models": {"PLSTMVision": PLSTMVision, "ViT": ViT, "PLSTMNet": PLSTMNet,
                               "GINNet": GINNet, "VirtualNode": VirtualNode},
    "plstm_geometric.transforms": {"CanonicalSmilesOrder": CanonicalSmilesOrder,
                                   "RandomSmilesOrder": RandomSmilesOrder},
    "plstm_geometric.data": {"LineDAGData": LineDAGData},
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_exports(module):
    mod = importlib.import_module(module)
    for name, obj in EXPECTED[module].items():
        assert name in mod.__all__
        assert getattr(mod, name) is obj


@pytest.mark.parametrize("module", ["plstm_geometric", "plstm_geometric.datasets",
                                    "plstm_geometric.models", "plstm_geometric.nn",
                                    "plstm_geometric.ops", "plstm_geometric.transforms"])
def test_all_is_sorted_and_resolves(module):
    mod = importlib.import_module(module)
    assert mod.__all__ == sorted(mod.__all__)
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_line_dag_data_old_path_warns():
    # Moved to plstm_geometric.data; the old name stays for one release.
    import plstm_geometric.structure as structure

    with pytest.warns(DeprecationWarning, match="plstm_geometric.data.LineDAGData"):
        assert structure.LineDAGData is LineDAGData
    assert plstm_geometric.LineDAGData is LineDAGData
    with pytest.raises(AttributeError):
        structure.NoSuchName


def test_star_import():
    namespace = {}
    exec("from plstm_geometric import *", namespace)
    assert {"PLSTM2D", "PLSTMVision", "ViT", "plstm_1d", "plstm_2d", "ArrowPointing"} <= set(namespace)
    assert namespace["__version__"] == plstm_geometric.__version__


def test_import_does_not_load_rdkit_or_ogb():
    # Users without the [chem] extra must be able to import the layers and models.
    code = ("import sys, plstm_geometric; "
            "print(sorted(m for m in ('rdkit', 'ogb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
