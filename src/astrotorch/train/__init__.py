"""Training engine: the LightningModule all models share, Trainer assembly and atomic run folders."""

from __future__ import annotations

import importlib
from typing import Any

from astrotorch.train.runs import RunFolder, markdown_table, to_jsonable

# Lightning takes seconds to import: the LightningModule loads on first use (PEP 562)
_LAZY = {"AstroLightningModule": "astrotorch.train.lightning_module"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'astrotorch.train' has no attribute {name!r}")


__all__ = ["AstroLightningModule", "RunFolder", "markdown_table", "to_jsonable"]
