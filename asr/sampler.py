"""Batches bucketed by total audio, SortaGrad, and sharding across data-parallel ranks."""

import math

import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler):
    """Yields batches of (index, epoch) whose padded audio (longest item × batch size) stays under
    `max_batch_seconds`, so short utterances travel in large batches and long ones in small.

    - Deterministic for a given (seed, epoch): durations are jittered by a seeded ±10% before
      sorting, so batch composition changes between epochs; batch order is then shuffled.
    - SortaGrad (Amodei et al. 2016): with `sortagrad`, epoch 0 goes shortest batch first, by
      the unjittered durations.
    - num_replicas/rank: each data-parallel rank takes every num_replicas-th batch, all ranks
      the same count (as DistributedSampler, but over whole batches).
    - added_seconds(index, epoch), when given, is what augmentation adds to an utterance in an epoch
      (silence around it): batches are grouped and budgeted by the lengths they will really have, so
      one padded utterance does not stretch a whole batch of short ones.
    The epoch travels with every index so the dataset can seed per-utterance augmentation.
    """

    def __init__(self, durations: list[float], max_batch_seconds: float, seed: int = 0, shuffle: bool = True,
                 sortagrad: bool = True, num_replicas: int = 1, rank: int = 0, max_batch_size: int = 512,
                 added_seconds=None):
        if max_batch_seconds <= 0:
            raise ValueError(f"max_batch_seconds must be positive, got {max_batch_seconds}")
        self.durations = torch.tensor(durations, dtype=torch.float64)
        self.added_seconds = added_seconds
        self.max_batch_seconds, self.max_batch_size = max_batch_seconds, max_batch_size
        self.seed, self.shuffle, self.sortagrad = seed, shuffle, sortagrad
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch, self.start_batch = 0, 0
        self._cached = (None, [])  # (epoch, its batches): len() is asked for every batch when accumulating

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch; `start_batch` skips that many of its batches (resuming mid-epoch)."""
        self.epoch, self.start_batch = epoch, start_batch

    def _all_batches(self) -> list[list[int]]:
        if self._cached[0] != self.epoch:
            self._cached = (self.epoch, self._epoch_batches())
        return self._cached[1]

    def _epoch_batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        sorted_epoch = self.sortagrad and self.epoch == 0
        durations = self.durations
        if self.added_seconds is not None:
            durations = durations + torch.tensor([self.added_seconds(i, self.epoch) for i in range(len(durations))],
                                                 dtype=torch.float64)
        keys = durations
        if self.shuffle and not sorted_epoch:
            keys = keys * (1 + 0.2 * (torch.rand(len(keys), generator=generator, dtype=torch.float64) - 0.5))
        batches = self._group(torch.argsort(keys, stable=True).tolist(), durations.tolist())
        if self.shuffle and not sorted_epoch:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def _group(self, order: list[int], seconds: list[float]) -> list[list[int]]:
        """Consecutive runs of `order` whose padded `seconds` fit the budget (a list: _group reads
        them one by one, and tensor indexing is ~20x slower)."""
        batches, current, longest = [], [], 0.0
        for index in order:
            duration = seconds[index]
            grown = max(longest, duration) * (len(current) + 1)
            if current and (grown > self.max_batch_seconds or len(current) >= self.max_batch_size):
                batches.append(current)
                current, longest = [], 0.0
            current.append(index)
            longest = max(longest, duration)
        if current:
            batches.append(current)
        return batches

    def heaviest_batches(self) -> list[list[int]]:
        """The batches that need the most memory: the one holding the longest utterances (no epoch
        has a longer padded time axis, nor more items beside it) and the one with the most padded
        audio (every epoch's batches stay under the same budget, so this is within a few percent
        of any epoch's largest)."""
        batches = self._group(torch.argsort(self.durations, stable=True).tolist(), self.durations.tolist())
        padded = [float(self.durations[b].max()) * len(b) for b in batches]
        most_padded = batches[max(range(len(batches)), key=padded.__getitem__)]
        return [batches[-1]] if most_padded == batches[-1] else [batches[-1], most_padded]

    def __iter__(self):
        batches = self._all_batches()
        per_rank = math.floor(len(batches) / self.num_replicas) if self.num_replicas > 1 else len(batches)
        for batch in batches[self.rank::self.num_replicas][:per_rank][self.start_batch:]:
            yield [(index, self.epoch) for index in batch]

    def __len__(self) -> int:
        """Batches in a whole epoch for this rank (start_batch not subtracted)."""
        batches = len(self._all_batches())
        return batches // self.num_replicas if self.num_replicas > 1 else batches
