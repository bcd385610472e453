"""CPU kernels for the memory-bound pieces of the astroNN networks: eager PyTorch, no compilation.

Dropout masks are the main one. PyTorch's CPU ``bernoulli_`` draws one Mersenne-Twister number per
element (~9 ns each); here one 64-bit word of numpy's SFC64 generator gives eight random bytes, one
per element (the GIL released, split over the intra-op threads), a single comparison writes the 0/1
mask in the tensor's dtype, and a sparse set of extra drops makes up the rest of the probability
(:func:`_byte_plan`; ~0.35 ns per element on 2 threads, against ~0.45 ns with the 16-bit uniforms
used before and still used for rates above ~3/4). The drop probability is ``rate`` rounded to
1/65536 and :func:`keep_scale` is exactly the inverse keep probability, so the expected output
equals the input.
Each call draws the SFC64 seed from torch's default generator, so ``torch.manual_seed`` fixes the
masks. Callers that can fold the survivor scale into the next linear operation (``addmm``'s
``alpha``, a convolution's weights) use :func:`keep_mask` and skip a pass over the data; others use
:func:`dropout`. Devices other than the CPU use torch's own generator.

Compiled kernels (``torch.compile`` of a small tensor function, :func:`run`) are opt-in with
``ASTROTORCH_COMPILE_KERNELS=1``: in a fresh process compiling them cost 10-20 s, and even with a
warm inductor cache dynamo's start-up cost ~2.7 CPU-s, against ~1.2 CPU-s for a whole 128-spectrum x
100-sample ApogeeBCNN prediction with these eager kernels (docs/results/vs_astronn.md, "Session 4").
Where compilation is requested but fails (e.g. no C++ compiler), :func:`run` returns ``None`` and
callers use their eager code; a failure is reported once per process. A kernel that reaches dynamo's
recompile limit falls back alone; the others stay compiled.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

#: resolution of the drop probability: masks compare 16-bit uniforms with ``round(rate * 2**16)``
MASK_LEVELS = 1 << 16
#: below this many elements a mask is drawn by one thread (thread hand-off costs more than it saves)
PARALLEL_MIN_ELEMENTS = 1 << 20
#: below this many elements the random words come from torch's own generator (cheaper to start than
#: a numpy generator; ~4x dearer per word)
SMALL_ELEMENTS = 1 << 15


# ----------------------------------------------------------------------------------- dropout masks
def drop_threshold(rate: float) -> int:
    """Dropped elements are those whose 16-bit uniform is below this (``round(rate · 65536)``)."""
    return int(round(float(rate) * MASK_LEVELS))


def keep_scale(rate: float, device: torch.device | str = "cpu") -> float:
    """Survivor scale of :func:`keep_mask`'s masks: the inverse of the exact keep probability
    (``65536 / (65536 − threshold)`` on CPU, ``1 / (1 − rate)`` elsewhere)."""
    if torch.device(device).type != "cpu":
        return 1.0 / (1.0 - float(rate))
    return MASK_LEVELS / (MASK_LEVELS - drop_threshold(rate))


_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    """Worker threads for the random words (recreated after a fork: a forked pool has no threads)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="astrotorch-rng")
            _pool_pid = os.getpid()
        return _pool


def _words(seed: int, part: int, n_words: int) -> np.ndarray:
    """``n_words`` uint64 random words of stream ``part`` of ``seed`` (numpy releases the GIL here)."""
    return np.random.SFC64((seed, part)).random_raw(n_words)


def _byte_plan(threshold: int) -> tuple[int, float] | None:
    """``(k, q)`` for drawing a mask of drop threshold ``threshold`` (of 65536) from one random byte per
    element, or ``None`` where the 16-bit draw is cheaper.

    An element is dropped where its byte is below ``k = threshold // 256`` or, independently, with
    probability ``q`` (sparse extra drops at geometric gaps): ``1 − (1 − k/256)(1 − q)`` is exactly
    ``threshold / 65536``. Half the random words of the 16-bit draw; the extra drops are a fraction
    ``q < 1/(256 − k)`` of the elements, so the byte draw is used while ``q ≤ 1/64`` (rates below 3/4).
    """
    k = threshold // 256
    if k >= 255:
        return None
    q = (threshold / MASK_LEVELS - k / 256.0) / (1.0 - k / 256.0)
    return (k, q) if q <= 1.0 / 64.0 else None


#: no extra drops (the 16-bit draw; a zero rate)
_NO_DROPS = np.empty(0, np.int64)


def _extra_drops(seed: int, part: int, n: int, q: float) -> np.ndarray:
    """Positions in ``[0, n)`` each drawn independently with probability ``q`` (Bernoulli trials located
    by their geometric gaps; a separate stream of ``seed``)."""
    if q <= 0.0 or n == 0:
        return _NO_DROPS
    gen = np.random.Generator(np.random.SFC64((seed, part, 1)))
    found, last = [], -1
    while last < n - 1:
        m = n * q
        pos = last + np.cumsum(gen.geometric(q, size=int(m + 6.0 * m ** 0.5 + 16)))
        found.append(pos[pos < n])
        last = int(pos[-1])
    return np.concatenate(found)


