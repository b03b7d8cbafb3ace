"""Atom order of RDKit's canonical SMILES as the node order that orients a molecule's DAG."""
from __future__ import annotations

from typing import Tuple

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform


def canonical_smiles_order(smiles: str, num_nodes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rank of every atom in the canonical SMILES of ``smiles`` (atoms numbered in parse order,
    as :func:`ogb.utils.smiles2graph` numbers them), and OGB's chirality feature of every atom
    read from that canonical SMILES.

    The canonical SMILES writes the same molecule the same way however its atoms are numbered, so
    ranks taken from its output order (``_smilesAtomOutputOrder``) orient the same bonds the same
    way. Unlike ``CanonicalRankAtoms`` ranks, which order atoms by invariants and so make short,
    wide line DAGs, the output order follows the depth-first parse and keeps long directed paths.

    The chirality tag (CW / CCW) is defined relative to the order in which an atom's bonds were
    written, so OGB's feature flips with the numbering for the same stereocentre; the tag parsed
    from the canonical SMILES does not.

    Returns:
        ``(rank, chirality)``, both of shape ``[num_nodes]``.
    """
    from ogb.utils.features import atom_to_feature_vector
    from rdkit import Chem

    from ..utils.smiles import parse_smiles

    mol = parse_smiles(smiles, lenient=True)
    if mol is None:
        raise ValueError(f"RDKit cannot parse {smiles!r}")
    if mol.GetNumAtoms() != num_nodes:
        raise ValueError(f"{smiles!r} has {mol.GetNumAtoms()} atoms but the graph has {num_nodes} "
                         f"nodes; node order needs graphs featurised atom by atom from this SMILES")
    canonical = Chem.MolToSmiles(mol)
    order = torch.tensor(list(mol.GetPropsAsDict(True, True)["_smilesAtomOutputOrder"]))
    rank = torch.empty(num_nodes, dtype=torch.long)
    rank[order] = torch.arange(num_nodes)
    canonical_mol = parse_smiles(canonical, lenient=True)
    chirality = torch.tensor([atom_to_feature_vector(a)[1] for a in canonical_mol.GetAtoms()])
    return rank, chirality[rank]


class CanonicalSmilesOrder(BaseTransform):
    r"""Stores the canonical-SMILES atom order of a molecule as ``data.node_order`` (a rank per
    node), so that pLSTM's DAG orientation, and hence the prediction, does not depend on how the
    atoms happen to be numbered. Use it before
    :class:`~plstm_geometric.transforms.AddLineDAG` in a ``pre_transform``.

    With ``canonical_chirality`` (OGB-featurised graphs only), the chirality column of ``x`` is
    replaced by the tag read from the canonical SMILES, which, unlike OGB's, does not flip with
    the numbering (see :func:`canonical_smiles_order`).

    Args:
        smiles_attr (str, optional): Attribute holding the SMILES. (default: :obj:`"smiles"`)
        attr (str, optional): Attribute to write. (default: :obj:`"node_order"`)
        canonical_chirality (bool, optional): Rewrite ``x[:, 1]`` (OGB's chirality feature).
            (default: :obj:`True`)
    """

    def __init__(self, smiles_attr: str = "smiles", attr: str = "node_order",
                 canonical_chirality: bool = True):
        self.smiles_attr = smiles_attr
        self.attr = attr
        self.canonical_chirality = canonical_chirality

    def forward(self, data: Data) -> Data:
        smiles = getattr(data, self.smiles_attr, None)
        if not isinstance(smiles, str):
            raise ValueError(f"CanonicalSmilesOrder needs the SMILES in data.{self.smiles_attr}")
        rank, chirality = canonical_smiles_order(smiles, data.num_nodes)
        data[self.attr] = rank
        if self.canonical_chirality:
            if data.x is None or data.x.dim() != 2 or data.x.size(1) != 9 or data.x.is_floating_point():
                raise ValueError("canonical_chirality needs OGB atom features in data.x")
            data.x = data.x.clone()
            data.x[:, 1] = chirality
        return data

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(smiles_attr={self.smiles_attr!r}, attr={self.attr!r}, "
                f"canonical_chirality={self.canonical_chirality})")
