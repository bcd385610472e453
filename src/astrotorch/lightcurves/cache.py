"""Per-curve results cached in memory, keyed by the light curve's content.

Period searches and feature fits cost 10–300 ms per curve; models call them at ``fit`` and again at
``predict``/``evaluate`` on the same curves. The cache key is a BLAKE2 digest of what the result
depends on — times, values, errors, the *names* of the bands (so re-indexing a set's band list does
not miss), the kind (flux/mag), the zero point — plus the computation's options, so a curve that
changes (or the same curve under other options) is recomputed and an unchanged one never is.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from astrotorch.lightcurves.container import LightCurve

#: entries kept per cache (least recently used dropped first); a few KB each
DEFAULT_MAX_ENTRIES = 50_000
#: a progress bar is shown only when at least this many curves need computing
PROGRESS_MIN_CURVES = 100


def content_key(lc: LightCurve) -> bytes:
    """Digest of everything a per-curve computation can depend on (not ``meta``, ``label`` or id)."""
    h = hashlib.blake2b(digest_size=20)
    used = np.unique(lc.band)
    names = [lc.bands[int(i)] for i in used]
    for arr in (lc.time, lc.value, lc.error):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        h.update(b"|")
    h.update(np.searchsorted(used, lc.band).astype(np.int64).tobytes())
    h.update(("|".join(names) + f"|{lc.kind}|{lc.zero_point!r}").encode())
    return h.digest()


class CurveCache:
    """A bounded least-recently-used map ``(content key, options) → result``."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = int(max_entries)
        self._data: OrderedDict[tuple[bytes, Hashable], Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
        self.hits = self.misses = 0

    def get(self, key: tuple[bytes, Hashable]) -> Any:
        try:
            value = self._data[key]
        except KeyError:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: tuple[bytes, Hashable], value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def map(self, curves: Sequence[LightCurve], fn: Callable[[LightCurve], Any], options: Hashable,
            use_cache: bool = True, progress: bool = True, desc: str = "light curves") -> list[Any]:
        """``[fn(lc) for lc in curves]``, reusing cached results; ``options`` must identify ``fn``'s
        settings. A tqdm bar runs over the curves still to compute when there are many of them."""
        keys = [(content_key(lc), options) for lc in curves] if use_cache else [None] * len(curves)
        out: list[Any] = [self.get(k) if k is not None else None for k in keys]
        todo = [i for i, v in enumerate(out) if v is None]
        if not todo:
            return out
        from tqdm.auto import tqdm

        bar = tqdm(todo, desc=desc, unit="curve", mininterval=1.0, leave=False,
                   disable=not progress or len(todo) < PROGRESS_MIN_CURVES)
        for i in bar:
            if keys[i] is not None:  # a duplicate earlier in this call may have filled it
                out[i] = self._data.get(keys[i])
            if out[i] is None:
                out[i] = fn(curves[i])
                if keys[i] is not None:
                    self.put(keys[i], out[i])
        return out


#: the library-wide cache the light-curve models and feature functions use
CACHE = CurveCache()


def clear_cache() -> None:
    """Empty the in-memory per-curve cache (periods, features)."""
    CACHE.clear()


__all__ = ["content_key", "CurveCache", "CACHE", "clear_cache", "PROGRESS_MIN_CURVES"]
