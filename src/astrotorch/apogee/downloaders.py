"""Download APOGEE catalogues, spectra and value-added catalogues (DR13–DR17) from the SDSS SAS.

Every function returns the local :class:`~pathlib.Path` of the requested file. Files are looked for
first in the local SAS mirror (``$SDSS_LOCAL_SAS_MIRROR`` / config ``sdss_local_sas_mirror``, laid
out exactly as the SAS), then in the data home (``<data_home>/<SAS relative path>``), and only then
downloaded from ``get_config().sdss_sas_url`` (default ``https://data.sdss.org/sas``) with a
progress bar and HTTP Range resume (:func:`astrotorch.io.download`).

Checksums: the catalogue files are checked against the SHA-1 digests astroNN publishes for them;
spectra are checked against the ``*.sha1sum`` file the SAS publishes beside them in each field
folder, when that file exists (it is optional: a 404 just skips the check). A mismatch deletes the
download and raises :class:`~astrotorch.errors.ChecksumError`; the final path only ever holds a
complete, verified file (bytes go to ``<name>.unverified.part`` first, are verified, then renamed).

Names follow :mod:`astroNN.apogee`: ``allstar``, ``allvisit``, ``allstar_cannon``,
``combined_spectra`` (aspcapStar), ``visit_spectra`` (apStar: the per-star file with the combined
and per-visit spectra), ``apogee_rc``, ``apogee_distances``, ``apogee_astronn``; plus
:func:`apvisit_spectra` for single-visit apVisit files and :func:`sas_path` for the relative paths.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from pathlib import Path
from typing import Any

from astrotorch.apogee.chips import apogee_default_dr
from astrotorch.errors import ChecksumError, DataFormatError, DownloadError, InputValidationError

#: DR -> (reduction version, ASPCAP version) for the SAS layout
_REDUX = {13: ("r6", "l30e"), 14: ("r8", "l31c"), 15: ("r8", "l31c"), 16: ("r12", "l33"), 17: ("dr17", "synspec_rev1")}

#: SHA-1 digests of the catalogue files as distributed (values published in astroNN's downloader)
_KNOWN_SHA1: dict[str, str] = {
    "dr13/apogee/spectro/redux/r6/stars/l30e/l30e.2/allStar-l30e.2.fits": "1718723ada3018de94e1022cd57d4d950a74f91f",
    "dr14/apogee/spectro/redux/r8/stars/l31c/l31c.2/allStar-l31c.2.fits": "a7e1801924661954da792e377ad54f412219b105",
    "dr16/apogee/spectro/aspcap/r12/l33/allStar-r12-l33.fits": "66fe854bd000ca1c0a6b50a998877e4a3e41d184",
    "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allStar-dr17-synspec_rev1.fits": "7aa2f381de0e8e246f9833cc7da540ef45096702",
    "dr13/apogee/spectro/redux/r6/allVisit-l30e.2.fits": "2a3b13ccd40a2c8aea8321be9630117922d55b51",
    "dr14/apogee/spectro/redux/r8/allVisit-l31c.2.fits": "abcecbcdc5fe8d00779738702c115633811e6bbd",
    "dr16/apogee/spectro/aspcap/r12/l33/allVisit-r12-l33.fits": "65befb967d8d9d6f4f87711c1fa8d0ac014b62da",
    "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allVisit-dr17-synspec_rev1.fits": "fb2f5ecbabbe156f8ec37b420e095f3ba8323cc6",
    "dr14/apogee/spectro/redux/r8/stars/l31c/l31c.2/cannon/allStarCannon-l31c.2.fits": "64d485e95b3504df0b795ab604e21a71d5c7ae45",
    "dr13/apogee/vac/apogee-rc/cat/apogee-rc-DR13.fits": "5e87eb3ba202f9db24216978dafb19d39d382fc6",
    "dr14/apogee/vac/apogee-rc/cat/apogee-rc-DR14.fits": "104513070f1c280954f3d1886cac429dbdf2eaf6",
    "dr16/apogee/vac/apogee-rc/cat/apogee-rc-DR16.fits": "0bc75a230058f50ed8a5ea3fa8554d803ffc103d",
    "dr17/apogee/vac/apogee-rc/cat/apogee-rc-DR17.fits": "491e854d6db6b828554eda2b4b2e31365ccf65aa",
    "dr14/apogee/vac/apogee-distances/apogee_distances-DR14.fits": "b33c8419be784b1be3d14af3ee9696c6ac31830f",
    "dr16/apogee/vac/apogee-starhorse/apogee_starhorse-DR16-v1.fits": "2502e2f7703046163f81ecc4054dce39b2038e4f",
    "dr16/apogee/vac/apogee-astronn/apogee_astroNN-DR16-v1.fits": "1b81ed13eef36fe9a327a05f4a622246522199b2",
    "dr17/apogee/vac/apogee-astronn/apogee_astroNN-DR17.fits": "c422b9adba840b3415af2fe6dec6500219f1b68f",
}


def _dr(dr: int | None, allowed: tuple[int, ...], what: str) -> int:
    dr = apogee_default_dr(dr)
    if dr not in allowed:
        raise InputValidationError(f"{what} is available for DR{', DR'.join(map(str, allowed))} only, not DR{dr}")
    return dr


# ---------------------------------------------------------------------------------------------
# SAS relative paths
# ---------------------------------------------------------------------------------------------
def sas_path(kind: str, dr: int | None = None, **ids: Any) -> str:
    """Path of an APOGEE file relative to the SAS root, following the SDSS data model of each DR.

    ``kind`` and the identifiers it needs:

    - ``"allstar"``, ``"allvisit"``, ``"allstar_cannon"`` (DR14–15), ``"apogee_rc"`` (DR13, 14, 16,
      17), ``"apogee_distances"`` (DR14 distances; DR16–17 StarHorse), ``"apogee_astronn"`` (DR16–17);
    - ``"aspcapstar"``: ``apogee`` and ``location`` (DR13–15) or ``telescope`` + ``field`` (DR16–17);
    - ``"apstar"``: same as aspcapstar (+ ``commission=True`` for apStarC files);
    - ``"apvisit"``: ``plate``, ``mjd``, ``fiber``, ``telescope`` (default apo25m) and, for DR16–17,
      ``field``.
    """
    dr = apogee_default_dr(dr)
    if dr < 13:
        raise InputValidationError(f"APOGEE downloads are supported for DR13-DR17, not DR{dr}")
    red, asp = _REDUX[dr]
    d = f"dr{dr}"
    kind = kind.lower()
    if kind == "allstar":
        if dr <= 15:
            return f"{d}/apogee/spectro/redux/{red}/stars/{asp}/{asp}.2/allStar-{asp}.2.fits"
        return f"{d}/apogee/spectro/aspcap/{red}/{asp}/allStar-{red}-{asp}.fits"
    if kind == "allvisit":
        if dr <= 15:
            return f"{d}/apogee/spectro/redux/{red}/allVisit-{asp}.2.fits"
        return f"{d}/apogee/spectro/aspcap/{red}/{asp}/allVisit-{red}-{asp}.fits"
    if kind == "allstar_cannon":
        _dr(dr, (14, 15), "allStarCannon (The Cannon catalogue)")
        return f"{d}/apogee/spectro/redux/{red}/stars/{asp}/{asp}.2/cannon/allStarCannon-{asp}.2.fits"
    if kind == "apogee_rc":
        _dr(dr, (13, 14, 16, 17), "the red clump VAC")
        return f"{d}/apogee/vac/apogee-rc/cat/apogee-rc-DR{dr}.fits"
    if kind == "apogee_distances":
        _dr(dr, (14, 16, 17), "the distances VAC")
        if dr == 14:
            return f"{d}/apogee/vac/apogee-distances/apogee_distances-DR14.fits"
        if dr == 16:
            return f"{d}/apogee/vac/apogee-starhorse/apogee_starhorse-DR16-v1.fits"
        return f"{d}/apogee/vac/apogee-starhorse/APOGEE_DR17_EDR3_STARHORSE_v2.fits"
    if kind == "apogee_astronn":
        _dr(dr, (16, 17), "the astroNN VAC")
        return f"{d}/apogee/vac/apogee-astronn/apogee_astroNN-DR16-v1.fits" if dr == 16 else (
            f"{d}/apogee/vac/apogee-astronn/apogee_astroNN-DR17.fits")
    if kind in ("aspcapstar", "apstar"):
        apogee = _need(ids, "apogee", kind)
        if dr <= 15:
            location = _need(ids, "location", kind)
            if kind == "aspcapstar":
                return f"{d}/apogee/spectro/redux/{red}/stars/{asp}/{asp}.2/{location}/aspcapStar-{red}-{asp}.2-{apogee}.fits"
            prefix = "apStarC" if ids.get("commission") else "apStar"
            return f"{d}/apogee/spectro/redux/{red}/stars/apo25m/{location}/{prefix}-{red}-{apogee}.fits"
        telescope, field = _need(ids, "telescope", kind), _need(ids, "field", kind)
        if kind == "aspcapstar":
            return f"{d}/apogee/spectro/aspcap/{red}/{asp}/{telescope}/{field}/aspcapStar-{red}-{apogee}.fits"
        # the southern (LCO) telescope's files are named asStar
        prefix = "asStar" if telescope == "lco25m" else "apStar"
        if ids.get("commission"):
            prefix += "C"
        return f"{d}/apogee/spectro/redux/{red}/stars/{telescope}/{field}/{prefix}-{red}-{apogee}.fits"
    if kind == "apvisit":
        plate, mjd = _need(ids, "plate", kind), _need(ids, "mjd", kind)
        fiber = int(_need(ids, "fiber", kind))
        if not 1 <= fiber <= 300:
            raise InputValidationError(f"APOGEE fibre numbers run from 1 to 300, got {fiber}")
        telescope = ids.get("telescope") or "apo25m"
        if dr <= 15:
            return f"{d}/apogee/spectro/redux/{red}/{telescope}/{plate}/{mjd}/apVisit-{red}-{plate}-{mjd}-{fiber:03d}.fits"
        field = _need(ids, "field", kind)
        prefix = "asVisit" if telescope == "lco25m" else "apVisit"
        return (f"{d}/apogee/spectro/redux/{red}/visit/{telescope}/{field}/{plate}/{mjd}/"
                f"{prefix}-{red}-{plate}-{mjd}-{fiber:03d}.fits")
    raise InputValidationError(f"unknown APOGEE file kind {kind!r}")


def _need(ids: dict[str, Any], key: str, kind: str) -> str:
    val = ids.get(key)
    if val is None or str(val).strip() == "":
        raise InputValidationError(f"{kind} for this data release needs {key}=")
    return str(val).strip()


def sha1sum_path(kind: str, dr: int | None = None, **ids: Any) -> str | None:
    """SAS path of the ``*.sha1sum`` file that lists the checksums of a spectrum's folder, if any."""
    dr = apogee_default_dr(dr)
    red, asp = _REDUX[dr]
    folder = sas_path(kind, dr, **ids).rsplit("/", 1)[0]
    if kind == "aspcapstar":
        if dr <= 15:
            name = f"stars_{asp}_{asp}.2_{ids['location']}.sha1sum"
        elif dr == 16:
            name = f"{red}_{asp}_{ids['telescope']}_{ids['field']}.sha1sum"
        else:
            # DR17's synspec_rev1 re-run only touched LCO fields; the others keep the 'synspec' name
            tag = asp if ids["telescope"] == "lco25m" else asp[:7]
            name = f"{red}_{tag}_{ids['telescope']}_{ids['field']}.sha1sum"
    elif kind == "apstar":
        if dr <= 15:
            name = f"{red}_stars_apo25m_{ids['location']}.sha1sum"
        else:
            name = f"{red}_stars_{ids['telescope']}_{ids['field']}.sha1sum"
    else:
        return None
    return f"{folder}/{name}"


