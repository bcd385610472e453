"""Light-curve containers: irregular, multi-band, variable-length time series.

A :class:`LightCurve` holds one object's observations exactly as observed — times in days (MJD or
any day-based origin), a flux or magnitude per observation, its 1σ error and the band it was taken
in — plus per-object metadata (redshift, Milky-Way extinction, label ...). Nothing is resampled onto
a grid. A :class:`LightCurveSet` is an ordered collection sharing one band list (``bands``) so band
names map to the same integer index for every object.

Magnitudes and fluxes (documented conversion, AB system)
--------------------------------------------------------
Fluxes are in micro-Jansky (µJy) unless a different zero point is given. With the AB zero point
(3631 Jy = 3.631e9 µJy, i.e. m = 23.9 for 1 µJy)::

    f [µJy] = 10 ** (-0.4 * (m - zp)),          zp = 23.9 (default)
    σ_f     = 0.4 ln(10) f σ_m                  (first-order error propagation)
    m       = zp - 2.5 log10(f),   σ_m = 2.5 / ln(10) σ_f / f      (f > 0 only)

PLAsTiCC fluxes are in arbitrary "FLUXCAL" units with zero point 27.5; pass ``zero_point=27.5`` when
converting those to magnitudes. Non-positive fluxes have no magnitude: they become NaN (missing).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from astrotorch.errors import EmptyDatasetError, InputValidationError, ShapeMismatchError

#: AB magnitude of a 1 µJy source (m_AB = -2.5 log10(f / 3631 Jy)).
AB_ZERO_POINT_UJY: float = 23.9
#: zero point of PLAsTiCC / SNANA "FLUXCAL" fluxes (m = 27.5 - 2.5 log10 FLUXCAL).
PLASTICC_ZERO_POINT: float = 27.5
#: LSST bands in PLAsTiCC passband order 0..5.
LSST_BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z", "y")
#: effective wavelengths (Å) used for extinction and colour ordering of common bands.
BAND_WAVELENGTH_AA: dict[str, float] = {
    "u": 3671.0, "g": 4827.0, "r": 6223.0, "i": 7546.0, "z": 8691.0, "y": 9712.0,
    "R": 6400.0,  # ZTF r (uppercase in the BTS light curves), close to LSST/SDSS r
    "G": 4800.0,
}

_LN10_04 = 0.4 * math.log(10.0)


def mag_to_flux(mag: np.ndarray, magerr: np.ndarray | None = None, zero_point: float = AB_ZERO_POINT_UJY
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Magnitudes → fluxes (µJy for the default AB zero point 23.9) with propagated 1σ errors.

    ``σ_f = 0.4 ln 10 · f · σ_m`` (first order). NaN magnitudes give NaN fluxes.
    """
    mag = np.asarray(mag, dtype=np.float64)
    flux = np.power(10.0, -0.4 * (mag - zero_point))
    if magerr is None:
        return flux, None
    return flux, _LN10_04 * flux * np.asarray(magerr, dtype=np.float64)


