"""APOGEE catalogue loaders with astroNN's names and returns: red clumps, distances, APOKASC.

* :func:`load_apogee_rc` — the red-clump VAC (``apogee-rc-DR<n>.fits``: ``RA``, ``DEC``, ``RC_DIST``
  in kpc, ``K``, ``AK_TARG``) as distance, Ks absolute magnitude or fakemag;
* :func:`load_apogee_distances` — the DR14 APOGEE distances VAC (``BPG_dist16/50/84`` in kpc, rows
  aligned with the DR14 allStar file, whose ``RA``, ``DEC``, ``K``, ``AK_TARG`` it uses);
* :func:`load_apokasc` — APOKASC asteroseismic surface gravities (Pinsonneault et al. 2014) from VizieR.

Files come through the SAS downloaders of :mod:`astrotorch.apogee.downloaders` (local mirror, data
home, then download with checksum) unless ``path=`` names them. Missing values are the magic number.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u

from astrotorch.config import get_config, magic_number
from astrotorch.errors import DataFormatError, InputValidationError

_UNITS = ("distance", "absmag", "fakemag")


def _columns(path: Path, names: tuple[str, ...], hdu: int = 1) -> dict[str, np.ndarray]:
    from astrotorch.io import read_fits_table

    table = read_fits_table(path, hdu=hdu)
    have = {c.upper(): c for c in table.dtype.names}
    missing = [n for n in names if n.upper() not in have]
    if missing:
        raise DataFormatError(f"{path} lacks column(s) {missing} (has {list(table.dtype.names)[:12]}...)")
    return {n: np.asarray(table[have[n.upper()]], dtype=np.float64) for n in names}


def _check_unit(unit: str) -> None:
    if unit not in _UNITS:
        raise InputValidationError(f"unit must be one of {_UNITS}, got {unit!r}")


def _k_band(k: np.ndarray, ak: np.ndarray, extinction: bool) -> np.ndarray:
    from astrotorch.gaia import extinction_correction

    return np.asarray(extinction_correction(k, ak), dtype=np.float64) if extinction else k


def load_apogee_rc(dr: int | None = None, unit: str = "distance", extinction: bool = True,
                   path: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Red-clump stars of the APOGEE RC catalogue: ``ra, dec, value`` (deg, deg, per ``unit``).

    :param dr: APOGEE data release (13, 14, 16, 17; default the configured one)
    :param unit: ``"distance"`` (pc), ``"absmag"`` (Ks absolute magnitude) or ``"fakemag"`` (Ks)
    :param extinction: correct Ks for ``AK_TARG`` (only for ``absmag``/``fakemag``)
    :param path: read this catalogue file instead of the SAS copy
    """
    from astrotorch.apogee.downloaders import apogee_rc
    from astrotorch.gaia import mag_to_absmag, mag_to_fakemag

    _check_unit(unit)
    file = Path(path) if path is not None else apogee_rc(dr=dr)
    cols = _columns(file, ("RA", "DEC", "RC_DIST", "K", "AK_TARG"))
    ra, dec, dist_kpc = cols["RA"], cols["DEC"], cols["RC_DIST"]
    bad = ~np.isfinite(dist_kpc) | (dist_kpc <= 0) | (dist_kpc == magic_number())
    if unit == "distance":
        return ra, dec, np.where(bad, magic_number(), dist_kpc * 1000.0)
    k = _k_band(cols["K"], cols["AK_TARG"], extinction)
    parallax = np.where(bad, magic_number(), 1.0 / np.where(bad, 1.0, dist_kpc)) * u.mas
    fn = mag_to_absmag if unit == "absmag" else mag_to_fakemag
    return ra, dec, np.asarray(fn(k, parallax), dtype=np.float64)


