"""Galaxy10 SDSS under astroNN's module name (``astroNN.datasets.galaxy10sdss``).

``load_data`` (= :func:`astrotorch.datasets.galaxy10.load_galaxy10sdss`), and the class lookup and
confusion plot with the SDSS class names (astroNN's ``galaxy10`` module now means Galaxy10 DECaLS).
One implementation: everything lives in :mod:`astrotorch.datasets.galaxy10`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from astrotorch.datasets import galaxy10 as _g10
from astrotorch.datasets.galaxy10 import SDSS, SDSS_CLASSES, load_galaxy10sdss

load_data = load_galaxy10sdss


def galaxy10cls_lookup(class_num: int | Sequence[float] | np.ndarray) -> str:
    """Name of a Galaxy10 SDSS class (an integer 0–9, or a one-hot / probability vector)."""
    return _g10.galaxy10cls_lookup(class_num, survey="sdss")


def galaxy10_confusion(confusion_mat: np.ndarray) -> Any:
    """Confusion-matrix figure with the Galaxy10 SDSS class names (rows truth, columns prediction)."""
    return _g10.galaxy10_confusion(confusion_mat, class_names=SDSS_CLASSES)


__all__ = ["SDSS", "SDSS_CLASSES", "galaxy10_confusion", "galaxy10cls_lookup", "load_data", "load_galaxy10sdss"]
