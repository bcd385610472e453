"""Per-light-curve normalisation and encoding into network inputs.

Two normalisation schemes:

``"shared"`` (default, keeps colour)
    Every band of one object is divided by the same flux scale ``s`` (the 95th percentile of
    ``|flux|`` over all bands, so a single outlier does not set it). Ratios between bands — the
    colours — survive, and ``-2.5 log10 s`` (an apparent magnitude in the light curve's zero point)
    goes to the per-object "static" inputs so brightness, which carries distance information, is not
    thrown away either.
``"minmax"`` (the seed's scheme)
    Each band is min–max scaled to [0, 1] on its own. This erases colours and brightness; it is kept
    for comparison with the seed.
``"none"``
    Fluxes as they are (µJy for AB data).

Magnitude light curves are converted to fluxes first (AB, µJy; see :mod:`.container`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from astrotorch.errors import InputValidationError
from astrotorch.lightcurves.container import LightCurve

NORM_MODES = ("shared", "minmax", "none")


@dataclasses.dataclass
class EncodeOptions:
    """How a light curve becomes network input.

    norm : ``"shared"``, ``"minmax"`` or ``"none"`` (see module doc).
    rest_frame : divide times by (1 + z) using ``meta["redshift"]`` (time dilation); z missing → 0.
    meta_keys : metadata appended to the static inputs (NaN → 0 and an is-missing flag is not added:
        pass only keys every object has, e.g. ``("redshift", "mwebv")``).
    fold : add per-observation phase features sin/cos(2π t / P) at the period P (days) given to
        :func:`encode` (the light-curve models pass the Lomb–Scargle period they compute), else
        ``meta["period"]``; objects without a period get zeros.
    max_length : keep at most this many observations (evenly thinned, first and last kept); ``None``
        keeps all.
    """

    norm: str = "shared"
    rest_frame: bool = False
    meta_keys: tuple[str, ...] = ()
    fold: bool = False
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.norm not in NORM_MODES:
            raise InputValidationError(f"norm must be one of {NORM_MODES}, got {self.norm!r}")
        self.meta_keys = tuple(self.meta_keys)

    @property
    def n_obs_features(self) -> int:
        """Per-observation features besides time and band: value, error (+ sin, cos phase)."""
        return 2 + (2 if self.fold else 0)

    @property
    def n_static(self) -> int:
        """Per-object features: scale magnitude, log1p(n obs), log1p(duration) + meta keys."""
        return 3 + len(self.meta_keys)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["meta_keys"] = list(self.meta_keys)
        return d


def shared_scale(flux: np.ndarray) -> float:
    """One flux scale for all bands of an object: 95th percentile of |flux| (>0, else 1)."""
    finite = np.abs(flux[np.isfinite(flux)])
    if finite.size == 0:
        return 1.0
    s = float(np.percentile(finite, 95))
    return s if s > 0 else 1.0


def normalise_flux(flux: np.ndarray, err: np.ndarray, band: np.ndarray, mode: str = "shared"
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """Normalise one object's fluxes; returns (value, error, scale) with value = flux / scale.

    For ``"minmax"`` each band uses its own (min, max); the returned scale is the shared one so the
    static brightness input stays defined.
    """
    scale = shared_scale(flux)
    if mode == "shared":
        return flux / scale, err / scale, scale
    if mode == "none":
        return flux.copy(), err.copy(), scale
    if mode == "minmax":
        v = np.empty_like(flux)
        e = np.empty_like(err)
        for b in np.unique(band):
            sel = band == b
            lo, hi = np.nanmin(flux[sel]), np.nanmax(flux[sel])
            rng = hi - lo if hi > lo else 1.0
            v[sel] = (flux[sel] - lo) / rng
            e[sel] = err[sel] / rng
        return v, e, scale
    raise InputValidationError(f"norm must be one of {NORM_MODES}, got {mode!r}")


def _thin(n: int, max_length: int | None) -> np.ndarray:
    if max_length is None or n <= max_length:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_length)).astype(np.int64))


def encode(lc: LightCurve, opts: EncodeOptions, period: float | None = None) -> dict[str, np.ndarray]:
    """One light curve → arrays ``time`` (days since first observation, float32), ``band`` (int64),
    ``obs`` (float32, (n, n_obs_features)) and ``static`` (float32, (n_static,)).

    Non-finite fluxes are dropped; an object with no finite flux raises :class:`InputValidationError`.
    ``period`` (days) is the folding period for ``opts.fold`` (default ``meta["period"]``).
    """
    lc = lc.to_flux()
    ok = np.isfinite(lc.value) & np.isfinite(lc.error)
    if not ok.any():
        raise InputValidationError(f"light curve {lc.object_id!r} has no finite observation")
    idx = np.flatnonzero(ok)
    idx = idx[_thin(idx.size, opts.max_length)]
    t, f, e, b = lc.time[idx], lc.value[idx], lc.error[idx], lc.band[idx]
    value, error, scale = normalise_flux(f, e, b, opts.norm)
    t_rel = t - t[0]
    z = float(lc.meta.get("redshift", 0.0) or 0.0)
    if not np.isfinite(z):
        z = 0.0
    if opts.rest_frame:
        t_rel = t_rel / (1.0 + z)  # cosmological time dilation: Δt_obs = (1 + z) Δt_rest
    cols = [value, np.clip(error, 0.0, 1e3)]
    if opts.fold:
        period = float(lc.meta.get("period", np.nan) if period is None else period)
        if np.isfinite(period) and period > 0:
            ph = 2.0 * np.pi * (t - t[0]) / period
            cols += [np.sin(ph), np.cos(ph)]
        else:
            cols += [np.zeros_like(value), np.zeros_like(value)]
    static = [lc.zero_point - 2.5 * np.log10(scale) - 20.0,  # brightness (mag, offset to ~O(1))
              np.log1p(t.size), np.log1p(t_rel[-1])]
    for k in opts.meta_keys:
        v = float(lc.meta.get(k, np.nan))
        static.append(v if np.isfinite(v) else 0.0)
    return {
        "time": t_rel.astype(np.float32),
        "band": b.astype(np.int64),
        "obs": np.stack(cols, axis=1).astype(np.float32),
        "static": np.asarray(static, dtype=np.float32),
    }


def encode_many(curves: Sequence[LightCurve], opts: EncodeOptions, periods: Sequence[float] | None = None
                ) -> list[dict[str, np.ndarray]]:
    """:func:`encode` for every curve (``periods``: one folding period per curve, days)."""
    if periods is None:
        return [encode(lc, opts) for lc in curves]
    return [encode(lc, opts, float(p)) for lc, p in zip(curves, periods)]
