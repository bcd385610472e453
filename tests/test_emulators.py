"""SpectralEmulator and load_emulator: the published binspec layout as a differentiable torch module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotorch.apogee.emulators import EMULATOR_FILES, SpectralEmulator, emulator_path, load_emulator
from astrotorch.errors import ConfigError, DataFormatError, InputValidationError, ShapeMismatchError

N_PIX, N_HID, N_LAB = 7214, 6, 5
X_MIN = np.array([3900.0, 1.0, -1.0, -0.2, 0.5])
X_MAX = np.array([7000.0, 5.0, 0.5, 0.4, 15.0])


def _arrays(seed: int = 0, n_pix: int = N_PIX) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "w_array_0": rng.normal(0, 2.0, (n_pix, N_HID, N_LAB)).astype(np.float32),
        "b_array_0": rng.normal(0, 1.0, (n_pix, N_HID)).astype(np.float32),
        "w_array_1": rng.normal(0, 0.1, (n_pix, N_HID)).astype(np.float32),
        "b_array_1": (1.0 + rng.normal(0, 0.02, n_pix)).astype(np.float32),
        "x_min": X_MIN.copy(), "x_max": X_MAX.copy(),
    }


def _reference(a: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
    """The published formula, written out in numpy (float64)."""
    s = (labels - a["x_min"]) / (a["x_max"] - a["x_min"]) - 0.5
    inside = np.einsum("pkj,nj->npk", a["w_array_0"].astype(np.float64), s) + a["b_array_0"]
    return np.einsum("pk,npk->np", a["w_array_1"].astype(np.float64), 1.0 / (1.0 + np.exp(-inside))) + a["b_array_1"]


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    return _arrays()


@pytest.fixture(scope="module")
def emu(arrays) -> SpectralEmulator:
    return SpectralEmulator(**arrays, label_names=["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"], name="random")


def _labels(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return X_MIN + (X_MAX - X_MIN) * rng.uniform(0.05, 0.95, (n, N_LAB))


def test_forward_matches_the_published_formula(emu, arrays) -> None:
    lab = _labels(7)
    ref = _reference(arrays, lab)
    assert np.allclose(emu.flux(lab), ref, atol=2e-5)
    with torch.no_grad():  # fast in-place path
        assert np.allclose(emu(torch.tensor(lab)).numpy(), ref, atol=2e-5)
    # autograd path (grad enabled) gives the same numbers; one star as a 1-D tensor
    out = emu(torch.tensor(lab[0]))
    assert out.shape == (N_PIX,)
    assert np.allclose(out.detach().numpy(), ref[0], atol=2e-5)
    assert emu.n_pixels == N_PIX and emu.n_labels == N_LAB
    assert emu.label_units == ["K", "dex", "dex", "dex", "km/s"]
    assert emu.wavelength.shape == (N_PIX,) and np.all(np.diff(emu.wavelength) > 0)


def test_analytic_jacobian_equals_autograd(emu) -> None:
    from torch.func import jacfwd, vmap

    lab = torch.tensor(_labels(4), dtype=torch.float32)
    auto = vmap(jacfwd(lambda x: emu(x[None])[0]))(lab)
    flux, jac = emu.flux_and_jacobian(lab)
    assert jac.shape == (4, N_PIX, N_LAB)
    scale = auto.abs().amax(dim=(0, 1))
    assert torch.all((jac - auto).abs().amax(dim=(0, 1)) <= 1e-4 * scale)
    _, jac_s = emu.flux_and_jacobian(lab, scaled=True, label_major=True)
    rng = torch.tensor(X_MAX - X_MIN, dtype=torch.float32)
    assert torch.allclose(jac_s.permute(1, 2, 0), jac * rng, rtol=1e-4, atol=1e-6)
    assert torch.allclose(flux, emu(lab).detach(), atol=1e-5)


def test_dtypes_bfloat16_and_float64(arrays) -> None:
    lab = _labels(3)
    ref = _reference(arrays, lab)
    names = ["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"]
    e64 = SpectralEmulator(**arrays, label_names=names).to(torch.float64)
    assert np.allclose(e64.flux(lab), ref, atol=1e-6)
    ebf = SpectralEmulator(**arrays, label_names=names).to(torch.bfloat16)
    out = ebf(torch.tensor(lab, dtype=torch.float32))
    assert out.dtype == torch.bfloat16
    # bf16 weights and activations: percent-level, but the labels are scaled in float32 (Teff not rounded)
    assert np.abs(out.float().detach().numpy() - ref).max() < 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_on_gpu(arrays) -> None:
    e = SpectralEmulator(**arrays, label_names=list("abcde")).to("cuda")
    lab = _labels(5)
    assert np.allclose(e.flux(lab), _reference(arrays, lab), atol=1e-4)


def test_check_labels_names_the_culprit(emu) -> None:
    lab = _labels(3)
    lab[2, 1] = 7.5
    with pytest.raises(InputValidationError, match=r"labels\[2\]: logg = 7.5 is outside the valid range"):
        emu.flux(lab)
    with pytest.raises(ShapeMismatchError, match=r"\(N, 5\)"):
        emu.flux(lab[:, :4])
    lab[0, 0] = np.nan
    with pytest.raises(InputValidationError, match="non-finite teff"):
        emu.check_labels(lab)
    with pytest.raises(InputValidationError, match="numbers"):
        emu.check_labels([["a", "b", "c", "d", "e"]])
    # without the check (the fitter's inner loop) nothing is validated
    assert np.isfinite(emu.flux(_labels(1), check=False)).all()


def test_constructor_rejects_inconsistent_arrays(arrays) -> None:
    bad = dict(arrays, b_array_1=arrays["b_array_1"][:10])
    with pytest.raises(ShapeMismatchError, match="b_array_1"):
        SpectralEmulator(**bad, label_names=list("abcde"))
    with pytest.raises(InputValidationError, match="x_max must exceed x_min"):
        SpectralEmulator(**dict(arrays, x_max=arrays["x_min"]), label_names=list("abcde"))
    with pytest.raises(InputValidationError, match="5 distinct names"):
        SpectralEmulator(**arrays, label_names=["a", "a", "b", "c", "d"])


def _save(path, a: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **a)


def test_load_emulator_from_path_and_label_names(tmp_path, arrays) -> None:
    p = tmp_path / "my_emulator.npz"
    _save(p, arrays)
    e = load_emulator(p, pixel_mask=None)
    assert e.label_names == ["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"] and e.name == "my_emulator" and e.normalized
    lab = _labels(2)
    assert np.allclose(e.flux(lab), _reference(arrays, lab), atol=2e-5)
    named = dict(arrays, label_names=np.array(["T", "g", "m", "a", "v"]))
    _save(tmp_path / "named.npz", named)
    assert load_emulator(tmp_path / "named.npz", pixel_mask=None).label_names == ["T", "g", "m", "a", "v"]
    mask = np.zeros(N_PIX, bool)
    mask[:5] = True
    assert load_emulator(p, pixel_mask=mask).pixel_mask.sum() == 5


@pytest.mark.parametrize("case, match", [
    ("not_npz", "not a readable .npz"),
    ("missing", r"lacks arrays \['w_array_1'\]"),
    ("nan", "w_array_0 must hold finite floats"),
    ("pickle", "not a readable .npz"),
    ("pixels", "7214"),
    ("shapes", "b_array_0"),
    ("labels3", "3 labels and no label_names"),
])
def test_malformed_emulator_files_raise_data_format_error(tmp_path, arrays, case, match) -> None:
    p = tmp_path / f"{case}.npz"
    if case == "not_npz":
        p.write_bytes(b"this is not a zip archive")
    elif case == "missing":
        _save(p, {k: v for k, v in arrays.items() if k != "w_array_1"})
    elif case == "nan":
        a = {k: v.copy() for k, v in arrays.items()}
        a["w_array_0"][3, 2, 1] = np.nan
        _save(p, a)
    elif case == "pickle":
        with open(p, "wb") as fh:
            np.savez(fh, **dict(arrays, w_array_0=np.array([{"a": 1}], dtype=object)))
    elif case == "pixels":
        _save(p, _arrays(n_pix=100))
    elif case == "shapes":
        _save(p, dict(arrays, b_array_0=arrays["b_array_0"][:, :3]))
    elif case == "labels3":
        a = dict(arrays, w_array_0=arrays["w_array_0"][:, :, :3], x_min=X_MIN[:3], x_max=X_MAX[:3])
        _save(p, a)
    with pytest.raises(DataFormatError, match=match):
        load_emulator(p)


def test_emulator_lookup_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(FileNotFoundError):
        load_emulator(tmp_path / "absent.npz")
    with pytest.raises(InputValidationError, match="unknown emulator 'nope'"):
        load_emulator("nope")
    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASTROTORCH_SHARED_DATA", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="not found.*does not ship it"):
        load_emulator("binspec_plus")
    # a file in <data_home>/apogee_emulators/ is found by name
    (tmp_path / "home" / "apogee_emulators").mkdir(parents=True)
    _save(tmp_path / "home" / "apogee_emulators" / EMULATOR_FILES["binspec"], _arrays())
    assert emulator_path("binspec").parent == tmp_path / "home" / "apogee_emulators"
    assert load_emulator("binspec", pixel_mask="auto").pixel_mask is None  # no mask file there


@pytest.mark.realdata
def test_published_emulators(shared_data) -> None:
    plus = load_emulator("binspec_plus")
    assert plus.label_names == ["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"]
    assert np.allclose(plus.x_min[:2], [3884.0, 1.237], atol=1.0) and np.allclose(plus.x_max[:2], [7895.4, 4.714], atol=1.0)
    assert plus.pixel_mask is not None and plus.pixel_mask.sum() == 875
    raw = dict(np.load(shared_data / "apogee_emulators" / EMULATOR_FILES["binspec_plus"]))
    lab = np.array([[4800.0, 2.5, -0.2, 0.1, 5.0], [5800.0, 4.4, 0.0, 0.0, 3.0]])
    f = plus.flux(lab)
    assert np.allclose(f, _reference(raw, lab), atol=1e-5)
    cont = np.median(f, axis=1)
    assert np.all((cont > 0.9) & (cont < 1.05))  # continuum-normalised
    dwarf = load_emulator("binspec")
    assert dwarf.w0.shape[0] == 5 and dwarf.x_min[1] > 3.9  # 5 hidden units, dwarfs only
    unnorm = load_emulator("binspec_plus_unnormalized")
    assert unnorm.label_names == ["teff", "logg", "Fe_H", "Mg_Fe"] and not unnorm.normalized
    assert np.all(unnorm.flux(lab[:, :4]) > 1.0)  # network units (1e6 x surface flux)
