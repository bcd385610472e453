"""astroNN 1.1.0's ``astroNN.nn.metrics`` (astroNN's formulas; see :mod:`astrotorch.nn.astronn.losses`).

astroNN's metrics are its loss functions under shorter names: per-sample values ``(N,)`` that Keras
averages over the batch.
"""

from __future__ import annotations

from astrotorch.nn.astronn.losses import (
    binary_accuracy,
    binary_accuracy_from_logits,
    categorical_accuracy,
    mad_std,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_error,
    mean_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    median,
    median_absolute_deviation,
    median_error,
)

mse = mean_squared_error
mae = mean_absolute_error
mape = mean_absolute_percentage_error
msle = mean_squared_logarithmic_error
me = mean_error
mpe = mean_percentage_error
mad = median_absolute_deviation

__all__ = [
    "binary_accuracy", "binary_accuracy_from_logits", "categorical_accuracy", "mad_std", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_error", "mean_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "median", "median_absolute_deviation", "median_error", "mse", "mae",
    "mape", "msle", "me", "mpe", "mad",
]
