"""astrotorch: deep learning for astronomy on PyTorch + Lightning.

Spectra, images, light curves and catalogs to physical quantities and classes, with uncertainties.
"""

from __future__ import annotations

__version__ = "0.1.0"

from astrotorch import config, errors  # noqa: E402

__all__ = ["__version__", "config", "errors"]
