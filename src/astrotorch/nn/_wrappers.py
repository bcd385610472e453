"""astroNN's loss *wrappers*: Keras-style ``loss(y_true, y_pred)`` closures over the other output.

astroNN trains a Bayesian network's two heads (prediction and variance) with two losses that each
close over the other head's tensor: ``mse_lin_wrapper(var, labels_err)`` is the loss of the
prediction head, ``mse_var_wrapper(lin, labels_err)`` that of the variance head, and likewise for the
cross-entropies. In PyTorch one loss sees both outputs anyway, so these closures are only a porting
aid. :func:`make_loss_wrappers` builds them around a given set of robust losses, so that
:mod:`astrotorch.nn.losses` (astrotorch's formulas) and :mod:`astrotorch.nn.astronn.losses`
(astroNN's formulas) share one implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

Loss = Callable[..., torch.Tensor]


def make_loss_wrappers(robust_mse: Loss, robust_cce: Loss, robust_bce: Loss) -> dict[str, Callable[..., Loss]]:
    """The six astroNN wrapper factories built on the given ``robust_*`` losses.

    ``robust_mse(y_true, y_pred, variance, labels_err, sample_weight)`` and
    ``robust_cce/bce(y_true, logits, logit_var, sample_weight=)`` are called this way, so the
    variance argument means whatever the given loss says it means (a log variance in both
    astrotorch and astroNN for the regression loss).
    """

    def mse_lin_wrapper(var: Any, labels_err: Any) -> Loss:
        """Loss of the *prediction* head: ``robust_mse(y_true, y_pred, var, labels_err)``."""

        def mse_lin(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
            return robust_mse(y_true, y_pred, var, labels_err, sample_weight=sample_weight)

        mse_lin.__name__ = "mse_lin_wrapper"
        return mse_lin

    def mse_var_wrapper(lin: Any, labels_err: Any) -> Loss:
        """Loss of the *variance* head: ``robust_mse(y_true, lin, y_pred, labels_err)``."""

        def mse_var(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
            return robust_mse(y_true, lin, y_pred, labels_err, sample_weight=sample_weight)

        mse_var.__name__ = "mse_var_wrapper"
        return mse_var

    def _pred_head(robust: Loss, name: str) -> Callable[[Any], Loss]:
        def wrapper(logit_var: Any) -> Loss:
            def loss(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
                return robust(y_true, y_pred, logit_var, sample_weight=sample_weight)

            loss.__name__ = name
            return loss

        wrapper.__name__ = name
        wrapper.__doc__ = f"Loss of the logits head (``y_pred`` = logits) given the variance head ``logit_var`` ({robust.__name__})."
        return wrapper

    def _var_head(robust: Loss, name: str) -> Callable[[Any], Loss]:
        def wrapper(logits: Any) -> Loss:
            def loss(y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
                return robust(y_true, logits, y_pred, sample_weight=sample_weight)

            loss.__name__ = name
            return loss

        wrapper.__name__ = name
        wrapper.__doc__ = f"Loss of the variance head (``y_pred`` = logit variance) given the ``logits`` ({robust.__name__})."
        return wrapper

    return {
        "mse_lin_wrapper": mse_lin_wrapper,
        "mse_var_wrapper": mse_var_wrapper,
        "bayesian_categorical_crossentropy_wrapper": _pred_head(robust_cce, "bayesian_categorical_crossentropy_wrapper"),
        "bayesian_categorical_crossentropy_var_wrapper": _var_head(robust_cce, "bayesian_categorical_crossentropy_var_wrapper"),
        "bayesian_binary_crossentropy_wrapper": _pred_head(robust_bce, "bayesian_binary_crossentropy_wrapper"),
        "bayesian_binary_crossentropy_var_wrapper": _var_head(robust_bce, "bayesian_binary_crossentropy_var_wrapper"),
    }


__all__ = ["make_loss_wrappers"]
