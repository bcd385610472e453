"""astroNN's APOGEE spectral models on the astrotorch model API.

Registered names: ``apogee_cnn``, ``apogee_bcnn``, ``apogee_bcnn_censored``,
``apogee_dr14_gaiadr2_bcnn``, ``starnet2017``. Hyper-parameter defaults are astroNN's
(``astroNN.models.apogee_models``): filters, kernel lengths, pooling, dense units, dropout rates,
learning rates, L2 and the normalisation modes (inputs centred feature-wise, mode 3; labels
standardised, mode 2). Spectra are (N, 7514) continuum-normalised fluxes (or any (N, L)).

Example::

    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.models import create_model

    data = synthetic_spectra(5000, seed=1)
    bcnn = create_model("apogee_bcnn", max_epochs=10, targetname=data.label_names)
    bcnn.fit(data.flux, data.labels, y_err=data.label_err)
    pred, sigma = bcnn.predict(data.flux[:10], x_err=data.flux_err[:10])   # sigma["total"] ...
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.callsite import caller_stacklevel
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models.arch.apogee import (
    ApogeeBCNNCensoredNet,
    ApogeeBCNNNet,
    ApogeeCNNNet,
    ApogeeDR14GaiaDR2Net,
)
from astrotorch.models.arch.starnet import StarNet2017Net
from astrotorch.models.base import AstroModel
from astrotorch.models.hyperparams import check_bool, check_float, check_int, check_int_sequence
from astrotorch.models.labels import is_missing
from astrotorch.models.registry import register_model
from astrotorch.models.sigma_calibration import (
    NOISE_FORMS,
    degrade_snr,
    fit_sigma_scales,
    flagged_by_error,
    noise_level,
    scale_precision,
)


def _n_pix(input_shape: Any) -> int:
    shape = tuple(input_shape)
    if len(shape) == 2 and shape[1] == 1:  # (L, 1) astroNN layout
        shape = shape[:1]
    if len(shape) != 1:
        raise InputValidationError(f"spectral models take (N, L) spectra, got per-sample shape {shape}")
    return int(shape[0])


def _check_conv_params(num_filters: Any, filter_len: Any, pool_length: Any, num_hidden: Any, activation: Any,
                       initializer: Any) -> None:
    check_int_sequence("num_filters", num_filters, 1)
    check_int("filter_len", filter_len, 1)
    check_int("pool_length", pool_length, 1)
    check_int_sequence("num_hidden", num_hidden, 1)
    if not isinstance(activation, str):
        raise InputValidationError(f"activation must be a name such as 'relu', got {activation!r}")
    if not isinstance(initializer, str):
        raise InputValidationError(f"initializer must be a name such as 'he_normal', got {initializer!r}")


class _SpectraModel(AstroModel):
    """Shared conventions: spectra (N, L) or astroNN's (N, L, 1) come in as (N, L) float32."""

    def _conv_args(self) -> tuple[tuple[int, ...], int, int, tuple[int, ...]]:
        """``num_filters``, ``filter_len``, ``pool_length``, ``num_hidden`` as the architectures take them."""
        return (tuple(int(f) for f in self.num_filters), int(self.filter_len), int(self.pool_length),
                tuple(int(h) for h in self.num_hidden))

    def prepare_x(self, x: Any) -> np.ndarray | dict[str, np.ndarray]:
        out = super().prepare_x(x)
        if isinstance(out, np.ndarray) and out.ndim == 3 and out.shape[2] == 1:
            out = np.ascontiguousarray(out[:, :, 0])
        return out


