"""Exact resume after a crash: a DataLoader whose position Lightning checkpoints, and a callback that
checkpoints the RNG states, so a killed-and-resumed run trains on the same batches with the same
dropout masks as an uninterrupted one (tests/test_crash_recovery.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from astrotorch.datasets.samplers import EpochShuffleSampler


class ResumableDataLoader(torch.utils.data.DataLoader):
    """A shuffling DataLoader whose position Lightning saves in checkpoints and restores on resume.

    Lightning (2.x) treats a loader with ``state_dict``/``load_state_dict`` as resumable: it stores the
    state in every checkpoint and, when a run restarts mid-epoch, loads it and expects the loader to
    continue after the batches already trained on. Together with :class:`EpochShuffleSampler` this
    makes a killed-and-resumed run see exactly the batches of an uninterrupted one. The loader owns a
    seeded ``generator`` so creating an iterator never draws from the global torch RNG (which would
    shift dropout masks between an interrupted and an uninterrupted run).

    Args: ``dataset``, ``batch_size``, ``seed``, and any other ``DataLoader`` keyword.
    ``chunk_rows``: shuffle in chunk windows (HDF5 streaming). ``sampler``: only for Lightning, which
    re-creates the loader with a distributed sampler under DDP (``seed``/``chunk_rows`` are kept as
    attributes so it can); a resumed iterator then skips the done batches by reading past them,
    while with the default :class:`EpochShuffleSampler` it skips their indices without reading.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, chunk_rows: int | None = None,
                 sampler: Sampler[int] | None = None, **kwargs: Any) -> None:
        kwargs.pop("shuffle", None)
        kwargs.pop("generator", None)
        self.seed, self.chunk_rows = int(seed), chunk_rows
        if sampler is None:
            sampler = EpochShuffleSampler(len(dataset), seed=seed, chunk_rows=chunk_rows)  # type: ignore[arg-type]
        super().__init__(dataset, batch_size=batch_size, sampler=sampler,
                         generator=torch.Generator().manual_seed(int(seed)), **kwargs)
        self._batches_done = 0
        self._skip_batches = 0  # for samplers without an index skip (DDP's distributed sampler)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        # the count restarts with each epoch's iterator; a resumed iterator starts at the skipped count
        if isinstance(self.sampler, EpochShuffleSampler):
            start, read_past = self.sampler.skip // int(self.batch_size), 0
        else:
            start = read_past = self._skip_batches
        self._skip_batches = 0
        self._batches_done = start
        for i, batch in enumerate(super().__iter__()):
            if i < read_past:
                continue
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Plain ints only: safe under ``torch.load(weights_only=True)``."""
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches_done": int(self._batches_done)}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(int(state["epoch"]))
        if isinstance(self.sampler, EpochShuffleSampler):
            self.sampler.skip = int(state["batches_done"]) * int(self.batch_size)  # type: ignore[arg-type]
        else:
            self._skip_batches = int(state["batches_done"])


def rng_state_callback() -> Any:
    """A Lightning callback that stores the torch/NumPy/Python RNG states in each checkpoint.

    Lightning does not checkpoint RNG states, so without it dropout masks after a resume differ from an
    uninterrupted run. The states are stored as tensors and plain Python values, so checkpoints stay
    loadable with ``torch.load(weights_only=True)``.
    """
    import random

    import lightning as L

    class RNGState(L.Callback):
        def state_dict(self) -> dict[str, Any]:
            np_state = np.random.get_state()
            py_state = random.getstate()
            state: dict[str, Any] = {
                "torch": torch.get_rng_state(),
                "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                "numpy_pos": int(np_state[2]),
                "numpy_has_gauss": int(np_state[3]),
                "numpy_gauss": float(np_state[4]),
                "python": [int(v) for v in py_state[1]],
                "python_version": int(py_state[0]),
                "python_gauss": py_state[2],
            }
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                state["cuda"] = torch.cuda.get_rng_state_all()
            return state

        def load_state_dict(self, state: dict[str, Any]) -> None:
            torch.set_rng_state(state["torch"])
            keys = state["numpy_keys"].numpy().astype(np.uint32)
            np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
            random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
            if "cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda"])

    return RNGState()


__all__ = ["ResumableDataLoader", "rng_state_callback"]
