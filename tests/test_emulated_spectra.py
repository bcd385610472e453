"""emulated_spectra: real-data emulators driven by real label catalogues (needs ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest

from astrotorch.errors import InputValidationError, ShapeMismatchError

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def emu(shared_data):
    from astrotorch.apogee.emulators import load_emulator

    return load_emulator("binspec_plus")


@pytest.fixture(scope="module")
def ds(emu):
    from astrotorch.datasets.spectra import emulated_spectra

    return emulated_spectra(250, emulator=emu, seed=3, n_visits=1, visit_snr=50.0)


def test_container_shapes_labels_and_provenance(ds, emu) -> None:
    from astrotorch.apogee.chips import gap_deleted_wavelength
    from astrotorch.datasets.spectra import SyntheticSpectra

    assert isinstance(ds, SyntheticSpectra)
    assert ds.flux.shape == ds.flux_err.shape == ds.bitmask.shape == (500, 7514)
    assert ds.flux.dtype == np.float32 and ds.bitmask.dtype == np.int32
    assert ds.label_names == ["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"]
    assert np.array_equal(ds.wavelength, gap_deleted_wavelength(17))
    assert ds.meta["generator"] == "emulated" and ds.meta["emulator"] == "binspec_plus"
    assert ds.n_stars == 250 and np.array_equal(ds.visit_of[250:], np.arange(250))
    truth = ds.labels_true[:250]
    assert np.all((truth >= emu.x_min - 1e-6) & (truth <= emu.x_max + 1e-6))
    # DR12 ASPCAP stars are giants: the draw follows the catalogue, not the box
    assert np.median(truth[:, 1]) < 3.2 and 4500 < np.median(truth[:, 0]) < 5000
    assert len(np.unique(truth[:, 0])) == 250  # jittered: no two stars share labels
    v = truth[:, 4]
    assert 2.0 < np.median(v) < 6.0  # the ASPCAP giant macroturbulence relation


def test_grid_flags_and_noise(ds, emu) -> None:
    from astrotorch.apogee.chips import dr12_pixels
    from astrotorch.datasets.emulated import chip_throughput, flagged_pixels

    idx = dr12_pixels(17)
    edge = np.ones(7514, bool)
    edge[idx] = False
    fixed = edge.copy()
    fixed[idx[emu.pixel_mask]] = True
    assert edge.sum() == 300 and fixed.sum() == 300 + 875
    assert np.all(ds.bitmask[:, fixed] & 1) and np.all(ds.flux[:, fixed] == 1.0)
    bad = flagged_pixels(ds.bitmask, persistence=False)
    assert np.all(ds.flux[bad] == 1.0) and np.all(ds.flux_err[bad] > 0.1)
    # the noise is what flux_err says, over the unflagged pixels of the combined spectra
    clean = emu.flux(ds.labels_true[:250])
    use = ~flagged_pixels(ds.bitmask[:250])[:, idx]
    z = (ds.flux[:250][:, idx] - clean) / ds.flux_err[:250][:, idx]
    assert 0.97 < np.std(z[use]) < 1.03 and abs(np.mean(z[use])) < 0.01
    # S/N 100 at the continuum on average over pixels, visits at S/N 50 (twice the error)
    thr = chip_throughput()
    assert abs(thr.mean() - 1.0) < 1e-12 and thr[-1] < 0.6 < thr[4000]  # the red chip's red end is the weakest
    ratio = np.median(ds.flux_err[250:][:, idx][use] / ds.flux_err[:250][:, idx][use])
    assert abs(ratio - 2.0) < 0.02
    assert np.all(ds.snr[:250] == 100.0) and np.all(ds.snr[250:] == 50.0)


def test_labels_missing_and_catalogue_errors(ds) -> None:
    from astrotorch.config import magic_number

    lab, err, truth = ds.labels[:250], ds.label_err[:250], ds.labels_true[:250]
    missing = lab == magic_number()
    assert 0.01 < missing.mean() < 0.1 and np.array_equal(missing, err == magic_number())
    z = (lab - truth)[~missing[:, 0], 0] / err[~missing[:, 0], 0]
    assert 0.8 < np.std(z) < 1.2  # catalogue labels scatter by their quoted errors
    assert np.array_equal(ds.labels[250:], lab)  # visits share the star's catalogue labels


def test_deterministic_from_the_seed(emu) -> None:
    from astrotorch.datasets.emulated import emulated_spectra

    a = emulated_spectra(40, emulator=emu, seed=7)
    b = emulated_spectra(40, emulator=emu, seed=7, progress=True)
    c = emulated_spectra(40, emulator=emu, seed=8)
    assert np.array_equal(a.flux, b.flux) and np.array_equal(a.bitmask, b.bitmask)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels_true, c.labels_true)


def test_label_sources(emu) -> None:
    from astrotorch.datasets.emulated import catalogue_labels, emulated_spectra

    vals, errs = catalogue_labels("apokasc")
    assert vals.shape[1] == 4 and errs is not None and np.median(errs[:, 1]) <= 0.02  # seismic log g
    ak = emulated_spectra(30, emulator=emu, seed=1, label_source="apokasc", label_noise=False, missing_label_frac=0.0)
    assert np.array_equal(ak.labels, ak.labels_true)
    box = emulated_spectra(30, emulator=emu, seed=1, label_source="box", label_box={"logg": (4.0, 4.7)})
    assert np.all((box.labels_true[:, 1] >= 4.0) & (box.labels_true[:, 1] <= 4.7))
    given = np.array([[4800.0, 2.5, -0.1, 0.05], [5600.0, 4.3, 0.1, 0.0]])
    arr = emulated_spectra(2, emulator=emu, seed=1, label_source=given)
    assert np.allclose(arr.labels_true[:, :4], given) and np.all(arr.labels_true[:, 4] > 0)


def test_bad_arguments(emu) -> None:
    from astrotorch.apogee.emulators import load_emulator
    from astrotorch.datasets.emulated import emulated_spectra

    with pytest.raises(InputValidationError, match="n_stars"):
        emulated_spectra(0, emulator=emu)
    with pytest.raises(InputValidationError, match="snr must be positive"):
        emulated_spectra(5, emulator=emu, snr=-3.0)
    with pytest.raises(InputValidationError, match="label_source must be one of"):
        emulated_spectra(5, emulator=emu, label_source="dr99")
    with pytest.raises(InputValidationError, match=r"label_source\[0\]: teff = 9000"):
        emulated_spectra(1, emulator=emu, label_source=np.array([[9000.0, 2.5, 0.0, 0.0]]))
    with pytest.raises(ShapeMismatchError, match="label_source array"):
        emulated_spectra(3, emulator=emu, label_source=np.ones((2, 4)))
    with pytest.raises(InputValidationError, match="un-normalised"):
        emulated_spectra(3, emulator=load_emulator("binspec_plus_unnormalized"))
    with pytest.raises(InputValidationError, match="label_box names 'age'"):
        emulated_spectra(3, emulator=emu, label_box={"age": (1, 2)})


def test_throughput_coefficients_come_from_the_real_example_spectrum(shared_data) -> None:
    from astrotorch.apogee.chips import chip_slices
    from astrotorch.datasets.emulated import chip_throughput

    ex = np.load(shared_data / "apogee_emulators" / "payne_zero_dr14_example_spectrum.npz")
    f, e, g = ex["normalized_flux"], ex["normalized_error"], ex["good_pixel_mask"]
    snr = np.sqrt(np.clip(f, 0.02, None)) / e
    prof = []
    for s in chip_slices(17):
        y = np.linspace(-1, 1, s.stop - s.start)
        ok = g[s] & np.isfinite(snr[s])
        prof.append(np.polynomial.polynomial.polyval(y, np.polynomial.polynomial.polyfit(y[ok], snr[s][ok], 2)))
    prof = np.concatenate(prof)
    assert np.allclose(chip_throughput(), prof / prof.mean(), atol=2e-3)