class _CalibratedBayesian(_SpectraModel):
    """σ calibration on the validation split through the same path as test predictions.

    With ``calibrate_uncertainty=True``, after training, the held-out validation stars (``val_size``
    of the training data, never any test data) are predicted with :meth:`predict` — MC dropout,
    predictive head and, when ``fit`` got ``x_err``, the propagated input errors, exactly as at test
    time — and the σ components are rescaled per label so that the validation residuals are
    consistent with σ_total:

    * ``sigma_scale_`` (a_j) multiplies every component (model, predictive, propagated);
    * ``propagated_scale_`` (b_j / a_j) multiplies, in addition, the propagated input-error term;
    * ``sigma_floor_`` (c_j, label units; ``calibration_floor=True``) is added in quadrature: model
      error that neither MC dropout nor the variance head sees (reported as ``sigma["floor"]``);
    * ``noise_power_`` (γ_j) and ``noise_reference_`` (ν_ref, flux units): where ``predict`` gets
      ``x_err``, the whole variance is multiplied by ``(ν/ν_ref)^γ_j``, ν the spectrum's median flux
      error (:func:`~astrotorch.models.sigma_calibration.noise_level`), ν_ref that of the validation
      spectra (without ``x_err`` the spectra are taken to be at the training S/N);
    * ``noise_power_high_`` (γ₂_j) and ``noise_break_`` (ν_b/ν_ref), NaN for a label with one power, None
      when no label has a break: beyond the break the power is γ₂_j
      (:func:`~astrotorch.models.sigma_calibration.noise_factor`). ``calibration_noise_form`` ("auto",
      the default) lets the Bayesian information criterion of the calibration stars choose it per label
      ("power": never, "broken": always); catalogue-labelled validation stars rarely pin it, stars with
      exact labels often do.

    The variance head learns the scatter at the S/N of the training spectra — which already contains
    the effect of their noise — while the propagated term adds the input noise again; at the training
    S/N one factor absorbs that, but on lower-S/N spectra (visits) the terms grow differently, and the
    error a network trained at one S/N makes on noisier spectra grows faster than the linearised
    propagation says (hence γ). So, when ``x_err`` is known, the validation stars are predicted twice:
    as they are, and as a noisier copy (extra Gaussian noise ``x_err·sqrt(k²−1)`` so the S/N drops by a
    factor ``k`` drawn per star in ``calibration_snr_factor``; pixels whose error is inflated by the
    mask are left alone), and (a_j, b_j, c_j, γ_j) maximise the Gaussian likelihood of the residuals
    ``r ~ N(0, (a²(σ_model² + σ_predictive²) + b² σ_propagated² + c²)(ν/ν_ref)^γ + y_err²)``
    (:func:`~astrotorch.models.sigma_calibration.fit_sigma_scales`). The catalogue labels are noisy
    by ``y_err``; the likelihood deconvolves that exactly (a moment estimator ``mean((r² − y_err²)/σ²)``
    is dominated by the label noise of stars with small σ). Without ``x_err`` only a_j (and c_j) are
    fitted, on the validation stars as they are. The estimator was chosen on independent stars, not
    on any acceptance test split (``bench/spectra_calibration_dev.py --data emulated``: a BCNN trained
    on 20,000 emulated APOGEE stars, std(z) of 1,000 fresh stars at S/N 100 / 50 was 0.52–0.77 /
    0.95–1.05 without γ and 0.92–1.09 / 0.90–1.06 with it). :meth:`calibrate_sigma` refits the same
    calibration on stars of the caller's choice.

    ``sigma_precision_`` (per label, fractional 1σ) says how well the calibration stars as they are pin σ
    at their own S/N: the Cramér–Rao bound of one overall factor
    (:func:`~astrotorch.models.sigma_calibration.scale_precision`). Catalogue labels whose errors are
    several times the network's own error make each star count for little (8,000 validation stars with
    label errors 4.5× the model's pin σ to ±17 %); above ±10 % the calibration warns.

    ``masked_error_ratio`` (default 10): when ``predict`` gets ``x_err``, pixels whose error exceeds
    this multiple of the spectrum's median error (bitmask-flagged pixels with inflated errors, whose
    flux is a mask value) are not propagated (:func:`flagged_by_error`); ``None`` propagates every pixel.
    """

    def __init__(self, *args: Any, calibration_snr_factor: Sequence[float] = (1.5, 3.0), calibration_floor: bool = True,
                 calibration_noise_form: str = "auto", masked_error_ratio: float | None = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_bool("calibration_floor", calibration_floor)
        if calibration_noise_form not in NOISE_FORMS:
            raise InputValidationError(f"calibration_noise_form must be one of {NOISE_FORMS}, got {calibration_noise_form!r}")
        check_float("masked_error_ratio", masked_error_ratio, 1.0, low_inclusive=False, allow_none=True)
        try:
            lo, hi = (float(v) for v in calibration_snr_factor)
        except (TypeError, ValueError):
            lo, hi = math.nan, math.nan
        if not 1.0 <= lo <= hi:
            raise InputValidationError(f"calibration_snr_factor must be (low, high) with 1 <= low <= high, got {calibration_snr_factor!r}")
        self.calibration_floor = calibration_floor
        self.calibration_noise_form = calibration_noise_form
        self.masked_error_ratio = masked_error_ratio
        self.calibration_snr_factor = calibration_snr_factor

    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None,
            ckpt_path: str | None = None, warm_start: bool = False) -> AstroModel:
        # keep references (no copies) to the raw arrays for the validation calibration
        self._fit_raw = (x, y, x_err, y_err) if not isinstance(x, torch.utils.data.Dataset) else None
        try:
            return super().fit(x, y, x_err=x_err, y_err=y_err, sample_weight=sample_weight, ckpt_path=ckpt_path,
                               warm_start=warm_start)
        finally:
            self._fit_raw = None

    def _propagated_input_errors(self, x_err: np.ndarray) -> np.ndarray:
        # Flagged pixels carry inflated errors (×100 in APOGEE-style data) while their flux is a mask
        # value or a known-bad number the network learnt to ignore: propagating that error as noise
        # would dominate σ_propagated with pixels that hold no measurement.
        if self.masked_error_ratio is None:
            return x_err
        return np.where(flagged_by_error(x_err, float(self.masked_error_ratio)), 0.0, x_err).astype(np.float32)

    def _calibrate_sigma(self, val_ds: Any) -> None:
        raw = getattr(self, "_fit_raw", None)
        idx = getattr(val_ds, "indices", None)
        if raw is None or idx is None:  # streaming Dataset: fall back to the normalised-units estimate
            super()._calibrate_sigma(val_ds)
            return
        x, y, x_err, y_err = raw
        idx = np.asarray(idx)

        def take(a: Any) -> Any:
            if a is None:
                return None
            if isinstance(a, Mapping):
                return {k: np.asarray(v)[idx] for k, v in a.items()}
            return np.asarray(a)[idx]

        self._calibrate_on(take(x), take(y), take(x_err), take(y_err))

    def calibrate_sigma(self, x: Any, y: Any, x_err: Any = None, y_err: Any = None) -> _CalibratedBayesian:
        """Refit the σ calibration (see the class docstring) on held-out stars with known labels.

        ``fit`` does this on its validation split; call it to calibrate on another set (stars with
        better labels, another survey's S/N) without retraining. ``y`` (N, n_labels) in label units,
        ``y_err`` their 1σ errors (deconvolved), ``x_err`` the flux errors (they enable the propagated
        term and the noise power). Returns ``self``.
        """
        self._check_fitted()
        yv = np.asarray(y, dtype=np.float64)
        n = self._validate_x(self.prepare_x(x))
        if yv.ndim == 1:
            yv = yv[:, None]
        if yv.shape != (n, int(self.output_dim)):
            raise ShapeMismatchError(f"y must have shape ({n}, {self.output_dim}), got {np.shape(y)}")
        if y_err is not None and np.shape(y_err) not in (yv.shape, np.shape(y)):
            raise ShapeMismatchError(f"y_err must have the shape of y {np.shape(y)}, got {np.shape(y_err)}")
        if n < 10:
            raise InputValidationError(f"calibrate_sigma needs at least 10 stars, got {n}")
        self._calibrate_on(x, yv, x_err, None if y_err is None else np.asarray(y_err, np.float64).reshape(yv.shape))
        return self

    def _calibrate_on(self, xv: Any, yv: Any, ev_x: Any, ev: Any) -> None:
        self.sigma_scale_ = None
        self.propagated_scale_ = None
        self.sigma_floor_ = None
        self.noise_power_ = None
        self.noise_power_high_ = None
        self.noise_break_ = None
        self.noise_reference_ = None
        self.sigma_precision_ = None
        sets = [(xv, ev_x)]
        if ev_x is not None and not isinstance(xv, Mapping):
            xv, ev_x = np.asarray(xv, np.float32), np.asarray(ev_x, np.float32)
            sets = [(xv, ev_x), degrade_snr(xv, ev_x, tuple(float(v) for v in self.calibration_snr_factor), seed=self.seed)]
        yv = np.asarray(yv, dtype=np.float64)
        ev = None if ev is None else np.asarray(ev, dtype=np.float64)
        # each spectrum's noise level; the validation spectra as they are set the reference (see sigma_calibration)
        levels: list[np.ndarray | None] = [None] * len(sets)
        ref = None
        if len(sets) > 1:
            levels = [noise_level(self._propagated_input_errors(np.where(np.isfinite(es), es, 0.0))) for _, es in sets]
            ref = float(np.nanmedian(levels[0])) if np.isfinite(levels[0]).any() else None
        parts: list[tuple[np.ndarray, ...]] = []
        for (xs, es), level in zip(sets, levels):
            pred, sig = self.predict(xs, x_err=es)
            yy = yv.reshape(pred.shape)
            ee = np.zeros_like(yy) if ev is None else np.where(is_missing(ev.reshape(pred.shape)), 0.0, ev.reshape(pred.shape))
            mp2 = sig["model"].astype(np.float64) ** 2 + sig["predictive"].astype(np.float64) ** 2
            pp2 = sig["propagated"].astype(np.float64) ** 2 if "propagated" in sig else np.zeros_like(mp2)
            nu = np.ones(len(pred)) if ref is None or level is None else level / ref
            r = np.where(is_missing(yy), np.nan, pred - yy)
            parts.append((r, mp2, pp2, ee, np.where(np.isfinite(nu), nu, 1.0)))
        r, mp2, pp2, ee, nu = (np.concatenate(a) for a in zip(*parts))
        n_out = r.shape[1]
        a_s = np.ones(n_out, dtype=np.float32)
        b_s = np.ones(n_out, dtype=np.float32)
        c_s = np.zeros(n_out, dtype=np.float32)
        g_s = np.zeros(n_out, dtype=np.float32)
        g2_s = np.full(n_out, np.nan, dtype=np.float32)  # NaN: one power (no break)
        brk_s = np.full(n_out, np.nan, dtype=np.float32)
        precision = np.full(n_out, np.nan, dtype=np.float32)
        two = len(sets) > 1 and bool(np.any(pp2 > 0))
        for j in range(n_out):
            ok = np.isfinite(r[:, j]) & (mp2[:, j] + pp2[:, j] > 0)
            if ok.sum() < 10:
                continue
            fit = fit_sigma_scales(r[ok, j], mp2[ok, j], pp2[ok, j] if two else None, ee[ok, j] ** 2,
                                   floor=self.calibration_floor, noise_ratio=nu[ok] if two and ref else None,
                                   noise_form=self.calibration_noise_form)
            a_s[j], b_s[j], c_s[j], g_s[j] = fit.a, (fit.b if two else fit.a), fit.c, fit.noise_power
            if math.isfinite(fit.noise_break):
                g2_s[j], brk_s[j] = fit.noise_power_high, fit.noise_break
            # what the stars as they are (the first rows, not their noisier copies) say about σ at their S/N
            ok[len(parts[0][0]):] = False
            fitted = fit.variance(mp2[ok, j], pp2[ok, j] if two else None, nu[ok] if two and ref else None)
            precision[j] = scale_precision(fitted, ee[ok, j] ** 2)
        self.sigma_scale_ = a_s
        self.propagated_scale_ = (b_s / a_s).astype(np.float32) if two else None
        self.sigma_floor_ = c_s if self.calibration_floor else None
        if two and ref:
            self.noise_power_, self.noise_reference_ = g_s, ref
            if np.isfinite(brk_s).any():
                self.noise_power_high_, self.noise_break_ = g2_s, brk_s
        self.sigma_precision_ = precision
        loose = [f"{name} ±{100 * p:.0f} %" for name, p in zip(self.targetname or [f"label_{j}" for j in range(n_out)], precision) if p > 0.1]
        if loose:
            warnings.warn(
                f"the {len(yv)} calibration stars pin σ at their own S/N only to {', '.join(loose)} (1σ; set by their "
                "number and by their label errors beside the model's error, see sigma_precision_): calibrate_sigma "
                "on more stars, or on stars with more precise labels, tightens it", stacklevel=caller_stacklevel())