def _draw(seed: int, part: int, n: int, threshold: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Stream ``part``'s random numbers for a mask of ``n`` elements (drop threshold ``threshold`` of
    65536) as ``(u, cut, extra)``: an element is kept where ``u ≥ cut`` and its position is not in
    ``extra``. ``u`` is one random byte per element with sparse extra drops (:func:`_byte_plan`), or one
    16-bit uniform read as signed (``cut = threshold − 32768``, no extra drops)."""
    plan = _byte_plan(threshold)
    if plan is None:
        return _words(seed, part, (n + 3) // 4).view(np.int16)[:n], threshold - MASK_LEVELS // 2, _NO_DROPS
    k, q = plan
    return _words(seed, part, (n + 7) // 8).view(np.uint8)[:n], k, _extra_drops(seed, part, n, q)


def _fill(seed: int, part: int, n: int, threshold: int,
          out: np.ndarray | None) -> tuple[np.ndarray, int, np.ndarray] | None:
    """Stream ``part``'s mask of ``n`` elements written into ``out`` (a float32/float64 view) as 0/1, in
    the generating thread; where ``out`` is None (dtypes numpy lacks), :func:`_draw`'s numbers."""
    u, cut, extra = _draw(seed, part, n, threshold)
    if out is None:
        return u, cut, extra
    np.greater_equal(u, cut, out=out, casting="unsafe")
    out[extra] = 0
    return None