def load_apogee_distances(dr: int | None = None, unit: str = "distance", cuts: bool | float = True,
                          extinction: bool = True, keepdims: bool = False,
                          path: str | os.PathLike[str] | None = None,
                          allstar_path: str | os.PathLike[str] | None = None,
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """APOGEE DR14 distances (Bayesian, BPG): ``ra, dec, value, value_err`` per ``unit``.

    As astroNN: ``distance`` in pc with the error taken as the 16th–84th percentile *width*
    (``BPG_dist84 - BPG_dist16``, i.e. 2σ for a Gaussian); ``absmag``/``fakemag`` (Ks, corrected for
    ``AK_TARG`` with ``extinction``) with the error propagated from that width. Rows follow the DR14
    allStar file. ``cuts`` (True = 0.2, or a float) drops stars whose relative distance error reaches
    the threshold — or, with ``keepdims``, sets them to the magic number; missing distances are the
    magic number.

    :param path: the distances VAC file (default: downloaded); ``allstar_path``: the DR14 allStar file
    """
    from astrotorch.apogee.chips import apogee_default_dr
    from astrotorch.apogee.downloaders import allstar, apogee_distances
    from astrotorch.gaia import mag_to_absmag, mag_to_fakemag

    _check_unit(unit)
    dr = apogee_default_dr(dr) if path is None else dr
    if path is None and dr != 14:
        raise InputValidationError(
            f"load_apogee_distances reads the DR14 APOGEE distances VAC (BPG columns); DR{dr}'s distances are "
            "StarHorse's: read them with astrotorch.apogee.apogee_distances(dr) and astropy"
        )
    file = Path(path) if path is not None else apogee_distances(dr=14)
    d = _columns(file, ("BPG_dist16", "BPG_dist50", "BPG_dist84"))
    star = _columns(Path(allstar_path) if allstar_path is not None else allstar(dr=14), ("RA", "DEC", "K", "AK_TARG"))
    if len(star["RA"]) != len(d["BPG_dist50"]):
        raise DataFormatError(f"{file} has {len(d['BPG_dist50'])} rows but the allStar file {len(star['RA'])}: "
                              "they must be row-aligned (DR14)")
    magic = magic_number()
    distance = d["BPG_dist50"] * 1000.0
    dist_err = (d["BPG_dist84"] - d["BPG_dist16"]) * 1000.0
    bad = ~np.isfinite(distance) | ~np.isfinite(dist_err) | (distance <= 0)
    distance, dist_err = np.where(bad, magic, distance), np.where(bad, magic, dist_err)
    if unit == "distance":
        out, out_err = distance.copy(), dist_err.copy()
    else:
        k = _k_band(star["K"], star["AK_TARG"], extinction)
        safe = np.where(bad, 1.0, distance)
        plx = np.where(bad, magic, 1000.0 / safe)
        plx_err = np.where(bad, magic, 1000.0 / safe * np.where(bad, 0.0, dist_err) / safe)
        fn = mag_to_absmag if unit == "absmag" else mag_to_fakemag
        out, out_err = (np.asarray(v, dtype=np.float64) for v in fn(k, plx * u.mas, plx_err * u.mas))
    ra, dec = star["RA"], star["DEC"]
    if cuts is not False:
        threshold = 0.2 if cuts is True else float(cuts)
        with np.errstate(divide="ignore", invalid="ignore"):
            good = ~bad & (dist_err / np.where(bad, 1.0, distance) < threshold)
        if keepdims:
            out, out_err = np.where(good, out, magic), np.where(good, out_err, magic)
        else:
            ra, dec, out, out_err = ra[good], dec[good], out[good], out_err[good]
    return ra, dec, out, out_err


# ------------------------------------------------------------------------------------------ APOKASC
#: VizieR tables of the APOKASC catalogue (Pinsonneault et al. 2014, ApJS 215, 19): gold and basic standard
APOKASC_TABLES = {"gold": "J/ApJS/215/19/table4", "basic": "J/ApJS/215/19/table5"}
#: their log g columns (VizieR labels), as astroNN reads them
APOKASC_LOGG = {"gold": "log(g)", "basic": "log.g2"}


def read_vizier_tsv(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """A VizieR ``asu-tsv`` answer: ``#`` comment lines, column names, units, dashes, tab-separated rows.

    Numeric columns become float arrays (blank cells NaN), others arrays of str.
    """
    path = Path(path)
    try:
        lines = [ln.rstrip("\n\r") for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError as exc:
        raise DataFormatError(f"cannot read VizieR table {path}: {exc}") from exc
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    if len(body) < 3 or not set(body[2].replace("\t", "")) <= {"-"}:
        raise DataFormatError(f"{path} is not a VizieR tab-separated table (names, units, dashes, rows)")
    names = body[0].split("\t")
    rows = [r.split("\t") for r in body[3:]]
    bad = [i + 4 for i, r in enumerate(rows) if len(r) != len(names)]
    if bad:
        raise DataFormatError(f"{path}: data line {bad[0]} has the wrong number of fields (truncated file?)")
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        cells = [r[j].strip() for r in rows]
        try:
            out[name] = np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
        except ValueError:
            out[name] = np.array(cells)
    return out


def _apokasc_table(kind: str, path: str | os.PathLike[str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from astrotorch.io import download

    if path is None:
        cfg = get_config()
        query = urllib.parse.urlencode({"-source": APOKASC_TABLES[kind], "-out.max": "unlimited",
                                        "-out.add": "_RA,_DE", "-out": APOKASC_LOGG[kind]})
        path = cfg.data_home / "apokasc" / f"apokasc_{kind}.tsv"
        if not Path(path).is_file():
            download(f"{cfg.vizier_url}?{query}", path, progress=False)
    table = read_vizier_tsv(path)
    want = ("_RA", "_DE", APOKASC_LOGG[kind])
    missing = [c for c in want if c not in table]
    if missing:
        raise DataFormatError(f"APOKASC {kind} table {path} lacks column(s) {missing}; has {sorted(table)}")
    return tuple(np.asarray(table[c], dtype=np.float64) for c in want)  # type: ignore[return-value]


def load_apokasc(combine: bool = True, gold_path: str | os.PathLike[str] | None = None,
                 basic_path: str | os.PathLike[str] | None = None) -> Any:
    """APOKASC asteroseismic log g: ``ra, dec, logg`` (gold then basic standard) with ``combine``,
    else ``gold_ra, gold_dec, gold_logg, basic_ra, basic_dec, basic_logg`` (deg, deg, dex).

    The two VizieR tables (:data:`APOKASC_TABLES`) are downloaded once into ``<data home>/apokasc``
    (VizieR's service: config ``vizier_url``) unless ``gold_path``/``basic_path`` give local copies.
    """
    gold = _apokasc_table("gold", gold_path)
    basic = _apokasc_table("basic", basic_path)
    if combine:
        return tuple(np.concatenate([g, b]) for g, b in zip(gold, basic))
    return (*gold, *basic)


__all__ = ["APOKASC_LOGG", "APOKASC_TABLES", "load_apogee_distances", "load_apogee_rc", "load_apokasc",
           "read_vizier_tsv"]
