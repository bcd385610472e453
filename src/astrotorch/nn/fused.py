"""Small elementwise CPU kernels compiled with ``torch.compile`` on first use, with eager fallback.

PyTorch's eager CPU kernels make one pass over memory per operation; for the memory-bound pieces of
the astroNN networks (dropout masks, pooling after a convolution) inductor fuses a chain of
operations into one vectorised C++ loop. Each kernel is compiled once per process and input dtype
(a few seconds; inductor also caches it on disk), with dynamic shapes so the batch size does not
trigger recompilation. Where compilation is switched off (``ASTROTORCH_COMPILE_KERNELS=0``) or
fails (e.g. no C++ compiler), :func:`run` returns ``None`` and callers use their eager code; a
failure is reported once per process. A kernel that reaches dynamo's recompile limit (many dtypes,
closures or specialised shapes in one long process) falls back alone; the others stay compiled.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import torch

_compiled: dict[Any, Callable[..., Any]] = {}
_failed = False
_failed_keys: set[Any] = set()


def _is_recompile_limit(exc: BaseException) -> bool:
    """Dynamo's recompile limit for one code object (many shapes/dtypes/closures of one kernel in a
    long process): only that kernel falls back, the compiler itself works."""
    return type(exc).__name__ in ("FailOnRecompileLimitHit", "RecompileLimitExceeded", "CacheLimitExceeded")


def enabled() -> bool:
    """Whether compiled kernels are allowed (environment switch, and no earlier failure)."""
    if _failed:
        return False
    return os.environ.get("ASTROTORCH_COMPILE_KERNELS", "1").strip().lower() not in ("0", "false", "no", "off")


def run(key: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` through its compiled version (cached under ``key``), or ``None`` if unavailable.

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


__all__ = ["enabled", "run", "reset"]
