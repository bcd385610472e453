"""APOGEE downloaders against a local HTTP server on 127.0.0.1 serving a fake SAS tree."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from http_server import serve_folder

from astrotorch.apogee import downloaders as dl
from astrotorch.config import override
from astrotorch.errors import ChecksumError, DownloadError, InputValidationError


def test_sas_paths_per_dr():
    assert dl.sas_path("allstar", 17) == "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allStar-dr17-synspec_rev1.fits"
    assert dl.sas_path("allstar", 16) == "dr16/apogee/spectro/aspcap/r12/l33/allStar-r12-l33.fits"
    assert dl.sas_path("allstar", 14) == "dr14/apogee/spectro/redux/r8/stars/l31c/l31c.2/allStar-l31c.2.fits"
    assert dl.sas_path("allstar", 13) == "dr13/apogee/spectro/redux/r6/stars/l30e/l30e.2/allStar-l30e.2.fits"
    assert dl.sas_path("allvisit", 17) == "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allVisit-dr17-synspec_rev1.fits"
    assert dl.sas_path("apstar", 17, apogee="2M19485057+5005279", telescope="apo25m", field="K04_083+13") == (
        "dr17/apogee/spectro/redux/dr17/stars/apo25m/K04_083+13/apStar-dr17-2M19485057+5005279.fits")
    assert dl.sas_path("apstar", 16, apogee="2M0", telescope="lco25m", field="F") == (
        "dr16/apogee/spectro/redux/r12/stars/lco25m/F/asStar-r12-2M0.fits")
    assert dl.sas_path("apstar", 14, apogee="2M0", location=4217) == "dr14/apogee/spectro/redux/r8/stars/apo25m/4217/apStar-r8-2M0.fits"
    assert dl.sas_path("aspcapstar", 17, apogee="2M0", telescope="apo25m", field="F") == (
        "dr17/apogee/spectro/aspcap/dr17/synspec_rev1/apo25m/F/aspcapStar-dr17-2M0.fits")
    assert dl.sas_path("aspcapstar", 13, apogee="2M0", location=4217) == (
        "dr13/apogee/spectro/redux/r6/stars/l30e/l30e.2/4217/aspcapStar-r6-l30e.2-2M0.fits")
    assert dl.sas_path("apvisit", 13, plate=5095, mjd=55844, fiber=128) == (
        "dr13/apogee/spectro/redux/r6/apo25m/5095/55844/apVisit-r6-5095-55844-128.fits")
    assert dl.sas_path("apvisit", 17, plate=9518, mjd=57729, fiber=4, field="M31") == (
        "dr17/apogee/spectro/redux/dr17/visit/apo25m/M31/9518/57729/apVisit-dr17-9518-57729-004.fits")
    assert dl.sas_path("apogee_rc", 16) == "dr16/apogee/vac/apogee-rc/cat/apogee-rc-DR16.fits"
    assert dl.sas_path("apogee_distances", 14) == "dr14/apogee/vac/apogee-distances/apogee_distances-DR14.fits"
    assert dl.sas_path("apogee_distances", 17) == "dr17/apogee/vac/apogee-starhorse/APOGEE_DR17_EDR3_STARHORSE_v2.fits"
    assert dl.sas_path("apogee_astronn", 17) == "dr17/apogee/vac/apogee-astronn/apogee_astroNN-DR17.fits"
    assert dl.sas_path("allstar_cannon", 14).endswith("l31c.2/cannon/allStarCannon-l31c.2.fits")
    assert dl.sha1sum_path("apstar", 17, apogee="2M0", telescope="apo25m", field="F") == (
        "dr17/apogee/spectro/redux/dr17/stars/apo25m/F/dr17_stars_apo25m_F.sha1sum")
    with pytest.raises(InputValidationError, match="astroNN VAC"):
        dl.sas_path("apogee_astronn", 14)
    with pytest.raises(InputValidationError, match="field"):
        dl.sas_path("apstar", 17, apogee="2M0", telescope="apo25m")
    with pytest.raises(InputValidationError, match="fibre"):
        dl.sas_path("apvisit", 14, plate=1, mjd=2, fiber=301)
    with pytest.raises(InputValidationError):
        dl.sas_path("allstar", 12)


@pytest.fixture()
def sas(tmp_path, monkeypatch):
    """A fake SAS tree served on 127.0.0.1, an empty data home and no mirror."""
    www = tmp_path / "www"
    www.mkdir()
    home = tmp_path / "home"
    monkeypatch.setenv("ASTROTORCH_HOME", str(home))
    monkeypatch.delenv("SDSS_LOCAL_SAS_MIRROR", raising=False)
    monkeypatch.delenv("ASTROTORCH_CONFIG", raising=False)
    with serve_folder(www) as server, override(sdss_sas_url=server.base_url, data_home=str(home)):
        yield server, www, home


def _put(root: Path, rel: str, payload: bytes) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(payload)
    return p


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_allstar_download_with_known_sha1(sas, monkeypatch):
    server, www, home = sas
    rel = dl.sas_path("allstar", 17)
    payload = np.random.default_rng(0).bytes(300_000)
    _put(www, rel, payload)
    monkeypatch.setitem(dl._KNOWN_SHA1, rel, hashlib.sha1(payload).hexdigest())
    path = dl.allstar(dr=17, progress=False)
    assert path == home / rel and path.read_bytes() == payload
    assert [r.path for r in server.requests] == ["/" + rel]
    # a second call uses the verified local copy, no new request
    assert dl.allstar(dr=17, progress=False) == path and len(server.requests) == 1


def test_checksum_mismatch_leaves_no_file(sas):
    server, www, home = sas
    rel = dl.sas_path("apogee_rc", 17)
    _put(www, rel, b"not the real red clump catalogue" * 100)
    # the built-in SHA-1 of the real DR17 RC file cannot match these bytes
    with pytest.raises(ChecksumError, match="SHA-1 mismatch"):
        dl.apogee_rc(dr=17, progress=False)
    assert _leftovers(home) == []


def test_published_sha1sum_file_checks_spectra(sas):
    server, www, home = sas
    ids = dict(apogee="2M19485057+5005279", telescope="apo25m", field="K04_083+13")
    rel = dl.sas_path("apstar", 17, **ids)
    payload = b"FITS-like bytes " * 5000
    _put(www, rel, payload)
    listing = dl.sha1sum_path("apstar", 17, **ids)
    good = hashlib.sha1(payload).hexdigest()
    _put(www, listing, f"{'0' * 40}  apStar-dr17-2M00000000+0000000.fits\n{good}  {rel.rsplit('/', 1)[1]}\n".encode())
    path = dl.visit_spectra(dr=17, progress=False, **ids)
    assert path.read_bytes() == payload
    # now a corrupted file on the server with the same listing: mismatch, nothing left behind
    rel2 = dl.sas_path("apstar", 17, apogee="2M00000000+0000000", telescope="apo25m", field="K04_083+13")
    _put(www, rel2, b"corrupted")
    with pytest.raises(ChecksumError):
        dl.visit_spectra(dr=17, apogee="2M00000000+0000000", telescope="apo25m", field="K04_083+13", progress=False)
    assert not (home / rel2).exists()
    assert not any(n.startswith("apStar-dr17-2M00000000") for n in _leftovers(home))


def test_missing_checksum_listing_is_optional(sas):
    server, www, home = sas
    rel = dl.sas_path("aspcapstar", 16, apogee="2M1", telescope="apo25m", field="F1")
    _put(www, rel, b"x" * 1000)
    path = dl.combined_spectra(dr=16, apogee="2M1", telescope="apo25m", field="F1", progress=False)
    assert path.read_bytes() == b"x" * 1000
    statuses = {r.path.rsplit("/", 1)[-1]: r.status for r in server.requests}
    assert statuses["r12_l33_apo25m_F1.sha1sum"] == 404


def test_resume_after_cut_connection(sas, monkeypatch):
    server, www, home = sas
    rel = dl.sas_path("apogee_astronn", 17)
    payload = np.random.default_rng(1).bytes(200_000)
    _put(www, rel, payload)
    monkeypatch.setitem(dl._KNOWN_SHA1, rel, hashlib.sha1(payload).hexdigest())
    server.cut_after = {"/" + rel: 50_000}
    with pytest.raises(DownloadError):
        dl.apogee_astronn(dr=17, progress=False)
    assert not (home / rel).exists()  # never a partial file at the final path
    server.cut_after = {}
    path = dl.apogee_astronn(dr=17, progress=False)
    assert path.read_bytes() == payload
    assert server.requests[-1].range == "bytes=50000-" and server.requests[-1].status == 206
    assert _leftovers(home) == [path.name]


def test_mirror_is_used_first(sas, tmp_path, monkeypatch):
    server, www, home = sas
    mirror = tmp_path / "mirror"
    rel = dl.sas_path("apvisit", 13, plate=5095, mjd=55844, fiber=128)
    _put(mirror, rel, b"mirror copy")
    monkeypatch.setenv("SDSS_LOCAL_SAS_MIRROR", str(mirror))
    path = dl.apvisit_spectra(5095, 55844, 128, dr=13, progress=False)
    assert path == mirror / rel and server.requests == []
    # a mirror copy that fails its published checksum is reported, never modified
    rel_rc = dl.sas_path("apogee_rc", 14)
    _put(mirror, rel_rc, b"stale")
    with pytest.raises(ChecksumError, match="mirror"):
        dl.apogee_rc(dr=14, progress=False)
    assert (mirror / rel_rc).read_bytes() == b"stale"


def test_http_error_and_allstar_lookup(sas, tmp_path):
    server, www, home = sas
    with pytest.raises(DownloadError, match="404"):
        dl.visit_spectra(dr=17, apogee="2M9", telescope="apo25m", field="NOPE", progress=False)
    assert _leftovers(home) == []
    # identifiers resolved from an allStar table
    allstar = tmp_path / "allStar.fits"
    cols = [fits.Column("APOGEE_ID", "18A", array=["2M1", "2M2"]), fits.Column("FIELD", "10A", array=["F1", "F2"]),
            fits.Column("TELESCOPE", "6A", array=["apo25m", "lco25m"]), fits.Column("LOCATION_ID", "J", array=[1, 2])]
    fits.BinTableHDU.from_columns(cols).writeto(allstar)
    rel = dl.sas_path("apstar", 17, apogee="2M2", telescope="lco25m", field="F2")
    assert "asStar-dr17-2M2" in rel
    _put(www, rel, b"south")
    assert dl.visit_spectra(dr=17, apogee="2M2", allstar_path=allstar, progress=False).read_bytes() == b"south"
    with pytest.raises(InputValidationError, match="not in the DR17 allStar"):
        dl.visit_spectra(dr=17, apogee="2M3", allstar_path=allstar, progress=False)
