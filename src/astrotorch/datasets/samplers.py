"""Samplers for out-of-core and resumable training: :class:`ChunkShuffleSampler` (shuffle chunks, then
rows within a window of chunks, so a compressed HDF5 chunk is decompressed about once per epoch) and
:class:`EpochShuffleSampler` (an order that depends only on ``(seed, epoch)``, so a resumed run sees
the same order as an uninterrupted one)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from astrotorch.errors import InputValidationError


class ChunkShuffleSampler(Sampler[int]):
    """Shuffle chunks, then rows within a window of ``window_chunks`` chunks (out-of-core shuffling).

    Every epoch visits each index once. With ``window_chunks`` chunks of ``chunk_rows`` rows decoded at
    a time, each compressed chunk is decompressed about once per epoch (given a chunk cache that
    holds a window), instead of once per row as with a fully random order. Set ``set_epoch`` (as
    ``DistributedSampler`` does) to reshuffle differently every epoch.
    """

    def __init__(self, n: int, chunk_rows: int, window_chunks: int = 8, seed: int = 0) -> None:
        if n < 0 or chunk_rows < 1 or window_chunks < 1:
            raise InputValidationError("ChunkShuffleSampler needs n >= 0, chunk_rows >= 1 and window_chunks >= 1")
        self.n, self.chunk_rows, self.window_chunks, self.seed = int(n), int(chunk_rows), int(window_chunks), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        n_chunks = -(-self.n // self.chunk_rows)
        order = rng.permutation(n_chunks)
        for w in range(0, n_chunks, self.window_chunks):
            chunks = order[w : w + self.window_chunks]
            idx = np.concatenate([np.arange(c * self.chunk_rows, min((c + 1) * self.chunk_rows, self.n)) for c in chunks])
            yield from rng.permutation(idx).tolist()


class EpochShuffleSampler(Sampler[int]):
    """A random permutation that depends only on ``(seed, epoch)``, with an optional skip for resuming.

    ``torch``'s ``RandomSampler`` draws each epoch's order from a generator whose state is not in
    Lightning checkpoints, so a resumed run sees different orders than an uninterrupted one. Here the
    order of epoch ``e`` is ``permutation(seed, e)``: Lightning calls :meth:`set_epoch` at every epoch
    start (also after a resume), so the orders match. ``skip`` (set by
    :meth:`ResumableDataLoader.load_state_dict`) drops the indices of batches already trained on,
    for the next iteration only.
    """

    def __init__(self, n: int, seed: int = 0, chunk_rows: int | None = None, window_chunks: int = 8) -> None:
        self.n, self.seed = int(n), int(seed)
        self.chunk_rows, self.window_chunks = chunk_rows, window_chunks
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def order(self) -> np.ndarray:
        """This epoch's full order (chunk-windowed when ``chunk_rows`` is set, for HDF5 streaming)."""
        if self.chunk_rows:
            inner = ChunkShuffleSampler(self.n, self.chunk_rows, self.window_chunks, self.seed)
            inner.set_epoch(self.epoch)
            return np.fromiter(iter(inner), dtype=np.int64, count=self.n)
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.n)

    def __iter__(self) -> Iterator[int]:
        skip, self.skip = self.skip, 0
        yield from self.order()[skip:].tolist()


__all__ = ["ChunkShuffleSampler", "EpochShuffleSampler"]