@register_model
class ApogeeCNN(_SpectraModel):
    """astroNN ``ApogeeCNN``: a deterministic CNN for stellar labels from spectra.

    Architecture parameters: ``num_filters`` (2, 4), ``filter_len`` 8 pixels, ``pool_length`` 4,
    ``num_hidden`` (196, 96), ``activation`` relu, ``initializer`` he_normal; astroNN training
    defaults: lr 0.005, L2 1e-5, dropout 0.1, 100 epochs, inputs norm mode 3.
    """

    name = "apogee_cnn"
    bayesian = False

    def __init__(self, num_filters: Sequence[int] = (2, 4), filter_len: int = 8, pool_length: int = 4,
                 num_hidden: Sequence[int] = (196, 96), activation: str = "relu", initializer: str = "he_normal",
                 **kwargs: Any) -> None:
        for k, v in dict(lr=0.005, l2=1e-5, dropout_rate=0.1, max_epochs=100, input_norm_mode=3).items():
            kwargs.setdefault(k, v)
        super().__init__(**kwargs)
        _check_conv_params(num_filters, filter_len, pool_length, num_hidden, activation, initializer)
        self.num_filters = num_filters
        self.filter_len = filter_len
        self.pool_length = pool_length
        self.num_hidden = num_hidden
        self.activation = activation
        self.initializer = initializer

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return ApogeeCNNNet(_n_pix(input_shape), output_dim, *self._conv_args(), self.dropout_rate, self.activation,
                            self.initializer)


