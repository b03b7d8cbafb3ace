"""A dataset's structure pre-transform, computed once and cached next to its processed data."""
from __future__ import annotations

import hashlib
import os.path as osp
from typing import Callable, List, Optional, Sequence

from torch_geometric.data import Data, Dataset, InMemoryDataset
from torch_geometric.transforms import Compose

from ..utils.io import atomic_path

# Graphs read from the base dataset and transformed per step of the progress bar.
CHUNK_GRAPHS = 2048


def transform_key(pre_transform: Callable) -> str:
    """Short stable hash of a transform's configuration (its ``repr``), used to name its cache, so
    that changing the transform never silently reuses structures computed by another one."""
    return hashlib.sha1(repr(pre_transform).encode()).hexdigest()[:10]


def apply_pre_transform(transform: Callable, data_list: Sequence[Data]) -> List[Data]:
    """``[transform(data) for data in data_list]``, except that every step with a
    ``forward_batch`` method (:class:`~plstm_geometric.transforms.AddLineDAG`), also inside a
    ``Compose``, transforms the whole list at once, which gives the same graphs much faster."""
    if isinstance(transform, Compose):
        for step in transform.transforms:
            data_list = apply_pre_transform(step, data_list)
        return list(data_list)
    batched = getattr(transform, "forward_batch", None)
    return batched(data_list) if batched is not None else [transform(d) for d in data_list]


class PreTransformedDataset(InMemoryDataset):
    r"""``pre_transform`` applied once to every graph of ``base`` and stored in
    ``<processed_root>/processed_<key>/`` where ``key`` hashes the transform's ``repr``.

    Args:
        base (Dataset): The dataset to transform (indexable, yields :class:`Data`).
        processed_root (str): Folder under which the cache directory is created (the base
            dataset's root, so the cache lives next to its processed data).
        pre_transform (callable): The transform, e.g. ``Compose([CanonicalSmilesOrder(),
            AddLineDAG()])``.
        extra (dict, optional): Per-graph attributes to attach before transforming, as
            ``{name: sequence of length len(base)}`` (OGB graphs carry no SMILES; their
            ``mapping/mol.csv.gz`` does). (default: :obj:`None`)
        transform (callable, optional): Applied on access. (default: :obj:`None`)
        log (bool, optional): Print progress while processing. (default: :obj:`True`)
    """

    def __init__(
        self,
        base: Dataset,
        processed_root: str,
        pre_transform: Callable,
        extra: Optional[dict] = None,
        transform: Optional[Callable] = None,
        log: bool = True,
    ):
        self.base = base
        self.extra = extra or {}
        for name, values in self.extra.items():
            if len(values) != len(base):
                raise ValueError(f"extra[{name!r}] has {len(values)} entries for {len(base)} graphs")
        self.key = transform_key(pre_transform)
        self._processed_root = processed_root
        super().__init__(processed_root, transform, pre_transform, log=log)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_dir(self) -> str:
        return osp.join(self._processed_root, f"processed_{self.key}")

    @property
    def processed_file_names(self) -> List[str]:
        return ["data.pt"]

    def download(self) -> None:  # the base dataset owns the raw files
        pass

    def process(self) -> None:
        import torch
        from tqdm import tqdm

        # Structures are built from many small tensor ops (even a chunk of molecules has only
        # ~30k edges); an intra-op thread pool only adds synchronisation, and on a busy CPU it
        # spin-waits against other processes (measured on the per-graph path: 1.4 vs 25-45
        # graphs/s on a loaded 2-core machine).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            data_list: List[Data] = []
            with tqdm(total=len(self.base), desc="structure", disable=not self.log) as progress:
                for start in range(0, len(self.base), CHUNK_GRAPHS):
                    chunk = [self._graph(i) for i in
                             range(start, min(start + CHUNK_GRAPHS, len(self.base)))]
                    data_list += apply_pre_transform(self.pre_transform, chunk)
                    progress.update(len(chunk))
        finally:
            torch.set_num_threads(threads)
        # Written beside the cache and renamed into place: a process killed mid-write leaves no
        # truncated data.pt, and two runs that build the same cache at once (two seeds started
        # side by side on a fresh machine) never load the half-written file of the other.
        with atomic_path(self.processed_paths[0]) as tmp:
            self.save(data_list, tmp)

    def _graph(self, i: int) -> Data:
        data = self.base[i]
        for name, values in self.extra.items():
            data[name] = values[i]
        return data


def maybe_pretransform(
    base: Dataset,
    processed_root: str,
    pre_transform: Optional[Callable],
    extra: Optional[dict] = None,
    log: bool = True,
) -> Dataset:
    """``base`` itself when there is nothing to precompute, else its cached transformed copy."""
    if pre_transform is None:
        return base
    return PreTransformedDataset(base, processed_root, pre_transform, extra=extra, log=log)

