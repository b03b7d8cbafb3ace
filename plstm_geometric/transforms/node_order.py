"""Atom orders of a molecule's SMILES (canonical, or random for augmentation) as the node order
that orients its DAG."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..data.line_dag_data import split_key


def _parse(smiles: str, num_nodes: int):
    from ..utils.smiles import parse_smiles

    mol = parse_smiles(smiles, lenient=True)
    if mol is None:
        raise ValueError(f"RDKit cannot parse {smiles!r}")
    if mol.GetNumAtoms() != num_nodes:
        raise ValueError(f"{smiles!r} has {mol.GetNumAtoms()} atoms but the graph has {num_nodes} "
                         f"nodes; node order needs graphs featurised atom by atom from this SMILES")
    return mol


def _written_rank(mol, renumbering: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Rank of every atom in the SMILES the last ``MolToSmiles(mol)`` wrote
    (``_smilesAtomOutputOrder``); with ``renumbering``, ``mol`` is a copy whose atom ``i`` is
    atom ``renumbering[i]`` of the original, and the ranks are of the original's atoms."""
    # The property is a string "[i,j,...]" (GetPropsAsDict would convert every property).
    written = mol.GetProp("_smilesAtomOutputOrder").strip("[]").rstrip(",").split(",")
    order = torch.tensor([int(i) for i in written])
    if renumbering is not None:
        order = renumbering[order]
    rank = torch.empty(order.numel(), dtype=torch.long)
    rank[order] = torch.arange(order.numel())
    return rank


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

    mol = _parse(smiles, num_nodes)
    canonical = Chem.MolToSmiles(mol)
    rank = _written_rank(mol)
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


def random_smiles_order(smiles: str, num_nodes: int,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Rank of every atom (numbered in parse order, as in :func:`canonical_smiles_order`) in a
    random, non-canonical SMILES of ``smiles``: RDKit writes the molecule after its atoms were
    renumbered by a permutation drawn from ``generator`` (torch's global RNG by default, so a
    seeded run draws the same orders), which starts the depth-first walk at a random atom and
    takes the branches in a random order, as ``MolToSmiles(doRandom=True)`` does with RDKit's
    own RNG. Like the canonical order it is depth first: every atom but the first of its
    fragment is bonded to an atom written before it.

    Returns:
        ``rank`` of shape ``[num_nodes]``.
    """
    return _random_rank(_parse(smiles, num_nodes), generator)


def _random_rank(mol, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    from rdkit import Chem

    perm = torch.randperm(mol.GetNumAtoms(), generator=generator)
    shuffled = Chem.RenumberAtoms(mol, perm.tolist())  # atom i of shuffled is atom perm[i]
    Chem.MolToSmiles(shuffled, canonical=False)
    return _written_rank(shuffled, perm)


class RandomSmilesOrder(BaseTransform):
    r"""Replaces ``data.node_order`` by the atom order of a random SMILES of the molecule
    (:func:`random_smiles_order`), drawn anew at every call: an augmentation over DAG
    orientations, as random SMILES are for sequence models of molecules. Use it as the
    ``transform`` of a training set whose graphs carry the canonical order
    (:class:`CanonicalSmilesOrder`) and evaluate on that canonical order.

    Precomputed line DAGs (from :class:`~plstm_geometric.transforms.AddLineDAG`) belong to the
    old order, so they are dropped and a plain :class:`~torch_geometric.data.Data` is returned:
    :class:`~plstm_geometric.models.PLSTMNet` then builds the structures of the new order per
    mini-batch. The chirality feature stays as it is (the canonical tag does not depend on the
    order).

    Args:
        smiles_attr (str, optional): Attribute holding the SMILES. (default: :obj:`"smiles"`)
        attr (str, optional): Attribute to write. (default: :obj:`"node_order"`)
    """

    def __init__(self, smiles_attr: str = "smiles", attr: str = "node_order"):
        self.smiles_attr = smiles_attr
        self.attr = attr
        self._mols: dict = {}  # SMILES -> RDKit binary; parsing is most of the cost

    def forward(self, data: Data) -> Data:
        smiles = getattr(data, self.smiles_attr, None)
        if not isinstance(smiles, str):
            raise ValueError(f"RandomSmilesOrder needs the SMILES in data.{self.smiles_attr}")
        from rdkit import Chem

        binary = self._mols.get(smiles)
        if binary is None:
            binary = self._mols[smiles] = _parse(smiles, data.num_nodes).ToBinary()
        mol = Chem.Mol(binary)
        if mol.GetNumAtoms() != data.num_nodes:  # the same SMILES on a graph of another size
            _parse(smiles, data.num_nodes)  # raises the ValueError naming both
        out = Data(**{k: v for k, v in data.items() if split_key(k)[0] is None})
        out[self.attr] = _random_rank(mol)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(smiles_attr={self.smiles_attr!r}, attr={self.attr!r})"
