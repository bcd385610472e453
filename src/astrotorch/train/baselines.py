"""Classical baselines for run reports: what a scientist would have done anyway, on the same split.

Each ``*_baseline`` function trains on the training rows a run uses and scores on its test rows, and
returns a :class:`BaselineResult` whose ``metrics`` have the structure of the matching network's
``evaluate`` (so one table can show both):

* catalogues and tables — :func:`tabular_baseline`: scikit-learn ``HistGradientBoosting`` per output
  (regression metrics as :meth:`AstroModel.evaluate` gives them; classification: accuracy, balanced
  accuracy, log loss, ECE); :func:`stars_baseline`: the same trees on log10(Teff, L, R) with the
  stellar model's metrics (:func:`astrotorch.models.stars.stellar_metrics` + physics violation);
* morphology — :func:`majority_class_baseline` and :func:`image_tree_baseline` (boosted trees on
  :func:`image_statistics`: fluxes, colours, concentration, asymmetry, ellipticity, Gini, spiral
  winding);
* light curves — :func:`lightcurve_baseline` (the ``lc_features`` model, boosted trees on
  :func:`astrotorch.lightcurves.features.feature_matrix`) and, for SN Ia redshifts,
  :func:`standard_candle_baseline` (the peak magnitude as a standard candle);
* spectra — :func:`spectra_baselines` (ridge regression and k nearest neighbours).

:func:`which_wins` / :func:`which_wins_table` turn a network's metrics and the baselines' into one
line per output saying which wins.

scikit-learn's boosted trees use OpenMP; they are fitted here with ``n_threads`` threads (default 1:
the data sets are small, and a training run's PyTorch threads already occupy the cores).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from astrotorch.errors import InputValidationError, ShapeMismatchError

#: how each metric ranks: True when larger is better
HIGHER_IS_BETTER: dict[str, bool] = {
    "mae": False, "rmse": False, "median_ae": False, "mad_std": False, "median_rel_err": False,
    "accuracy": True, "balanced_accuracy": True, "macro_f1": True, "log_loss": False, "ece": False,
    "frac_within_1pct": True, "nmad": False, "outlier_frac": False, "weighted_log_loss": False,
}


@dataclass
class BaselineResult:
    """One baseline's scores on the test rows: ``metrics`` as the network's ``evaluate`` lays them out,
    ``predictions`` on the test rows (values, or class probabilities) and the fit time in seconds."""

    name: str
    metrics: dict[str, Any]
    predictions: np.ndarray | None = None
    fit_seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def _threads(n_threads: int | None) -> Iterator[None]:
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n_threads)):
        yield


def _missing(a: np.ndarray) -> np.ndarray:
    from astrotorch.config import magic_number

    return ~np.isfinite(a) | (a == magic_number())


def _as_2d(y: Any, name: str) -> np.ndarray:
    a = np.asarray(y, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ShapeMismatchError(f"{name} must be (N,) or (N, D), got shape {a.shape}")
    return a


def _check_rows(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if len(x) != len(y):
        raise ShapeMismatchError(f"{what}: {len(x)} input rows but {len(y)} labels")
    if len(x) == 0:
        raise InputValidationError(f"{what}: no rows")


# ------------------------------------------------------------------------------------------ metrics
def regression_metrics(y_true: Any, y_pred: Any, names: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Per output: n, MAE, median |error|, RMSE, bias (mean of pred − true) and the MAD-based standard
    deviation of the residuals (label units) — the keys of :meth:`AstroModel.evaluate` for regression.
    Missing truths (NaN or the magic number) are skipped per output."""
    yt, yp = _as_2d(y_true, "y_true"), _as_2d(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ShapeMismatchError(f"y_true {yt.shape} and y_pred {yp.shape} differ")
    names = list(names) if names is not None else [f"label_{j}" for j in range(yt.shape[1])]
    if len(names) != yt.shape[1]:
        raise ShapeMismatchError(f"{len(names)} names for {yt.shape[1]} outputs")
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        ok = ~_missing(yt[:, j])
        r = yp[ok, j] - yt[ok, j]
        if r.size == 0:
            out[name] = {"n": 0}
            continue
        out[name] = {
            "n": int(r.size),
            "mae": float(np.mean(np.abs(r))),
            "median_ae": float(np.median(np.abs(r))),
            "rmse": float(np.sqrt(np.mean(r**2))),
            "bias": float(np.mean(r)),
            "mad_std": float(1.4826 * np.median(np.abs(r - np.median(r)))),
        }
    return out


def classification_metrics(y_true: Any, probs: Any) -> dict[str, float]:
    """Accuracy, balanced accuracy (mean per-class recall over the classes present), log loss and
    expected calibration error (15 bins) of class probabilities ``probs`` (N, C); labels < 0 are skipped.

    The network side of a comparison should be scored with this same function on its probabilities.
    """
    from sklearn.metrics import balanced_accuracy_score

    from astrotorch.uncertainty.calibration import expected_calibration_error

    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ShapeMismatchError(f"probs must be (N, C) with N = {y.size} labels, got {p.shape}")
    ok = y >= 0
    y, p = y[ok], p[ok]
    if y.size == 0:
        return {"accuracy": float("nan"), "balanced_accuracy": float("nan"), "log_loss": float("nan"),
                "ece": float("nan"), "n": 0}
    if y.max() >= p.shape[1]:
        raise InputValidationError(f"label {int(y.max())} outside the {p.shape[1]} probability columns")
    pred = p.argmax(1)
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "log_loss": float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], 1e-12, None)))),
        "ece": float(expected_calibration_error(p, y)),
        "n": int(y.size),
    }


