"""Gaia conversion tools: astroNN's documented examples, round trips, error propagation, magic numbers."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u

from astrotorch.config import override
from astrotorch.errors import DataFormatError, InputValidationError, ShapeMismatchError
from astrotorch.gaia import (
    GAIADR2_GLOBAL_OFFSETS_MAS,
    absmag_to_fakemag,
    absmag_to_logsol,
    absmag_to_pc,
    extinction_correction,
    fakemag_to_absmag,
    fakemag_to_logsol,
    fakemag_to_mag,
    fakemag_to_parallax,
    fakemag_to_pc,
    gaiadr2_parallax,
    logsol_to_absmag,
    logsol_to_fakemag,
    mag_to_absmag,
    mag_to_fakemag,
    parallax_zero_point,
    solar_absmag_bands,
)


def test_absmag_to_pc_documented_example():
    pc = absmag_to_pc([1.0, -9999.0], [2.0, 1.0])
    assert pc.unit == u.pc
    np.testing.assert_allclose(pc.value, [15.84893192, -9999.0])
    pc2 = absmag_to_pc([1.0, -9999.0], [-9999.0, 1.0])
    np.testing.assert_array_equal(pc2.value, [-9999.0, -9999.0])
    # the Vega/Sirius/Betelgeuse example converts with astropy units
    pc3 = absmag_to_pc(np.array([0.582, 1.42, -5.85]), np.array([0.03, -1.46, 0.5]))
    assert pc3.to(u.AU).unit == u.AU
    np.testing.assert_allclose(pc3.to(u.mas, equivalencies=u.parallax()).value, 1000.0 / pc3.value)


def test_fakemag_to_pc_documented_example():
    pc, pc_err = fakemag_to_pc(300.0, 10.0, 100.0)
    assert isinstance(pc, u.Quantity) and pc.unit == u.pc and np.ndim(pc) == 0
    assert pc.value == pytest.approx(333.33333333)
    assert pc_err.value == pytest.approx(111.11111111)


def test_mag_to_fakemag_and_error_and_units():
    f, ferr = mag_to_fakemag(10.0, 3.0, 0.3)
    assert f == pytest.approx(300.0) and ferr == pytest.approx(30.0)
    # parallax given as arcsec Quantity and as a distance: same fakemag
    assert mag_to_fakemag(10.0, 0.003 * u.arcsec) == pytest.approx(300.0)
    assert mag_to_fakemag(10.0, (1000.0 / 3.0) * u.pc) == pytest.approx(300.0)
    # unitless error takes the parallax unit (arcsec here)
    _, e = mag_to_fakemag(10.0, 0.003 * u.arcsec, 0.0003)
    assert e == pytest.approx(30.0)
    out = mag_to_fakemag([10.0, -9999.0, 10.0, np.nan], [3.0, 3.0, -9999.0, 1.0])
    np.testing.assert_array_equal(out, [300.0, -9999.0, -9999.0, -9999.0])
    # negative parallax keeps a (negative) fakemag: that is the point of the scale
    assert mag_to_fakemag(10.0, -1.0) == pytest.approx(-100.0)


def test_absmag_error_is_first_order_propagation():
    m, plx, err = 12.0, 2.0, 0.1
    mabs, mabs_err = mag_to_absmag(m, plx, err)
    assert mabs == pytest.approx(12.0 + 5 * (np.log10(2.0) - 2.0))
    h = 1e-6
    deriv = (mag_to_absmag(m, plx + h) - mag_to_absmag(m, plx - h)) / (2 * h)
    assert mabs_err == pytest.approx(abs(deriv) * err, rel=1e-6)
    assert mag_to_absmag(12.0, -0.5) == -9999.0


def test_round_trips_and_magic_preservation():
    rng = np.random.default_rng(1)
    absmag = rng.uniform(-5, 10, 50)
    absmag[[3, 7]] = -9999.0
    np.testing.assert_allclose(fakemag_to_absmag(absmag_to_fakemag(absmag)), absmag)
    for band in ("K", "V", "G"):
        ls = absmag_to_logsol(absmag, band)
        assert np.all(ls[[3, 7]] == -9999.0)
        np.testing.assert_allclose(logsol_to_absmag(ls, band), absmag)
        np.testing.assert_allclose(fakemag_to_logsol(logsol_to_fakemag(ls, band), band), ls)
    assert absmag_to_logsol(solar_absmag_bands["V"], "V") == pytest.approx(0.0)
    mag = absmag + 7.0
    mag[[3, 7]] = -9999.0
    fm = absmag_to_fakemag(absmag)
    pc = fakemag_to_pc(fm, mag)
    np.testing.assert_allclose(pc.value[absmag > -9000], 10.0 ** (7.0 / 5 + 1))
    np.testing.assert_allclose(fakemag_to_mag(fm, pc), mag)
    plx = fakemag_to_parallax(fm, mag)
    np.testing.assert_allclose(plx.value[absmag > -9000], 1000.0 / pc.value[absmag > -9000])
    with pytest.raises(InputValidationError, match="unknown band"):
        absmag_to_logsol(1.0, "W9")


def test_fakemag_to_mag_error_and_distance_quantity():
    m, merr = fakemag_to_mag(300.0, 1.0 * u.kpc, 100.0 * u.pc)
    assert m == pytest.approx(5 * np.log10(300.0))
    assert merr == pytest.approx(5 / np.log(10) * 0.1)
    # a parallax Quantity works as a distance
    assert fakemag_to_mag(300.0, 1.0 * u.mas) == pytest.approx(m)


def test_custom_magic_number_and_extinction():
    with override(magic_number=-999.0):
        np.testing.assert_array_equal(absmag_to_fakemag([-999.0, 0.0]), [-999.0, 100.0])
    out = extinction_correction([10.0, 10.0, -9999.0, 10.0], [0.5, -5.0, 0.1, -9999.0])
    np.testing.assert_allclose(out, [9.5, 10.0, -9999.0, 10.0])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ShapeMismatchError):
        mag_to_fakemag([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InputValidationError):
        mag_to_fakemag("ten", 1.0)
    with pytest.raises(InputValidationError, match="cannot be converted"):
        mag_to_fakemag(10.0, 3.0 * u.kg)
    with pytest.raises(InputValidationError, match="unknown zero-point"):
        parallax_zero_point(np.array([1.0]), "nobody2020")


def test_zero_point_options():
    plx = np.array([0.5, 3.0, -9999.0])
    np.testing.assert_allclose(parallax_zero_point(plx, "lindegren2018"), [0.529, 3.029, -9999.0])
    assert GAIADR2_GLOBAL_OFFSETS_MAS == {"lindegren2018": 0.029, "leungbovy2019_global": 0.052, "zinn2019_global": 0.0528}
    lb = parallax_zero_point(plx, "leungbovy2019")
    assert lb[0] == pytest.approx(0.5 + 0.056 - 0.00574 * 0.5 - 0.0096 * 0.25)
    assert lb[1] == 3.0 and lb[2] == -9999.0  # only parallaxes below 2 mas are corrected
    z = parallax_zero_point(plx, True, gmag=np.array([12.2, 13.2, 10.0]))
    np.testing.assert_allclose(z, [0.5528, 3.0528 - 0.0421, -9999.0])
    np.testing.assert_allclose(parallax_zero_point(plx, 0.01 * u.mas)[:2], [0.51, 3.01])
    with pytest.raises(InputValidationError, match="gmag"):
        parallax_zero_point(plx, "zinn2019")


@pytest.mark.realdata
def test_real_gaia_dr2_parallaxes(shared_data, tmp_path):
    path = shared_data / "apogee" / "astronn_gaiadr2_apogeedr14_parallax.npz"
    raw = np.load(path)
    n_rows = raw["parallax"].size
    ra, dec, plx, plx_err = gaiadr2_parallax(path=path, cuts=False)
    assert plx.size == n_rows
    missing = plx == -9999.0
    assert missing.any() and (~missing).sum() > 100_000
    # K-band-like magnitudes: use Gaia G as the apparent magnitude, it is what the file has
    g = raw["g"].astype(float)
    fm, fm_err = mag_to_fakemag(g, plx, plx_err)
    bad = missing | (g == -9999.0) | np.isnan(g) | np.isnan(plx)
    assert np.all(fm[bad] == -9999.0) and np.all(fm_err[bad] == -9999.0)
    pos = ~bad & (plx > 0)
    absmag = mag_to_absmag(g, plx)
    np.testing.assert_allclose(fakemag_to_absmag(fm)[pos], absmag[pos], atol=1e-9)
    np.testing.assert_allclose(absmag_to_fakemag(absmag[pos]), fm[pos], rtol=1e-9)
    np.testing.assert_allclose(fakemag_to_parallax(fm, g).value[~bad], plx[~bad], rtol=1e-9)
    # distances from fakemag equal 1/parallax
    np.testing.assert_allclose(fakemag_to_pc(fm[pos], g[pos]).value, 1000.0 / plx[pos], rtol=1e-9)
    _, _, plx_cut, err_cut = gaiadr2_parallax(path=path, cuts=True)
    assert np.all(plx_cut > 0) and np.all(err_cut / plx_cut < 0.2) and plx_cut.size < n_rows
    _, _, plx_keep, _ = gaiadr2_parallax(path=path, cuts=True, keepdims=True)
    assert plx_keep.size == n_rows and (plx_keep > 0).sum() == plx_cut.size
    bad_file = tmp_path / "x.npz"
    np.savez(bad_file, RA=np.zeros(2))
    with pytest.raises(DataFormatError):
        gaiadr2_parallax(path=bad_file)
