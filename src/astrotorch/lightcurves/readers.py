"""Readers for light-curve files: PLAsTiCC, long-format CSV folders, Parquet.

* PLAsTiCC: ``training_set.csv`` (``object_id,mjd,passband,flux,flux_err,detected``; passband 0–5 =
  u g r i z y, flux in FLUXCAL units, zero point 27.5) + ``training_set_metadata.csv``.
* CSV folder: one file per object with columns ``time,mag,magerr,band`` (AB magnitudes) or
  ``time,flux,fluxerr,band`` (µJy), plus an optional labels table whose first column (or
  ``id_column``) names the files.
* Parquet: one long table ``object_id,time,value,error,band`` (+ optional per-object metadata table);
  :func:`write_parquet` writes that layout.

Files are read through :mod:`astrotorch.io` (one table reader for the library). A file that cannot be
parsed, lacks required columns, or holds an empty cell, a non-number, an infinite value or a negative
error in a required column raises :class:`~astrotorch.errors.DataFormatError` naming the file, the
line (row) and the column; a missing file raises ``FileNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from astrotorch.errors import DataFormatError, EmptyDatasetError
from astrotorch.lightcurves.container import (
    AB_ZERO_POINT_UJY,
    LSST_BANDS,
    PLASTICC_ZERO_POINT,
    LightCurve,
    LightCurveSet,
)

#: PLAsTiCC class ids → names (Kessler et al. 2019); 99 is the "other" class of the test set.
PLASTICC_CLASSES: dict[int, str] = {
    6: "mu-lens-single", 15: "TDE", 16: "EB", 42: "SNII", 52: "SNIax", 53: "Mira", 62: "SNIbc",
    64: "KN", 65: "M-dwarf", 67: "SNIa-91bg", 88: "AGN", 90: "SNIa", 92: "RRL", 95: "SLSN-I", 99: "other",
}


#: magnitudes (or magnitude errors) at or beyond this are survey "no measurement" sentinels (SDSS
#: Stripe 82 writes 99.99 / 100), not observations: such rows are dropped and counted in
#: ``meta["n_sentinel"]``.
MAG_SENTINEL: float = 90.0


#: text that marks a deliberately missing value in a strict read (an empty cell does not)
NAN_TEXT: tuple[str, ...] = ("nan", "NaN", "NAN", "null", "NULL", "NA", "N/A")


def _read_table(path: Path, strict: bool = False) -> pd.DataFrame:
    """CSV or Parquet through :mod:`astrotorch.io` (typed errors naming the file).

    ``strict``: only :data:`NAN_TEXT` reads as NaN; an empty cell (a truncated row, a row with an
    empty band) stays ``""``, which turns its column into text for :func:`_check_cells` to report.
    """
    from astrotorch import io as aio

    path = Path(path)
    if path.suffix == ".parquet":
        return aio.read_parquet(path)
    kw: dict[str, Any] = dict(skip_blank_lines=True)
    if strict:
        kw.update(keep_default_na=False, na_values=list(NAN_TEXT))
    return aio.read_csv(path, **kw)


def _require(df: pd.DataFrame, cols: Sequence[str], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")


def _row(i: int, path: Path) -> str:
    """Where data row ``i`` is: its line in a CSV file (1-based, header counted), its row in a table."""
    return f"row {int(i)}" if Path(path).suffix == ".parquet" else f"line {int(i) + 2}"


def _is_number_array(a: np.ndarray) -> bool:
    return a.dtype.kind in "biuf"


def _check_cells(df: pd.DataFrame, cols: Sequence[str], path: Path) -> dict[str, np.ndarray]:
    """Each column as a numpy array; an empty cell in any of them — a truncated last row, a row with an
    empty band — raises DataFormatError (a numeric column read strictly has none: an empty cell would
    have made it text)."""
    out = {}
    for c in cols:
        a = df[c].to_numpy()
        if not _is_number_array(a):
            text = np.char.strip(a.astype(str))
            empty = (text == "") | pd.isna(a)
            if empty.any():
                i = int(np.flatnonzero(empty)[0])
                raise DataFormatError(f"{path}: {_row(i, path)}: empty {c!r} (truncated or incomplete row?)")
        out[c] = a
    return out


def _numbers(raw: np.ndarray, c: str, path: Path, finite: bool = False, non_negative: bool = False,
             integer: bool = False) -> np.ndarray:
    """Column ``c`` as float64; text that is not a number, ±inf (``finite``), negative values
    (``non_negative``) or non-integers (``integer``) raise DataFormatError naming the file, the line
    and the column. :data:`NAN_TEXT` (and an empty cell, when allowed) reads as NaN."""
    if _is_number_array(raw):  # the fast path: the parser already read numbers
        vals = raw.astype(np.float64)
    else:
        vals = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=np.float64)
        text = np.char.strip(raw.astype(str))
        bad = np.isnan(vals) & ~(pd.isna(raw) | np.isin(text, NAN_TEXT + ("", "None", "<NA>")))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFormatError(f"{path}: {_row(i, path)}: non-numeric value {raw[i]!r} in column {c!r}")
    if finite and np.isinf(vals).any():
        i = int(np.flatnonzero(np.isinf(vals))[0])
        raise DataFormatError(f"{path}: {_row(i, path)}: infinite value {raw[i]!r} in column {c!r}")
    if non_negative and (vals < 0).any():
        i = int(np.flatnonzero(vals < 0)[0])
        raise DataFormatError(f"{path}: {_row(i, path)}: negative value {raw[i]!r} in column {c!r} "
                              "(an uncertainty cannot be negative)")
    if integer:
        with np.errstate(invalid="ignore"):
            frac = ~np.isfinite(vals) | (vals != np.round(vals))
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise DataFormatError(f"{path}: {_row(i, path)}: {raw[i]!r} in column {c!r} is not an integer")
    return vals


def _numeric(df: pd.DataFrame, cols: Sequence[str], path: Path, finite: Sequence[str] = (),
             non_negative: Sequence[str] = (), integer: Sequence[str] = ()) -> None:
    """:func:`_numbers` for DataFrame columns, in place."""
    for c in cols:
        df[c] = _numbers(df[c].to_numpy(), c, path, c in finite, c in non_negative, c in integer)


def read_plasticc(folder: str | Path, light_curves: str = "training_set.csv",
                  metadata: str = "training_set_metadata.csv", max_objects: int | None = None) -> LightCurveSet:
    """Read PLAsTiCC-format light curves (fluxes, FLUXCAL zero point 27.5) and their metadata.

    ``meta`` gets ``redshift`` (``hostgal_specz`` when > 0, else ``hostgal_photoz``), ``hostgal_photoz``,
    ``hostgal_photoz_err``, ``distmod``, ``mwebv`` (E(B-V), mag), ``ddf``; ``label`` is ``target``
    (PLAsTiCC class id, see :data:`PLASTICC_CLASSES`) when present. An empty cell, a non-numeric or
    infinite value, a negative ``flux_err``, or a ``passband``/``target`` that is not an integer raises
    :class:`DataFormatError` naming the file, line and column.
    """
    folder = Path(folder)
    lc_path, meta_path = folder / light_curves, folder / metadata
    df = _read_table(lc_path, strict=True)
    cols = ["object_id", "mjd", "passband", "flux", "flux_err"]
    _require(df, cols, lc_path)
    _check_cells(df, cols, lc_path)
    _numeric(df, cols[1:], lc_path, finite=cols[1:], non_negative=["flux_err"], integer=["passband"])
    if df.empty:
        raise EmptyDatasetError(f"{lc_path} holds no observation")
    bad = ~df["passband"].between(0, 5)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFormatError(f"{lc_path}: {_row(i, lc_path)}: passband {df['passband'].iloc[i]!r} outside 0..5")
    df["object_id"] = df["object_id"].astype(str).str.strip()
    if meta_path.exists():
        meta = _read_table(meta_path, strict=True)
        _require(meta, ["object_id"], meta_path)
        num = [k for k in ("hostgal_photoz", "hostgal_photoz_err", "hostgal_specz", "distmod", "mwebv", "ddf")
               if k in meta.columns]
        _numeric(meta, num, meta_path)
        if "target" in meta.columns:
            _check_cells(meta, ["target"], meta_path)
            _numeric(meta, ["target"], meta_path, integer=["target"])
        meta["object_id"] = meta["object_id"].astype(str).str.strip()
        meta = meta.set_index("object_id")
    else:
        meta = pd.DataFrame(index=pd.Index(df["object_id"].unique(), name="object_id"))
    curves = []
    for oid, g in df.groupby("object_id", sort=False):
        m: dict[str, Any] = {}
        label = None
        if oid in meta.index:
            row = meta.loc[oid]
            for k in ("hostgal_photoz", "hostgal_photoz_err", "hostgal_specz", "distmod", "mwebv", "ddf"):
                if k in row.index:
                    m[k] = float(row[k])
            spec = m.get("hostgal_specz", np.nan)
            m["redshift"] = spec if np.isfinite(spec) and spec > 0 else m.get("hostgal_photoz", np.nan)
            if "target" in row.index:
                label = int(row["target"])
        curves.append(LightCurve(time=g["mjd"].to_numpy(), value=g["flux"].to_numpy(),
                                 error=g["flux_err"].to_numpy(), band=g["passband"].to_numpy().astype(np.int64),
                                 bands=LSST_BANDS, kind="flux", zero_point=PLASTICC_ZERO_POINT,
                                 object_id=str(oid), meta=m, label=label))
        if max_objects is not None and len(curves) >= max_objects:
            break
    return LightCurveSet(curves, bands=LSST_BANDS)


def read_lightcurve_csv(path: str | Path, object_id: str | None = None) -> LightCurve:
    """One long-format CSV: ``time,mag,magerr,band`` (AB mag) or ``time,flux,fluxerr,band`` (µJy).

    Raises :class:`DataFormatError` naming the file, line and column for an empty cell (a truncated
    row, an empty band), text that is not a number, an infinite time/value/error or a negative
    error. ``nan`` written as text marks a missing observation and is dropped; so are magnitude
    sentinels (mag or magerr ≥ :data:`MAG_SENTINEL`, e.g. SDSS's 99.99), counted in
    ``meta["n_sentinel"]``.
    """
    path = Path(path)
    df = _read_table(path, strict=True)
    if {"mag", "magerr"} <= set(df.columns):
        vcol, ecol, kind = "mag", "magerr", "mag"
    elif {"flux", "fluxerr"} <= set(df.columns):
        vcol, ecol, kind = "flux", "fluxerr", "flux"
    else:
        raise DataFormatError(f"{path}: need columns time,mag,magerr,band or time,flux,fluxerr,band; "
                              f"found {list(df.columns)}")
    cols = ["time", vcol, ecol, "band"]
    _require(df, cols, path)
    raw = _check_cells(df, cols, path)
    time = _numbers(raw["time"], "time", path, finite=True)
    value = _numbers(raw[vcol], vcol, path, finite=True)
    error = _numbers(raw[ecol], ecol, path, finite=True, non_negative=True)
    if np.isnan(time).any():
        raise DataFormatError(f"{path}: {_row(int(np.flatnonzero(np.isnan(time))[0]), path)}: missing 'time'")
    keep = ~(np.isnan(value) | np.isnan(error))
    n_sentinel = 0
    if kind == "mag":
        sentinel = keep & ((np.abs(value) >= MAG_SENTINEL) | (error >= MAG_SENTINEL))
        n_sentinel = int(sentinel.sum())
        keep &= ~sentinel
    band = np.char.strip(raw["band"].astype(str))[keep]
    bands = tuple(sorted(set(band.tolist())))
    meta = {"n_sentinel": n_sentinel} if n_sentinel else {}
    return LightCurve(time=time[keep], value=value[keep], error=error[keep], band=band, bands=bands, kind=kind,
                      zero_point=AB_ZERO_POINT_UJY, object_id=object_id or path.stem, meta=meta)


def read_csv_folder(folder: str | Path, labels: str | None = "labels.csv", id_column: str | None = None,
                    label_column: str | None = None, meta_columns: Sequence[str] = (),
                    max_objects: int | None = None, bands: Sequence[str] | None = None,
                    progress: bool = False) -> LightCurveSet:
    """Read a folder of per-object CSV files and (optionally) a labels table.

    The labels table may start with blank lines (the ZTF BTS table does). Its ``id_column`` (default:
    first column) gives the file stem; ``label_column`` becomes ``LightCurve.label``; every column in
    ``meta_columns`` (numeric where possible) goes to ``meta`` (``redshift`` and ``A_V`` are added
    automatically when present). Without a labels table every ``*.csv`` file except ``labels.csv``
    is read, unlabelled. ``progress`` shows a tqdm bar over the files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    table = None
    if labels is not None and (folder / labels).exists():
        table = _read_table(folder / labels)
        id_column = id_column or table.columns[0]
        _require(table, [id_column] + ([label_column] if label_column else []), folder / labels)
        ids = table[id_column].astype(str).str.strip().tolist()
    else:
        ids = sorted(p.stem for p in folder.glob("*.csv") if p.name != (labels or ""))
    if max_objects is not None:
        ids = ids[:max_objects]
    auto_meta = [c for c in ("redshift", "A_V") if table is not None and c in table.columns]
    curves = []
    from tqdm.auto import tqdm

    for j, oid in enumerate(tqdm(ids, desc=f"reading {folder.name}", unit="file", disable=not progress)):
        path = folder / f"{oid}.csv"
        if not path.exists():  # labels table rows without a light curve are skipped, as in the surveys
            continue
        lc = read_lightcurve_csv(path, oid)
        if table is not None:
            row = table.iloc[j]
            if label_column:
                lc.label = row[label_column]
            for c in list(meta_columns) + auto_meta:
                v = row[c]
                try:
                    lc.meta[c] = float(v)
                except (TypeError, ValueError):
                    lc.meta[c] = v
        if len(lc):
            curves.append(lc)
    if not curves:
        raise EmptyDatasetError(f"no light curve read from {folder}")
    return LightCurveSet(curves, bands=bands)


def write_parquet(curves: LightCurveSet, path: str | Path, metadata_path: str | Path | None = None) -> None:
    """Write a long table ``object_id,time,value,error,band`` (+ ``kind``, ``zero_point``) and, if
    ``metadata_path``, a per-object table of ``meta`` + ``label``."""
    rows = []
    metas = []
    for lc in curves:
        rows.append(pd.DataFrame({"object_id": lc.object_id, "time": lc.time, "value": lc.value,
                                  "error": lc.error, "band": lc.band_name().astype(str), "kind": lc.kind,
                                  "zero_point": lc.zero_point}))
        metas.append({"object_id": lc.object_id, "label": lc.label, **lc.meta})
    pd.concat(rows, ignore_index=True).to_parquet(path, index=False)
    if metadata_path is not None:
        pd.DataFrame(metas).to_parquet(metadata_path, index=False)


def read_parquet(path: str | Path, metadata_path: str | Path | None = None, kind: str | None = None,
                 bands: Sequence[str] | None = None) -> LightCurveSet:
    """Read the long Parquet layout of :func:`write_parquet` (``kind`` overrides the column)."""
    path = Path(path)
    df = _read_table(path)
    cols = ["object_id", "time", "value", "error", "band"]
    _require(df, cols, path)
    _check_cells(df, cols, path)
    _numeric(df, cols[1:4], path, finite=cols[1:4], non_negative=["error"])
    meta = None
    if metadata_path is not None:
        meta = _read_table(Path(metadata_path))
        _require(meta, ["object_id"], Path(metadata_path))
        meta = meta.set_index(meta["object_id"].astype(str))
    all_bands = tuple(bands) if bands else tuple(sorted(df["band"].astype(str).unique()))
    curves = []
    for oid, g in df.groupby("object_id", sort=False):
        k = kind or (str(g["kind"].iloc[0]) if "kind" in g else "flux")
        zp = float(g["zero_point"].iloc[0]) if "zero_point" in g else AB_ZERO_POINT_UJY
        lc = LightCurve(time=g["time"].to_numpy(), value=g["value"].to_numpy(), error=g["error"].to_numpy(),
                        band=g["band"].astype(str).to_numpy(), bands=all_bands, kind=k, zero_point=zp,
                        object_id=str(oid))
        if meta is not None and str(oid) in meta.index:
            row = meta.loc[str(oid)]
            for c in meta.columns:
                if c == "object_id":
                    continue
                if c == "label":
                    lc.label = None if pd.isna(row[c]) else row[c]
                else:
                    lc.meta[c] = row[c]
        curves.append(lc)
    if not curves:
        raise EmptyDatasetError(f"{path} holds no light curve")
    return LightCurveSet(curves, bands=bands)


# ---------------------------------------------------------------------------------------------
# the two real sets in ../shared/data/light_curves
def load_rrlyrae_stripe82(root: str | Path, max_objects: int | None = None) -> LightCurveSet:
    """SDSS Stripe 82 RR Lyrae (Sesar et al. 2010): label ``"RRab"``/``"RRc"``, ``meta["period_true"]``
    (days). ``root`` is the ``light_curves`` folder (or the shared data root)."""
    root = Path(root)
    folder = root / "rrlyrae_stripe82" if (root / "rrlyrae_stripe82").is_dir() else root / "light_curves" / "rrlyrae_stripe82"
    lcs = read_csv_folder(folder, id_column="Num", label_column="Type", meta_columns=("Per",),
                          max_objects=max_objects)
    for lc in lcs:
        lc.label = "RR" + str(lc.label).strip()
        lc.meta["period_true"] = lc.meta.pop("Per")
        lc.meta["survey"] = "sdss_s82"
    return lcs


def load_snia_ztf_bts(root: str | Path, max_objects: int | None = None) -> LightCurveSet:
    """ZTF Bright Transient Survey SNe Ia (bands g, R): label ``"SNIa"``, ``meta`` has ``redshift``,
    ``A_V`` (mag), ``peakmag``, ``subtype`` (the BTS ``type``)."""
    root = Path(root)
    folder = root / "snia_ztf_bts" if (root / "snia_ztf_bts").is_dir() else root / "light_curves" / "snia_ztf_bts"
    lcs = read_csv_folder(folder, id_column="ZTFID", label_column="type", meta_columns=("peakmag",),
                          max_objects=max_objects)
    for lc in lcs:
        lc.meta["subtype"] = lc.label
        lc.meta["survey"] = "ztf_bts"
        lc.label = "SNIa"
    return lcs
