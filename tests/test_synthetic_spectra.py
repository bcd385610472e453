"""Tests of the synthetic APOGEE-like spectrum generator (astrotorch.datasets.spectra)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from astrotorch.datasets import spectra as S
from astrotorch.errors import InputValidationError


@pytest.fixture(scope="module")
def small() -> S.SyntheticSpectra:
    return S.synthetic_spectra(300, seed=3, n_visits=2)


def test_grid_is_gap_deleted_apstar_grid() -> None:
    w = S.apogee_wavelength()
    assert w.shape == (7514,)
    assert np.all(np.diff(w) > 0)
    # log-linear steps of 6e-6 dex inside chips, two big gaps between chips
    steps = np.diff(np.log10(w))
    assert np.sum(steps > 1e-5) == 2
    assert np.allclose(steps[steps < 1e-5], 6e-6)
    assert 15150 < w[0] < 15160 and 16940 < w[-1] < 16950
    try:  # agree with the APOGEE tools when they are installed
        from astrotorch.apogee import gap_deleted_wavelength  # type: ignore
    except ImportError:
        return
    assert np.allclose(np.asarray(gap_deleted_wavelength(17)), w, rtol=1e-9)


def test_shapes_and_fields(small: S.SyntheticSpectra) -> None:
    n, k = 300, len(S.LABEL_NAMES)
    assert len(small) == 3 * n and small.n_stars == n
    assert small.flux.shape == (3 * n, 7514) and small.flux.dtype == np.float32
    assert small.flux_err.shape == small.flux.shape and np.all(small.flux_err > 0)
    assert small.bitmask.shape == small.flux.shape and small.bitmask.dtype == np.int32
    assert small.labels.shape == (3 * n, k) and small.label_err.shape == (3 * n, k)
    assert "Fe_H" in small.label_names and small.label_names[:2] == ["teff", "logg"]
    assert len(S.ELEMENTS) >= 18
    assert np.all(small.visit_of[:n] == -1)
    assert np.array_equal(small.visit_of[n:2 * n], np.arange(n))
    assert np.all(np.isfinite(small.flux))


def test_deterministic_and_seed_dependent() -> None:
    a = S.synthetic_spectra(50, seed=11)
    b = S.synthetic_spectra(50, seed=11)
    c = S.synthetic_spectra(50, seed=12)
    assert np.array_equal(a.flux, b.flux) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.bitmask, b.bitmask)
    assert not np.allclose(a.flux, c.flux)


def test_speed_sanity() -> None:
    t0 = time.perf_counter()
    S.synthetic_spectra(500, seed=0)
    # 10,000 spectra must take well under a minute: 500 in a few seconds even on a loaded core
    assert time.perf_counter() - t0 < 10.0


def test_lines_deepen_with_abundance_and_saturate() -> None:
    rng = np.random.default_rng(0)
    base = S.sample_labels(1, rng)
    base[0, :4] = [4700.0, 2.5, 0.0, 0.0]
    base[0, 4:] = 0.0
    ll = S.line_list()
    mg = ll.species == "Mg I"
    w = S.apogee_wavelength()
    pix = np.searchsorted(w, ll.wavelength[mg])
    depths = []
    for x in (-1.0, -0.5, 0.0, 0.5):
        lab = base.copy()
        lab[0, 4 + S.ELEMENTS.index("Mg")] = x
        depths.append(1.0 - S.normalized_spectra(lab)[0, pix])
    depths = np.array(depths)
    assert np.all(np.diff(depths, axis=0) > 0)  # deeper with more Mg
    # curve of growth: the strongest lines grow less per dex than the weakest (saturation)
    strong, weak = np.argmax(depths[-1]), np.argmin(depths[-1])
    assert depths[-1, strong] / depths[0, strong] < depths[-1, weak] / depths[0, weak]
    # other elements' lines do not change with Mg
    fe = np.searchsorted(w, ll.wavelength[ll.species == "Fe I"][:5])
    lab0, lab1 = base.copy(), base.copy()
    lab1[0, 4 + S.ELEMENTS.index("Mg")] = 0.5
    assert np.allclose(S.normalized_spectra(lab0)[0, fe], S.normalized_spectra(lab1)[0, fe], atol=1e-3)


def test_temperature_and_gravity_sensitivity() -> None:
    ll = S.line_list()
    w = S.apogee_wavelength()
    lab = np.zeros((3, len(S.LABEL_NAMES)))
    lab[:, 0] = [4200.0, 5200.0, 5200.0]
    lab[:, 1] = [2.0, 2.0, 4.5]
    flux = S.normalized_spectra(lab)
    oh = np.searchsorted(w, ll.wavelength[ll.species == "OH"])
    # OH fades with temperature
    assert np.mean(1 - flux[0, oh]) > 2 * np.mean(1 - flux[1, oh])
    # Brackett lines grow with gravity (pressure)
    br = np.searchsorted(w, ll.wavelength[ll.species == "H I"])
    br = br[(br > 0) & (br < 7514)]
    assert np.mean(1 - flux[2, br]) > np.mean(1 - flux[1, br])


def test_label_structure() -> None:
    d = S.synthetic_spectra(2000, seed=5, missing_label_frac=0.1)
    t = d.labels_true
    names = d.label_names
    teff, logg, mh, am = (t[:, names.index(n)] for n in ("teff", "logg", "M_H", "alpha_M"))
    giants = logg < 3.5
    # along the giant branch Teff rises with log g
    assert np.corrcoef(teff[giants], logg[giants])[0, 1] > 0.6
    # both giants and dwarfs exist, dwarfs at high gravity
    assert 0.3 < giants.mean() < 0.9 and np.all(logg[~giants] > 3.4)
    # thick disc: [α/M] anti-correlated with [M/H]; α elements follow [α/M]
    assert np.corrcoef(mh, am)[0, 1] < -0.3
    mg = t[:, names.index("Mg_H")] - mh
    assert np.corrcoef(mg, am)[0, 1] > 0.8
    assert np.corrcoef(t[:, names.index("Fe_H")], mh)[0, 1] > 0.99
    # missing labels: fraction close to the requested one, error missing together with the label
    miss = d.labels == -9999.0
    assert abs(miss.mean() - 0.1) < 0.01
    assert np.array_equal(miss, d.label_err == -9999.0)
    # catalogue labels scatter around the truth by about label_err
    ok = ~miss[:, 0]
    z = (d.labels[ok, 0] - t[ok, 0]) / d.label_err[ok, 0]
    assert 0.9 < np.std(z) < 1.1


def test_visits_noisier(small: S.SyntheticSpectra) -> None:
    n = small.n_stars
    clean = S.normalized_spectra(small.labels_true[:n].astype(np.float64))
    good = ~S._bad(small.bitmask)
    noise_c = np.std((small.flux[:n] - clean)[good[:n]])
    noise_v = np.std((small.flux[n:2 * n] - clean)[good[n:2 * n]])
    # two visits at S/N / sqrt(2) each: the visit noise is sqrt(2) times the combined noise
    assert 1.3 < noise_v / noise_c < 1.5
    assert np.median(small.flux_err[n:]) > 1.3 * np.median(small.flux_err[:n])
    assert np.allclose(small.labels_true[n:2 * n], small.labels_true[:n])


def test_noise_matches_errors_and_snr() -> None:
    d = S.synthetic_spectra(200, seed=1, snr=50.0, label_noise=False)
    clean = S.normalized_spectra(d.labels_true.astype(np.float64))
    good = ~S._bad(d.bitmask) & ((d.bitmask & (1 << S.PIXMASK_BITS["PERSIST_LOW"])) == 0)
    z = (d.flux - clean)[good] / d.flux_err[good]
    assert 0.97 < np.std(z) < 1.03
    assert 45 < np.median(1.0 / d.flux_err[good]) < 56


def test_bitmask_pixels_flagged_and_inflated() -> None:
    d = S.synthetic_spectra(100, seed=2, mask_value=None)
    bad = S._bad(d.bitmask)
    assert 0.001 < bad.mean() < 0.05
    assert np.median(d.flux_err[bad]) > 20 * np.median(d.flux_err[~bad])
    # the same detector columns are bad for every star
    assert np.any(bad.all(axis=0))
    d1 = S.synthetic_spectra(100, seed=2, mask_value=1.0)
    assert np.all(d1.flux[bad] == 1.0)


def test_continuum_option() -> None:
    d = S.synthetic_spectra(20, seed=0, continuum=True)
    assert d.continuum
    # a continuum changes chip levels: medians differ between chips
    med = [np.median(d.flux[:, s]) for s in S.chip_slices()]
    assert max(med) / min(med) > 1.2


def test_element_windows() -> None:
    win = S.element_windows()
    assert set(win) == {f"{e}_H" for e in S.ELEMENTS}
    for name, m in win.items():
        assert m.shape == (7514,) and m.any(), name
    assert win["Fe_H"].sum() > win["K_H"].sum()


def test_bad_input_raises() -> None:
    with pytest.raises(InputValidationError):
        S.synthetic_spectra(0)
    with pytest.raises(InputValidationError):
        S.synthetic_spectra(10, snr=-1.0)
    with pytest.raises(InputValidationError):
        S.synthetic_spectra(10, missing_label_frac=1.5)
    with pytest.raises(InputValidationError):
        S.normalized_spectra(np.zeros((2, 3)))


def test_hdf5_chunked_equals_in_memory(tmp_path) -> None:
    n = S.BLOCK_SIZE + 37  # two blocks, the second partial
    ref = S.synthetic_spectra(n, seed=4, n_visits=1)
    path = S.write_synthetic_hdf5(tmp_path / "syn.h5", n, chunk=1, seed=4, n_visits=1)
    back = S.load_synthetic_hdf5(path)
    for key in ("flux", "flux_err", "bitmask", "labels", "label_err", "labels_true", "visit_of"):
        assert np.array_equal(getattr(ref, key), getattr(back, key)), key
    assert back.label_names == ref.label_names
    small = ref.select(slice(0, 10))
    p2 = small.to_hdf5(tmp_path / "small.h5")
    assert np.array_equal(S.load_synthetic_hdf5(p2).flux, small.flux)
    assert not (tmp_path / "syn.h5.tmp").exists()