@register_model
class ApogeeBCNN(_CalibratedBayesian):
    """astroNN ``ApogeeBCNN``: Bayesian CNN with MC dropout and a predictive-variance head.

    Trained with ``robust_mse`` (heteroscedastic loss with the known label errors ``y_err``);
    ``predict`` returns the prediction and standard deviations ``model`` (MC dropout, epistemic),
    ``predictive`` (the variance head, aleatoric), ``propagated`` (input errors ``x_err`` pushed
    through the network) and ``total`` (their quadrature sum), all in label units. The network's
    ``mc_split`` lets MC inference run the first convolution once per spectrum.
    astroNN defaults: lr 0.0005, dropout 0.3, L2 5e-9, 100 epochs, ``num_hidden`` (196, 96),
    weights ~ N(0, 0.05²), inputs norm mode 3.
    """

    name = "apogee_bcnn"
    bayesian = True

    def __init__(self, num_filters: Sequence[int] = (2, 4), filter_len: int = 8, pool_length: int = 4,
                 num_hidden: Sequence[int] = (196, 96), activation: str = "relu",
                 initializer: str = "random_normal", **kwargs: Any) -> None:
        for k, v in dict(lr=0.0005, l2=5e-9, dropout_rate=0.3, max_epochs=100, input_norm_mode=3).items():
            kwargs.setdefault(k, v)
        super().__init__(**kwargs)
        _check_conv_params(num_filters, filter_len, pool_length, num_hidden, activation, initializer)
        self.num_filters = num_filters
        self.filter_len = filter_len
        self.pool_length = pool_length
        self.num_hidden = num_hidden
        self.activation = activation
        self.initializer = initializer

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        if self.task != "regression":
            raise InputValidationError("ApogeeBCNN is a regression model (task='regression')")
        return ApogeeBCNNNet(_n_pix(input_shape), output_dim, *self._conv_args(), self.dropout_rate, self.activation,
                             self.initializer)


