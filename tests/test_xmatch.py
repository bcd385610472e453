"""Cross-matching: astroNN's documented example, epoch propagation, real coordinates."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u

from astrotorch.datasets.xmatch import propagate_epoch, xmatch
from astrotorch.errors import EmptyDatasetError, InputValidationError, ShapeMismatchError

CAT1_RA = np.array([36.0, 68.0, 105.0, 23.0, 96.0, 96.0])
CAT1_DEC = np.array([72.0, 56.0, 54.0, 55.0, 88.0, 88.0])
CAT2_RA = np.array([23.0, 56.0, 222.0, 96.0, 245.0, 68.0])
CAT2_DEC = np.array([36.0, 68.0, 82.0, 88.0, 26.0, 56.0])


def test_documented_example():
    i1, i2, sep = xmatch(CAT1_RA, CAT1_DEC, CAT2_RA, CAT2_DEC)
    np.testing.assert_array_equal(i1, [1, 4, 5])
    np.testing.assert_array_equal(i2, [5, 3, 3])
    assert sep.unit.is_equivalent(u.deg) and np.all(sep.arcsec < 1e-6)
    i1, i2, _ = xmatch(CAT2_RA, CAT2_DEC, CAT1_RA, CAT1_DEC)
    np.testing.assert_array_equal(i1, [3, 5])
    np.testing.assert_array_equal(i2, [4, 1])
    i1, i2, _ = xmatch(CAT2_RA, CAT2_DEC, CAT1_RA, CAT1_DEC, swap=True)
    np.testing.assert_array_equal(i1, [5, 3, 3])
    np.testing.assert_array_equal(i2, [1, 4, 5])


def test_proper_motion_epoch_propagation():
    rng = np.random.default_rng(0)
    n = 200
    ra = rng.uniform(0, 360, n)
    dec = np.rad2deg(np.arcsin(rng.uniform(-0.95, 0.95, n)))
    pmra = rng.normal(0, 200, n)  # mas/yr, includes cos(dec)
    pmdec = rng.normal(0, 200, n)
    # catalogue 2 at J2015.5, catalogue 1 the same stars at J2000
    ra2, dec2 = propagate_epoch(ra, dec, pmra, pmdec, 15.5)
    perm = rng.permutation(n)
    i1, i2, sep = xmatch(ra, dec, ra2[perm], dec2[perm], epoch1=2000.0, epoch2=2015.5,
                         pmra2=pmra[perm], pmdec2=pmdec[perm], maxdist=0.5)
    assert i1.size == n
    np.testing.assert_array_equal(perm[i2], i1)
    assert sep.arcsec.max() < 0.1
    # without the proper motions most fast movers are lost at 0.5"
    j1, _, _ = xmatch(ra, dec, ra2[perm], dec2[perm], maxdist=0.5)
    assert j1.size < n // 2
    # separation is what astropy measures
    shifted = propagate_epoch(np.array([10.0]), np.array([0.0]), np.array([1000.0]), np.array([0.0]), 1.0)
    assert (shifted[0][0] - 10.0) * 3600 == pytest.approx(1.0, rel=1e-9)


def _linear_propagation(ra, dec, pmra, pmdec, dt_yr):
    """The small-angle formula astrotorch used before astropy's apply_space_motion (reference numbers)."""
    mas = 1.0 / 3.6e6
    return (ra + pmra * mas * dt_yr / np.cos(np.deg2rad(dec))) % 360.0, dec + pmdec * mas * dt_yr


def test_propagation_matches_the_former_linear_numbers_and_is_exact_near_the_poles():
    from astropy.coordinates import SkyCoord

    rng = np.random.default_rng(5)
    n = 2000
    ra = rng.uniform(0, 360, n)
    dec = np.rad2deg(np.arcsin(rng.uniform(-0.95, 0.95, n)))
    pmra, pmdec = rng.normal(0, 200, n), rng.normal(0, 200, n)
    new = SkyCoord(*propagate_epoch(ra, dec, pmra, pmdec, 15.5), unit="deg")
    old = SkyCoord(*_linear_propagation(ra, dec, pmra, pmdec, 15.5), unit="deg")
    assert new.separation(old).to_value(u.mas).max() < 5.0  # second-order terms of 3" moves
    # Barnard's star (10.4"/yr) over 15.5 yr: as the linear step to 1 mas
    b_new = SkyCoord(*propagate_epoch(np.array([269.452]), np.array([4.693]), np.array([-801.551]),
                                      np.array([10362.394]), 15.5), unit="deg")
    b_old = SkyCoord(*_linear_propagation(269.452, 4.693, -801.551, 10362.394, 15.5), unit="deg")
    assert b_new.separation(b_old).to_value(u.mas)[0] < 1.0
    # next to the pole, where the linear step breaks down, the star moves by exactly |pm| * dt
    ra_p, dec_p = np.array([0.0, 100.0]), np.array([89.9999, -89.99])
    pm_ra, pm_dec = np.array([50.0, 1e4]), np.array([0.0, -1e4])
    moved = SkyCoord(*propagate_epoch(ra_p, dec_p, pm_ra, pm_dec, 15.5), unit="deg")
    step = SkyCoord(ra_p, dec_p, unit="deg").separation(moved).to_value(u.mas)
    np.testing.assert_allclose(step, np.hypot(pm_ra, pm_dec) * 15.5, rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(ShapeMismatchError):
        xmatch([1.0, 2.0], [1.0], [1.0], [1.0])
    with pytest.raises(EmptyDatasetError):
        xmatch([], [], [1.0], [1.0])
    with pytest.raises(InputValidationError, match="NaN"):
        xmatch([np.nan], [1.0], [1.0], [1.0])
    with pytest.raises(InputValidationError, match="declination"):
        xmatch([1.0], [91.0], [1.0], [1.0])


@pytest.mark.realdata
def test_real_coordinates_self_match(shared_data):
    f = np.load(shared_data / "apogee" / "astronn_gaiadr2_apogeedr14_parallax.npz")
    ra, dec = f["RA"].astype(float), f["DEC"].astype(float)
    ok = (ra != -9999.0) & (dec != -9999.0) & np.isfinite(ra) & np.isfinite(dec)
    ra, dec = ra[ok], dec[ok]
    # the allStar file repeats stars observed in several fields: keep one row per position
    _, first = np.unique(np.round(ra * 3600).astype(np.int64) * 10**7 + np.round(dec * 3600).astype(np.int64),
                         return_index=True)
    ra, dec = ra[np.sort(first)][:20000], dec[np.sort(first)][:20000]
    rng = np.random.default_rng(2)
    jitter = 0.3 / 3600  # 0.3 arcsec in Dec
    dec_j = np.clip(dec + rng.normal(0, jitter, dec.size), -90, 90)
    i1, i2, sep = xmatch(ra, dec, ra, dec_j, maxdist=2)
    # real catalogues have close pairs: nearly all but not necessarily all stars find themselves
    assert np.mean(i1 == i2) > 0.99
    assert np.median(sep.arcsec) < 0.4
