"""Stellar relations and the synthetic catalogue."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import constants as const
from astropy import units as u

from astrotorch.datasets.stars import (
    STAR_TARGETS,
    bolometric_correction_v,
    fusion_class_codes,
    load_gaia_dr3_stars,
    read_star_inputs,
    split_indices,
    synthetic_stars,
)
from astrotorch.errors import DataFormatError, InputValidationError
from astrotorch.physics import stellar as ph


def test_solar_values_from_astropy():
    assert ph.T_SUN == pytest.approx(5772, abs=1)
    assert ph.MBOL_SUN == pytest.approx(4.74, abs=1e-3)
    assert ph.LOGG_SUN == pytest.approx(4.438, abs=1e-3)
    assert ph.stefan_boltzmann_luminosity(ph.T_SUN, 1.0) == pytest.approx(1.0)
    assert ph.bolometric_magnitude(1.0) == pytest.approx(ph.MBOL_SUN)
    assert ph.wien_peak_wavelength(ph.T_SUN).to_value(u.nm) == pytest.approx(502, abs=1)
    assert ph.surface_flux(ph.T_SUN).to_value(u.W / u.m**2) == pytest.approx(
        (const.L_sun / (4 * np.pi * const.R_sun**2)).to_value(u.W / u.m**2), rel=1e-9
    )
    assert ph.surface_gravity(1.0, 1.0) == pytest.approx(ph.LOGG_SUN)
    assert ph.mean_density(1.0, 1.0) == 1.0


def test_completion_by_stefan_boltzmann_and_units():
    rng = np.random.default_rng(0)
    t = rng.uniform(3000, 30000, 20)
    r = 10 ** rng.uniform(-2, 2, 20)
    lum = ph.stefan_boltzmann_luminosity(t, r)
    tt, ll, rr = t.copy(), lum.copy(), r.copy()
    tt[:5] = np.nan
    ll[5:10] = -9999.0
    rr[10:15] = np.nan
    ct, cl, cr = ph.complete_teff_lum_radius(tt, ll, rr)
    np.testing.assert_allclose(ct, t, rtol=1e-10)
    np.testing.assert_allclose(cl, lum, rtol=1e-10)
    np.testing.assert_allclose(cr, r, rtol=1e-10)
    # astropy Quantities in any unit
    q = ph.stefan_boltzmann_luminosity(ph.T_SUN * u.K, const.R_sun.to(u.km))
    assert q == pytest.approx(1.0)
    with pytest.raises(InputValidationError):
        ph.stefan_boltzmann_luminosity(5000 * u.kg, 1.0)
    # a row with two missing values stays missing
    ct, cl, cr = ph.complete_teff_lum_radius([np.nan], [np.nan], [1.0])
    assert np.isnan(ct[0]) and np.isnan(cl[0])


def test_mass_relations_and_bc():
    assert ph.mass_luminosity_mass(3.5**3.5 * 0 + 2.0**3.5) == pytest.approx(2.0)
    assert ph.main_sequence_luminosity(1.0) == pytest.approx(1.0)
    np.testing.assert_allclose(ph.mass_from_logg(ph.surface_gravity(1.3, 2.0), 2.0), 1.3)
    bc = bolometric_correction_v(np.array([3500.0, ph.T_SUN, 8000.0, 30000.0]))
    assert bc[1] == pytest.approx(ph.MBOL_SUN - 4.81, abs=1e-9)
    # BC is largest (least negative) near 6000–8000 K and strongly negative for cool and hot stars
    assert bc[2] > bc[0] and bc[2] > bc[3] and bc[0] < -1 and bc[3] < -2


def test_synthetic_catalogue_is_physical():
    inp, tgt = synthetic_stars(2000, seed=3, noise=False)
    assert list(tgt.columns) == STAR_TARGETS and len(inp) == 2000
    np.testing.assert_allclose(inp.luminosity, ph.stefan_boltzmann_luminosity(inp.teff, inp.radius), rtol=1e-10)
    np.testing.assert_allclose(tgt.logg, ph.surface_gravity(tgt.mass, inp.radius), rtol=1e-10)
    np.testing.assert_allclose(tgt.mbol, ph.bolometric_magnitude(inp.luminosity))
    # every population is there: brown dwarfs, white dwarfs, main sequence, supergiants
    assert set(np.unique(tgt.star_type)) >= {0, 1, 2, 3, 4}
    assert (tgt.mass < 0.08).any() and (inp.radius < 0.02).any() and (inp.luminosity > 1e4).any()
    a, b = synthetic_stars(50, seed=1)
    c, d = synthetic_stars(50, seed=1)
    assert a.equals(c) and b.equals(d)
    with pytest.raises(InputValidationError):
        synthetic_stars(0)


def test_split_and_csv_reader(tmp_path):
    tr, te = split_indices(100, 0.2, seed=0)
    assert len(te) == 20 and len(np.intersect1d(tr, te)) == 0
    tr2, _ = split_indices(100, 0.2, seed=0)
    np.testing.assert_array_equal(tr, tr2)
    p = tmp_path / "s.csv"
    p.write_text("teff,radius\n5772,1\n4000,0.5\n")
    df = read_star_inputs(p)
    assert list(df.columns) == ["teff", "luminosity", "radius"] and df.luminosity.isna().all()
    (tmp_path / "bad.csv").write_text("teff,mass\n5000,1\n")
    with pytest.raises(DataFormatError):
        read_star_inputs(tmp_path / "bad.csv")


@pytest.mark.realdata
def test_fusion_set_follows_the_documented_relations(shared_data):
    inp, tgt = load_gaia_dr3_stars(shared_data / "gaia_dr3_stars")
    assert len(inp) > 3000 and list(tgt.columns) == STAR_TARGETS
    # the README's class rules reproduce the columns
    s, lc, st = fusion_class_codes(inp.teff.to_numpy(), inp.luminosity.to_numpy())
    assert (s == tgt.spectral_class).all() and (lc == tgt.luminosity_class).all() and (st == tgt.star_type).all()
    # mass = L^(2/7) and Mbol = 4.75 - 2.5 log L, as the README says
    np.testing.assert_allclose(tgt.mass, inp.luminosity ** (2 / 7), rtol=1e-9)
    np.testing.assert_allclose(tgt.mbol, 4.75 - 2.5 * np.log10(inp.luminosity), atol=1e-9)