def aspcap_element_windows(path: str | Path | None = None, dr: int = 17,
                           elements: Sequence[str] | None = None, suffix: str = "_H") -> dict[str, list[int]]:
    """ASPCAP element windows (real APOGEE, from astroNN's ``aspcap_l31c_masks.npy``) as pixel indices.

    Keys are label names ``<El><suffix>`` (e.g. ``"Mg_H"``); ``C1``/``Ti2`` keep astroNN's names.
    Pass the result as ``element_windows`` to :class:`ApogeeBCNNCensored`.
    """
    from astrotorch.apogee import ASPCAP_ELEMENTS, aspcap_mask

    out: dict[str, list[int]] = {}
    names = {"CI": "C1", "TiII": "Ti2"}
    for el in elements if elements is not None else ASPCAP_ELEMENTS:
        mask = aspcap_mask(el, dr=dr, path=path)
        if mask.any():
            out[f"{names.get(el, el)}{suffix}"] = np.flatnonzero(mask).tolist()
    return out


def _windows_to_indices(windows: Any) -> dict[str, list[int]] | str:
    """Normalise ``element_windows`` to ``{label: sorted pixel indices}`` (JSON-friendly), or ``"synthetic"``."""
    if isinstance(windows, str):
        if windows != "synthetic":
            raise InputValidationError(
                f"element_windows must be 'synthetic', or a dict label -> bool mask / pixel indices, got {windows!r}"
            )
        return windows
    if not isinstance(windows, Mapping) or not windows:
        raise InputValidationError("element_windows must be a non-empty dict of label -> bool mask or pixel indices")
    out: dict[str, list[int]] = {}
    for name, w in windows.items():
        arr = np.asarray(w)
        if arr.dtype == bool:
            idx = np.flatnonzero(arr)
        elif arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
            idx = np.unique(arr)
        else:
            raise InputValidationError(f"window of {name!r} must be a bool mask or integer pixel indices")
        if idx.size == 0:
            raise InputValidationError(f"window of {name!r} is empty")
        out[str(name)] = [int(i) for i in idx]
    return out


