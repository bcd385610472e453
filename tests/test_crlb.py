"""astrotorch.uncertainty.crlb: Fisher matrices from autograd Jacobians, checked against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.uncertainty import crlb

P, K = 300, 3


class LinearEmulator(nn.Module):
    """flux = A θ + b: the Fisher matrix is Aᵀ diag(1/σ²) A, whatever θ."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("a", torch.tensor(a))
        self.register_buffer("b", torch.tensor(b))
        self.label_names = ["x", "y", "z"]

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return labels.to(self.a.dtype) @ self.a.T + self.b


class QuadraticEmulator(nn.Module):
    """flux_p = c_p θ_0²: J = 2 c θ_0, so the bound on θ_0 is 1 / (2 |θ_0| sqrt(Σ c²/σ²))."""

    def __init__(self, c: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("c", torch.tensor(c))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return labels[:, :1] ** 2 * self.c


@pytest.fixture(scope="module")
def linear() -> tuple[LinearEmulator, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.05, (P, K))
    sigma = rng.uniform(0.005, 0.02, P)
    return LinearEmulator(a, np.ones(P)), a, sigma


def _bound(fisher: np.ndarray) -> np.ndarray:
    return np.sqrt(np.diag(np.linalg.inv(fisher)))


def test_linear_emulator_matches_the_closed_form(linear) -> None:
    emu, a, sigma = linear
    fisher = a.T @ np.diag(1.0 / sigma ** 2) @ a
    labels = np.random.default_rng(1).normal(0, 1, (4, K))
    res = crlb(emu, labels, flux_err=sigma)
    assert res.fisher.shape == (4, K, K) and res.label_names == ["x", "y", "z"]
    assert np.allclose(res.fisher, fisher[None], rtol=1e-10)
    assert np.allclose(res.bound, _bound(fisher)[None], rtol=1e-10)
    assert res.bound_prior is None and np.all(res.n_pixels == P)
    # a prior adds its precision; a (K,) vector means independent σ
    prior_sd = np.array([0.5, 0.1, 2.0])
    res_p = crlb(emu, labels, flux_err=sigma, prior=prior_sd)
    assert np.allclose(res_p.bound_prior, _bound(fisher + np.diag(1 / prior_sd ** 2))[None], rtol=1e-10)
    assert np.all(res_p.bound_prior < res_p.bound)
    cov = np.array([[0.25, 0.01, 0.0], [0.01, 0.04, 0.0], [0.0, 0.0, 1.0]])
    res_c = crlb(emu, labels[0], flux_err=sigma, prior=cov)  # one star as a 1-D vector
    assert np.allclose(res_c.bound_prior[0], _bound(fisher + np.linalg.inv(cov)), rtol=1e-10)
    rms = res_p.rms(with_prior=True)
    assert set(rms) == {"x", "y", "z"} and np.isclose(rms["y"], res_p.bound_prior[0, 1])
    with pytest.raises(InputValidationError, match="without a prior"):
        res.median(with_prior=True)


def test_flagged_pixels_do_not_count(linear) -> None:
    emu, a, sigma = linear
    mask = np.zeros(P, bool)
    mask[::3] = True
    err = sigma.copy()
    err[5] = np.inf  # an infinite error counts as flagged too
    res = crlb(emu, np.zeros(K), flux_err=err, mask=mask)
    keep = ~mask
    keep[5] = False
    fisher = a[keep].T @ np.diag(1.0 / sigma[keep] ** 2) @ a[keep]
    assert np.allclose(res.bound[0], _bound(fisher), rtol=1e-10)
    assert res.n_pixels[0] == keep.sum()
    # per-star masks: the second star loses more pixels, so its bound is larger
    masks = np.zeros((2, P), bool)
    masks[1, : P // 2] = True
    two = crlb(emu, np.zeros((2, K)), flux_err=sigma, mask=masks)
    assert np.all(two.bound[1] > two.bound[0])


def test_nonlinear_emulator_and_snr_noise_model() -> None:
    c = np.linspace(0.5, 1.5, P)
    emu = QuadraticEmulator(c)
    theta = np.array([[0.8, 0.0], [1.2, 0.0]])
    # flux_err path
    res = crlb(emu, theta, flux_err=np.full(P, 0.01), label_names=["t", "u"])
    expect = 1.0 / (2 * theta[:, 0] * np.sqrt(np.sum(c ** 2) / 0.01 ** 2))
    assert np.allclose(res.bound[:, 0], expect, rtol=1e-9)
    assert np.all(np.isinf(res.bound[:, 1]))  # the second label does not enter the spectrum: singular F
    # snr path: σ_p = sqrt(max(f_p, 0.02)) / snr with f = c θ0²
    snr = np.array([50.0, 100.0])
    res_s = crlb(emu, theta, snr=snr, label_names=["t", "u"])
    f = c[None] * theta[:, :1] ** 2
    sig = np.sqrt(np.clip(f, 0.02, None)) / snr[:, None]
    expect_s = 1.0 / (2 * theta[:, 0] * np.sqrt(np.sum(c[None] ** 2 / sig ** 2, axis=1)))
    assert np.allclose(res_s.bound[:, 0], expect_s, rtol=1e-9)


def test_autograd_and_analytic_jacobians_give_the_same_bound() -> None:
    from astrotorch.apogee.emulators import SpectralEmulator
    from tests.test_emulators import _arrays, _labels

    emu = SpectralEmulator(**_arrays(3), label_names=["teff", "logg", "Fe_H", "Mg_Fe", "vmacro"])
    lab = _labels(3, seed=4)
    auto = crlb(emu, lab, snr=80.0, method="autograd")
    fast = crlb(emu, lab, snr=80.0, method="analytic")
    assert np.allclose(auto.fisher, fast.fisher, rtol=1e-6)
    assert emu.w0.dtype == torch.float32  # the caller's module is not converted
    with pytest.raises(InputValidationError, match="no flux_and_jacobian"):
        crlb(QuadraticEmulator(np.ones(P)), np.ones((1, 2)), snr=10.0, method="analytic")


def test_bad_arguments(linear) -> None:
    emu, _, sigma = linear
    with pytest.raises(InputValidationError, match="exactly one of flux_err and snr"):
        crlb(emu, np.zeros(K))
    with pytest.raises(InputValidationError, match="exactly one"):
        crlb(emu, np.zeros(K), flux_err=sigma, snr=10.0)
    with pytest.raises(ShapeMismatchError, match="flux_err must have shape"):
        crlb(emu, np.zeros(K), flux_err=sigma[:10])
    with pytest.raises(ShapeMismatchError, match=r"\(N, 3\)"):
        crlb(emu, np.zeros(4), flux_err=sigma)
    with pytest.raises(InputValidationError, match="positive definite"):
        crlb(emu, np.zeros(K), flux_err=sigma, prior=-np.eye(K))
    with pytest.raises(InputValidationError, match="snr must be positive"):
        crlb(emu, np.zeros(K), snr=0.0)
    with pytest.raises(InputValidationError, match="NaN"):
        crlb(emu, np.full(K, np.nan), flux_err=sigma)


@pytest.mark.realdata
def test_binspec_plus_log_g_bound_is_about_a_hundredth_of_a_dex(shared_data) -> None:
    from astrotorch.apogee.emulators import load_emulator

    emu = load_emulator("binspec_plus")
    giants = np.array([[4700.0, 2.5, -0.2, 0.05, 4.0], [4400.0, 1.8, 0.1, 0.0, 5.0], [5000.0, 3.2, -0.5, 0.2, 3.5]])
    res = crlb(emu, giants, snr=100.0)
    assert np.all((res.bound[:, 1] > 0.004) & (res.bound[:, 1] < 0.03))  # issue 15: ≈ 0.01 dex at S/N 100
    half = crlb(emu, giants, snr=50.0)
    assert np.allclose(half.bound / res.bound, 2.0, rtol=0.05)  # σ ∝ 1/(S/N) when the flux dominates
    assert np.all(res.n_pixels == 7214 - 875)  # the emulator's pixel mask is left out