def flux_to_mag(flux: np.ndarray, fluxerr: np.ndarray | None = None, zero_point: float = AB_ZERO_POINT_UJY
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """Fluxes → magnitudes with propagated errors; non-positive fluxes become NaN (no magnitude)."""
    flux = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = flux > 0
        mag = np.where(pos, zero_point - 2.5 * np.log10(np.where(pos, flux, 1.0)), np.nan)
        if fluxerr is None:
            return mag, None
        err = np.where(pos, np.asarray(fluxerr, dtype=np.float64) / (_LN10_04 * np.where(pos, flux, 1.0)),
                       np.nan)
    return mag, err


@dataclasses.dataclass
class LightCurve:
    """One object's multi-band light curve, as observed (no resampling).

    Attributes
    ----------
    time : float64 (n,) days (MJD or any day-based origin), sorted ascending on construction.
    value : float64 (n,) flux (``kind="flux"``, µJy unless ``zero_point`` says otherwise) or AB mag.
    error : float64 (n,) 1σ error of ``value`` in the same units.
    band : int64 (n,) index into ``bands``.
    bands : band names; ``band == k`` means ``bands[k]``.
    kind : ``"flux"`` or ``"mag"``.
    zero_point : magnitude of unit flux (23.9 for µJy/AB, 27.5 for PLAsTiCC FLUXCAL).
    object_id : identifier (file name, PLAsTiCC object_id ...).
    meta : per-object metadata, e.g. ``redshift``, ``mwebv`` (E(B-V), mag), ``A_V`` (mag).
    label : class label or regression target(s) (anything; ``None`` when unlabelled).
    """

    time: np.ndarray
    value: np.ndarray
    error: np.ndarray
    band: np.ndarray
    bands: tuple[str, ...]
    kind: str = "flux"
    zero_point: float = AB_ZERO_POINT_UJY
    object_id: str = ""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    label: Any = None

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, dtype=np.float64).ravel()
        self.value = np.asarray(self.value, dtype=np.float64).ravel()
        self.error = np.asarray(self.error, dtype=np.float64).ravel()
        self.band = np.asarray(self.band).ravel()
        self.bands = tuple(str(b) for b in self.bands)
        if self.band.dtype.kind in "USO":  # band names given: map to indices
            lookup = {b: i for i, b in enumerate(self.bands)}
            try:
                self.band = np.array([lookup[str(b)] for b in self.band], dtype=np.int64)
            except KeyError as exc:
                raise InputValidationError(
                    f"light curve {self.object_id!r}: band {exc.args[0]!r} is not in bands {self.bands}") from exc
        self.band = self.band.astype(np.int64)
        n = self.time.size
        if not (self.value.size == self.error.size == self.band.size == n):
            raise ShapeMismatchError(
                f"light curve {self.object_id!r}: time ({n}), value ({self.value.size}), error "
                f"({self.error.size}) and band ({self.band.size}) must have the same length")
        if self.kind not in ("flux", "mag"):
            raise InputValidationError(f"kind must be 'flux' or 'mag', got {self.kind!r}")
        if n and (self.band.min() < 0 or self.band.max() >= len(self.bands)):
            raise InputValidationError(f"light curve {self.object_id!r}: band index out of range 0..{len(self.bands) - 1}")
        if n and not np.all(np.isfinite(self.time)):
            raise InputValidationError(f"light curve {self.object_id!r}: non-finite observation times")
        if n > 1 and np.any(np.diff(self.time) < 0):
            order = np.argsort(self.time, kind="stable")
            self.time, self.value, self.error, self.band = (
                self.time[order], self.value[order], self.error[order], self.band[order])

    def __len__(self) -> int:
        return int(self.time.size)

    @property
    def duration(self) -> float:
        """Time between first and last observation (days)."""
        return float(self.time[-1] - self.time[0]) if len(self) else 0.0

    def copy(self, **changes: Any) -> LightCurve:
        """A copy with some fields replaced (arrays are copied, metadata dict too)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.update(time=self.time.copy(), value=self.value.copy(), error=self.error.copy(),
                      band=self.band.copy(), meta=dict(self.meta))
        fields.update(changes)
        return LightCurve(**fields)

    def select(self, keep: np.ndarray) -> LightCurve:
        """Keep observations where the boolean mask (or index array) ``keep`` selects them."""
        return self.copy(time=self.time[keep], value=self.value[keep], error=self.error[keep],
                         band=self.band[keep])

    def to_flux(self, zero_point: float | None = None) -> LightCurve:
        """This light curve in flux units (µJy for AB zero point 23.9); errors propagated."""
        zp = self.zero_point if zero_point is None else zero_point
        if self.kind == "flux":
            if zp == self.zero_point:
                return self
            scale = 10.0 ** (0.4 * (zp - self.zero_point))  # same magnitude, new unit
            return self.copy(value=self.value * scale, error=self.error * scale, zero_point=zp)
        f, fe = mag_to_flux(self.value, self.error, zp)
        return self.copy(value=f, error=fe, kind="flux", zero_point=zp)

    def to_mag(self) -> LightCurve:
        """This light curve in AB magnitudes; non-positive fluxes are dropped (they have no magnitude)."""
        if self.kind == "mag":
            return self
        m, me = flux_to_mag(self.value, self.error, self.zero_point)
        lc = self.copy(value=m, error=me, kind="mag")
        return lc.select(np.isfinite(m))

    def first_days(self, days: float, since: str = "first") -> LightCurve:
        """Observations within ``days`` days of the start, for early classification.

        ``since="first"``: from the first observation; ``since="detection"``: from the first point
        whose flux is ≥ 5σ (or, for magnitudes, the first point), as a survey alert stream would see it.
        """
        if not len(self):
            return self
        t0 = self.time[0]
        if since == "detection" and self.kind == "flux":
            det = np.flatnonzero(self.value >= 5.0 * self.error)
            if det.size:
                t0 = self.time[det[0]]
        elif since not in ("first", "detection"):
            raise InputValidationError(f"since must be 'first' or 'detection', got {since!r}")
        return self.select(self.time <= t0 + days)

    def drop_fraction(self, fraction: float, rng: np.random.Generator) -> LightCurve:
        """Randomly drop a fraction of the observations (at least one kept), as the seed's augmentation."""
        if not 0.0 <= fraction < 1.0:
            raise InputValidationError(f"fraction must be in [0, 1), got {fraction}")
        n = len(self)
        keep = rng.random(n) >= fraction
        if n and not keep.any():
            keep[rng.integers(n)] = True
        return self.select(keep)

    def band_name(self) -> np.ndarray:
        """Band names per observation (str array)."""
        return np.asarray(self.bands, dtype=object)[self.band]