@register_model
class ApogeeBCNNCensored(_CalibratedBayesian):
    """astroNN ``ApogeeBCNNCensored`` (Leung & Bovy 2019): element branches that see only their lines.

    ``element_windows``: ``"synthetic"`` (the line windows of astrotorch's synthetic generator), or a
    dict mapping label names to bool masks / pixel indices — e.g. :func:`aspcap_element_windows` for
    real APOGEE spectra. Labels listed in ``trunk_labels`` (astroNN: Teff, log g, Fe) or without a
    window come from the full-spectrum BCNN trunk; every other label gets its own branch. ``targetname``
    must name the label columns. ``wide_labels`` get astroNN's 8×/4× wider branches (C and N, which
    have many molecular pixels). astroNN defaults: ``num_hidden`` (192, 96, 32, 16, 2), lr 0.0005,
    dropout 0.3, 50 epochs, max-norm 0.5 on the full-spectrum summary units.
    """

    name = "apogee_bcnn_censored"
    bayesian = True

    def __init__(self, element_windows: Any = "synthetic",
                 trunk_labels: Sequence[str] = ("teff", "logg", "Fe_H", "Fe", "M_H", "alpha_M", "M", "alpha"),
                 wide_labels: Sequence[str] = ("C_H", "N_H", "C", "N"), num_filters: Sequence[int] = (2, 4),
                 filter_len: int = 8, pool_length: int = 4, num_hidden: Sequence[int] = (192, 96, 32, 16, 2),
                 activation: str = "relu", initializer: str = "random_normal", maxnorm: float = 0.5,
                 **kwargs: Any) -> None:
        for k, v in dict(lr=0.0005, l2=5e-9, dropout_rate=0.3, max_epochs=50, input_norm_mode=3).items():
            kwargs.setdefault(k, v)
        super().__init__(**kwargs)
        _windows_to_indices(element_windows)  # validates
        _check_conv_params(num_filters, filter_len, pool_length, num_hidden, activation, initializer)
        check_float("maxnorm", maxnorm, 0.0, low_inclusive=False)
        for pname, labels in (("trunk_labels", trunk_labels), ("wide_labels", wide_labels)):
            if isinstance(labels, str) or not all(isinstance(v, str) for v in labels):
                raise InputValidationError(f"{pname} must be a list or tuple of label names, got {labels!r}")
        self.element_windows = element_windows
        self.trunk_labels = trunk_labels
        self.wide_labels = wide_labels
        self.num_filters = num_filters
        self.filter_len = filter_len
        self.pool_length = pool_length
        self.num_hidden = num_hidden
        self.activation = activation
        self.initializer = initializer
        self.maxnorm = maxnorm

    def resolved_windows(self, n_pix: int) -> dict[str, np.ndarray]:
        """The element windows as bool masks of ``n_pix`` pixels, keyed by label name."""
        windows = _windows_to_indices(self.element_windows)
        if windows == "synthetic":
            from astrotorch.datasets.spectra import element_windows

            wins = element_windows()
        else:
            wins = {}
            for name, idx in windows.items():  # type: ignore[union-attr]
                idx_arr = np.asarray(idx, dtype=np.int64)
                if idx_arr.max() >= n_pix:
                    raise InputValidationError(f"window of {name!r} reaches pixel {idx_arr.max()}, spectra have {n_pix}")
                mask = np.zeros(n_pix, dtype=bool)
                mask[idx_arr] = True
                wins[name] = mask
        for name, m in wins.items():
            if m.shape != (n_pix,):
                raise InputValidationError(f"window of {name!r} has {m.shape[0]} pixels, spectra have {n_pix}")
        return wins

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        if self.task != "regression":
            raise InputValidationError("ApogeeBCNNCensored is a regression model")
        names = self.targetname
        if not names or len(names) != output_dim:
            raise InputValidationError(
                f"ApogeeBCNNCensored needs targetname naming each of the {output_dim} labels "
                "(to match labels with element windows)"
            )
        n_pix = _n_pix(input_shape)
        wins = self.resolved_windows(n_pix)
        by_index = {i: wins[n] for i, n in enumerate(names) if n in wins and n not in self.trunk_labels}
        wide = [i for i, n in enumerate(names) if n in self.wide_labels]
        return ApogeeBCNNCensoredNet(n_pix, output_dim, by_index, wide, *self._conv_args(), self.dropout_rate,
                                     self.activation, self.initializer, float(self.maxnorm))


