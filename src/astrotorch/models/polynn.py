"""astroNN's ``SimplePolyNN`` (the manual's ``SimplePloyNN``): a polynomial fitted as a one-layer network.

``y = P(x)`` (plus ``Σx`` with ``use_xbias``) with learnable coefficients, a
:class:`~astrotorch.nn.layers.PolyFit` layer of degree ``num_hidden`` (astroNN's name for it), trained
like every astrotorch model. astroNN used it to fit a Gaia parallax offset polynomial; its defaults
are kept (40 epochs, lr 0.005, no normalisation, target ``unbiased_parallax``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from astrotorch.errors import InputValidationError
from astrotorch.models.base import AstroModel
from astrotorch.models.registry import register_model
from astrotorch.nn.layers import PolyFit


@register_model
class SimplePolyNN(AstroModel):
    """Polynomial regression as a network: ``num_hidden`` is the degree, ``init_w`` the initial
    coefficients ``(degree + 1, n_inputs, n_outputs)``, ``use_xbias`` adds the summed input."""

    name = "simple_poly_nn"
    bayesian = False

    def __init__(self, lr: float = 0.005, init_w: Sequence[Any] | np.ndarray | None = None, use_xbias: bool = False,
                 num_hidden: int = 3, **kwargs: Any) -> None:
        for k, v in dict(max_epochs=40, reduce_lr_patience=2, reduce_lr_min=1e-8, input_norm_mode=0, labels_norm_mode=0,
                         targetname=["unbiased_parallax"]).items():
            kwargs.setdefault(k, v)
        super().__init__(lr=lr, **kwargs)
        if isinstance(num_hidden, bool) or not isinstance(num_hidden, (int, np.integer)) or num_hidden < 0:
            raise InputValidationError(f"num_hidden (the polynomial degree) must be a non-negative integer, got {num_hidden!r}")
        self.num_hidden = int(num_hidden)
        self.init_w = None if init_w is None else np.asarray(init_w, dtype=np.float32).tolist()
        self.use_xbias = bool(use_xbias)

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        n_in = int(np.prod(input_shape))
        return nn.Sequential(nn.Flatten(), PolyFit(deg=self.num_hidden, output_units=output_dim, use_xbias=self.use_xbias,
                                                   init_w=self.init_w, input_dim=None if self.init_w is not None else n_in))


#: the manual's spelling
SimplePloyNN = SimplePolyNN

__all__ = ["SimplePolyNN", "SimplePloyNN"]
