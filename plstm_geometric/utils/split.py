"""Train / validation / test splits: the scaffold split of OGB's molecule datasets, a seeded
random split, TU's stratified cross-validation folds and splits named per row in a CSV column.

They live with the utilities, not with training, because a dataset builder
(:func:`~plstm_geometric.datasets.build_ogbg_molhiv` writes OGB's split files) and the task
registry (:func:`~plstm_geometric.train.load_task`) both need them.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

import numpy as np
import torch
from torch import Tensor

from .smiles import murcko_scaffold


def scaffold_split(
    smiles: Sequence[str],
    frac_train: float = 0.8,
    frac_valid: float = 0.1,
    lenient: bool = False,
) -> Dict[str, torch.Tensor]:
    """Deterministic scaffold split of pretrain-gnns (Hu et al., 2020), which OGB used for its
    molecule datasets: molecules are grouped by Murcko scaffold, groups are sorted by
    (size, first index) descending and assigned whole to train until it would exceed
    ``frac_train``, then to valid, then to test.

    Returns:
        ``{"train", "valid", "test"}`` index tensors into ``smiles``.
    """
    groups: Dict[str, List[int]] = {}
    for i, s in enumerate(smiles):
        groups.setdefault(murcko_scaffold(s, lenient=lenient), []).append(i)
    return assign_scaffold_groups(groups.values(), len(smiles), frac_train, frac_valid)


def assign_scaffold_groups(
    groups: Iterable[List[int]], n: int, frac_train: float = 0.8, frac_valid: float = 0.1
) -> Dict[str, torch.Tensor]:
    """The assignment step of :func:`scaffold_split`, given the scaffold groups."""
    train_cutoff, valid_cutoff = frac_train * n, (frac_train + frac_valid) * n
    train: List[int] = []
    valid: List[int] = []
    test: List[int] = []
    for group in sorted(groups, key=lambda g: (len(g), g[0]), reverse=True):
        if len(train) + len(group) <= train_cutoff:
            train += group
        elif len(train) + len(valid) + len(group) <= valid_cutoff:
            valid += group
        else:
            test += group
    return {k: torch.tensor(sorted(v), dtype=torch.long)
            for k, v in (("train", train), ("valid", valid), ("test", test))}


def random_split(n: int, seed: int, frac_train: float = 0.8,
                 frac_valid: float = 0.1) -> Dict[str, Tensor]:
    """A seeded random permutation of ``range(n)`` cut at ``frac_train`` and
    ``frac_train + frac_valid`` (sizes rounded down; the rest is test)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_train, n_valid = int(frac_train * n), int(frac_valid * n)
    return {"train": perm[:n_train].sort().values,
            "valid": perm[n_train:n_train + n_valid].sort().values,
            "test": perm[n_train + n_valid:].sort().values}


def tu_folds(y: Tensor, num_folds: int = 10, seed: int = 42) -> List[Dict[str, Tensor]]:
    """The paper's protocol: stratified ``num_folds``-fold CV, the training folds split 8:1
    (stratified) into train / validation."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    labels = y.numpy()
    folds = []
    outer = StratifiedKFold(num_folds, shuffle=True, random_state=seed)
    for rest, test in outer.split(np.zeros(len(labels)), labels):
        train, valid = train_test_split(rest, test_size=1 / 9, stratify=labels[rest],
                                        random_state=seed)
        folds.append({k: torch.from_numpy(np.sort(v)) for k, v in
                      (("train", train), ("valid", valid), ("test", test))})
    return folds


# Accepted cells of a split column (case-insensitive), as chemprop and deepchem spell them.
SPLIT_NAMES = {"train": "train", "val": "valid", "valid": "valid", "validation": "valid",
               "test": "test"}


def named_split(labels: Sequence[str], rows: Sequence[int]) -> Dict[str, Tensor]:
    """The split a column names per molecule: ``labels[i]`` is ``train``, ``val`` / ``valid`` /
    ``validation`` or ``test`` for the molecule of file row ``rows[i]`` (used in errors)."""
    parts: Dict[str, List[int]] = {"train": [], "valid": [], "test": []}
    for i, (label, row) in enumerate(zip(labels, rows)):
        key = SPLIT_NAMES.get(label.strip().lower())
        if key is None:
            raise ValueError(f"row {row}: split {label!r}; expected train, val or test")
        parts[key].append(i)
    return {k: torch.tensor(v, dtype=torch.long) for k, v in parts.items()}
