"""Baselines a student would start from: linear regression, k-nearest neighbours and an MLP.

The linear and kNN models are scikit-learn estimators behind the same API as every other model
(normalisation, missing labels, save/load with safetensors + JSON); the MLPs train with Lightning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.errors import InputValidationError, NotFittedError
from astrotorch.models.base import AstroModel
from astrotorch.models.hyperparams import check_choice, check_float, check_int, check_int_sequence
from astrotorch.models.labels import is_missing
from astrotorch.models.registry import register_model
from astrotorch.nn.layers import MCDropout

ACTIVATIONS = ("relu", "gelu", "tanh", "silu")


class _MLP(nn.Module):
    """Fully connected network; with ``heteroscedastic`` it also outputs a log-variance head."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float, mc: bool, heteroscedastic: bool,
                 activation: str = "relu") -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}[activation]
        layers: list[nn.Module] = [nn.Flatten()]
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            if dropout > 0:
                layers.append(MCDropout(dropout) if mc else nn.Dropout(dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_out)
        self.log_var = nn.Linear(width, n_out) if heteroscedastic else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        if self.log_var is None:
            return self.head(h)
        return self.head(h), self.log_var(h)


@register_model
class MLP(AstroModel):
    """Multi-layer perceptron baseline (regression or classification).

    Parameters: ``num_hidden`` layer widths, ``activation``; plus every :class:`AstroModel` keyword.
    """

    name = "mlp"

    def __init__(self, num_hidden: tuple[int, ...] | list[int] = (256, 128), activation: str = "relu", **kwargs: Any) -> None:
        kwargs.setdefault("lr", 0.001)
        super().__init__(**kwargs)
        check_int_sequence("num_hidden", num_hidden, 1)
        check_choice("activation", activation, ACTIVATIONS)
        self.num_hidden = num_hidden
        self.activation = activation

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        n_in = int(np.prod(input_shape))
        return _MLP(n_in, tuple(self.num_hidden), output_dim, self.dropout_rate, mc=False, heteroscedastic=False,
                    activation=self.activation)


@register_model
class BayesianMLP(MLP):
    """MLP with Monte Carlo dropout and a predictive log-variance head (aleatoric + epistemic σ)."""

    name = "bayesian_mlp"
    bayesian = True

    def __init__(self, num_hidden: tuple[int, ...] | list[int] = (128, 128), activation: str = "relu", **kwargs: Any) -> None:
        kwargs.setdefault("dropout_rate", 0.1)
        super().__init__(num_hidden=num_hidden, activation=activation, **kwargs)

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        n_in = int(np.prod(input_shape))
        return _MLP(n_in, tuple(self.num_hidden), output_dim, self.dropout_rate, mc=True,
                    heteroscedastic=self.task == "regression", activation=self.activation)


class _SklearnRegressor(AstroModel):
    """Shared plumbing for scikit-learn regressors: one estimator per label, fitted on its valid rows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.task != "regression":
            raise InputValidationError(f"{type(self).__name__} supports task='regression' only, got task={self.task!r}")

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        # no torch network: an empty module keeps the base-class bookkeeping uniform
        return nn.Identity()

    def _make_estimator(self) -> Any:
        raise NotImplementedError

    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None,
            ckpt_path: str | None = None, warm_start: bool = False, *, callbacks: Any = None, logger: Any = None,
            trainer_kwargs: Any = None) -> AstroModel:
        """Fit the scikit-learn estimators (no Lightning: ``callbacks``/``logger``/``trainer_kwargs`` unused)."""
        ds = self._prepare_arrays(x, y, y_err, sample_weight, warm_start=False)
        xn = ds.x.numpy().reshape(len(ds), -1)
        yn = ds.y.numpy()
        w = None if ds.weight is None else ds.weight.numpy()
        self.network = self.build_network(self.input_shape, int(self.output_dim))
        self._set_n_features_in()
        self._fit_estimators(xn, yn, w)
        return self

    def _fit_estimators(self, xn: np.ndarray, yn: np.ndarray, w: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict_normalised(self, xn: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, x: Any, x_err: Any = None, batch_size: int | None = None) -> np.ndarray:
        xn, _ = self._prepare_inference_input(x)
        z = self._predict_normalised(np.asarray(xn).reshape(len(xn), -1))
        return np.asarray(self._label_norm.denormalize(z.astype(np.float32)), np.float32)

    def jacobian(self, x: Any, mean_output: bool = False, *args: Any, **kwargs: Any) -> np.ndarray:
        raise InputValidationError(f"{type(self).__name__} is not differentiable with torch: no jacobian")

    hessian = jacobian  # type: ignore[assignment]

    def summary(self) -> str:
        self._check_fitted()
        return f"{type(self).__name__}: scikit-learn estimator, {self.output_dim} outputs"


def _columns_by_valid_rows(valid: np.ndarray) -> list[tuple[list[int], np.ndarray]]:
    """Group the columns of a (N, D) validity mask by identical masks: ``[(columns, rows mask), ...]``."""
    groups: list[tuple[list[int], np.ndarray]] = []
    for j in range(valid.shape[1]):
        for cols, rows in groups:
            if np.array_equal(rows, valid[:, j]):
                cols.append(j)
                break
        else:
            groups.append(([j], valid[:, j]))
    return groups


@register_model
class LinearRegression(_SklearnRegressor):
    """Ridge-regularised linear regression (scikit-learn), one fit per label on its valid rows.

    ``alpha``: ridge penalty in normalised units (0 → ordinary least squares).
    """

    name = "linear"

    _coef: np.ndarray | None = None
    _intercept: np.ndarray | None = None

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_float("alpha", alpha, 0.0)
        self.alpha = alpha

    def _fit_estimators(self, xn: np.ndarray, yn: np.ndarray, w: np.ndarray | None) -> None:
        from sklearn.linear_model import Ridge

        n_out = yn.shape[1]
        coefs = np.zeros((n_out, xn.shape[1]), np.float32)
        icepts = np.zeros(n_out, np.float32)
        # labels valid on the same rows share one solve (one factorisation of the Gram matrix: on
        # 80,000 spectra × 7,514 pixels that is most of the cost); each column is still its own ridge
        for cols, valid in _columns_by_valid_rows(~is_missing(yn)):
            if valid.sum() < 2:
                continue
            rows = xn[valid] if not valid.all() else xn
            est = Ridge(alpha=self.alpha).fit(rows, yn[valid][:, cols], sample_weight=None if w is None else w[valid])
            coefs[cols] = np.asarray(est.coef_, np.float32).reshape(len(cols), -1)
            icepts[cols] = np.asarray(est.intercept_, np.float32).reshape(-1)
        self._coef = coefs
        self._intercept = icepts

    def _predict_normalised(self, xn: np.ndarray) -> np.ndarray:
        if self._coef is None:
            raise NotFittedError("LinearRegression is not fitted")
        # float64: a row's prediction must not depend on which other rows share its matrix product
        return xn.astype(np.float64) @ self._coef.T.astype(np.float64) + self._intercept.astype(np.float64)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"coef": torch.as_tensor(self._coef), "intercept": torch.as_tensor(self._intercept)}

    def _weight_tensor_names(self) -> set[str]:
        return {"coef", "intercept"}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._coef = tensors["coef"].numpy()
        self._intercept = tensors["intercept"].numpy()


@register_model
class KNNRegressor(_SklearnRegressor):
    """k-nearest-neighbour regression (scikit-learn), distance-weighted, per label on its valid rows.

    The training set (normalised) is the model: it is saved in the safetensors file.
    """

    name = "knn"

    _train_x: np.ndarray | None = None
    _train_y: np.ndarray | None = None
    _estimators: list[Any] | None = None

    def __init__(self, n_neighbors: int = 10, weights: str = "distance", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_int("n_neighbors", n_neighbors, 1)
        check_choice("weights", weights, ("distance", "uniform"))
        self.n_neighbors = n_neighbors
        self.weights = weights

    def _fit_estimators(self, xn: np.ndarray, yn: np.ndarray, w: np.ndarray | None) -> None:
        if w is not None:
            import warnings

            warnings.warn("KNNRegressor ignores sample_weight (neighbours are weighted by distance only)",
                          UserWarning, stacklevel=3)
        self._train_x = xn.astype(np.float32)
        self._train_y = yn.astype(np.float32)
        self._build()

    def _build(self) -> None:
        from sklearn.neighbors import KNeighborsRegressor

        assert self._train_x is not None and self._train_y is not None
        self._estimators = []
        for j in range(self._train_y.shape[1]):
            valid = ~is_missing(self._train_y[:, j])
            k = min(self.n_neighbors, int(valid.sum()))
            if k < 1:
                self._estimators.append(None)
                continue
            est = KNeighborsRegressor(n_neighbors=k, weights=self.weights, algorithm="brute")
            self._estimators.append(est.fit(self._train_x[valid], self._train_y[valid, j]))

    def _predict_normalised(self, xn: np.ndarray) -> np.ndarray:
        if self._estimators is None:
            raise NotFittedError("KNNRegressor is not fitted")
        cols = [np.zeros(len(xn), np.float32) if e is None else e.predict(xn) for e in self._estimators]
        return np.stack(cols, axis=1)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {"train_x": torch.as_tensor(self._train_x), "train_y": torch.as_tensor(self._train_y)}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._train_x = tensors["train_x"].numpy()
        self._train_y = tensors["train_y"].numpy()
        self._build()


__all__ = ["MLP", "BayesianMLP", "LinearRegression", "KNNRegressor"]