def keep_mask(shape: tuple[int, ...] | torch.Size, rate: float, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """A fresh ``shape`` tensor of 1 (keep, probability ``1 − rate``) and 0 (drop), in ``dtype``.

    Multiply by :func:`keep_scale` (here or in the next linear operation) for inverted dropout.
    """
    device = torch.device(device)
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device).bernoulli_(1.0 - float(rate))
    if torch.compiler.is_compiling():
        # inside torch.compile (e.g. compile=True training): torch's generator, which inductor fuses;
        # the same 16-bit resolution, so keep_scale still applies
        return (torch.randint(0, MASK_LEVELS, tuple(shape), dtype=torch.int32) >= drop_threshold(rate)).to(dtype)
    out = torch.empty(shape, dtype=dtype)
    n = out.numel()
    if n == 0:
        return out
    threshold = drop_threshold(rate)
    flat = out.view(-1)
    if n < SMALL_ELEMENTS:
        # one 16-bit uniform per element, read as signed (from int64's minimum: all 64 bits random;
        # plain random_() leaves the sign bit 0)
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None).view(torch.int16)
        return torch.ge(words[:n].view(out.shape), threshold - MASK_LEVELS // 2, out=out)
    seed = int(torch.randint(0, 2**62, (1,)).item())  # torch's generator: manual_seed fixes the masks
    parts = max(1, min(torch.get_num_threads(), n // PARALLEL_MIN_ELEMENTS))
    # part boundaries on multiples of 8 elements (whole random words for either draw)
    bounds = [min(n, 8 * (-(-n * i // parts) // 8)) for i in range(parts + 1)]
    # float masks are written by numpy in the generating thread (in parallel over the parts); other
    # dtypes compare in torch afterwards, once the generator threads are done
    views = [flat[lo:hi].numpy() if dtype in (torch.float32, torch.float64) else None
             for lo, hi in zip(bounds[:-1], bounds[1:])]
    futures = [_executor(parts - 1).submit(_fill, seed, i, bounds[i + 1] - bounds[i], threshold, views[i])
               for i in range(1, parts)]
    drawn = [_fill(seed, 0, bounds[1], threshold, views[0])] + [f.result() for f in futures]
    for lo, hi, d in zip(bounds[:-1], bounds[1:], drawn):
        if d is not None:
            u, cut, extra = d
            part = flat[lo:hi]
            torch.ge(torch.from_numpy(u), cut, out=part)
            part[torch.from_numpy(extra)] = 0
    return out


def dropout(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Inverted dropout (``x · mask · scale``), differentiable in ``x``; the output has ``x``'s dtype."""
    if rate <= 0.0:
        return x
    mask = keep_mask(x.shape, rate, x.dtype, x.device)
    scale = keep_scale(rate, x.device)
    if x.requires_grad and torch.is_grad_enabled():
        return x * mask.mul_(scale)
    return torch.mul(x, mask, out=mask).mul_(scale)


# ----------------------------------------------------------------------------------- packed weights
_scopes = threading.local()


@contextlib.contextmanager
def packed_weights() -> Iterator[None]:
    """Within this block :func:`packed_linear_weight` packs each weight once and reuses it.

    For one inference call that runs the same layers over many chunks (:func:`astrotorch.uncertainty.mc_predict`).
    The cache lives only as long as the block: weights can change between calls in ways no counter
    records (PyTorch's fused Adam updates parameters without bumping their version counters).
    """
    outer = getattr(_scopes, "cache", None)
    _scopes.cache = {} if outer is None else outer
    try:
        yield
    finally:
        _scopes.cache = outer


#: set once this PyTorch build has refused to pack a weight (plain weights from then on)
_PACK_FAILED = [False]


def packed_linear_weight(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """A float32 CPU ``(out, in)`` linear weight in oneDNN's blocked layout for
    ``torch.ops.mkldnn._linear_pointwise`` (its matmul is ~8 % faster than on the plain layout, which it
    reorders on every call), packed once per :func:`packed_weights` block; ``weight`` itself outside
    one or where this PyTorch build cannot pack. ``rows``: the batch size to pack for."""
    cache = getattr(_scopes, "cache", None)
    pack = getattr(getattr(torch.ops, "mkldnn", None), "_reorder_linear_weight", None)
    if cache is None or pack is None or _PACK_FAILED[0]:
        return weight
    hit = cache.get(id(weight))
    if hit is not None:
        return hit[1]
    try:
        packed = pack(weight.detach(), int(rows))
    except (RuntimeError, TypeError):  # a build without it: plain weights from now on
        _PACK_FAILED[0] = True
        return weight
    cache[id(weight)] = (weight, packed)  # holds the weight: its id is not reused within the block
    return packed


# ----------------------------------------------------------------------------------- allocator
#: glibc malloc thresholds set by :func:`tune_allocator` (bytes): blocks up to 256 MiB come from the
#: heap, and up to 512 MiB of freed heap stays mapped for the next step
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 512 << 20
_tuned: bool | None = None


def tune_allocator() -> bool:
    """Keep freed tensor memory mapped for reuse (glibc ``mallopt``), once per process; True if set.

    A CPU training step or MC pass frees and re-allocates tens of MiB of 2-8 MiB activations and
    gradients. glibc serves such blocks with fresh ``mmap``s (or trims them off the heap when freed),
    so every step pays a page fault per 4 KiB touched: ~15 % of an ApogeeBCNN float32 training step
    on this machine's CPU (docs/results/vs_astronn.md, "Session 4"). With the thresholds raised the
    memory is reused; the process keeps up to ``TRIM_THRESHOLD`` of freed memory resident. Not applied
    when ``ASTROTORCH_TUNE_MALLOC=0``, when the user set glibc's own ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_``, or off glibc.
    """
    global _tuned
    if _tuned is not None or torch.compiler.is_compiling():
        return bool(_tuned)
    _tuned = False
    if os.environ.get("ASTROTORCH_TUNE_MALLOC", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    _tuned = bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold, TRIM_THRESHOLD))
    return _tuned


# ----------------------------------------------------------------------------------- compiled kernels (opt-in)
_compiled: dict[Any, Callable[..., Any]] = {}
_failed = False
_failed_keys: set[Any] = set()


def _is_recompile_limit(exc: BaseException) -> bool:
    """Dynamo's recompile limit for one code object (many shapes/dtypes/closures of one kernel in a
    long process): only that kernel falls back, the compiler itself works."""
    return type(exc).__name__ in ("FailOnRecompileLimitHit", "RecompileLimitExceeded", "CacheLimitExceeded")


def enabled() -> bool:
    """Whether compiled kernels were requested (``ASTROTORCH_COMPILE_KERNELS=1``) and have not failed."""
    if _failed:
        return False
    return os.environ.get("ASTROTORCH_COMPILE_KERNELS", "0").strip().lower() in ("1", "true", "yes", "on")


def run(key: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` through its compiled version (cached under ``key``), or ``None`` if not enabled.

    ``fn`` must be a pure tensor function (no Python side effects); it is compiled with
    ``fullgraph=True, dynamic=True`` and always called without autograd.
    """
    global _failed
    if not enabled() or key in _failed_keys:
        return None
    kernel = _compiled.get(key)
    if kernel is None:
        kernel = _compiled[key] = torch.compile(fn, dynamic=True, fullgraph=True)
    try:
        with torch.no_grad():
            return kernel(*args)
    except Exception as exc:  # noqa: BLE001 - any compiler failure: keep working, eagerly
        if _is_recompile_limit(exc):
            _failed_keys.add(key)
            warnings.warn(f"compiled CPU kernel {key!r} hit torch.compile's recompile limit; it runs eagerly "
                          "from now on (the other kernels stay compiled)", RuntimeWarning, stacklevel=3)
            return None
        _failed = True
        warnings.warn(f"compiled CPU kernels unavailable ({type(exc).__name__}: {exc}); using eager PyTorch",
                      RuntimeWarning, stacklevel=3)
        return None


def reset() -> None:
    """Forget compiled kernels and earlier failures (tests)."""
    global _failed
    _compiled.clear()
    _failed_keys.clear()
    _failed = False


__all__ = ["drop_threshold", "dropout", "enabled", "keep_mask", "keep_scale", "packed_linear_weight", "packed_weights",
           "reset", "run", "tune_allocator"]
