"""Data normaliser with astroNN's modes, missing-value aware and JSON-serialisable.

Modes (astroNN's ``astroNN.nn.utilities.normalizer.Normalizer`` definitions):

========  ==================================================================================
``0``     no normalisation (identity)
``1``     dataset-wise: a single mean and standard deviation over every valid value
``2``     feature-wise: mean and standard deviation per feature (per pixel for spectra/images)
``3``     feature-wise centring only (standard deviation fixed to 1)
``'3s'``  feature-wise centring followed by a sigmoid; :meth:`Normalizer.denormalize` inverts
``255``   divide by 255 (8-bit images), no centring
========  ==================================================================================

The first array axis is the sample axis; for the feature-wise modes every other axis is a feature
axis, i.e. statistics are per element of ``x.shape[1:]``.

Missing values (the magic number, :func:`astrotorch.config.magic_number` by default, or NaN) are
left out of the statistics and pass through :meth:`~Normalizer.normalize` and
:meth:`~Normalizer.denormalize` untouched, so a missing label stays recognisable after scaling.

Statistics are accumulated with Chan et al.'s pairwise update of (count, mean, M2), so
:meth:`~Normalizer.partial_fit` over chunks gives the same statistics as :meth:`~Normalizer.fit`
on their concatenation (up to floating-point rounding), which lets data larger than memory be
normalised.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from astrotorch.config import magic_number as _config_magic_number
from astrotorch.errors import (
    ConfigError,
    DataFormatError,
    EmptyDatasetError,
    InputValidationError,
    NotFittedError,
    ShapeMismatchError,
)

#: accepted modes, in their canonical form (astroNN accepts ints and their string spelling)
_MODES: tuple[int | str, ...] = (0, 1, 2, 3, "3s", 255)
_FEATUREWISE = (2, 3, "3s")
# elements processed per chunk in fit(): bounds the float64 working copy for large image sets
_CHUNK_ELEMENTS = 1 << 22


def _canonical_mode(mode: Any) -> int | str:
    """Map a user-given mode (``2``, ``"2"``, ``"3s"`` ...) to its canonical form or raise."""
    # bool is an int subclass: Normalizer(mode=True) is certainly a mistake, not mode 1
    if isinstance(mode, (bool, np.bool_)):
        raise ConfigError(f"Normalizer mode must be one of {list(_MODES)}, got {mode!r}")
    if isinstance(mode, (int, np.integer)) and int(mode) in _MODES:
        return int(mode)
    if isinstance(mode, str):
        text = mode.strip().lower()
        if text == "3s":
            return "3s"
        if text.isdigit() and int(text) in _MODES:
            return int(text)
    raise ConfigError(f"Normalizer mode must be one of {list(_MODES)}, got {mode!r}")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # numerically stable: exp of a non-positive number only
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    # a sigmoid that saturated to exactly 0 or 1 in finite precision would map to +-inf; clip to the
    # nearest representable interior value instead so denormalize stays finite
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


class Normalizer:
    """Normalise arrays with one of astroNN's modes; missing values pass through.

    Parameters
    ----------
    mode:
        ``0``, ``1``, ``2``, ``3``, ``'3s'`` or ``255`` (strings of the integers are accepted too).
    magic_number:
        Value marking a missing entry; defaults to :func:`astrotorch.config.magic_number` at
        construction time. NaN always counts as missing.

    Examples
    --------
    >>> norm = Normalizer(mode=2)
    >>> z = norm.normalize(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> norm.denormalize(z)
    array([[ 1., 10.],
           [ 3., 30.]])
    """

    def __init__(self, mode: int | str = 1, magic_number: float | None = None) -> None:
        self.mode: int | str = _canonical_mode(mode)
        self.magic_number: float = float(_config_magic_number() if magic_number is None else magic_number)
        if math.isnan(self.magic_number):
            raise ConfigError(
                "magic_number must be a finite number (NaN is always treated as missing anyway)"
            )
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self.feature_shape: tuple[int, ...] | None = None
        # running statistics in float64: number of valid values, their mean and sum of squared deviations
        self._count: np.ndarray | None = None
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None
        # (dtype -> (center, scale)) cast copies used by transform/denormalize; models call
        # transform once per sample in their datasets, so recomputing them each time would add up
        self._cast_cache: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def is_fitted(self) -> bool:
        """Whether statistics are available (after :meth:`fit`, :meth:`partial_fit` or :meth:`from_dict`)."""
        return self.feature_shape is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                "this Normalizer has not been fitted yet: call fit(x), partial_fit(x) or normalize(x) first"
            )

    # ------------------------------------------------------------------ statistics
    @property
    def _stat_shape(self) -> tuple[int, ...]:
        assert self.feature_shape is not None
        return self.feature_shape if self.mode in _FEATUREWISE else ()

    @property
    def mean(self) -> np.ndarray:
        """Mean of the valid values seen (per feature for modes 2/3/'3s', a scalar array otherwise)."""
        self._check_fitted()
        assert self._mean is not None
        return self._mean.copy()

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation of the valid values seen (before the constant-feature guard)."""
        self._check_fitted()
        assert self._m2 is not None and self._count is not None
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(self._count > 0, self._m2 / np.maximum(self._count, 1), 0.0)
        return np.sqrt(np.maximum(var, 0.0))

    @property
    def center(self) -> np.ndarray:
        """Value subtracted before scaling, broadcastable to one sample (0 where the mode does not centre)."""
        self._check_fitted()
        if self.mode in (1, 2, 3, "3s"):
            return self.mean
        return np.zeros(self._stat_shape)

    @property
    def scale(self) -> np.ndarray:
        """Divisor applied after centring, broadcastable to one sample; use it to scale label errors.

        1 where the mode does not scale (0, 3, '3s'), 255 for mode 255, the standard deviation for
        modes 1 and 2 with constant (or entirely missing) features set to 1 so nothing is divided by 0.
        """
        self._check_fitted()
        if self.mode in (1, 2):
            std = self.std
            # a constant feature carries no scale information: leave it unscaled rather than divide by 0
            tiny = np.finfo(np.float64).tiny
            return np.where(std > tiny * 1e6, std, 1.0)
        if self.mode == 255:
            return np.full(self._stat_shape, 255.0)
        return np.ones(self._stat_shape)

    # ------------------------------------------------------------------ helpers
    def _as_array(self, x: Any, what: str) -> np.ndarray:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # e.g. ragged lists
            raise InputValidationError(f"{what} could not be converted to a numeric array: {exc}") from exc
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
        ):
            raise InputValidationError(f"{what} must be a numeric array, got dtype {arr.dtype}")
        if arr.ndim == 0:
            raise InputValidationError(f"{what} must have a sample axis (at least 1-D), got a scalar")
        if np.issubdtype(arr.dtype, np.complexfloating):
            raise InputValidationError(f"{what} must be real-valued, got dtype {arr.dtype}")
        return arr

    def _missing(self, arr: np.ndarray) -> np.ndarray:
        """Boolean mask, True where ``arr`` is missing (magic number or NaN)."""
        if np.issubdtype(arr.dtype, np.floating):
            return np.isnan(arr) | (arr == self.magic_number)
        return arr == self.magic_number

    @staticmethod
    def _out_dtype(arr: np.ndarray) -> np.dtype:
        # keep float32/float64 as given; integers (8-bit images, integer labels) become float32 so a
        # large image set does not quadruple in memory
        return arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float32)

    def _center_scale(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """``center`` and ``scale`` cast to ``dtype`` (cached until the statistics change)."""
        cached = self._cast_cache.get(dtype)
        if cached is None:
            cached = (self.center.astype(dtype), self.scale.astype(dtype))
            self._cast_cache[dtype] = cached
        return cached

    def _check_feature_shape(self, arr: np.ndarray, what: str) -> None:
        assert self.feature_shape is not None
        if self.mode in _FEATUREWISE and tuple(arr.shape[1:]) != self.feature_shape:
            raise ShapeMismatchError(
                f"{what} has feature shape {tuple(arr.shape[1:])} but this Normalizer (mode {self.mode!r}) "
                f"was fitted on feature shape {self.feature_shape}"
            )

    # ------------------------------------------------------------------ fitting
    def partial_fit(self, x: Any) -> Normalizer:
        """Update the statistics with one more chunk of samples (streaming fit).

        Chunks must share the feature shape ``x.shape[1:]`` (feature-wise modes). The result equals
        :meth:`fit` on the concatenation of all chunks.
        """
        arr = self._as_array(x, "x")
        if arr.shape[0] == 0 or arr.size == 0:
            raise EmptyDatasetError(f"cannot fit a Normalizer on an empty array (shape {arr.shape})")
        if self.is_fitted:
            self._check_feature_shape(arr, "x")
        missing = self._missing(arr)
        values = arr.astype(np.float64)
        # validate before touching the state, so a rejected chunk leaves the Normalizer as it was
        if np.isinf(values[~missing]).any():
            raise InputValidationError(
                "x contains +-inf values; mark missing entries with NaN or the magic number"
            )
        if not self.is_fitted:
            if arr.dtype == np.bool_ and self.mode != 0:
                # astroNN's rule: booleans (e.g. binary labels) cannot be scaled meaningfully
                warnings.warn(
                    f"boolean data: Normalizer mode {self.mode!r} switched to 0 (no normalisation), "
                    "as astroNN does",
                    UserWarning,
                    stacklevel=3,
                )
                self.mode = 0
            self.feature_shape = tuple(int(s) for s in arr.shape[1:])
            shape = self._stat_shape
            self._count = np.zeros(shape)
            self._mean = np.zeros(shape)
            self._m2 = np.zeros(shape)
        valid = ~missing
        values = np.where(valid, values, 0.0)
        axes = tuple(range(arr.ndim)) if self.mode not in _FEATUREWISE else (0,)
        n_b = valid.sum(axis=axes).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b = np.where(n_b > 0, values.sum(axis=axes) / np.maximum(n_b, 1.0), 0.0)
        # mean_b has the feature shape (or is a 0-d array) and broadcasts against the sample axis
        dev = np.where(valid, values - mean_b, 0.0)
        m2_b = (dev * dev).sum(axis=axes)
        # Chan, Golub & LeVeque (1979) pairwise combination of (count, mean, M2)
        assert self._count is not None and self._mean is not None and self._m2 is not None
        n_a, mean_a, m2_a = self._count, self._mean, self._m2
        n = n_a + n_b
        delta = mean_b - mean_a
        safe_n = np.maximum(n, 1.0)
        self._mean = np.where(n > 0, mean_a + delta * n_b / safe_n, 0.0)
        self._m2 = np.where(n > 0, m2_a + m2_b + delta * delta * n_a * n_b / safe_n, 0.0)
        self._count = n
        self._cast_cache = {}
        return self

    def fit(self, x: Any) -> Normalizer:
        """Compute the statistics of ``x`` (first axis = samples), discarding earlier ones."""
        arr = self._as_array(x, "x")
        if arr.shape[0] == 0 or arr.size == 0:
            raise EmptyDatasetError(f"cannot fit a Normalizer on an empty array (shape {arr.shape})")
        self._reset()
        # process in row chunks so the float64 working copy of a large image set stays small
        row_elems = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)))
        rows = max(1, _CHUNK_ELEMENTS // row_elems)
        for start in range(0, arr.shape[0], rows):
            self.partial_fit(arr[start : start + rows])
        return self

    # ------------------------------------------------------------------ transforms
    def transform(self, x: Any) -> np.ndarray:
        """Normalise ``x`` with the fitted statistics; missing entries are returned unchanged."""
        self._check_fitted()
        arr = self._as_array(x, "x")
        self._check_feature_shape(arr, "x")
        dtype = self._out_dtype(arr)
        missing = self._missing(arr)
        out = arr.astype(dtype, copy=True)
        if self.mode == 0:
            return out
        center, scale = self._center_scale(dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            z = (out - center) / scale
            if self.mode == "3s":
                z = _sigmoid(z)
        # missing values pass through untouched (magic stays magic, NaN stays NaN)
        return np.where(missing, out, z).astype(dtype, copy=False)

    def fit_transform(self, x: Any) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`."""
        return self.fit(x).transform(x)

    def normalize(self, x: Any, calc: bool = True) -> np.ndarray:
        """astroNN-style: fit on the first call (when ``calc`` and not yet fitted), then transform."""
        if calc and not self.is_fitted:
            self.fit(x)
        return self.transform(x)

    def denormalize(self, z: Any) -> np.ndarray:
        """Invert :meth:`transform`; missing entries of ``z`` are returned unchanged."""
        self._check_fitted()
        arr = self._as_array(z, "z")
        self._check_feature_shape(arr, "z")
        dtype = self._out_dtype(arr)
        missing = self._missing(arr)
        out = arr.astype(dtype, copy=True)
        if self.mode == 0:
            return out
        center, scale = self._center_scale(dtype)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            y = _logit(out) if self.mode == "3s" else out
            x = y * scale + center
        return np.where(missing, out, x).astype(dtype, copy=False)

    inverse_transform = denormalize

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (plain lists of floats; no pickle)."""
        d: dict[str, Any] = {
            "mode": self.mode,
            "magic_number": self.magic_number,
            "feature_shape": None if self.feature_shape is None else list(self.feature_shape),
        }
        if self.is_fitted:
            assert self._count is not None and self._mean is not None and self._m2 is not None
            d.update(
                count=self._count.tolist(),
                mean=self._mean.tolist(),
                m2=self._m2.tolist(),
                # derived, for people reading config.json; from_dict recomputes them
                center=self.center.tolist(),
                scale=self.scale.tolist(),
            )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild a Normalizer from :meth:`to_dict` output; raises DataFormatError on a malformed dict."""
        if not isinstance(d, dict) or "mode" not in d:
            raise DataFormatError("Normalizer dict must be a mapping with at least a 'mode' key")
        norm = cls(mode=d["mode"], magic_number=d.get("magic_number"))
        shape = d.get("feature_shape")
        if shape is None:
            return norm
        try:
            norm.feature_shape = tuple(int(s) for s in shape)
            stat_shape = norm._stat_shape
            arrays = {}
            for key in ("count", "mean", "m2"):
                arr = np.asarray(d[key], dtype=np.float64)
                if arr.shape != stat_shape:
                    raise DataFormatError(
                        f"Normalizer dict entry {key!r} has shape {arr.shape}, expected {stat_shape}"
                    )
                if not np.all(np.isfinite(arr)):
                    raise DataFormatError(f"Normalizer dict entry {key!r} holds non-finite values")
                arrays[key] = arr
        except KeyError as exc:
            raise DataFormatError(f"Normalizer dict is missing the key {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            if isinstance(exc, DataFormatError):
                raise
            raise DataFormatError(f"Normalizer dict holds malformed statistics: {exc}") from exc
        norm._count, norm._mean, norm._m2 = arrays["count"], arrays["mean"], arrays["m2"]
        norm._cast_cache = {}
        return norm

    # ------------------------------------------------------------------ dunder
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Normalizer):
            return NotImplemented
        if (self.mode, self.magic_number, self.feature_shape) != (
            other.mode,
            other.magic_number,
            other.feature_shape,
        ):
            return False
        if not self.is_fitted:
            return True
        return bool(
            np.array_equal(self._count, other._count)
            and np.allclose(self._mean, other._mean, rtol=1e-12, atol=0.0)
            and np.allclose(self._m2, other._m2, rtol=1e-9, atol=1e-300)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: fitting changes equality

    def __repr__(self) -> str:
        state = f"feature_shape={self.feature_shape}" if self.is_fitted else "unfitted"
        return f"Normalizer(mode={self.mode!r}, magic_number={self.magic_number}, {state})"


__all__ = ["Normalizer"]
