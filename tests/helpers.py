"""Shared test utilities: random graphs, molecules, paths to the offline data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch_geometric.data import Data

from plstm_geometric.ops.dag.compiled import library

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PLSTM_SHARED", REPO.parent / "shared"))
GOLDEN = SHARED / "golden"
SHARED_DATASETS = Path(os.environ.get("PLSTM_SHARED_DATASETS", SHARED / "datasets"))
needs_shared_datasets = pytest.mark.skipif(
    not SHARED_DATASETS.exists(), reason=f"{SHARED_DATASETS} not found (set PLSTM_SHARED_DATASETS)")
#: What needs the compiled kernel library is skipped where it cannot be built (no C++ compiler,
#: or PLSTM_COMPILED=0: the torch forms then run alone, as they do for users).
needs_compiled = pytest.mark.skipif(library()[0] is None,
                                    reason=f"compiled kernels unavailable: {library()[1]}")
COMPILED = pytest.param("compiled", marks=needs_compiled)


def assert_grads_close(got, want, atol: float) -> None:
    """Gradients of two paths agree; where one path leaves a gradient ``None`` (an input it
    does not use), the other's must be ``None`` or all zeros."""
    for a, b in zip(got, want, strict=True):
        if a is None or b is None:
            assert a is None and b is None or torch.count_nonzero(a if b is None else b) == 0
        else:
            torch.testing.assert_close(a, b, atol=atol, rtol=0)


# The first 20 single-fragment HIV.csv molecules with 5–40 atoms (../shared/datasets/moleculenet).
HIV_SMILES = [
    "CCC1=[O+][Cu-3]2([O+]=C(CC)C1)[O+]=C(CC)CC(CC)=[O+]2",
    "C(=Cc1ccccc1)C1=[O+][Cu-3]2([O+]=C(C=Cc3ccccc3)CC(c3ccccc3)=[O+]2)[O+]=C(c2ccccc2)C1",
    "CC(=O)N1c2ccccc2Sc2c1ccc1ccccc21", "Nc1ccc(C=Cc2ccc(N)cc2S(=O)(=O)O)c(S(=O)(=O)O)c1",
    "O=S(=O)(O)CCS(=O)(=O)O", "CCOP(=O)(Nc1cccc(Cl)c1)OCC", "O=C(O)c1ccccc1O",
    "CC1=C2C(=COC(C)C2C)C(O)=C(C(=O)O)C1=O",
    "O=[N+]([O-])c1ccc(SSc2ccc([N+](=O)[O-])cc2[N+](=O)[O-])c([N+](=O)[O-])c1",
    "O=[N+]([O-])c1ccccc1SSc1ccccc1[N+](=O)[O-]", "CC(C)(CCC(=O)O)CCC(=O)O",
    "O=C(O)Cc1ccc(SSc2ccc(CC(=O)O)cc2)cc1", "O=C(O)c1ccccc1SSc1ccccc1C(=O)O", "Sc1cccc2c(S)cccc12",
    "CCOP(N)(=O)c1ccccc1", "NNP(=S)(NN)c1ccccc1", "O=P(Nc1ccccc1)(Nc1ccccc1)Nc1ccccc1",
    "O=C1C(O)=C(CCCc2ccc(Oc3ccccc3)cc2)C(=O)c2ccccc21",
    "CC(C)N(C(C)C)P(=O)(OP(=O)(c1ccc([N+](=O)[O-])cc1)N(C(C)C)C(C)C)c1ccc([N+](=O)[O-])cc1",
    "c1ccc2c(c1)Sc1ccccc1S2",
]


def molecule(smiles: str) -> Data:
    """OGB featurisation (``smiles2graph``) as float tensors."""
    from ogb.utils import smiles2graph

    graph = smiles2graph(smiles)
    return Data(x=torch.tensor(graph["node_feat"]).float(),
                edge_index=torch.tensor(graph["edge_index"]),
                edge_attr=torch.tensor(graph["edge_feat"]).float(), smiles=smiles)


def random_graph(num_nodes: int, p: float, generator: torch.Generator) -> Tensor:
    """Undirected Erdős–Rényi graph as a PyG ``edge_index`` with both directions."""
    if num_nodes < 2:
        return torch.empty(2, 0, dtype=torch.long)
    row, col = torch.triu_indices(num_nodes, num_nodes, offset=1)
    keep = torch.rand(row.numel(), generator=generator) < p
    row, col = row[keep], col[keep]
    return torch.stack([torch.cat([row, col]), torch.cat([col, row])])


def path_graph(n: int) -> Tensor:
    a = torch.arange(n - 1)
    return torch.stack([torch.cat([a, a + 1]), torch.cat([a + 1, a])])


def kernel_inputs(num_nodes: int, num_edges: int, num_line: int, heads: int = 2, k: int = 3,
                  v: int = 4, dtype: torch.dtype = torch.float64, seed: int = 0) -> list[Tensor]:
    """Random ``plstm_dag`` inputs; gates in (0, 1) / (−1, 1) like the layer's."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return [r(num_nodes, heads, k), r(num_nodes, heads, k), r(num_nodes, heads, v),
            torch.sigmoid(r(num_edges, heads)), torch.tanh(r(num_line, heads)),
            torch.sigmoid(r(num_edges, heads)), torch.sigmoid(r(num_nodes, heads))]
