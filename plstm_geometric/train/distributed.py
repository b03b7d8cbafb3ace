"""Multi-process training with ``torchrun``: process group, global-batch sampler, gathering."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, List

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler


@dataclass
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` (1 without ``torchrun``)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_type: str) -> DistInfo:
    """Joins the process group that ``torchrun`` describes in the environment (gloo on CPU,
    NCCL on GPU); a plain ``python`` launch gives a single-process :class:`DistInfo`."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return info


class GlobalBatchSampler(DistributedSampler):
    """A :class:`DistributedSampler` whose ranks split every *global* batch; iterate it as a
    ``batch_sampler``.

    Each epoch shuffles the indices with ``seed + epoch``, cuts them into global batches of
    ``batch_size`` and gives rank ``r`` the ``r``-th of ``W`` near-equal contiguous slices of each. So ``W`` processes
    see exactly the batches one process with ``batch_size`` sees, which, with the loss weighting
    of the training loop, makes multi-process training reproduce single-process training. A last
    global batch of one graph joins the batch before it; a last global batch smaller than ``W``
    that remains would leave a rank without data, so it is dropped.

    Args:
        num_samples_total (int): Dataset size.
        batch_size (int): Global batch size.
        info (DistInfo): This process's rank and world size.
        seed (int): Shuffling seed.
        shuffle (bool, optional): Shuffle each epoch. (default: :obj:`True`)
    """

    def __init__(self, num_samples_total: int, batch_size: int, info: DistInfo, seed: int,
                 shuffle: bool = True):
        super().__init__(range(num_samples_total), num_replicas=info.world_size, rank=info.rank,
                         shuffle=shuffle, seed=seed)
        self.total, self.batch_size = num_samples_total, batch_size

    def _sizes(self) -> List[int]:
        """Sizes of the global batches of an epoch (the same in every epoch)."""
        full, rest = divmod(self.total, self.batch_size)
        sizes = [self.batch_size] * full + ([rest] if rest else [])
        # A one-graph last batch joins the batch before it: a one-graph step is a full-lr step
        # on one sample, and a batch norm over graphs (PLSTMNet(head_norm="batch")) cannot train
        # on one graph. The rule ignores the world size, so W processes keep seeing the batches
        # of one process.
        if len(sizes) > 1 and sizes[-1] < min(2, self.batch_size):
            sizes[-2:] = [sizes[-2] + sizes[-1]]
        # A batch smaller than W would leave a rank without data: it and any after it are dropped.
        return sizes[:next((k for k, n in enumerate(sizes) if n < self.num_replicas), len(sizes))]

    def _batches(self) -> List[List[int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.total, generator=g).tolist()
        else:
            order = list(range(self.total))
        out, start, r, w = [], 0, self.rank, self.num_replicas
        for n in self._sizes():
            batch = order[start:start + n]
            out.append(batch[r * n // w:(r + 1) * n // w])
            start += n
        return out

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        # Counted, not shuffled: the loop and the progress bar ask every epoch.
        return len(self._sizes())


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum over processes (identity for a single process)."""
    if info.enabled:
        # NCCL reduces CUDA tensors only; callers keep their counters on the CPU.
        device = values.device
        values = values.to("cuda" if dist.get_backend() == "nccl" else device, copy=True)
        dist.all_reduce(values)
        values = values.to(device)
    return values


def gather_objects(obj, info: DistInfo) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