class LightCurveSet(Sequence[LightCurve]):
    """An ordered collection of light curves sharing one band list.

    ``labels`` (if every curve has one) are returned by :meth:`labels`; ``class_names`` fixes the
    mapping class name → integer for classification (sorted unique labels by default).
    """

    def __init__(self, curves: Iterable[LightCurve], bands: Sequence[str] | None = None,
                 class_names: Sequence[Any] | None = None) -> None:
        curves = list(curves)
        if bands is None:  # union of band lists, ordered by wavelength where known
            seen: list[str] = []
            for lc in curves:
                seen.extend(b for b in lc.bands if b not in seen)
            bands = sorted(seen, key=lambda b: (BAND_WAVELENGTH_AA.get(b, 1e9), b))
        self.bands: tuple[str, ...] = tuple(bands)
        self._curves = [self._rebanded(lc) for lc in curves]
        self.class_names = list(class_names) if class_names is not None else None

    def _rebanded(self, lc: LightCurve) -> LightCurve:
        if lc.bands == self.bands:
            return lc
        lookup = {b: i for i, b in enumerate(self.bands)}
        try:
            new = np.array([lookup[lc.bands[k]] for k in lc.band], dtype=np.int64)
        except KeyError as exc:
            raise InputValidationError(f"band {exc.args[0]!r} of {lc.object_id!r} not in {self.bands}") from exc
        return lc.copy(band=new, bands=self.bands)

    def __len__(self) -> int:
        return len(self._curves)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, (slice, np.ndarray, list)):
            idx = range(len(self))[i] if isinstance(i, slice) else np.asarray(i)
            if isinstance(idx, np.ndarray) and idx.dtype == bool:
                idx = np.flatnonzero(idx)
            return LightCurveSet([self._curves[int(j)] for j in idx], self.bands, self.class_names)
        return self._curves[int(i)]

    def __iter__(self) -> Iterator[LightCurve]:
        return iter(self._curves)

    def __repr__(self) -> str:
        return f"LightCurveSet({len(self)} curves, bands={self.bands})"

    def __add__(self, other: LightCurveSet) -> LightCurveSet:
        return LightCurveSet(list(self) + list(other), None, None)

    @property
    def lengths(self) -> np.ndarray:
        """Number of observations of each light curve."""
        return np.array([len(lc) for lc in self._curves], dtype=np.int64)

    def map(self, fn) -> LightCurveSet:
        """Apply ``fn(LightCurve) -> LightCurve`` to every curve."""
        return LightCurveSet([fn(lc) for lc in self._curves], self.bands, self.class_names)

    def to_flux(self, zero_point: float | None = None) -> LightCurveSet:
        return self.map(lambda lc: lc.to_flux(zero_point))

    def to_mag(self) -> LightCurveSet:
        return self.map(lambda lc: lc.to_mag())

    def first_days(self, days: float, since: str = "first") -> LightCurveSet:
        """Every curve cut to its first ``days`` days (early classification)."""
        return self.map(lambda lc: lc.first_days(days, since))

    def labels(self) -> np.ndarray:
        """Labels as an array (object dtype for strings); raises if any curve is unlabelled."""
        labs = [lc.label for lc in self._curves]
        if any(lab is None for lab in labs):
            raise InputValidationError("some light curves have no label")
        return np.asarray(labs)

    def class_indices(self) -> np.ndarray:
        """Integer class of each curve, by ``class_names`` (set from the sorted labels if unset)."""
        labs = self.labels()
        if self.class_names is None:
            self.class_names = sorted(set(labs.tolist()), key=str)
        lookup = {c: i for i, c in enumerate(self.class_names)}
        try:
            return np.array([lookup[lab] for lab in labs.tolist()], dtype=np.int64)
        except KeyError as exc:
            raise InputValidationError(f"label {exc.args[0]!r} not in class_names {self.class_names}") from exc

    def meta_array(self, key: str, default: float = np.nan) -> np.ndarray:
        """Metadata ``key`` of every curve as float array (``default`` where missing)."""
        return np.array([float(lc.meta.get(key, default)) for lc in self._curves], dtype=np.float64)

    def split(self, test_fraction: float = 0.2, seed: int = 0, stratify: bool = True
              ) -> tuple[LightCurveSet, LightCurveSet]:
        """Fixed-seed train/test split (stratified by label when labels are present)."""
        if len(self) < 2:
            raise EmptyDatasetError("need at least two light curves to split")
        rng = np.random.default_rng(seed)
        n = len(self)
        test = np.zeros(n, dtype=bool)
        labelled = stratify and all(lc.label is not None for lc in self._curves)
        groups = ([np.flatnonzero(self.labels() == c) for c in np.unique(self.labels())]
                  if labelled and np.asarray(self.labels()).ndim == 1 else [np.arange(n)])
        for g in groups:
            g = rng.permutation(g)
            test[g[: int(round(test_fraction * g.size))]] = True
        return self[~test], self[test]


def check_nonempty(curves: LightCurveSet | Sequence[LightCurve]) -> None:
    """Raise :class:`EmptyDatasetError` for an empty set or a set holding an empty light curve."""
    if len(curves) == 0:
        raise EmptyDatasetError("no light curve given")
    for lc in curves:
        if len(lc) == 0:
            raise EmptyDatasetError(f"light curve {lc.object_id!r} has no observation")
