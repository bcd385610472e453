"""Batching variable-length light curves: dataset, padding collate with masks, length buckets.

A batch is padded only to the longest light curve *in that batch* (not in the dataset), and the
:class:`LengthBucketBatchSampler` groups curves of similar length into the same batch, so little
compute is spent on padding. ``mask`` is ``True`` on real observations (the contract's convention:
True = valid); networks invert it for ``src_key_padding_mask``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from astrotorch.errors import InputValidationError


class LightCurveDataset(Dataset):
    """Encoded light curves (dicts from :func:`~astrotorch.lightcurves.normalisation.encode`) with
    optional targets, per-target errors and sample weights; items are ``{"x": {...}, "y", ...}``."""

    def __init__(self, encoded: Sequence[dict[str, np.ndarray]], y: np.ndarray | None = None,
                 y_err: np.ndarray | None = None, sample_weight: np.ndarray | None = None,
                 y_dtype: torch.dtype = torch.float32) -> None:
        self.encoded = list(encoded)
        n = len(self.encoded)
        for name, arr in (("y", y), ("y_err", y_err), ("sample_weight", sample_weight)):
            if arr is not None and len(arr) != n:
                raise InputValidationError(f"{name} has {len(arr)} rows for {n} light curves")
        self.y = None if y is None else torch.as_tensor(np.asarray(y), dtype=y_dtype)
        self.y_err = None if y_err is None else torch.as_tensor(np.asarray(y_err, dtype=np.float32))
        self.weight = None if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float32))
        self.lengths = np.array([e["time"].shape[0] for e in self.encoded], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"x": self.encoded[i]}
        if self.y is not None:
            item["y"] = self.y[i]
        if self.y_err is not None:
            item["y_err"] = self.y_err[i]
        if self.weight is not None:
            item["weight"] = self.weight[i]
        return item


def pad_encoded(xs: Sequence[dict[str, np.ndarray]], pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Stack encoded light curves, padding to the longest one (or to ``pad_to``).

    Returns ``time`` (B, L) float32 days, ``band`` (B, L) int64, ``obs`` (B, L, F) float32, ``mask``
    (B, L) bool (True = real observation), ``length`` (B,) int64, ``static`` (B, S) float32.
    """
    lengths = np.array([x["time"].shape[0] for x in xs], dtype=np.int64)
    L = int(lengths.max()) if pad_to is None else int(pad_to)
    if L < lengths.max():
        raise InputValidationError(f"pad_to={pad_to} is shorter than the longest light curve ({lengths.max()})")
    B = len(xs)
    F = xs[0]["obs"].shape[1]
    time = np.zeros((B, L), np.float32)
    band = np.zeros((B, L), np.int64)
    obs = np.zeros((B, L, F), np.float32)
    mask = np.zeros((B, L), bool)
    for i, x in enumerate(xs):
        n = lengths[i]
        time[i, :n] = x["time"]
        band[i, :n] = x["band"]
        obs[i, :n] = x["obs"]
        mask[i, :n] = True
    return {
        "time": torch.from_numpy(time), "band": torch.from_numpy(band), "obs": torch.from_numpy(obs),
        "mask": torch.from_numpy(mask), "length": torch.from_numpy(lengths),
        "static": torch.from_numpy(np.stack([x["static"] for x in xs]).astype(np.float32)),
    }


def make_collate(pad_to: int | None = None) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """Collate function for :class:`LightCurveDataset` items (pad per batch unless ``pad_to``)."""

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {"x": pad_encoded([it["x"] for it in items], pad_to)}
        for key in ("y", "y_err", "weight"):
            if key in items[0]:
                batch[key] = torch.stack([it[key] for it in items])
        return batch

    return collate


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose light curves have similar lengths.

    Each epoch the indices are shuffled, cut into buckets of ``bucket_batches × batch_size`` curves,
    each bucket is sorted by length and cut into batches, and the batch order is shuffled — so
    batches stay random across epochs but padding stays small. ``shuffle=False`` gives batches in
    length order (inference).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 bucket_batches: int = 50, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise InputValidationError(f"batch_size must be ≥ 1, got {batch_size}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.bucket = int(bucket_batches) * self.batch_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        n = self.lengths.size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i:i + self.batch_size].tolist() for i in range(0, n, self.batch_size)
                    if not (self.drop_last and i + self.batch_size > n)]
        rng = np.random.default_rng(self.seed + self.epoch)
        perm = rng.permutation(n)
        batches: list[list[int]] = []
        for s in range(0, n, self.bucket):
            chunk = perm[s:s + self.bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            for i in range(0, chunk.size, self.batch_size):
                b = chunk[i:i + self.batch_size]
                if self.drop_last and b.size < self.batch_size:
                    continue
                batches.append(b.tolist())
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1  # new shuffle next epoch even if the loop never calls set_epoch
        return iter(batches)

    def __len__(self) -> int:
        n = self.lengths.size
        if not self.shuffle:
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        full = 0
        for s in range(0, n, self.bucket):
            m = min(self.bucket, n - s)
            full += m // self.batch_size if self.drop_last else -(-m // self.batch_size)
        return full
