"""Tests of astrotorch.apogee chips / bitmask / continuum tools (synthetic arrays + astroNN's masks)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from astrotorch.apogee import (
    ASPCAP_ELEMENTS,
    apogee_continuum,
    apstar_wavelength,
    aspcap_mask,
    bitmask_boolean,
    bitmask_decompositor,
    bitmask_names,
    chips_pix_info,
    chips_split,
    continuum,
    gap_delete,
    gap_deleted_wavelength,
    gap_insert,
    load_continuum_mask,
    wavelength_solution,
)
from astrotorch.errors import ConfigError, InputValidationError, ShapeMismatchError


def test_chips_pix_info_per_dr():
    assert chips_pix_info(17) == [246, 3274, 3585, 6080, 6344, 8335, 7514]
    assert chips_pix_info(13) == chips_pix_info(16) == chips_pix_info(None)
    assert chips_pix_info(12) == [322, 3242, 3648, 6048, 6412, 8306, 7214]
    with pytest.raises(InputValidationError):
        chips_pix_info(10)
    with pytest.raises(InputValidationError):
        chips_pix_info("17")


def test_wavelength_solution_is_log_linear_and_ascending():
    grid = apstar_wavelength()
    assert grid.shape == (8575,)
    np.testing.assert_allclose(np.log10(grid[:3]), [4.179, 4.179 + 6e-6, 4.179 + 12e-6], rtol=0, atol=1e-12)
    blue, green, red = wavelength_solution(17)
    assert (blue.size, green.size, red.size) == (3028, 2495, 1991)
    # APOGEE H band: blue chip starts near 15,150 Å, red chip ends near 16,945 Å
    assert 15140 < blue[0] < 15160 and 16930 < red[-1] < 16950
    full = gap_deleted_wavelength(17)
    assert full.shape == (7514,) and np.all(np.diff(full) > 0)
    assert blue[-1] < green[0] and green[-1] < red[0]  # gaps lie between the chips
    assert gap_deleted_wavelength(12).shape == (7214,)


@pytest.mark.parametrize("dr,total", [(17, 7514), (14, 7514), (12, 7214)])
def test_gap_delete_1d_2d_and_identity(dr, total):
    spec = np.arange(8575, dtype=float)
    out = gap_delete(spec, dr=dr)
    assert out.shape == (1, total)
    info = chips_pix_info(dr)
    # values are the pixel indices, so the kept pixels are exactly the chip ranges
    expected = np.r_[info[0]:info[1], info[2]:info[3], info[4]:info[5]]
    np.testing.assert_array_equal(out[0], expected)
    two = gap_delete(np.stack([spec, spec + 1]), dr=dr)
    assert two.shape == (2, total)
    np.testing.assert_array_equal(two[1], expected + 1)
    # an already gap-deleted array passes through unchanged
    np.testing.assert_array_equal(gap_delete(two, dr=dr), two)
    # gap_insert is the inverse on the chip pixels
    back = gap_insert(two, dr=dr)
    np.testing.assert_array_equal(back[:, expected], two)
    assert np.all(np.isnan(np.delete(back, expected, axis=1)))


def test_gap_delete_wrong_length_raises():
    with pytest.raises(ShapeMismatchError, match="8574"):
        gap_delete(np.zeros(8574))
    with pytest.raises(ShapeMismatchError):
        gap_delete(np.zeros((2, 3, 8575)))


def test_chips_split_lengths():
    b, g, r = chips_split(np.ones((4, 8575)))
    assert b.shape == (4, 3028) and g.shape == (4, 2495) and r.shape == (4, 1991)
    b2, _, _ = chips_split(np.arange(7514.0))
    np.testing.assert_array_equal(b2[0], np.arange(3028.0))


def test_bitmask_boolean_defaults_and_custom_bits():
    bm = np.array([0, 1, 2**7, 2**8, 2**12, 2**13, 2**9 + 2**3])
    out = bitmask_boolean(bm)
    # default bits 0-7 and 12 are bad; 8 (ghost), 13 (telluric), alone, are kept
    np.testing.assert_array_equal(out[0], [False, True, True, False, True, False, True])
    np.testing.assert_array_equal(bitmask_boolean(bm, target_bit=[13])[0], [0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(bitmask_boolean(bm, target_bit=9)[0], [0, 0, 0, 0, 0, 0, 1])
    # drop bit 12 from the default set
    assert not bitmask_boolean(bm, drop_bit=[12])[0, 4]
    with pytest.raises(InputValidationError):
        bitmask_boolean(np.array([0.5]))
    with pytest.raises(InputValidationError):
        bitmask_boolean(bm, target_bit=[-1])


def test_bitmask_decompositor():
    np.testing.assert_array_equal(bitmask_decompositor(129), [0, 7])
    np.testing.assert_array_equal(bitmask_decompositor(8321), [0, 7, 13])
    np.testing.assert_array_equal(bitmask_decompositor(2**40), [40])
    assert bitmask_decompositor(0) is None
    assert bitmask_names(129) == ["BADPIX", "NOSKY"]
    with pytest.raises(InputValidationError):
        bitmask_decompositor(-3)
    with pytest.raises(InputValidationError):
        bitmask_decompositor(1.5)


def _synthetic_chip_spectra(n=6, seed=1, snr=200.0):
    """Smooth per-chip continua times absorption lines, with Gaussian noise: truth is known."""
    rng = np.random.default_rng(seed)
    npix = 7514
    x = np.arange(npix)
    cont = np.empty((n, npix))
    for sl in (slice(0, 3028), slice(3028, 5523), slice(5523, 7514)):
        t = np.linspace(-1, 1, sl.stop - sl.start)
        c0 = rng.uniform(500, 1500, size=(n, 1))
        cont[:, sl] = c0 * (1 + rng.uniform(-0.2, 0.2, (n, 1)) * t + rng.uniform(-0.1, 0.1, (n, 1)) * (2 * t**2 - 1))
    lines = np.ones(npix)
    for centre in rng.choice(npix, 300, replace=False):
        lines -= 0.3 * np.exp(-0.5 * ((x - centre) / 2.0) ** 2)
    return cont, lines, rng


def test_continuum_recovers_known_continuum():
    cont, lines, rng = _synthetic_chip_spectra()
    # continuum pixels: where the line profile is within 0.1% of 1
    cmask = lines > 0.999
    flux_true = cont * lines
    err = flux_true / 200.0
    flux = flux_true + rng.normal(size=flux_true.shape) * err
    norm, norm_err, fitted = continuum(flux, err, cmask, deg=2, dr=17, return_continuum=True)
    np.testing.assert_allclose(fitted, cont, rtol=2e-3)
    np.testing.assert_allclose(np.median(norm[:, cmask], axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(norm_err, err / fitted)
    # the inputs are not modified
    assert np.all(np.isfinite(flux))


def test_continuum_single_segment_matches_numpy_weighted_fit():
    rng = np.random.default_rng(3)
    x = np.arange(400)
    flux = 10 + 0.01 * x + rng.normal(0, 0.1, size=400)
    err = rng.uniform(0.05, 0.3, size=400)
    cmask = rng.random(400) < 0.5
    norm, _, fitted = continuum(flux, err, cmask, deg=3, return_continuum=True)
    # numpy's w multiplies residuals, so 1/σ gives the χ² (inverse-variance) fit
    ref = np.polynomial.chebyshev.Chebyshev.fit(x[cmask], flux[cmask], deg=3, w=1 / err[cmask])
    np.testing.assert_allclose(fitted[0], ref(x), rtol=1e-9)


def test_continuum_is_nan_safe_and_flags_failed_fits():
    cont, lines, rng = _synthetic_chip_spectra(n=3)
    cmask = lines > 0.999
    flux = cont * lines
    err = flux / 100
    flux[0, ::7] = np.nan
    err[1, ::5] = 0.0
    flux[2, :3028] = np.nan  # whole blue chip missing: its fit cannot be done
    norm, norm_err = continuum(flux, err, cmask, dr=17)
    good = np.isfinite(flux[0])
    np.testing.assert_allclose(norm[0, good], lines[good], rtol=1e-3)
    np.testing.assert_allclose(norm[1], lines, rtol=1e-3)  # zero-error pixels ignored in the fit
    assert np.all(np.isnan(norm[2, :3028])) and np.all(np.isfinite(norm[2, 3028:]))


def test_apogee_continuum_masks_and_shapes():
    cont, lines, rng = _synthetic_chip_spectra(n=2)
    cmask = lines > 0.999
    flux = gap_insert(cont * lines, fill_value=0.0)  # on the apStar grid, zeros in the gaps
    err = gap_insert(cont * lines / 150, fill_value=0.0)
    bitmask = np.zeros(flux.shape, dtype=np.int64)
    info = chips_pix_info(17)
    bitmask[0, info[0] + 100] = 1  # BADPIX
    bitmask[0, info[0] + 101] = 2**13  # SIG_TELLURIC alone: not masked by default
    flux[1, info[0] + 50] = np.inf
    norm, norm_err = apogee_continuum(flux, err, cont_mask=cmask, dr=17, bitmask=bitmask, mask_value=1.0)
    assert norm.shape == norm_err.shape == (2, 7514)
    assert norm[0, 100] == 1.0 and norm_err[0, 100] >= 10
    np.testing.assert_allclose(norm[0, 101], lines[101], rtol=1e-3)
    assert norm[1, 50] == 1.0 and norm_err[1, 50] >= 10
    assert np.all(np.isfinite(norm)) and np.all(np.isfinite(norm_err)) and np.all(norm_err > 0)
    with pytest.raises(ShapeMismatchError):
        apogee_continuum(flux[:, :8000], err[:, :8000], cont_mask=cmask)
    with pytest.raises(ShapeMismatchError):
        apogee_continuum(flux, err[:1], cont_mask=cmask)


def test_continuum_refuses_an_empty_continuum_mask_and_non_numbers():
    """Issue 16: an all-False mask used to return all-NaN; string arrays raised a raw ValueError (or converted)."""
    cont, lines, _ = _synthetic_chip_spectra(n=2)
    flux, err = cont * lines, cont * lines / 150
    with pytest.raises(InputValidationError, match="cont_mask selects 0 continuum pixel"):
        apogee_continuum(flux, err, cont_mask=np.zeros(7514, bool))
    one_chip = lines > 0.999
    one_chip[3028:5523] = False  # the green chip loses every continuum pixel
    with pytest.raises(InputValidationError, match="in chip 1"):
        apogee_continuum(flux, err, cont_mask=one_chip)
    with pytest.raises(InputValidationError, match="at least 3"):
        continuum(flux[:, :100], err[:, :100], cont_mask=np.r_[np.ones(2, bool), np.zeros(98, bool)])
    with pytest.raises(InputValidationError, match="spectra must be an array of numbers"):
        apogee_continuum(flux.astype(str), err, cont_mask=lines > 0.999)
    with pytest.raises(InputValidationError, match="spectra_err must be an array of numbers"):
        apogee_continuum(flux, err.astype(object), cont_mask=lines > 0.999)
    with pytest.raises(InputValidationError, match="cont_mask must be a boolean"):
        continuum(flux, err, cont_mask=(lines > 0.999).astype(str))
    with pytest.raises(InputValidationError, match="bitmask must hold integers"):
        apogee_continuum(flux, err, cont_mask=lines > 0.999, bitmask=np.full(flux.shape, "0"))


def test_apogee_continuum_vectorised_speed():
    rng = np.random.default_rng(0)
    flux = 1 + 0.01 * rng.standard_normal((2000, 7514))
    cmask = rng.random(7514) < 0.07
    t0 = time.perf_counter()
    norm, _ = apogee_continuum(flux, np.full_like(flux, 0.01), cont_mask=cmask)
    elapsed = time.perf_counter() - t0
    # 2,000 stars: a per-star Python loop takes tens of seconds; the batched solve about 0.5 s
    assert elapsed < 8.0, elapsed
    assert abs(np.median(norm[:, cmask]) - 1) < 1e-3


@pytest.mark.realdata
def test_astronn_masks(shared_data):
    for dr in (13, 14, 16, 17):
        mask = load_continuum_mask(dr, shared_data / "apogee" / f"astronn_dr{dr}_contmask.npy")
        assert mask.shape == (7514,) and 400 < mask.sum() < 700
    path = shared_data / "apogee" / "astronn_aspcap_l31c_masks.npy"
    fe = aspcap_mask("Fe", dr=17, path=path)
    assert fe.dtype == bool and fe.shape == (7514,) and 1000 < fe.sum() < 4000
    np.testing.assert_array_equal(aspcap_mask("c1", path=path), aspcap_mask("CI", path=path))
    np.testing.assert_array_equal(aspcap_mask("TI2", path=path), aspcap_mask("TiII", path=path))
    assert not np.array_equal(aspcap_mask("C", path=path), aspcap_mask("N", path=path))
    # every listed element is a distinct bit; the raw file agrees bit by bit
    raw = np.load(path)
    for i, elem in enumerate(ASPCAP_ELEMENTS):
        np.testing.assert_array_equal(aspcap_mask(elem, path=path), (raw >> i) & 1 == 1)
    with pytest.raises(InputValidationError, match="unknown ASPCAP element"):
        aspcap_mask("Xx", path=path)
    with pytest.raises(InputValidationError):
        aspcap_mask("Fe", dr=13, path=path)


def test_missing_mask_file_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path))
    monkeypatch.setenv("ASTROTORCH_SHARED_DATA", str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_continuum_mask(17, tmp_path / "nope.npy")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(10, dtype=bool))
    from astrotorch.errors import DataFormatError

    with pytest.raises(DataFormatError, match="7514"):
        load_continuum_mask(17, bad)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from astrotorch.apogee.bitmask import bits_to_value  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=2**62))
def test_bitmask_decompose_roundtrip(value):
    bits = bitmask_decompositor(value)
    assert list(bits) == sorted(set(bits.tolist()))
    assert bits_to_value(bits) == value
    # bitmask_boolean with exactly those bits flags the value; with the other bits it does not
    assert bitmask_boolean(np.array([value]), target_bit=bits)[0, 0]
    others = [b for b in range(63) if b not in set(bits.tolist())]
    assert not bitmask_boolean(np.array([value]), target_bit=others)[0, 0]


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1), st.integers(min_value=0, max_value=4))
def test_continuum_batched_equals_per_star(seed, deg):
    rng = np.random.default_rng(seed)
    flux = 1 + 0.1 * rng.standard_normal((3, 7514))
    err = rng.uniform(0.01, 0.2, (3, 7514))
    cmask = rng.random(7514) < 0.1
    batched, _ = continuum(flux, err, cmask, deg=deg, dr=17)
    for i in range(3):
        single, _ = continuum(flux[i], err[i], cmask, deg=deg, dr=17)
        np.testing.assert_allclose(batched[i], single[0], rtol=1e-10)