# ---------------------------------------------------------------------------------------------
# fetching with mirror / data home / checksum
# ---------------------------------------------------------------------------------------------
def _sha1(path: Path) -> str:
    h = hashlib.sha1()  # noqa: S324 - SHA-1 is what the SAS publishes; integrity, not security
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_sha1sum(path: Path, filename: str) -> str | None:
    """Digest of ``filename`` in a ``sha1sum``-format file (``<hex>  <name>`` per line), or None."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"cannot read checksum file {path}: {exc}") from exc
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].lstrip("*").rsplit("/", 1)[-1] == filename:
            digest = parts[0].lower()
            if len(digest) != 40 or any(c not in "0123456789abcdef" for c in digest):
                raise DataFormatError(f"checksum file {path}: malformed SHA-1 {parts[0]!r} for {filename}")
            return digest
    return None


def _roots() -> tuple[Path | None, Path, str]:
    from astrotorch.config import get_config

    cfg = get_config()
    return cfg.sdss_local_sas_mirror, cfg.data_home, cfg.sdss_sas_url


def _published_sha1(checksum_rel: str | None, filename: str) -> str | None:
    """SHA-1 of ``filename`` from the SAS checksum file ``checksum_rel`` (mirror, cache or download)."""
    if checksum_rel is None:
        return None
    from astrotorch.io import download

    mirror, home, base = _roots()
    if mirror is not None and (mirror / checksum_rel).is_file():
        return _parse_sha1sum(mirror / checksum_rel, filename)
    local = home / checksum_rel
    if not local.is_file():
        try:
            download(base.rstrip("/") + "/" + urllib.parse.quote(checksum_rel), local, progress=False)
        except DownloadError as exc:
            # the checksum files are optional on the SAS: only "not there" is tolerated
            if "HTTP 404" in str(exc):
                return None
            raise
    digest = _parse_sha1sum(local, filename)
    if digest is None:
        # a stale cached listing may predate the file: refresh it once
        try:
            download(base.rstrip("/") + "/" + urllib.parse.quote(checksum_rel), local, progress=False, overwrite=True)
        except DownloadError:
            return None
        digest = _parse_sha1sum(local, filename)
    return digest


def fetch_sas(
    rel: str,
    sha1: str | None = None,
    md5: str | None = None,
    checksum_file: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Get the SAS file ``rel``: local mirror, then data home, then download (verified).

    Parameters
    ----------
    rel
        Path relative to the SAS root, e.g. from :func:`sas_path`.
    sha1, md5
        Expected digests; ``sha1=None`` uses the built-in table of catalogue digests, then
        ``checksum_file``.
    checksum_file
        SAS path of a ``sha1sum`` listing that may hold the file's digest (optional on the SAS).
    overwrite
        Download again even when a verified copy exists in the data home.

    Raises
    ------
    ChecksumError
        The mirror copy, or the downloaded bytes, do not match (a download is deleted; the mirror
        is never modified).
    DownloadError
        HTTP error / network failure (a partial ``.part`` file is kept for resuming).
    """
    from astrotorch.io import download, md5sum

    rel = rel.lstrip("/")
    filename = rel.rsplit("/", 1)[-1]
    mirror, home, base = _roots()
    expected = (sha1 or _KNOWN_SHA1.get(rel) or "").lower() or None

    if mirror is not None and (mirror / rel).is_file():
        local = mirror / rel
        digest = expected or _published_sha1(checksum_file, filename)
        if digest is not None and _sha1(local) != digest:
            raise ChecksumError(f"mirror file {local} does not match its SHA-1 {digest}; the mirror was not modified")
        if md5 is not None and md5sum(local) != md5.strip().lower():
            raise ChecksumError(f"mirror file {local} does not match its MD5 {md5}")
        return local

    dest = home / rel
    digest = expected
    if digest is None and checksum_file is not None:
        digest = _published_sha1(checksum_file, filename)
    if dest.is_file() and not overwrite:
        if digest is None or _sha1(dest) == digest:
            return dest
        # a corrupt cached copy: fetch a fresh one (it is replaced atomically below)
    staging = dest.with_name(dest.name + ".unverified")
    url = base.rstrip("/") + "/" + urllib.parse.quote(rel)
    try:
        download(url, staging, md5=md5, resume=True, progress=progress, overwrite=True)
    except ChecksumError:
        staging.unlink(missing_ok=True)
        raise
    if digest is not None and _sha1(staging) != digest:
        staging.unlink(missing_ok=True)
        raise ChecksumError(f"SHA-1 mismatch for {url}: expected {digest}; the corrupt download was deleted")
    os.replace(staging, dest)
    return dest


