"""``lc_features``: scikit-learn HistGradientBoosting on standard light-curve features.

Features: :func:`astrotorch.lightcurves.features.feature_matrix` — the period search and phase-folded
Fourier shape (shared with the networks, cached per curve), amplitudes, colours, skew, kurtosis,
rise/decline times, Bazin fit. Columns that carry nothing on the training set (all NaN — e.g. a band
only one object has, with one point — or constant) are dropped at ``fit`` and listed in
``dropped_features_``; the booster handles the remaining NaN natively.

Classification follows scikit-learn: ``classes_``, ``predict`` → labels, ``predict_proba`` → (N, C),
``score`` → accuracy.

Saving without pickle: the fitted boosters are written with skops (a zip of JSON and arrays, no
pickle), stored as byte tensors in ``model.safetensors``; loading accepts scikit-learn's own types and
HistGradientBoosting's ``TreePredictor`` only, and refuses a file that asks for anything else
(:data:`TRUSTED_BOOSTER_TYPES`). Folders saved before (training features and labels, refitted at
load) still load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.errors import InputValidationError, ModelFolderError, NotFittedError, ShapeMismatchError
from astrotorch.lightcurves.labels import (
    as_lightcurve_set,
    classes_from_json,
    classes_to_json,
    fit_classes,
)
from astrotorch.models.base import AstroModel
from astrotorch.models.registry import register_model
from astrotorch.nn.normalizer import Normalizer

BOOSTER_LOSSES = ("squared_error", "absolute_error")
#: the only types beyond skops' default-trusted ones that a saved booster may ask for
TRUSTED_BOOSTER_TYPES = frozenset({"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})


def booster_to_tensor(estimator: Any) -> torch.Tensor:
    """A fitted scikit-learn booster as a uint8 tensor of its skops bytes (no pickle)."""
    import skops.io as sio

    return torch.frombuffer(bytearray(sio.dumps(estimator)), dtype=torch.uint8)


def booster_from_tensor(tensor: torch.Tensor, name: str) -> Any:
    """The booster saved by :func:`booster_to_tensor`; ModelFolderError for a type outside the allowlist
    or bytes skops cannot read."""
    import skops.io as sio

    data = tensor.to(torch.uint8).numpy().tobytes()
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
        if not untrusted <= TRUSTED_BOOSTER_TYPES:
            raise ModelFolderError(f"lc_features weights {name!r} ask for types outside the allowlist: "
                                   f"{sorted(untrusted - TRUSTED_BOOSTER_TYPES)}")
        return sio.loads(data, trusted=sorted(untrusted))
    except ModelFolderError:
        raise
    except Exception as exc:  # skops raises several types on corrupt or foreign bytes
        raise ModelFolderError(f"lc_features weights {name!r} are not a readable booster: {exc}") from exc


class _FeatureStore(nn.Module):
    """The model's ``network``: no parameters (the boosters are saved by ``state_tensors``); buffers for
    the training features and labels only when reading a folder of the earlier layout."""

    def __init__(self, n: int = 0, f: int = 0, d: int = 1) -> None:
        super().__init__()
        self.register_buffer("features", torch.zeros(n, f, dtype=torch.float64))
        self.register_buffer("labels", torch.zeros(n, d, dtype=torch.float64))


@register_model
class LightCurveFeatures(AstroModel):
    """Feature baseline (``"lc_features"``): HistGradientBoosting on light-curve features (module doc).

    Keywords: ``max_iter``, ``learning_rate``, ``max_depth``, ``max_leaf_nodes``, ``min_samples_leaf``,
    ``l2_regularization``, ``class_weight`` — the booster's; ``loss`` (regression: ``squared_error`` or
    ``absolute_error``); ``periodogram`` / ``bazin_fit`` switch those feature groups; ``min_period``
    (days) bounds the period search; ``meta_keys`` appends metadata columns; ``first_days`` keeps the
    first N days after the first ≥5σ detection; ``target_transform="log10"`` fits log10 of positive
    regression targets; ``progress`` (the base class's) other than ``"none"`` shows a tqdm bar while many curves'
    features are computed.
    """

    name = "lc_features"

    # fitted state (class-level defaults: __init__ stores hyper-parameters only, as scikit-learn wants)
    bands_: tuple[str, ...] | None = None
    feature_names_: list[str] | None = None
    dropped_features_: tuple[str, ...] = ()
    _estimators: tuple[Any, ...] = ()

    def __init__(self, *, max_iter: int = 300, learning_rate: float = 0.05, max_depth: int | None = None,
                 max_leaf_nodes: int = 31, min_samples_leaf: int = 10, l2_regularization: float = 0.0,
                 class_weight: str | None = "balanced", loss: str = "squared_error", periodogram: bool = True,
                 bazin_fit: bool = True, min_period: float = 0.1, meta_keys: Sequence[str] = (),
                 first_days: float | None = None, target_transform: str | None = None,
                 task: str = "classification", input_norm_mode: int = 0, val_size: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(task=task, input_norm_mode=input_norm_mode, val_size=val_size, **kwargs)
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.loss = loss
        self.periodogram = periodogram
        self.bazin_fit = bazin_fit
        self.min_period = min_period
        self.meta_keys = meta_keys
        self.first_days = first_days
        self.target_transform = target_transform
        if target_transform not in (None, "log10"):
            raise InputValidationError(f"target_transform must be None or 'log10', got {target_transform!r}")
        if loss not in BOOSTER_LOSSES:
            raise InputValidationError(f"loss must be one of {BOOSTER_LOSSES}, got {loss!r}")
        if class_weight not in (None, "balanced"):
            raise InputValidationError(f"class_weight must be 'balanced' or None, got {class_weight!r}")

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return _FeatureStore()

    # ----------------------------------------------------------------------------- features
    def _matrix(self, curves: Any, bands: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        from astrotorch.lightcurves.features import feature_matrix

        if self.first_days is not None:
            curves = curves.first_days(self.first_days, since="detection")
        return feature_matrix(curves, bands, periodogram=self.periodogram, bazin_fit=self.bazin_fit,
                              min_period=self.min_period, meta_keys=tuple(self.meta_keys), progress=self.progress != "none")

    def features(self, x: Any) -> np.ndarray:
        """Feature matrix (N, F) of light curves ``x`` in this model's band set and column order
        (all of ``feature_names_``, the dropped columns included)."""
        curves = as_lightcurve_set(x)
        X, names = self._matrix(curves, self.bands_ or curves.bands)
        if self.feature_names_ is not None and names != self.feature_names_:
            raise ShapeMismatchError("feature columns differ from the training ones")
        return X

    def _kept(self) -> np.ndarray:
        dropped = set(self.dropped_features_)
        return np.array([n not in dropped for n in self.feature_names_ or []], dtype=bool)

    # ----------------------------------------------------------------------------- training
    def _make_estimator(self, col: int = 0) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        common = dict(max_iter=self.max_iter, learning_rate=self.learning_rate, max_depth=self.max_depth,
                      max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                      l2_regularization=self.l2_regularization, early_stopping=False,
                      random_state=self.seed + col)
        if self.task == "classification":
            return HistGradientBoostingClassifier(class_weight=self.class_weight, **common)
        return HistGradientBoostingRegressor(loss=self.loss, **common)

    def _refit(self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> None:
        X = X[:, self._kept()]
        estimators: list[Any] = []
        if self.task == "classification":
            est = self._make_estimator()
            est.fit(X, Y[:, 0].astype(np.int64), sample_weight=w)
            self._estimators = (est,)
            return
        for j in range(Y.shape[1]):
            ok = np.isfinite(Y[:, j])
            t = np.log10(Y[ok, j]) if self.target_transform == "log10" else Y[ok, j]
            est = self._make_estimator(j)
            est.fit(X[ok], t, sample_weight=None if w is None else w[ok])
            estimators.append(est)
        self._estimators = tuple(estimators)

    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None,
            **kwargs: Any) -> LightCurveFeatures:
        """Fit on light curves ``x`` (classification labels from the curves when ``y`` is None)."""
        from astrotorch.lightcurves.features import degenerate_columns

        curves = as_lightcurve_set(x)
        if self.task == "classification":
            labels, self._classes = fit_classes(curves, y)
            # the class names, as the run reports and prediction tables read them (set at fit, as before)
            self.targetname = [str(c) for c in self._classes.tolist()]
            Y = labels[:, None].astype(np.float64)
            self.output_dim = len(self._classes)
        else:
            if y is None:
                raise InputValidationError("regression needs targets y")
            Y = np.asarray(y, np.float64)
            Y = Y[:, None] if Y.ndim == 1 else Y
            if Y.shape[0] != len(curves):
                raise ShapeMismatchError(f"{Y.shape[0]} targets for {len(curves)} light curves")
            if self.target_transform == "log10" and np.any(Y[np.isfinite(Y)] <= 0):
                raise InputValidationError("log10 target transform needs positive targets")
            self.output_dim = Y.shape[1]
        self.bands_ = curves.bands
        X, names = self._matrix(curves, self.bands_)
        self.feature_names_ = names
        bad = degenerate_columns(X)
        if bad.all():
            raise InputValidationError("every light-curve feature is undefined or constant on this training set")
        self.dropped_features_ = tuple(n for n, b in zip(names, bad) if b)
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64).ravel()
        self._refit(X, Y, w)
        self.network = _FeatureStore()
        self.input_shape = {"features": (X.shape[1],)}
        self._input_norm = {"features": Normalizer(mode=0).fit(np.zeros((1, X.shape[1]), np.float32))}
        self._label_norm = None
        return self

    # ----------------------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if not self._estimators:
            raise NotFittedError("LightCurveFeatures is not fitted: call fit() or load_folder() first")

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, C) in ``classes_`` order from a :meth:`features` matrix."""
        self._check_fitted()
        if self.task != "classification":
            raise InputValidationError("predict_proba is only for classification models (task='classification')")
        est = self._estimators[0]
        p = np.zeros((X.shape[0], int(self.output_dim)))
        p[:, est.classes_.astype(int)] = est.predict_proba(X[:, self._kept()])
        return p.astype(np.float32)

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """Predict from a :meth:`features` matrix: labels (classification) or values (N, D) in
        physical units (regression)."""
        self._check_fitted()
        if self.task == "classification":
            return self.classes_[self.predict_proba_features(X).argmax(1)]
        cols = [e.predict(X[:, self._kept()]) for e in self._estimators]
        out = np.stack(cols, 1)
        return (10 ** out if self.target_transform == "log10" else out).astype(np.float32)

    def predict_proba(self, x: Any, x_err: Any = None, batch_size: int | None = None,
                      return_std: bool = False) -> np.ndarray:
        """Class probabilities (N, C), columns in ``classes_`` order (boosted trees: no ``return_std``)."""
        self._check_fitted()
        if self.task != "classification":
            raise InputValidationError("predict_proba is only for classification models (task='classification')")
        if return_std:
            raise InputValidationError("LightCurveFeatures is not Bayesian: predict_proba has no return_std")
        return self.predict_proba_features(self.features(x))

    def predict(self, x: Any, x_err: Any = None, batch_size: int | None = None) -> np.ndarray:
        """Labels (values of ``classes_``) for classification; values (N, D) for regression."""
        self._check_fitted()
        return self.predict_features(self.features(x))

    def predict_classes(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Index into ``classes_`` of the most probable class of every curve."""
        return self.predict_proba(x).argmax(1)

    def score(self, x: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Accuracy (classification; labels from the curves when ``y`` is None) or R² (regression)."""
        from astrotorch.models.lightcurve_scoring import lightcurve_score

        return lightcurve_score(self, x, y, sample_weight)

    def evaluate(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None,
                 batch_size: int | None = None) -> dict[str, Any]:
        """Classification report (accuracy, macro-F1, log loss, confusion matrix, AUCs) or, per target,
        n, MAE, median absolute error, RMSE, bias and NMAD of the residuals."""
        from astrotorch.models.lightcurve_scoring import lightcurve_evaluate

        return lightcurve_evaluate(self, x, y, batch_size)

    # ----------------------------------------------------------------------------- persistence
    def state_tensors(self) -> dict[str, torch.Tensor]:
        self._check_fitted()
        return {f"booster_{j}": booster_to_tensor(est) for j, est in enumerate(self._estimators)}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        names = sorted(tensors)
        expected = [f"booster_{j}" for j in range(len(tensors))]
        if tensors and sorted(expected) == names:
            self._estimators = tuple(booster_from_tensor(tensors[n], n) for n in expected)
            self.network = _FeatureStore()
            return
        if set(tensors) != {"features", "labels"}:
            raise ModelFolderError(f"lc_features weights must hold booster_0 ... booster_N (or, saved before, "
                                   f"'features' and 'labels'), got {names}")
        X = tensors["features"].double()
        Y = tensors["labels"].double()
        if self.feature_names_ is not None and X.shape[1] != len(self.feature_names_):
            raise ModelFolderError(f"lc_features weights hold {X.shape[1]} feature columns, config.json names "
                                   f"{len(self.feature_names_)}")
        store = _FeatureStore(X.shape[0], X.shape[1], Y.shape[1])
        store.features.copy_(X)
        store.labels.copy_(Y)
        self.network = store
        self._refit(X.numpy(), Y.numpy())

    def extra_state(self) -> dict[str, Any]:
        return {"bands": list(self.bands_ or ()), "feature_names": self.feature_names_,
                "dropped_features": list(self.dropped_features_), "classes": classes_to_json(self._classes)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.bands_ = tuple(state.get("bands") or ())
        self.feature_names_ = state.get("feature_names")
        self.dropped_features_ = tuple(state.get("dropped_features") or ())
        self._classes = classes_from_json(state.get("classes"))
        if self.task == "classification" and self._classes is None:
            raise ModelFolderError("config.json: an lc_features classifier needs its 'classes'")
        if self.feature_names_ is not None:
            self._input_norm = {"features": Normalizer(mode=0).fit(np.zeros((1, len(self.feature_names_)), np.float32))}

    def jacobian(self, x: Any, mean_output: bool = False, batch_size: int = 64) -> np.ndarray:
        raise InputValidationError("lc_features is a tree model: no jacobian")

    def hessian(self, x: Any, mean_output: bool = False) -> np.ndarray:
        raise InputValidationError("lc_features is a tree model: no hessian")


__all__ = ["LightCurveFeatures", "BOOSTER_LOSSES", "TRUSTED_BOOSTER_TYPES", "booster_to_tensor", "booster_from_tensor"]
