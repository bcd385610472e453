"""HDF5 spectral dataset: compile allStar (real DR12 v603 labels) + spectra, load by astroNN names, stream."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from astropy.io import fits

from astrotorch.datasets.apogee_h5 import ApogeeH5, compile_apogee_h5, extract_labels, select_stars
from astrotorch.errors import EmptyDatasetError, InputValidationError, ShapeMismatchError

NPIX = 7514


def _allstar(shared_data: Path) -> Path:
    return shared_data / "apogee" / "APOGEE-allStar-v603-Hipparcos.fits.gz"


def _random_provider(n_visits: int = 0, seed: int = 0):
    """Synthetic spectra on the gap-deleted grid, deterministic per star (a test fixture, not data)."""

    def provider(row: int, apogee_id: str, visits: bool):
        rng = np.random.default_rng(seed * 100_003 + row)
        n = n_visits if visits else 1
        if n == 0:
            return None
        flux = 1.0 - 0.2 * rng.random((n, NPIX)) ** 8  # continuum at 1 with sparse dips
        err = np.full((n, NPIX), 0.01)
        return (flux[0], err[0], None) if not visits else (flux, err, None)

    return provider


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("h5") / "apogee.h5"
    compile_apogee_h5(_allstar(shared_data), _random_provider(n_visits=2), out, snr_min=50, use_visits=True,
                      continuum=False, chunk_rows=64)
    return out


@pytest.mark.realdata
def test_compile_layout_and_labels(compiled, shared_data):
    rows = select_stars(_allstar(shared_data), snr_min=50)
    with fits.open(_allstar(shared_data)) as hdul:
        tab = hdul[1].data
        teff = np.asarray(tab["TEFF"], dtype=np.float64)
        ids = np.char.strip(np.asarray(tab["APOGEE_ID"]).astype(str))
        starflag, aspcapflag, snr = tab["STARFLAG"], tab["ASPCAPFLAG"], tab["SNR"]
    # the cuts are what they claim
    assert np.all(snr[rows] >= 50) and np.all(starflag[rows] == 0) and np.all(aspcapflag[rows] == 0)
    with h5py.File(compiled, "r") as f:
        n = f["spectra"].shape[0]
        assert n == 3 * rows.size  # combined + 2 visits per star
        assert f["spectra"].chunks == (64, NPIX) and f["spectra"].compression == "gzip"
        flag = f["in_flag"][:]
        assert (flag == 0).sum() == rows.size and (flag == 1).sum() == 2 * rows.size
        star = f["star_index"][:]
        np.testing.assert_array_equal(np.unique(star), rows)
        got_ids = f["APOGEE_ID"][:].astype(str)
        np.testing.assert_array_equal(got_ids, ids[star])
        t = f["labels/TEFF"][:]
        # real incomplete labels: the -9999 of the catalogue stays the magic number
        np.testing.assert_allclose(t, np.where(teff[star] < -9000, -9999.0, teff[star]).astype(np.float32))
        assert (t == -9999).any() and (t > 3000).any()
        # DR12 has [X/H] only: [X/Fe] is derived
        c_h, c_fe, fe_h = f["labels/C_H"][:], f["labels/C_FE"][:], f["labels/FE_H"][:]
        ok = (c_h != -9999) & (fe_h != -9999)
        np.testing.assert_allclose(c_fe[ok], c_h[ok] - fe_h[ok], atol=1e-5)
        assert np.all(f["labels/CI_H"][:] == -9999)  # not in DR12: missing, not zero


@pytest.mark.realdata
def test_load_by_astronn_names(compiled, shared_data):
    h5 = ApogeeH5(compiled)
    x, y, x_err, y_err = h5.load(target=["teff", "logg", "M", "alpha", "Fe", "C1", "fakemag"], with_err=True)
    with h5py.File(compiled, "r") as f:
        n_comb = int((f["in_flag"][:] == 0).sum())
    assert x.shape == x_err.shape == (n_comb, NPIX) and y.shape == y_err.shape == (n_comb, 7)
    assert np.all(y[:, 5] == -9999)  # [CI/H] absent from DR12
    with fits.open(_allstar(shared_data)) as hdul:
        tab = hdul[1].data
        k, plx, e_plx = (np.asarray(tab[c], dtype=np.float64) for c in ("K", "Plx", "e_Plx"))
    star = h5.load_entry("star_index")
    expected = plx[star] * 10 ** (0.2 * k[star])  # astroNN's fakemag (parallax in mas)
    good = y[:, 6] != -9999
    assert good.sum() > 0.9 * good.size
    np.testing.assert_allclose(y[good, 6], expected[good], rtol=1e-5)
    np.testing.assert_allclose(y_err[good, 6], (e_plx[star] * 10 ** (0.2 * k[star]))[good], rtol=1e-5)
    # raw column names work too, and visits are selectable
    x_v, y_v = h5.load(target=["C_FE"], with_err=False, combined=False)
    assert x_v.shape[0] == 2 * n_comb and y_v.shape == (2 * n_comb, 1)
    xs, ys = h5.load(target=["teff", "logg"], with_err=False, exclude_missing=True)
    assert np.all(ys != -9999) and 0 < xs.shape[0] < n_comb
    with pytest.raises(InputValidationError, match="unknown target"):
        h5.load(target=["Unobtainium"])


@pytest.mark.realdata
def test_streaming_dataset_matches_load(compiled):
    h5 = ApogeeH5(compiled)
    x, y, _, y_err = h5.load(target=["teff", "Fe"], with_err=True)
    ds = h5.dataset(target=["teff", "Fe"])
    assert len(ds) == x.shape[0]
    item = ds[5]
    assert set(item) == {"x", "y", "y_err"} and item["x"].dtype == torch.float32
    np.testing.assert_array_equal(item["x"].numpy(), x[5])
    np.testing.assert_array_equal(item["y"].numpy(), y[5])
    # unsorted, repeated batch indices come back in the asked order
    idx = [40, 3, 17, 3, 200]
    batch = ds.__getitems__(idx)
    for j, i in enumerate(idx):
        np.testing.assert_array_equal(batch[j]["x"].numpy(), x[i])
        np.testing.assert_array_equal(batch[j]["y_err"].numpy(), y_err[i])
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=False)
    first = next(iter(loader))
    assert first["x"].shape == (32, NPIX) and first["y"].shape == (32, 2)
    np.testing.assert_array_equal(first["x"].numpy(), x[:32])
    total = sum(b["x"].shape[0] for b in ds.iter_batches(100))
    assert total == len(ds)
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.realdata
def test_compile_failures_leave_no_file(tmp_path, shared_data):
    out = tmp_path / "bad.h5"

    def broken(row, apogee_id, visits):
        if row > 300:
            raise RuntimeError("disk on fire")
        return np.ones(NPIX), np.full(NPIX, 0.01), None

    with pytest.raises(RuntimeError):
        compile_apogee_h5(_allstar(shared_data), broken, out, continuum=False, chunk_rows=16)
    assert list(tmp_path.iterdir()) == []

    def wrong_length(row, apogee_id, visits):
        return np.ones(8000), np.ones(8000), None

    with pytest.raises(ShapeMismatchError):
        compile_apogee_h5(_allstar(shared_data), wrong_length, out, continuum=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(EmptyDatasetError):
        compile_apogee_h5(_allstar(shared_data), _random_provider(), out, teff_range=(9000, 9500))
    with pytest.raises(EmptyDatasetError):
        compile_apogee_h5(_allstar(shared_data), lambda r, a, v: None, out, continuum=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.realdata
def test_cuts(shared_data):
    cat = _allstar(shared_data)
    all_rows = select_stars(cat, snr_min=None, starflag_cut=False, aspcapflag_cut=False)
    assert all_rows.size == 3244
    teff_rows = select_stars(cat, snr_min=None, starflag_cut=False, aspcapflag_cut=False, teff_range=(4000, 5000))
    t = extract_labels(cat)["TEFF"][teff_rows]
    assert teff_rows.size > 100 and np.all((t >= 4000) & (t <= 5000))
    # ASPCAPFLAG mask cut: bit 23 (STAR_BAD) only keeps more stars than "any bit"
    assert select_stars(cat, snr_min=None, aspcapflag_cut=1 << 23).size >= select_stars(cat, snr_min=None).size


@pytest.mark.realdata
def test_compile_real_apstar_files_with_continuum(tmp_path, shared_data):
    """Two real apStar files through the compiler: continuum-normalised, median 1 on continuum pixels."""
    files = sorted((shared_data / "apogee").glob("apStar-dr17-*.fits"))
    ids = [p.name[len("apStar-dr17-"):-len(".fits")] for p in files]
    allstar = {"APOGEE_ID": np.array(ids), "SNR": np.array([150.0, 130.0]), "STARFLAG": np.zeros(2, int),
               "ASPCAPFLAG": np.zeros(2, int), "TEFF": np.array([3677.0, -9999.0]), "K": np.array([9.8, 9.9]),
               "PARALLAX": np.array([0.1, 1.2])}
    out = tmp_path / "real.h5"
    compile_apogee_h5(allstar, [str(p) for p in files], out, use_visits=True,
                      cont_mask=shared_data / "apogee" / "astronn_dr17_contmask.npy", chunk_rows=2)
    cmask = np.load(shared_data / "apogee" / "astronn_dr17_contmask.npy")
    h5 = ApogeeH5(out)
    x, y = h5.load(target=["teff"], with_err=False, combined=None)
    assert x.shape == (2 + 3 + 1, NPIX)  # 2 combined + 3 visits of the first star + 1 of the second
    med = np.median(x[:, cmask], axis=1)
    assert np.all(np.abs(med - 1) < 0.02), med
    assert list(y[:, 0]).count(-9999.0) == 2  # the second star (and its visit) keep a missing Teff


@pytest.mark.realdata
def test_one_reader_takes_both_spectra_layouts(compiled, tmp_path):
    """Issue 19: the compiled layout reads into the same container as the generators' layout."""
    from astrotorch.datasets.spectra import load_spectra_hdf5, load_synthetic_hdf5
    from astrotorch.errors import DataFormatError

    ds = load_spectra_hdf5(compiled)
    with h5py.File(compiled, "r") as f:
        flag, star = f["in_flag"][:], f["star_index"][:]
        teff, spectra0 = f["labels/TEFF"][:], f["spectra"][0]
    n_comb = int((flag == 0).sum())
    assert ds.n_stars == n_comb and len(ds) == flag.size
    assert np.all(ds.visit_of[:n_comb] == -1) and np.all(ds.visit_of[n_comb:] >= 0)
    # combined rows first; each visit points at its star's combined row
    comb_star = star[flag == 0]
    vis_star = star[flag == 1]
    assert np.array_equal(comb_star[ds.visit_of[n_comb:]], vis_star)
    assert {"teff", "logg", "M_H", "alpha_M", "Fe_H", "Mg_H", "C_Fe", "C1_H", "parallax"} <= set(ds.label_names)
    j = ds.label_index("teff")[0]
    np.testing.assert_array_equal(ds.labels[:n_comb, j], teff[flag == 0])
    np.testing.assert_array_equal(ds.flux[0], spectra0)
    assert ds.meta["layout"] == "compiled" and ds.meta["apogee_id"].shape == (len(ds),)
    sub = ds.select(np.arange(3))
    assert sub.meta["apogee_id"].shape == (3,)
    assert load_synthetic_hdf5(compiled, rows=np.arange(5)).flux.shape == (5, NPIX)
    # the generators' layout, with its provenance, through the same function
    from astrotorch.datasets.spectra import SyntheticSpectra

    rng = np.random.default_rng(0)
    lab = rng.normal(size=(4, 2)).astype(np.float32)
    syn = SyntheticSpectra(flux=rng.random((4, NPIX)).astype(np.float32), flux_err=np.full((4, NPIX), 0.01, np.float32),
                           bitmask=np.zeros((4, NPIX), np.int32), labels=lab, label_err=np.abs(lab), labels_true=lab,
                           label_names=["teff", "logg"], wavelength=np.arange(NPIX, dtype=float),
                           visit_of=np.array([-1, -1, 0, 1]), snr=np.full(4, 50.0), meta={"generator": "synthetic"})
    p = syn.to_hdf5(tmp_path / "syn.h5")
    back = load_spectra_hdf5(p)
    assert np.array_equal(back.flux, syn.flux) and back.meta["generator"] == "synthetic"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.ones(3)
    with pytest.raises(DataFormatError, match="neither a spectra HDF5 file"):
        load_spectra_hdf5(other)
    with pytest.raises(FileNotFoundError):
        load_spectra_hdf5(tmp_path / "absent.h5")
