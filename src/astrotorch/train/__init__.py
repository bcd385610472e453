"""Training engine: the LightningModule all models share and atomic run folders."""

from astrotorch.train.lightning_module import AstroLightningModule
from astrotorch.train.runs import RunFolder, markdown_table, to_jsonable

__all__ = ["AstroLightningModule", "RunFolder", "markdown_table", "to_jsonable"]