# ---------------------------------------------------------------------------------------------
# public astroNN-style downloaders
# ---------------------------------------------------------------------------------------------
def allstar(dr: int | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """The allStar catalogue (ASPCAP parameters and abundances of every star) of ``dr`` (DR13–17)."""
    return fetch_sas(sas_path("allstar", dr), overwrite=overwrite, progress=progress)


def allvisit(dr: int | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """The allVisit catalogue (one row per visit spectrum) of ``dr`` (DR13–17)."""
    return fetch_sas(sas_path("allvisit", dr), overwrite=overwrite, progress=progress)


def allstar_cannon(dr: int | None = 14, overwrite: bool = False, progress: bool = True) -> Path:
    """The Cannon's allStarCannon catalogue (DR14, and DR15 which re-released it)."""
    return fetch_sas(sas_path("allstar_cannon", dr), overwrite=overwrite, progress=progress)


def apogee_rc(dr: int | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """The APOGEE red-clump value-added catalogue (DR13, 14, 16, 17)."""
    return fetch_sas(sas_path("apogee_rc", dr), overwrite=overwrite, progress=progress)


def apogee_distances(dr: int | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """Distances VAC: APOGEE distances (DR14) or StarHorse distances and extinctions (DR16, DR17)."""
    return fetch_sas(sas_path("apogee_distances", dr), overwrite=overwrite, progress=progress)


def apogee_astronn(dr: int | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """The astroNN VAC (astroNN abundances, distances, ages, orbits; DR16, DR17)."""
    return fetch_sas(sas_path("apogee_astronn", dr), overwrite=overwrite, progress=progress)


def apogee_vac(name: str, dr: int | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """Any of the value-added catalogues by name: ``"rc"``, ``"distances"``/``"starhorse"``,
    ``"astronn"``, ``"cannon"``."""
    key = name.lower()
    table = {"rc": "apogee_rc", "red_clump": "apogee_rc", "distances": "apogee_distances",
             "starhorse": "apogee_distances", "astronn": "apogee_astronn", "cannon": "allstar_cannon"}
    if key not in table:
        raise InputValidationError(f"unknown APOGEE VAC {name!r}; known: {sorted(table)}")
    return fetch_sas(sas_path(table[key], dr), overwrite=overwrite, progress=progress)


def _lookup_ids(dr: int, apogee: str, telescope: str | None, allstar_path: str | os.PathLike[str] | None) -> dict[str, str]:
    """Location/field/telescope of ``apogee`` from the allStar catalogue (downloaded if needed)."""
    import numpy as np

    from astrotorch.io import open_fits

    path = Path(allstar_path) if allstar_path is not None else allstar(dr)
    try:
        with open_fits(path) as hdul:
            data = hdul[1].data
            ids = np.char.strip(np.asarray(data["APOGEE_ID"]).astype(str))
            sel = ids == apogee.strip()
            names = [n.upper() for n in data.columns.names]
            if telescope is not None and "TELESCOPE" in names:
                sel &= np.char.strip(np.asarray(data["TELESCOPE"]).astype(str)) == telescope
            idx = np.flatnonzero(sel)
            if idx.size == 0:
                raise InputValidationError(f"{apogee} (telescope {telescope}) is not in the DR{dr} allStar file {path}")
            row = data[idx[0]]
            out: dict[str, str] = {}
            for key, col in (("location", "LOCATION_ID"), ("field", "FIELD"), ("telescope", "TELESCOPE")):
                if col in names:
                    out[key] = str(row[col]).strip()
            return out
    except (InputValidationError, ChecksumError, DataFormatError, FileNotFoundError):
        raise
    except Exception as exc:
        raise DataFormatError(f"cannot read APOGEE_ID/FIELD columns from allStar file {path}: {exc}") from exc


def _spectrum(kind: str, dr: int | None, apogee: str | None, location: int | str | None, field: str | None,
              telescope: str | None, allstar_path: Any, overwrite: bool, progress: bool, commission: bool) -> Path:
    dr = _dr(dr, (13, 14, 15, 16, 17), f"{kind} download")
    if not apogee:
        raise InputValidationError(f"{kind} needs apogee= (the APOGEE_ID, e.g. '2M19485057+5005279')")
    ids: dict[str, Any] = {"apogee": apogee, "location": location, "field": field, "telescope": telescope,
                           "commission": commission}
    missing = (location is None) if dr <= 15 else (field is None or telescope is None)
    if missing:
        found = _lookup_ids(dr, apogee, telescope, allstar_path)
        for key, val in found.items():
            if ids.get(key) is None:
                ids[key] = val
    rel = sas_path(kind, dr, **ids)
    return fetch_sas(rel, checksum_file=sha1sum_path(kind, dr, **ids), overwrite=overwrite, progress=progress)


def combined_spectra(
    dr: int | None = None,
    location: int | str | None = None,
    field: str | None = None,
    apogee: str | None = None,
    telescope: str | None = None,
    allstar_path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """The aspcapStar file of one star (ASPCAP's continuum-normalised combined spectrum), as astroNN.

    DR13–15 need ``location`` (LOCATION_ID), DR16–17 ``telescope`` and ``field``; any missing
    identifier is looked up by APOGEE_ID in the allStar catalogue (``allstar_path`` or downloaded).
    """
    return _spectrum("aspcapstar", dr, apogee, location, field, telescope, allstar_path, overwrite, progress, False)


def visit_spectra(
    dr: int | None = None,
    location: int | str | None = None,
    field: str | None = None,
    apogee: str | None = None,
    telescope: str | None = None,
    allstar_path: str | os.PathLike[str] | None = None,
    commission: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """The apStar file of one star (combined + per-visit spectra on the apStar grid), as astroNN."""
    return _spectrum("apstar", dr, apogee, location, field, telescope, allstar_path, overwrite, progress, commission)


def apvisit_spectra(
    plate: int | str,
    mjd: int,
    fiber: int,
    dr: int | None = None,
    telescope: str = "apo25m",
    field: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """One apVisit file (single visit, native 3 × 4096 sampling); DR16–17 also need ``field``."""
    dr = _dr(dr, (13, 14, 15, 16, 17), "apVisit download")
    rel = sas_path("apvisit", dr, plate=plate, mjd=mjd, fiber=fiber, telescope=telescope, field=field)
    return fetch_sas(rel, overwrite=overwrite, progress=progress)


def astronn_data_file(name: str, overwrite: bool = False, progress: bool = True,
                      base_url: str = "https://raw.githubusercontent.com/henrysky/astroNN/master/src/astroNN/data") -> Path:
    """Download one of astroNN's data files (e.g. ``dr17_contmask.npy``, ``aspcap_l31c_masks.npy``,
    MIT licensed) into ``<data_home>/apogee/`` where :func:`~astrotorch.apogee.load_continuum_mask`
    and :func:`~astrotorch.apogee.aspcap_mask` look for them."""
    from astrotorch.io import download

    if "/" in name or "\\" in name or not name.endswith(".npy"):
        raise InputValidationError(f"expected a bare astroNN .npy data file name, got {name!r}")
    _, home, _ = _roots()
    return download(f"{base_url.rstrip('/')}/{name}", home / "apogee" / name, progress=progress, overwrite=overwrite)


__all__ = [
    "allstar",
    "allstar_cannon",
    "allvisit",
    "apogee_astronn",
    "apogee_distances",
    "apogee_rc",
    "apogee_vac",
    "apvisit_spectra",
    "astronn_data_file",
    "combined_spectra",
    "fetch_sas",
    "sas_path",
    "sha1sum_path",
    "visit_spectra",
]
