"""Where the library's warnings point: the user's line, not astrotorch's (:func:`caller_stacklevel`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def caller_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` called right after this: the first frame outside the
    astrotorch package (the user's script), however deep the library's own calls go (``fit`` →
    calibration, or ``calibrate_sigma`` → the same code: different depths, one answer). Python 3.12's
    ``skip_file_prefixes`` does this; the floor is 3.10."""
    frame = sys._getframe(1)  # the function about to warn: stacklevel 1
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


__all__ = ["caller_stacklevel"]