@register_model
class ApogeeDR14GaiaDR2BCNN(_CalibratedBayesian):
    """astroNN ``ApogeeDR14GaiaDR2BCNN`` (Leung & Bovy 2019b): spectro-photometric distances.

    Input: a dict ``{"spectra": (N, L), "mag": (N,) extinction-corrected apparent Ks magnitude,
    "aux": (N, k) quantities the Gaia parallax zero-point may depend on}``; target: Gaia parallax (mas)
    with its error as ``y_err``. The network predicts the Ks-band *fakemag* (``parallax ·
    10^(0.2 m)``, astroNN's pseudo-luminosity) from the spectrum, converts it to a parallax with the
    magnitude and adds a learned zero-point offset; the loss is robust_mse on the parallax.
    :meth:`predict_fakemag` returns fakemag (and σ), :meth:`predict_offset` the learned offset (mas).
    astroNN defaults: ``num_hidden`` (162, 64, 32, 16), lr 0.001, dropout 0.3, 100 epochs; spectra
    normalised with mode 3, the magnitude not at all (it enters the physics), aux with mode 2, labels
    not normalised (the parallax stays in mas).
    """

    name = "apogee_dr14_gaiadr2_bcnn"
    bayesian = True
    INPUT_KEYS = ("spectra", "mag", "aux")

    def __init__(self, num_filters: Sequence[int] = (2, 4), filter_len: int = 8, pool_length: int = 4,
                 num_hidden: Sequence[int] = (162, 64, 32, 16), activation: str = "relu",
                 initializer: str = "random_normal", **kwargs: Any) -> None:
        for k, v in dict(lr=0.001, l2=5e-9, dropout_rate=0.3, max_epochs=100,
                         input_norm_mode={"spectra": 3, "mag": 0, "aux": 2}, labels_norm_mode=0,
                         targetname=["parallax"]).items():
            kwargs.setdefault(k, v)
        super().__init__(**kwargs)
        _check_conv_params(num_filters, filter_len, pool_length, num_hidden, activation, initializer)
        self.num_filters = num_filters
        self.filter_len = filter_len
        self.pool_length = pool_length
        self.num_hidden = num_hidden
        self.activation = activation
        self.initializer = initializer
        if not isinstance(self.input_norm_mode, Mapping) or self.input_norm_mode.get("mag", 0) != 0:
            raise InputValidationError("input_norm_mode must be a dict with 'mag': 0 (the magnitude enters the physics)")
        if self.labels_norm_mode not in (0, "0"):
            raise InputValidationError("labels_norm_mode must be 0: the parallax is predicted in mas")

    def prepare_x(self, x: Any) -> dict[str, np.ndarray]:
        if not isinstance(x, Mapping):
            raise InputValidationError(f"{type(self).__name__} takes a dict with keys {self.INPUT_KEYS}")
        missing = set(self.INPUT_KEYS) - set(x)
        if missing:
            raise InputValidationError(f"input dict lacks {sorted(missing)}; expected keys {self.INPUT_KEYS}")
        out = super().prepare_x({k: x[k] for k in self.INPUT_KEYS})
        assert isinstance(out, dict)
        if out["mag"].shape[1:] != (1,):
            raise InputValidationError(f"'mag' must be one magnitude per star, got shape {out['mag'].shape}")
        return out

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        if output_dim != 1:
            raise InputValidationError(f"the target is the parallax (one column), got {output_dim} columns")
        return ApogeeDR14GaiaDR2Net(_n_pix(input_shape["spectra"]), int(np.prod(input_shape["aux"])),
                                    *self._conv_args(),
                                    self.dropout_rate, self.activation, self.initializer)

    def predict_fakemag(self, x: Any, batch_size: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Ks-band fakemag (N, 1) and its σ dict (``total``, ``model``, ``predictive``) from the spectra."""
        self._check_fitted()
        floor, self.sigma_floor_ = self.sigma_floor_, None  # the floor is in parallax units
        try:
            with self.network.fakemag_output():  # type: ignore[union-attr]
                out = self.predict(x, batch_size=batch_size)
        finally:
            self.sigma_floor_ = floor
        assert isinstance(out, tuple)
        return out

    def predict_offset(self, aux: Any) -> np.ndarray:
        """The learned parallax zero-point offset (mas), (N,), deterministic (dropout off)."""
        from astrotorch.models.base import deterministic_layers

        self._check_fitted()
        a = self._prepare_array(aux, "aux")
        a = np.asarray(self._input_norm["aux"].transform(a), np.float32)
        net = self.network
        net.eval()
        with torch.inference_mode(), deterministic_layers(net):
            off = net.offset(torch.as_tensor(a, device=self._device()))  # type: ignore[union-attr]
        return off[:, 0].cpu().numpy()


@register_model
class StarNet2017(_SpectraModel):
    """StarNet (Fabbro et al. 2018, arXiv:1709.09182), the exact published architecture.

    ``num_filters`` (4, 16), ``filter_len`` 8, ``pool_length`` 4, ``num_hidden`` (256, 128), He-normal
    initialisation; training as in the paper / astroNN: Adam lr 0.0007, 30 epochs, ReduceLROnPlateau
    (patience 2, min lr 8e-5), early stopping (patience 4, min delta 1e-4), inputs norm mode 3.
    """

    name = "starnet2017"
    bayesian = False

    def __init__(self, num_filters: Sequence[int] = (4, 16), filter_len: int = 8, pool_length: int = 4,
                 num_hidden: Sequence[int] = (256, 128), activation: str = "relu", initializer: str = "he_normal",
                 **kwargs: Any) -> None:
        for k, v in dict(lr=0.0007, max_epochs=30, reduce_lr_min=8e-5, reduce_lr_patience=2,
                         early_stopping_patience=4, early_stopping_min_delta=1e-4, input_norm_mode=3).items():
            kwargs.setdefault(k, v)
        super().__init__(**kwargs)
        _check_conv_params(num_filters, filter_len, pool_length, num_hidden, activation, initializer)
        self.num_filters = num_filters
        self.filter_len = filter_len
        self.pool_length = pool_length
        self.num_hidden = num_hidden
        self.activation = activation
        self.initializer = initializer

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return StarNet2017Net(_n_pix(input_shape), output_dim, *self._conv_args(), self.activation, self.initializer)


__all__ = [
    "ApogeeBCNN",
    "ApogeeBCNNCensored",
    "ApogeeCNN",
    "ApogeeDR14GaiaDR2BCNN",
    "StarNet2017",
    "aspcap_element_windows",
    "degrade_snr",
    "fit_sigma_scales",
]