# ------------------------------------------------------------------------------- tables / catalogues
def _tree_regressor(seed: int, loss: str = "squared_error") -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed, loss=loss)


def _tree_classifier(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed)


def _fit_tree_regression(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int,
                         log_columns: Sequence[int] = (), loss: str = "squared_error") -> np.ndarray:
    """One boosted tree per column on its labelled rows; ``log_columns`` are fitted in log10."""
    pred = np.full((len(x_te), y_tr.shape[1]), np.nan)
    for j in range(y_tr.shape[1]):
        ok = ~_missing(y_tr[:, j])
        if j in log_columns:
            ok &= y_tr[:, j] > 0
        if ok.sum() < 2:
            continue
        target = np.log10(y_tr[ok, j]) if j in log_columns else y_tr[ok, j]
        p = _tree_regressor(seed, loss).fit(x_tr[ok], target).predict(x_te)
        pred[:, j] = 10.0**p if j in log_columns else p
    return pred


def _fit_tree_classifier(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """Class probabilities (N_test, n_classes) from one boosted tree (classes absent from training get 0)."""
    ok = y_tr >= 0
    est = _tree_classifier(seed).fit(x_tr[ok], y_tr[ok])
    probs = np.zeros((len(x_te), n_classes))
    probs[:, est.classes_.astype(int)] = est.predict_proba(x_te)
    return probs


def tabular_baseline(x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, task: str = "regression",
                     names: Sequence[str] | None = None, n_classes: int | None = None, seed: int = 0,
                     n_threads: int | None = 1) -> BaselineResult:
    """Gradient-boosted trees (scikit-learn ``HistGradientBoosting``, default settings) on the inputs
    flattened to (N, F). Regression: one tree per output column (missing labels skipped), metrics as
    :func:`regression_metrics`; classification (``y`` class indices): :func:`classification_metrics`."""
    xtr = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
    xte = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    if task not in ("regression", "classification"):
        raise InputValidationError(f"task must be 'regression' or 'classification', got {task!r}")
    t0 = time.perf_counter()
    with _threads(n_threads):
        if task == "regression":
            ytr, yte = _as_2d(y_train, "y_train"), _as_2d(y_test, "y_test")
            _check_rows(xtr, ytr, "training set")
            _check_rows(xte, yte, "test set")
            pred = _fit_tree_regression(xtr, ytr, xte, seed)
            metrics: dict[str, Any] = regression_metrics(yte, pred, names)
        else:
            ytr = np.asarray(y_train).astype(np.int64).ravel()
            yte = np.asarray(y_test).astype(np.int64).ravel()
            _check_rows(xtr, ytr, "training set")
            _check_rows(xte, yte, "test set")
            k = int(n_classes) if n_classes is not None else int(max(ytr.max(), yte.max())) + 1
            pred = _fit_tree_classifier(xtr, ytr, xte, k, seed)
            metrics = classification_metrics(yte, pred)
    return BaselineResult("boosted trees", metrics, pred, time.perf_counter() - t0)


def stars_baseline(x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, seed: int = 0,
                   loss: str = "squared_error", n_threads: int | None = 1) -> BaselineResult:
    """Boosted trees on log10(Teff, L, R) for every stellar target (the positive linear ones — mass,
    density, lifespan, peak wavelength — fitted in log10; classes with a classifier). ``loss``: the
    regression trees' loss (scikit-learn's default ``"squared_error"``; ``"absolute_error"`` fits the
    median, the MAE-optimal choice).

    ``x``: DataFrames with ``teff, luminosity, radius``; ``y``: DataFrames with the
    :data:`~astrotorch.datasets.stars.STAR_TARGETS` columns. ``metrics`` is what
    :meth:`StellarPhysicsModel.evaluate` returns: :func:`~astrotorch.models.stars.stellar_metrics`
    per output plus ``physics_violation`` (the trees do not respect the exact relations)."""
    import pandas as pd

    from astrotorch.datasets.stars import STAR_CLASS_TARGETS, STAR_INPUTS, STAR_TARGETS
    from astrotorch.models.stars import LINEAR_POSITIVE, physics_violation, stellar_metrics

    for what, frame in (("x_train", x_train), ("x_test", x_test)):
        if not isinstance(frame, pd.DataFrame) or any(c not in frame.columns for c in STAR_INPUTS):
            raise InputValidationError(f"{what} must be a DataFrame with columns {STAR_INPUTS}")
        if frame[STAR_INPUTS].isna().any().any() or (frame[STAR_INPUTS].to_numpy(float) <= 0).any():
            raise InputValidationError(f"{what}: the tree baseline needs positive Teff, L and R on every row")
    f_tr = np.log10(x_train[STAR_INPUTS].to_numpy(float))
    f_te = np.log10(x_test[STAR_INPUTS].to_numpy(float))
    t0 = time.perf_counter()
    out: dict[str, np.ndarray] = {}
    with _threads(n_threads):
        reg = [t for t in STAR_TARGETS if t not in STAR_CLASS_TARGETS and t in y_train.columns]
        y_reg = y_train[reg].to_numpy(float)
        pred = _fit_tree_regression(f_tr, y_reg, f_te, seed, [j for j, t in enumerate(reg) if t in LINEAR_POSITIVE], loss)
        out.update({t: pred[:, j] for j, t in enumerate(reg)})
        for c in STAR_CLASS_TARGETS:
            if c in y_train.columns:
                lab = y_train[c].to_numpy()
                ok = ~_missing(lab.astype(float))
                out[c] = _tree_classifier(seed).fit(f_tr[ok], lab[ok].astype(int)).predict(f_te)
    frame = pd.DataFrame(out, index=x_test.index)
    for c in STAR_INPUTS:
        frame[f"{c}_completed"] = x_test[c].to_numpy(float)
    ref = y_test.copy()
    for c in STAR_INPUTS:
        ref[f"{c}_completed"] = x_test[c].to_numpy(float)
    metrics = stellar_metrics(frame, y_test) | {"physics_violation": physics_violation(frame, reference=ref)}
    return BaselineResult(f"boosted trees on log(Teff, L, R), {loss}", metrics, None, time.perf_counter() - t0,
                          {"frame": frame})


# ---------------------------------------------------------------------------------------- images
def majority_class_baseline(y_train: Any, y_test: Any, n_classes: int | None = None) -> BaselineResult:
    """Predict the training set's most common class for every test object; its probabilities are the
    training class frequencies (so log loss and ECE are defined)."""
    ytr = np.asarray(y_train).astype(np.int64).ravel()
    yte = np.asarray(y_test).astype(np.int64).ravel()
    ytr = ytr[ytr >= 0]
    if ytr.size == 0:
        raise InputValidationError("majority_class_baseline: no labelled training rows")
    k = int(n_classes) if n_classes is not None else int(max(ytr.max(), yte.max())) + 1
    freq = np.bincount(ytr, minlength=k).astype(np.float64) / ytr.size
    probs = np.tile(freq, (yte.size, 1))
    return BaselineResult("majority class", classification_metrics(yte, probs), probs, 0.0,
                          {"class": int(freq.argmax())})


def _gini(v: np.ndarray) -> np.ndarray:
    """Gini coefficient of each row's non-negative values (0: uniform light, 1: one bright pixel)."""
    s = np.sort(v, axis=1)
    n = s.shape[1]
    i = np.arange(1, n + 1)
    tot = s.sum(1)
    g = ((2 * i - n - 1) * s).sum(1) / (n * np.maximum(tot, 1e-12))
    return np.where(tot > 0, g, 0.0)


def image_statistics(images: Any, batch_size: int = 512) -> tuple[np.ndarray, list[str]]:
    """Cheap morphology statistics of images (N, H, W, C) → (N, F) features and their names.

    After subtracting each channel's border median (sky): per channel the log10 total flux and the
    concentration; colours (log10 flux ratios of neighbouring channels); on the channel sum, around the
    light-weighted centroid: half-light radius (pixels), concentration C = 5 log10(r80/r20), asymmetry
    A = Σ|I − I_180| / Σ|I| (rotation by 180° about the image centre), ellipticity 1 − b/a from the
    second moments, Gini coefficient, centroid offset from the image centre (pixels), and the signed
    spiral-winding coherences of :class:`astrotorch.models.arch.galaxy.SpiralWindingFeatures` (the
    handedness of spiral arms; they flip sign in a mirror image).
    """
    import torch

    from astrotorch.models.arch.galaxy import SpiralWindingFeatures

    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ShapeMismatchError(f"images must be (N, H, W, C), got shape {x.shape}")
    n, h, w, c = x.shape
    side = min(h, w)
    winding = SpiralWindingFeatures(view_side=max(int(round(0.71 * side)), 8))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rows = []
    for start in range(0, n, batch_size):
        img = x[start : start + batch_size].astype(np.float64)
        border = np.concatenate([img[:, :2].reshape(len(img), -1, c), img[:, -2:].reshape(len(img), -1, c),
                                 img[:, :, :2].reshape(len(img), -1, c), img[:, :, -2:].reshape(len(img), -1, c)], 1)
        img = np.clip(img - np.median(border, axis=1)[:, None, None, :], 0.0, None)
        flux_c = img.sum((1, 2)) + 1e-6  # (B, C)
        tot = img.sum(-1)  # (B, H, W)
        f = np.maximum(tot.sum((1, 2)), 1e-9)
        cx = (tot * xx).sum((1, 2)) / f
        cy = (tot * yy).sum((1, 2)) / f
        dx, dy = xx[None] - cx[:, None, None], yy[None] - cy[:, None, None]
        r = np.sqrt(dx**2 + dy**2).reshape(len(img), -1)
        order = np.argsort(r, axis=1)
        r_sorted = np.take_along_axis(r, order, 1)

        def radius_at(light: np.ndarray, frac: float, order: np.ndarray = order,
                      r_sorted: np.ndarray = r_sorted) -> np.ndarray:
            cum = np.cumsum(np.take_along_axis(light.reshape(len(light), -1), order, 1), 1)
            cum = cum / np.maximum(cum[:, -1:], 1e-12)
            k = np.argmax(cum >= frac, axis=1)
            return np.maximum(r_sorted[np.arange(len(light)), k], 0.5)

        r20, r50, r80 = (radius_at(tot, q) for q in (0.2, 0.5, 0.8))
        conc_c = [5 * np.log10(radius_at(img[..., k], 0.8) / radius_at(img[..., k], 0.2)) for k in range(c)]
        asym = np.abs(tot - tot[:, ::-1, ::-1]).sum((1, 2)) / f
        mxx = (tot * dx**2).sum((1, 2)) / f
        myy = (tot * dy**2).sum((1, 2)) / f
        mxy = (tot * dx * dy).sum((1, 2)) / f
        root = np.sqrt(((mxx - myy) / 2) ** 2 + mxy**2)
        lam1, lam2 = (mxx + myy) / 2 + root, np.maximum((mxx + myy) / 2 - root, 0.0)
        ell = 1 - np.sqrt(lam2 / np.maximum(lam1, 1e-12))
        with torch.no_grad():
            wind = winding(torch.as_tensor(np.moveaxis(img, -1, 1), dtype=torch.float32)).numpy()
        cols = [np.log10(flux_c)] + [np.stack(conc_c, 1)]
        if c > 1:
            cols.append(np.log10(flux_c[:, 1:] / flux_c[:, :-1]))
        cols.append(np.stack([r50, 5 * np.log10(r80 / r20), asym, ell, _gini(tot.reshape(len(img), -1)),
                              np.hypot(cx - (w - 1) / 2, cy - (h - 1) / 2)], 1))
        cols.append(wind)
        rows.append(np.concatenate(cols, 1))
    names = ([f"log_flux_{k}" for k in range(c)] + [f"concentration_{k}" for k in range(c)]
             + [f"colour_{k}_{k + 1}" for k in range(c - 1)]
             + ["half_light_radius", "concentration", "asymmetry", "ellipticity", "gini", "centroid_offset"]
             + [f"winding_{k}" for k in range(winding.out_features)])
    return np.concatenate(rows).astype(np.float64), names


def image_tree_baseline(images_train: Any, y_train: Any, images_test: Any, y_test: Any, *,
                        n_classes: int | None = None, seed: int = 0, n_threads: int | None = 1) -> BaselineResult:
    """A boosted-tree classifier on :func:`image_statistics` of (N, H, W, C) images."""
    t0 = time.perf_counter()
    f_tr, names = image_statistics(images_train)
    f_te, _ = image_statistics(images_test)
    res = tabular_baseline(f_tr, y_train, f_te, y_test, task="classification", n_classes=n_classes, seed=seed,
                           n_threads=n_threads)
    return BaselineResult("boosted trees on image statistics", res.metrics, res.predictions,
                          time.perf_counter() - t0, {"features": names})


# ----------------------------------------------------------------------------------- light curves
def lightcurve_baseline(curves_train: Any, curves_test: Any, y_train: Any = None, y_test: Any = None, *,
                        task: str = "classification", seed: int = 0, n_threads: int | None = 1,
                        **feature_kw: Any) -> BaselineResult:
    """The ``lc_features`` model (boosted trees on light-curve features) trained on ``curves_train``.

    Classification (labels from the curves, or ``y_*``): metrics of
    :func:`astrotorch.lightcurves.metrics.classification_report`, as ``astrotorch train lightcurves``
    reports them. Regression (``y_*`` values): :func:`regression_metrics`. ``feature_kw`` go to
    :class:`~astrotorch.models.lightcurves.LightCurveFeatures` (``first_days``, ``periodogram`` ...)."""
    from astrotorch.lightcurves.metrics import classification_report
    from astrotorch.models.lightcurves import LightCurveFeatures, as_lightcurve_set

    t0 = time.perf_counter()
    with _threads(n_threads):
        m = LightCurveFeatures(task=task, seed=seed, **feature_kw).fit(curves_train, y_train)
        # classifiers follow scikit-learn: predict gives labels, the report needs probabilities
        pred = m.predict_proba(curves_test) if task == "classification" else m.predict(curves_test)
    if task == "classification":
        lookup = {c: i for i, c in enumerate(m.targetname)}
        test = as_lightcurve_set(curves_test)
        y = (np.array([lookup[str(v)] for v in test.labels().tolist()]) if y_test is None
             else np.asarray(y_test).astype(np.int64))
        metrics: dict[str, Any] = classification_report(y, pred, m.targetname)
    else:
        if y_test is None:
            raise InputValidationError("a regression baseline needs y_test")
        metrics = regression_metrics(y_test, pred)
    return BaselineResult("boosted trees on light-curve features", metrics, pred, time.perf_counter() - t0)


def standard_candle_redshift(peak_mag_train: Any, z_train: Any, peak_mag: Any, cosmology: Any = None,
                             z_max: float = 3.0) -> tuple[np.ndarray, float]:
    """Redshifts of standard candles from their peak apparent magnitudes.

    The absolute peak magnitude M is the median of ``m − μ(z)`` over the training objects (μ the
    distance modulus of ``cosmology``, default astropy's Planck18; no K-correction); each new object's
    redshift solves ``μ(z) = m − M`` (interpolated on a grid up to ``z_max``). NaN magnitudes give
    NaN. Returns ``(z, M)``."""
    if cosmology is None:
        from astropy.cosmology import Planck18 as cosmology
    mtr, ztr = np.asarray(peak_mag_train, np.float64).ravel(), np.asarray(z_train, np.float64).ravel()
    if mtr.shape != ztr.shape:
        raise ShapeMismatchError(f"{mtr.size} training magnitudes but {ztr.size} redshifts")
    ok = np.isfinite(mtr) & np.isfinite(ztr) & (ztr > 0)
    if not ok.any():
        raise InputValidationError("standard_candle_redshift: no training object with a finite magnitude and z > 0")
    grid = np.geomspace(1e-4, z_max, 4000)
    mu = cosmology.distmod(grid).value
    abs_mag = float(np.median(mtr[ok] - np.interp(ztr[ok], grid, mu)))
    m = np.asarray(peak_mag, np.float64)
    z = np.where(np.isfinite(m), np.interp(m - abs_mag, mu, grid), np.nan)
    return z, abs_mag


def standard_candle_baseline(curves_train: Any, z_train: Any, curves_test: Any, z_test: Any, *,
                             band: str | None = None, cosmology: Any = None) -> BaselineResult:
    """SN Ia redshifts from the light curves' own peak magnitude (Bazin fit in ``band``, default the
    first band) as a standard candle (:func:`standard_candle_redshift`); objects without a fitted peak
    get the training median redshift. Metrics: :func:`astrotorch.lightcurves.metrics.redshift_metrics`."""
    from astrotorch.lightcurves.features import feature_matrix
    from astrotorch.lightcurves.metrics import redshift_metrics
    from astrotorch.models.lightcurves import as_lightcurve_set

    t0 = time.perf_counter()
    tr, te = as_lightcurve_set(curves_train), as_lightcurve_set(curves_test)
    band = band or tr.bands[0]
    if band not in tr.bands:
        raise InputValidationError(f"band {band!r} not among the light curves' bands {tr.bands}")
    peaks = []
    for curves in (tr, te):
        x, names = feature_matrix(curves, tr.bands, periodogram=False)
        peaks.append(x[:, names.index(f"{band}_peak_mag")])
    ztr = np.asarray(z_train, np.float64).ravel()
    z, abs_mag = standard_candle_redshift(peaks[0], ztr, peaks[1], cosmology)
    z = np.where(np.isfinite(z), z, np.nanmedian(ztr))
    return BaselineResult(f"standard candle ({band} peak)", redshift_metrics(z_test, z), z, time.perf_counter() - t0,
                          {"absolute_peak_mag": abs_mag, "band": band})


# ---------------------------------------------------------------------------------------- spectra
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


def ridge_alpha(x_train: Any, y_train: Any, alphas: Sequence[float] = RIDGE_ALPHAS, seed: int = 0,
                names: Sequence[str] | None = None) -> float:
    """The ridge penalty (``LinearRegression(alpha=...)``, normalised units) with the lowest validation
    error (RMSE in units of each label's spread, averaged over labels) on 20 % of the training rows; a
    fixed penalty can sit at ridge's interpolation peak. ``y_train`` (N, D), missing labels NaN or the
    magic number."""
    from astrotorch.models.baselines import LinearRegression
    from astrotorch.models.labels import is_missing

    x = np.asarray(x_train)
    y = np.asarray(y_train, np.float64)
    rows = np.random.default_rng(seed).permutation(len(x))
    n_val = max(len(x) // 5, 1)
    val, fit = rows[:n_val], rows[n_val:]
    x_fit, y_fit = x[fit], y[fit]  # one copy for every penalty
    best, best_err = float(alphas[0]), np.inf
    for a in alphas:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ill-conditioned matrix.*")
            m = LinearRegression(alpha=float(a), seed=seed, targetname=names).fit(x_fit, y_fit)
        pred = np.asarray(m.predict(x[val]), np.float64)
        ok = np.isfinite(y[val]) & ~is_missing(y[val])  # the configured magic number, not a literal
        spread = np.nanstd(np.where(ok, y[val], np.nan), axis=0)
        err = np.nanmean(np.sqrt(np.nanmean(np.where(ok, (pred - y[val]) ** 2, np.nan), axis=0)) / np.maximum(spread, 1e-12))
        if err < best_err:
            best, best_err = float(a), float(err)
    return best


def spectra_baselines(x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, names: Sequence[str] | None = None,
                      alpha: float | None = None, n_neighbors: int = 10, seed: int = 0,
                      alphas: Sequence[float] = RIDGE_ALPHAS) -> dict[str, BaselineResult]:
    """Ridge regression and distance-weighted k nearest neighbours on the (normalised) spectra, each
    scored with its :meth:`evaluate` (the network's metric layout). Returns ``{"ridge", "knn"}``.

    ``alpha=None`` (default) picks the ridge penalty from ``alphas`` on a validation part of the
    training rows (:func:`ridge_alpha`), so the baseline is as strong as a careful user would make it."""
    from astrotorch.models.baselines import KNNRegressor, LinearRegression

    if alpha is None:
        alpha = ridge_alpha(x_train, y_train, alphas, seed, names)
    out = {}
    for key, model in (("ridge", LinearRegression(alpha=alpha, seed=seed, targetname=names)),
                       ("knn", KNNRegressor(n_neighbors=n_neighbors, seed=seed, targetname=names))):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            # fewer spectra than pixels: scikit-learn's dual ridge solve warns on every label that the
            # kernel is ill-conditioned in float32; the ridge term keeps the solution well defined
            warnings.filterwarnings("ignore", message=".*ill-conditioned matrix.*")
            model.fit(x_train, y_train)
        pred = model.predict(x_test)
        out[key] = BaselineResult({"ridge": f"ridge (alpha {alpha:g})", "knn": f"{n_neighbors} nearest neighbours"}[key],
                                  model.evaluate(x_test, y_test), pred, time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------------------------ comparisons
def _score(metrics: Mapping[str, Any], output: str | None, metric: str) -> float:
    m = metrics.get(output, {}) if output is not None else metrics
    v = m.get(metric) if isinstance(m, Mapping) else None
    return float(v) if isinstance(v, (int, float, np.floating)) and np.isfinite(v) else float("nan")


def which_wins(model_metrics: Mapping[str, Any], baselines: Mapping[str, BaselineResult | Mapping[str, Any]],
               outputs: Sequence[str] | None = None, metric: str = "mae", model_name: str = "network",
               rel_tol: float = 0.0) -> list[dict[str, Any]]:
    """One row per output: the network's ``metric``, each baseline's, and the winner.

    ``model_metrics`` and each baseline's metrics are per-output dicts (``{output: {metric: value}}``)
    or, with ``outputs=[None]``, one flat dict (classification). ``outputs`` defaults to the outputs
    the network reports ``metric`` for. Lower wins unless :data:`HIGHER_IS_BETTER` says otherwise; a
    baseline wins only if better by more than ``rel_tol`` (relative), otherwise the network keeps it.
    """
    if metric not in HIGHER_IS_BETTER:
        raise InputValidationError(f"unknown metric {metric!r}; known: {sorted(HIGHER_IS_BETTER)}")
    higher = HIGHER_IS_BETTER[metric]
    bmetrics = {k: (b.metrics if isinstance(b, BaselineResult) else b) for k, b in baselines.items()}
    if outputs is None:
        outputs = [k for k, v in model_metrics.items() if isinstance(v, Mapping) and metric in v]
    rows = []
    for out in outputs:
        row: dict[str, Any] = {"output": out if out is not None else "all", "metric": metric}
        best_name, best = model_name, _score(model_metrics, out, metric)
        row[model_name] = best
        for name, m in bmetrics.items():
            v = _score(m, out, metric)
            row[name] = v
            if not np.isfinite(v):
                continue
            margin = rel_tol * abs(best) if np.isfinite(best) else 0.0
            better = (v > best + margin) if higher else (v < best - margin)
            if not np.isfinite(best) or better:
                best_name, best = name, v
        row["wins"] = best_name
        rows.append(row)
    return rows


def which_wins_table(model_metrics: Mapping[str, Any], baselines: Mapping[str, BaselineResult | Mapping[str, Any]],
                     outputs: Sequence[str] | None = None, metric: str = "mae", model_name: str = "network",
                     floatfmt: str = ".4g") -> str:
    """:func:`which_wins` as a markdown table (one line per output), for a run's ``report.md``."""
    from astrotorch.train.runs import markdown_table

    return markdown_table(which_wins(model_metrics, baselines, outputs, metric, model_name), floatfmt=floatfmt)


__all__ = [
    "BaselineResult", "HIGHER_IS_BETTER", "regression_metrics", "classification_metrics", "tabular_baseline",
    "stars_baseline", "majority_class_baseline", "image_statistics", "image_tree_baseline", "lightcurve_baseline",
    "standard_candle_redshift", "standard_candle_baseline", "spectra_baselines", "ridge_alpha", "RIDGE_ALPHAS",
    "which_wins", "which_wins_table",
]
