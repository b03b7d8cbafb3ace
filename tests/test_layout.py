"""Package layout rules: only the CLI exits the process, and the loader names that moved out of
``plstm_geometric.data`` still resolve there with a deprecation warning."""
import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import plstm_geometric
from plstm_geometric.data import _MOVED

PACKAGE = Path(plstm_geometric.__file__).parent


def _exits(path: Path):
    """Lines of ``path`` that name ``SystemExit`` or call ``sys.exit`` / ``exit`` / ``quit``."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "SystemExit":
            yield node.lineno
        if isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "exit"
                    and isinstance(func.value, ast.Name) and func.value.id == "sys"):
                yield node.lineno
            if isinstance(func, ast.Name) and func.id in ("exit", "quit"):
                yield node.lineno


def test_only_the_cli_exits():
    found = [f"{path.relative_to(PACKAGE)}:{line}" for path in sorted(PACKAGE.rglob("*.py"))
             if path.name != "cli.py" for line in _exits(path)]
    assert found == [], "library modules must raise exceptions, not exit: " + ", ".join(found)


def test_cli_prints_library_errors_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "plstm_geometric", "train", "--dataset", "qm9",
                          "--root", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "plstm-geometric train: error: unknown dataset 'qm9'; valid names:" in out.stderr
    assert "Traceback" not in out.stderr


def test_library_raises_specific_exceptions():
    from plstm_geometric.train.factory import check_model, resolve_orientation

    with pytest.raises(ValueError, match="unknown model 'gat'; valid names: plstm, gin, gine"):
        check_model("gat")
    with pytest.raises(ValueError, match="--orientation smiles needs molecules with SMILES"):
        resolve_orientation("smiles", "MUTAG")


@pytest.mark.parametrize("name", sorted(_MOVED))
def test_moved_names_resolve_with_a_deprecation(name):
    import importlib

    import plstm_geometric.data as data

    with pytest.warns(DeprecationWarning, match=f"plstm_geometric.data.{name} moved to {_MOVED[name]}"):
        old = getattr(data, name)
    assert old is getattr(importlib.import_module(_MOVED[name]), name)


def test_unknown_names_are_attribute_errors():
    import plstm_geometric.data as data

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            data.nope  # noqa: B018
