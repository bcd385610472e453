"""LAMOST tools: DR5 grid, pseudo-continuum against a dense reference, catalogue loader errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from astrotorch.config import override
from astrotorch.errors import (
    ConfigError,
    DataFormatError,
    EmptyDatasetError,
    InputValidationError,
    ShapeMismatchError,
)
from astrotorch.lamost import load_lamost_catalog, pseudo_continuum, smooth_spec, wavelength_solution


def test_wavelength_solution():
    wl = wavelength_solution()
    assert wl.shape == (3909,)
    assert wl[0] == pytest.approx(10**3.5682)
    assert np.allclose(np.diff(np.log10(wl)), 1e-4)
    assert 3690 < wl[0] < 3705 and 9090 < wl[-1] < 9110
    with pytest.raises(InputValidationError, match="DR5"):
        wavelength_solution(dr=4)


def _dense_reference(flux, ivar, wl, L):
    w = np.exp(-0.5 * (wl[:, None] - wl[None, :]) ** 2 / L**2)
    return (flux * ivar) @ w.T / (ivar @ w.T)


def test_smooth_spec_matches_dense_gaussian_weights():
    rng = np.random.default_rng(0)
    wl = wavelength_solution()[::4]
    flux = 1 + 0.2 * np.sin(wl / 300.0) + rng.normal(0, 0.05, (3, wl.size))
    ivar = rng.uniform(0.5, 2.0, flux.shape)
    ivar[0, 100:140] = 0.0  # a masked stretch
    np.testing.assert_allclose(smooth_spec(flux, ivar, wl, L=50.0), _dense_reference(flux, ivar, wl, 50.0), rtol=1e-7)


def test_pseudo_continuum_recovers_absorption_lines():
    rng = np.random.default_rng(1)
    wl = wavelength_solution()
    continuum = 1000.0 * (wl / 5000.0) ** -1.5
    lines = 1.0 - 0.4 * np.exp(-0.5 * ((wl[:, None] - rng.uniform(4000, 9000, 30)) / 1.5) ** 2).sum(1).clip(0, 1)
    sigma = 0.01 * continuum
    flux = continuum * lines + rng.normal(0, 1, wl.size) * sigma
    ivar = 1.0 / sigma**2
    ivar[500:520] = 0.0
    nf, niv = pseudo_continuum(flux, ivar)
    assert nf.shape == flux.shape and niv.shape == flux.shape
    # away from the edges the normalised spectrum is the line profile (+noise), continuum removed
    core = slice(200, -200)
    assert np.median(np.abs(nf[core] - lines[core])) < 0.02
    # ivar scales with the continuum squared, zero ivar stays zero
    assert np.all(niv[500:520] == 0.0)
    # batch == single
    nf2, _ = pseudo_continuum(np.stack([flux, flux]), np.stack([ivar, ivar]))
    np.testing.assert_allclose(nf2[1], nf)


def test_pseudo_continuum_all_bad_pixels_give_flux_one():
    nf, niv = pseudo_continuum(np.ones(3909), np.zeros(3909))
    assert np.all(nf == 1.0) and np.all(niv == 0.0)
    with pytest.raises(ShapeMismatchError):
        pseudo_continuum(np.ones(3909), np.ones(3908))


def test_catalogue_loader(tmp_path):
    t = Table({"obsid": [1, 2, 3], "teff": [5000.0, 6000.0, 4500.0], "logg": [4.4, 4.1, 2.5]})
    fits_path = tmp_path / "dr5_stellar.fits"
    t.write(fits_path)
    csv_path = tmp_path / "dr5_stellar.csv"
    t.write(csv_path, format="ascii.csv")
    for p in (fits_path, csv_path):
        got = load_lamost_catalog(p, columns=["OBSID", "teff"])
        assert got.colnames == ["obsid", "teff"] and len(got) == 3
    with pytest.raises(DataFormatError, match="lacks column"):
        load_lamost_catalog(fits_path, columns=["feh"])
    corrupt = tmp_path / "broken.fits"
    corrupt.write_bytes(fits_path.read_bytes()[:2000])
    with pytest.raises(DataFormatError):
        load_lamost_catalog(corrupt)
    with pytest.raises(FileNotFoundError):
        load_lamost_catalog(tmp_path / "nope.fits")
    empty = tmp_path / "empty" / "e.csv"
    empty.parent.mkdir()
    empty.write_text("obsid,teff\n")
    with pytest.raises(EmptyDatasetError):
        load_lamost_catalog(empty)
    # LAMOST_DR5_DATA: one catalogue in the folder is found, several are ambiguous
    with override(lamost_dr5_data=str(empty.parent)):
        csv_only = empty.parent / "e.csv"
        t.write(csv_only, format="ascii.csv", overwrite=True)
        assert len(load_lamost_catalog()) == 3
    with override(lamost_dr5_data=str(tmp_path)):
        with pytest.raises(ConfigError, match="several"):
            load_lamost_catalog()
