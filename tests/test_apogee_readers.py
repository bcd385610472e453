"""Tests of the APOGEE FITS readers on the real files in shared/data/apogee and on crafted bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrotorch.apogee import (
    apogee_continuum,
    apstar_wavelength,
    bitmask_boolean,
    gap_delete,
    load_continuum_mask,
)
from astrotorch.apogee.readers import read_apstar, read_apvisit, read_aspcapstar, resample_to_apstar
from astrotorch.errors import DataFormatError

APSTARS = {"apStar-dr17-2M17335483-2753043.fits": 3, "apStar-dr17-2M19485057+5005279.fits": 1}
APVISITS = ["apVisit-r13-5095-55844-128.fits", "apVisit-r13-9518-57729-104.fits"]


def _contmask(shared_data: Path) -> np.ndarray:
    return load_continuum_mask(17, shared_data / "apogee" / "astronn_dr17_contmask.npy")


@pytest.mark.realdata
@pytest.mark.parametrize("name,nvisits", sorted(APSTARS.items()))
def test_read_apstar_real(shared_data, name, nvisits):
    spec = read_apstar(shared_data / "apogee" / name)
    assert spec.kind == "apStar" and spec.apogee_id == name[len("apStar-dr17-"):-len(".fits")]
    assert spec.flux.shape == spec.error.shape == spec.bitmask.shape == spec.wavelength.shape == (8575,)
    assert spec.nvisits == nvisits and spec.snr > 50 and np.isfinite(spec.vhelio)
    np.testing.assert_allclose(spec.wavelength, apstar_wavelength(), rtol=1e-12)
    visits = read_apstar(shared_data / "apogee" / name, combined=False)
    assert visits.flux.shape == (nvisits, 8575)
    assert gap_delete(spec.flux).shape == (1, 7514)


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(APSTARS))
def test_apstar_continuum_acceptance(shared_data, name):
    """Acceptance: continuum-normalised real apStar spectra have median 1 ± 0.02 on continuum pixels."""
    spec = read_apstar(shared_data / "apogee" / name)
    cmask = _contmask(shared_data)
    norm, norm_err = apogee_continuum(spec.flux, spec.error, cont_mask=cmask, dr=17, bitmask=spec.bitmask)
    assert norm.shape == norm_err.shape == (1, 7514)
    good = ~bitmask_boolean(gap_delete(spec.bitmask))[0]
    median = np.median(norm[0, cmask & good])
    assert abs(median - 1.0) < 0.02, median
    # per chip too: each chip has its own polynomial
    for sl in (slice(0, 3028), slice(3028, 5523), slice(5523, 7514)):
        sel = (cmask & good)[sl]
        assert abs(np.median(norm[0, sl][sel]) - 1.0) < 0.02
    # errors scale with the flux: relative error is preserved by the division
    gd = gap_delete(spec.flux)[0]
    ge = gap_delete(spec.error)[0]
    ok = good & (ge > 0)
    np.testing.assert_allclose(norm_err[0, ok] / norm[0, ok], ge[ok] / gd[ok], rtol=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize("name", APVISITS)
def test_read_apvisit_real(shared_data, name):
    spec = read_apvisit(shared_data / "apogee" / name)
    assert spec.kind == "apVisit" and spec.apogee_id.startswith("2M")
    assert spec.flux.shape == spec.error.shape == spec.bitmask.shape == spec.wavelength.shape == (3, 4096)
    wave = spec.wavelength.ravel()
    assert np.all(np.diff(wave) > 0)  # ascending, chips blue → red
    assert 15100 < wave[0] < 15200 and 16900 < wave[-1] < 17000
    # the reader flipped both axes: first returned pixel is the last pixel of the file's last row
    with fits.open(shared_data / "apogee" / name) as hdul:
        assert spec.flux[0, 0] == pytest.approx(float(hdul[1].data[2, -1]))
        assert spec.wavelength[2, -1] == pytest.approx(float(hdul[4].data[0, 0]))
    flux, err, mask = resample_to_apstar(spec)
    assert flux.shape == (8575,) and gap_delete(flux).shape == (1, 7514)
    cmask = _contmask(shared_data)
    norm, _ = apogee_continuum(flux, err, cont_mask=cmask, dr=17, bitmask=mask)
    good = ~bitmask_boolean(gap_delete(mask))[0]
    median = np.median(norm[0, cmask & good])
    assert abs(median - 1.0) < 0.02, median


@pytest.mark.realdata
def test_corrupt_and_truncated_files(tmp_path, shared_data):
    src = (shared_data / "apogee" / "apStar-dr17-2M19485057+5005279.fits").read_bytes()
    trunc = tmp_path / "apStar-trunc.fits"
    trunc.write_bytes(src[: len(src) // 2])
    with pytest.raises(DataFormatError):
        read_apstar(trunc)
    junk = tmp_path / "apStar-junk.fits"
    junk.write_bytes(b"this is not a FITS file" * 100)
    with pytest.raises(DataFormatError, match="not a readable apStar"):
        read_apstar(junk)
    with pytest.raises(DataFormatError, match="does not exist"):
        read_apvisit(tmp_path / "missing.fits")
    vsrc = (shared_data / "apogee" / APVISITS[0]).read_bytes()
    vtrunc = tmp_path / "apVisit-trunc.fits"
    vtrunc.write_bytes(vsrc[: 3 * len(vsrc) // 4])
    with pytest.raises(DataFormatError):
        read_apvisit(vtrunc)


def test_wrong_layouts(tmp_path):
    # an apStar with 8000-pixel images
    bad = tmp_path / "apStar-wrong.fits"
    hdr = fits.Header({"CRVAL1": 4.179, "CDELT1": 6e-6, "NVISITS": 1, "OBJID": "2M0"})
    fits.HDUList([fits.PrimaryHDU(header=hdr)] + [fits.ImageHDU(np.ones((1, 8000))) for _ in range(3)]).writeto(bad)
    with pytest.raises(DataFormatError, match="8575"):
        read_apstar(bad)
    # an apStar missing the bitmask HDU
    short = tmp_path / "apStar-short.fits"
    fits.HDUList([fits.PrimaryHDU(header=hdr)] + [fits.ImageHDU(np.ones((1, 8575))) for _ in range(2)]).writeto(short)
    with pytest.raises(DataFormatError, match="bitmask"):
        read_apstar(short)
    # an apVisit whose wavelengths are scrambled
    vis = tmp_path / "apVisit-bad.fits"
    wave = np.random.default_rng(0).uniform(15000, 17000, (3, 50))
    fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(np.ones((3, 50))) for _ in range(3)] + [fits.ImageHDU(wave)]).writeto(vis)
    with pytest.raises(DataFormatError, match="monotonic"):
        read_apvisit(vis)


def _write_aspcapstar(path: Path, npix: int, with_table: bool) -> np.ndarray:
    rng = np.random.default_rng(1)
    flux = 1 - 0.1 * rng.random(npix)
    hdr1 = fits.Header({"CRVAL1": 4.179, "CDELT1": 6e-6, "CRPIX1": 1})
    hdus = [fits.PrimaryHDU(header=fits.Header({} if with_table else {"OBJID": "2M123", "SNR": 88.0})),
            fits.ImageHDU(flux, header=hdr1), fits.ImageHDU(np.full(npix, 0.01)), fits.ImageHDU(flux * 0.99)]
    if with_table:
        cols = [fits.Column("APOGEE_ID", "18A", array=["2M00000002+7417074"]), fits.Column("SNR", "E", array=[120.0])]
        hdus.append(fits.BinTableHDU.from_columns(cols))
    fits.HDUList(hdus).writeto(path)
    return flux


@pytest.mark.parametrize("npix,with_table", [(8575, True), (7514, False)])
def test_read_aspcapstar_layouts(tmp_path, npix, with_table):
    path = tmp_path / "aspcapStar.fits"
    flux = _write_aspcapstar(path, npix, with_table)
    spec = read_aspcapstar(path)
    np.testing.assert_allclose(spec.flux, flux)
    assert spec.model is not None and spec.model.shape == (npix,) and spec.bitmask is None
    assert spec.wavelength.shape == (npix,) and np.all(np.diff(spec.wavelength) > 0)
    if with_table:
        assert spec.apogee_id == "2M00000002+7417074" and spec.snr == pytest.approx(120.0)
        np.testing.assert_allclose(spec.wavelength, apstar_wavelength())
    else:
        assert spec.apogee_id == "2M123" and spec.snr == pytest.approx(88.0)
        assert gap_delete(spec.flux).shape == (1, 7514)
    bad = tmp_path / "aspcap-bad.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones(100)), fits.ImageHDU(np.ones(100))]).writeto(bad)
    with pytest.raises(DataFormatError, match="100 pixels"):
        read_aspcapstar(bad)
