"""Atom order of RDKit's canonical SMILES as the node order that orients a molecule's DAG."""
from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform


def canonical_smiles_order(smiles: str, num_nodes: int) -> torch.Tensor:
    """Rank of every atom in the canonical SMILES of ``smiles`` (atoms numbered in parse order,
    as :func:`ogb.utils.smiles2graph` numbers them).

    The canonical SMILES writes the same molecule the same way however its atoms are numbered, so
    ranks taken from its output order (``_smilesAtomOutputOrder``) orient the same bonds the same
    way. Unlike ``CanonicalRankAtoms`` ranks, which order atoms by invariants and so make short,
    wide line DAGs, the output order follows the depth-first parse and keeps long directed paths.
    """
    from plstm_geometric.data.molecules import parse_smiles
    from rdkit import Chem

    mol = parse_smiles(smiles, lenient=True)
    if mol is None:
        raise ValueError(f"RDKit cannot parse {smiles!r}")
    if mol.GetNumAtoms() != num_nodes:
        raise ValueError(f"{smiles!r} has {mol.GetNumAtoms()} atoms but the graph has {num_nodes} "
                         f"nodes; node order needs graphs featurised atom by atom from this SMILES")
    Chem.MolToSmiles(mol)
    order = list(mol.GetPropsAsDict(includePrivate=True, includeComputed=True)["_smilesAtomOutputOrder"])
    rank = torch.empty(num_nodes, dtype=torch.long)
    rank[torch.tensor(order, dtype=torch.long)] = torch.arange(num_nodes)
    return rank


class CanonicalSmilesOrder(BaseTransform):
    r"""Stores the canonical-SMILES atom order of a molecule as ``data.node_order`` (a rank per
    node), so that pLSTM's DAG orientation, and hence the prediction, does not depend on how the
    atoms happen to be numbered. Use it before
    :class:`~plstm_geometric.transforms.AddLineDAG` in a ``pre_transform``.

    Args:
        smiles_attr (str, optional): Attribute holding the SMILES. (default: :obj:`"smiles"`)
        attr (str, optional): Attribute to write. (default: :obj:`"node_order"`)
    """

    def __init__(self, smiles_attr: str = "smiles", attr: str = "node_order"):
        self.smiles_attr = smiles_attr
        self.attr = attr

    def forward(self, data: Data) -> Data:
        smiles = getattr(data, self.smiles_attr, None)
        if not isinstance(smiles, str):
            raise ValueError(f"CanonicalSmilesOrder needs the SMILES in data.{self.smiles_attr}")
        data[self.attr] = canonical_smiles_order(smiles, data.num_nodes)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(smiles_attr={self.smiles_attr!r}, attr={self.attr!r})"
