"""The documented public names import, and the core import needs no chemistry packages."""
import subprocess
import sys

import plstm_geometric
import plstm_geometric.models
import plstm_geometric.transforms


def test_all_names_resolve():
    for module in (plstm_geometric, plstm_geometric.models, plstm_geometric.transforms):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{module.__name__}.__all__ lists undefined names {missing}"
    assert plstm_geometric.PLSTMNet is plstm_geometric.models.PLSTMNet
    assert plstm_geometric.CanonicalSmilesOrder is plstm_geometric.transforms.CanonicalSmilesOrder


def test_import_does_not_load_rdkit_or_ogb():
    # Users without the [chem] extra must be able to import the layers and models.
    code = ("import sys, plstm_geometric; "
            "print(sorted(m for m in ('rdkit', 'ogb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
