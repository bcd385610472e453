"""Metrics of the stellar model (:mod:`astrotorch.models.stars`): per-output errors, class scores,
uncertainty calibration and how far predictions break the exact relations between outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from astrotorch.datasets.stars import STAR_CLASS_TARGETS, STAR_TARGETS
from astrotorch.models.arch.stars import HETERO_TARGETS
from astrotorch.models.stars_inputs import _missing


def seed_accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    """The Fusion seed's "accuracy": share of predictions within [0.05, 1.05] × truth (sign-aware)."""
    lo, hi = np.minimum(0.05 * truth, 1.05 * truth), np.maximum(0.05 * truth, 1.05 * truth)
    return float(np.mean((pred >= lo) & (pred <= hi)))


def stellar_metrics(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per output: MAE, RMSE, median relative error, fraction within 1 %, the seed's "accuracy";
    classes: accuracy and macro-F1; heteroscedastic outputs: z-score std and 68 % coverage."""
    from sklearn.metrics import f1_score

    res: dict[str, dict[str, float]] = {}
    for t in STAR_TARGETS:
        if t not in truth.columns or t not in pred.columns:
            continue
        y = truth[t].to_numpy(float)
        p = pred[t].to_numpy(float)
        ok = ~_missing(y) & np.isfinite(p)
        if not ok.any():
            continue
        y, p = y[ok], p[ok]
        if t in STAR_CLASS_TARGETS:
            res[t] = {
                "accuracy": float(np.mean(p == y)),
                "macro_f1": float(f1_score(y.astype(int), p.astype(int), average="macro")),
                "n": int(ok.sum()),
            }
            continue
        r = p - y
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(r) / np.abs(y)
        m = {
            "mae": float(np.mean(np.abs(r))),
            "rmse": float(np.sqrt(np.mean(r**2))),
            "median_rel_err": float(np.median(rel)),
            "frac_within_1pct": float(np.mean(rel <= 0.01)),
            "seed_accuracy": seed_accuracy(p, y),
            "n": int(ok.sum()),
        }
        if f"{t}_err" in pred.columns and t in HETERO_TARGETS:
            s = pred[f"{t}_err"].to_numpy(float)[ok]
            z = r / s
            m["z_std"] = float(np.std(z))
            m["coverage_68"] = float(np.mean(np.abs(z) <= 1.0))
        res[t] = m
    return res


#: exact relations between outputs, as zero-point-free invariants (dex) and the outputs they tie
_INVARIANTS = {
    "mbol_vs_lbol": lambda f: f["mbol"] / 2.5 + f["log_lbol_w"],
    "flux_vs_wien": lambda f: f["log_flux"] + 4 * np.log10(f["peak_wavelength"]),
    "density_vs_mass_radius": lambda f: np.log10(f["density"]) - np.log10(f["mass"]) + 3 * np.log10(f["radius_completed"]),
    "lifespan_vs_mass_lum": lambda f: np.log10(f["lifespan"]) - np.log10(f["mass"]) + np.log10(f["luminosity_completed"]),
    "pressure_vs_mass_radius": lambda f: f["log_central_pressure"] - 2 * np.log10(f["mass"]) + 4 * np.log10(f["radius_completed"]),
    "ctemp_vs_mass_radius": lambda f: f["log_central_temperature"] - np.log10(f["mass"]) + np.log10(f["radius_completed"]),
    "binding_vs_mass_radius": lambda f: f["log_binding_energy"] - 2 * np.log10(f["mass"]) + np.log10(f["radius_completed"]),
    "stefan_boltzmann": lambda f: np.log10(f["luminosity_completed"]) - 2 * np.log10(f["radius_completed"])
    - 4 * np.log10(f["teff_completed"]),
}


def physics_violation(frame: pd.DataFrame, reference: pd.DataFrame | None = None, tol_dex: float = 4.3e-4) -> dict[str, Any]:
    """How far predicted outputs break the exact relations between them.

    Each invariant (e.g. ``M_bol/2.5 + log L_bol``) must be the same constant for every star. Its
    constant is the median over ``reference`` (e.g. the true targets with the inputs' Teff/L/R as
    ``*_completed`` columns) or, without one, over ``frame`` itself. Reports per relation the median
    and max |deviation| (dex) and the share of stars off by more than ``tol_dex`` (default 0.1 %), plus
    ``any_violation_rate``: share of stars breaking at least one relation.
    """
    out: dict[str, Any] = {}
    any_bad = np.zeros(len(frame), dtype=bool)
    for name, fn in _INVARIANTS.items():
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.asarray(fn(frame), dtype=np.float64)
                ref = np.asarray(fn(reference), dtype=np.float64) if reference is not None else v
        except KeyError:
            continue
        const = np.nanmedian(ref)
        dev = np.abs(v - const)
        dev = np.where(np.isfinite(dev), dev, np.inf)
        bad = dev > tol_dex
        any_bad |= bad
        out[name] = {"median_dex": float(np.median(dev)), "max_dex": float(np.max(dev)), "violation_rate": float(np.mean(bad))}
    out["any_violation_rate"] = float(np.mean(any_bad))
    return out

