"""Evaluation of stellar-label models: metrics table, residual, jacobian and calibration figures.

* :func:`metrics_table` — per label: number of valid stars, median residual (bias), ``mad_std``
  (1.4826 × median absolute deviation, robust scatter), RMSE, and with uncertainties the median σ,
  the standard deviation of the z-scores ``(prediction − truth)/σ`` and the 68 % / 95 % coverage;
  :func:`write_metrics_table` stores it as CSV and markdown.
* :func:`aspcap_residue_plot` — astroNN's ``aspcap_residue_plot``: residual against truth per label,
  points coloured by the predicted σ.
* :func:`jacobian_plot` — ∂label/∂flux against wavelength with each element's line windows shaded.
* :func:`calibration_plot` — z-score histograms against N(0, 1) and the coverage curve (observed vs
  nominal fraction of stars within k σ).

Missing truths (NaN or the magic number) are left out everywhere. Label units: Teff in K, the rest
in dex; wavelengths in Å.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.config import magic_number
from astrotorch.errors import InputValidationError, ShapeMismatchError

#: display names and units of the common labels
LABEL_TEX: dict[str, tuple[str, str]] = {
    "teff": (r"$T_\mathrm{eff}$", "K"),
    "logg": (r"$\log g$", "dex"),
    "M_H": ("[M/H]", "dex"),
    "alpha_M": (r"[$\alpha$/M]", "dex"),
    "Fe_H": ("[Fe/H]", "dex"),
}


def _label_tex(name: str) -> tuple[str, str]:
    if name in LABEL_TEX:
        return LABEL_TEX[name]
    if name.endswith("_H"):
        return f"[{name[:-2]}/H]", "dex"
    return name, ""


def _as_2d(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ShapeMismatchError(f"{name} must be (N, D), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputValidationError(f"{name} is empty")
    return arr


def _check(y_true: Any, y_pred: Any, sigma: Any | None, names: Sequence[str] | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    yt, yp = _as_2d(y_true, "y_true"), _as_2d(y_pred, "y_pred")
    if yt.shape != yp.shape:
        raise ShapeMismatchError(f"y_true {yt.shape} and y_pred {yp.shape} differ")
    sig = None
    if sigma is not None:
        sig = _as_2d(sigma, "sigma")
        if sig.shape != yt.shape:
            raise ShapeMismatchError(f"sigma {sig.shape} must match y_true {yt.shape}")
    names = list(names) if names is not None else [f"label_{j}" for j in range(yt.shape[1])]
    if len(names) != yt.shape[1]:
        raise ShapeMismatchError(f"{len(names)} names for {yt.shape[1]} labels")
    return yt, yp, sig, names


def _valid(t: np.ndarray) -> np.ndarray:
    return np.isfinite(t) & (t != magic_number())


def mad_std(x: np.ndarray) -> float:
    """Robust standard deviation: 1.4826 × median(|x − median(x)|)."""
    x = np.asarray(x, dtype=np.float64)
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if x.size else float("nan")


def metrics_table(y_true: Any, y_pred: Any, sigma: Any | None = None, names: Sequence[str] | None = None,
                  bound: Any | None = None, bound_prior: Any | None = None) -> Any:
    """Per-label metrics as a pandas DataFrame (one row per label, label units).

    Columns: ``label``, ``n``, ``median`` (median residual = bias), ``mad_std``, ``rmse``, ``mean``;
    with ``sigma`` also ``median_sigma``, ``z_std`` (1 = calibrated), ``coverage_68``, ``coverage_95``;
    with ``bound`` (per-star Cramér–Rao bounds, same shape, e.g. ``astrotorch.uncertainty.crlb(...).bound``)
    also ``bound_rms`` (RMS over the same stars, comparable with the RMSE) and ``rmse_over_bound``; with
    ``bound_prior`` (the bound with a label prior) ``bound_prior_rms`` and ``rmse_over_bound_prior``.
    """
    import pandas as pd

    yt, yp, sig, names = _check(y_true, y_pred, sigma, names)
    bounds = {}
    for key, b in (("bound", bound), ("bound_prior", bound_prior)):
        if b is not None:
            arr = _as_2d(b, key)
            if arr.shape != yt.shape:
                raise ShapeMismatchError(f"{key} {arr.shape} must match y_true {yt.shape}")
            bounds[key] = arr
    rows = []
    for j, name in enumerate(names):
        ok = _valid(yt[:, j]) & np.isfinite(yp[:, j])
        r = yp[ok, j] - yt[ok, j]
        row: dict[str, Any] = {"label": name, "n": int(ok.sum())}
        if r.size == 0:
            rows.append(row)
            continue
        row.update(median=float(np.median(r)), mad_std=mad_std(r), rmse=float(np.sqrt(np.mean(r**2))),
                   mean=float(np.mean(r)))
        if sig is not None:
            s = sig[ok, j]
            z = r / np.where(s > 0, s, np.nan)
            row.update(median_sigma=float(np.median(s)), z_std=float(np.nanstd(z)),
                       coverage_68=float(np.nanmean(np.abs(z) < 1.0)), coverage_95=float(np.nanmean(np.abs(z) < 1.96)))
        for key, arr in bounds.items():
            b_rms = float(np.sqrt(np.mean(arr[ok, j] ** 2)))
            row[f"{key}_rms"] = b_rms
            row[f"rmse_over_{key}"] = row["rmse"] / b_rms if b_rms > 0 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def write_metrics_table(df: Any, folder: str | Path, stem: str = "metrics") -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` (markdown table) into ``folder``; returns both paths."""
    from astrotorch.train.runs import markdown_table

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{stem}.csv"
    md = folder / f"{stem}.md"
    df.to_csv(csv, index=False)
    md.write_text(markdown_table(df.to_dict("records")) + "\n")
    return csv, md


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.2, 3.2)) -> tuple[Any, np.ndarray]:
    import matplotlib.pyplot as plt

    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def aspcap_residue_plot(y_true: Any, y_pred: Any, sigma: Any | None = None, names: Sequence[str] | None = None,
                        title: str | None = None) -> Any:
    """Residual (prediction − truth) against truth for every label, coloured by the predicted σ.

    Each panel states the median residual and the mad_std. Returns the matplotlib Figure.
    """
    yt, yp, sig, names = _check(y_true, y_pred, sigma, names)
    fig, axes = _grid(len(names))
    for j, (ax, name) in enumerate(zip(axes, names)):
        ok = _valid(yt[:, j]) & np.isfinite(yp[:, j])
        tex, unit = _label_tex(name)
        r = yp[ok, j] - yt[ok, j]
        if r.size == 0:
            ax.text(0.5, 0.5, "no valid truth", ha="center", transform=ax.transAxes)
            continue
        if sig is not None:
            sc = ax.scatter(yt[ok, j], r, c=sig[ok, j], s=4, cmap="viridis", rasterized=True,
                            vmax=np.percentile(sig[ok, j], 98))
            cb = fig.colorbar(sc, ax=ax, pad=0.01)
            cb.set_label(rf"$\sigma$ ({unit})" if unit else r"$\sigma$")
        else:
            ax.scatter(yt[ok, j], r, s=4, color="k", rasterized=True)
        ax.axhline(0.0, color="r", lw=0.8)
        lim = 4 * max(mad_std(r), 1e-12) + abs(float(np.median(r)))
        ax.set_ylim(-lim, lim)
        ax.set_xlabel(f"{tex} truth" + (f" ({unit})" if unit else ""))
        ax.set_ylabel(r"$\Delta$" + f"{tex}" + (f" ({unit})" if unit else ""))
        ax.text(0.02, 0.96, f"median {np.median(r):.3g}  mad_std {mad_std(r):.3g}", transform=ax.transAxes,
                va="top", fontsize=8, bbox=dict(facecolor="white", alpha=0.7, lw=0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def jacobian_plot(jacobian: Any, wavelength: Any, names: Sequence[str], windows: Mapping[str, Any] | None = None,
                  labels: Sequence[str] | None = None, title: str | None = None) -> Any:
    """Jacobian ∂label/∂flux (label units per unit normalised flux) against wavelength (Å).

    ``jacobian``: (D, L) (e.g. ``model.jacobian(x, mean_output=True)``) or (N, D, L) (averaged here);
    ``windows``: label name → bool mask (L,) of its line windows, shaded in the panel of that label;
    ``labels``: which labels to draw (default all, at most 8).
    """
    import matplotlib.pyplot as plt

    jac = np.asarray(jacobian, dtype=np.float64)
    if jac.ndim == 3:
        jac = jac.mean(axis=0)
    wave = np.asarray(wavelength, dtype=np.float64)
    if jac.ndim != 2 or jac.shape[1] != wave.shape[0] or jac.shape[0] != len(names):
        raise ShapeMismatchError(f"jacobian {jac.shape} must be (len(names)={len(names)}, len(wavelength)={wave.shape[0]})")
    labels = list(labels) if labels is not None else list(names)[:8]
    unknown = [n for n in labels if n not in names]
    if unknown:
        raise InputValidationError(f"labels {unknown} not in {list(names)}")
    fig, axes = plt.subplots(len(labels), 1, figsize=(14, 1.9 * len(labels)), sharex=True, squeeze=False)
    # chip gaps: break the line where consecutive pixels are far apart in wavelength
    gap = np.r_[False, np.diff(wave) > 5.0]
    for ax, name in zip(axes[:, 0], labels):
        j = list(names).index(name)
        y = jac[j].copy()
        y[gap] = np.nan
        ax.plot(wave, y, lw=0.5, color="k")
        if windows is not None and name in windows:
            m = np.asarray(windows[name], dtype=bool)
            edges = np.flatnonzero(np.diff(np.r_[0, m.astype(int), 0]))
            for a, b in zip(edges[::2], edges[1::2]):
                # a run of window pixels crossing a chip gap is drawn as one span per chip
                cuts = [a, *[g for g in np.flatnonzero(gap) if a < g < b], b]
                for lo, hi in zip(cuts[:-1], cuts[1:]):
                    ax.axvspan(wave[lo], wave[hi - 1], color="tab:orange", alpha=0.3, lw=0)
        tex, unit = _label_tex(name)
        ax.set_ylabel(r"$\partial$" + tex + r"/$\partial f$", fontsize=9)
    axes[-1, 0].set_xlabel(r"vacuum wavelength ($\AA$)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def calibration_plot(y_true: Any, y_pred: Any, sigma: Any, names: Sequence[str] | None = None,
                     title: str | None = None) -> Any:
    """Uncertainty calibration: z-score histograms per label (against N(0, 1)) and the coverage curve.

    The last panel shows, for k in 0..3, the fraction of stars with |z| < k against the Gaussian
    expectation erf(k/√2): a calibrated model lies on the diagonal.
    """
    from scipy.special import erf

    yt, yp, sig, names = _check(y_true, y_pred, sigma, names)
    assert sig is not None
    fig, axes = _grid(len(names) + 1, ncols=4, size=(3.6, 3.0))
    grid = np.linspace(-5, 5, 201)
    ks = np.linspace(0, 3, 61)
    cov_ax = axes[len(names)]
    cov_ax.plot(erf(ks / np.sqrt(2)), erf(ks / np.sqrt(2)), "k--", lw=0.8, label="ideal")
    for j, name in enumerate(names):
        ax = axes[j]
        ok = _valid(yt[:, j]) & np.isfinite(yp[:, j]) & (sig[:, j] > 0)
        z = (yp[ok, j] - yt[ok, j]) / sig[ok, j]
        tex, _ = _label_tex(name)
        if z.size == 0:
            continue
        ax.hist(np.clip(z, -5, 5), bins=50, range=(-5, 5), density=True, color="tab:blue", alpha=0.7)
        ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "k", lw=1)
        ax.set_title(f"{tex}: std(z) = {np.std(z):.2f}", fontsize=10)
        ax.set_xlabel(r"$z = (\hat y - y)/\sigma$")
        cov_ax.plot(erf(ks / np.sqrt(2)), [np.mean(np.abs(z) < k) for k in ks], lw=1, label=tex)
    cov_ax.set_xlabel("nominal coverage")
    cov_ax.set_ylabel("observed coverage")
    cov_ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = [
    "aspcap_residue_plot",
    "calibration_plot",
    "jacobian_plot",
    "mad_std",
    "metrics_table",
    "write_metrics_table",
]
