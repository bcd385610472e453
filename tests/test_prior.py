"""Dividing the training prior out of posterior summaries (astrotorch.uncertainty.prior)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.uncertainty.prior import deconvolve_prior, label_prior


def _truncated_normal_moments(centre: np.ndarray, s: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = (lo - centre) / s, (hi - centre) / s
    d = stats.truncnorm(a, b, loc=centre, scale=s)
    return d.mean(), d.std()


def test_recovers_likelihood_centre_under_a_flat_prior() -> None:
    rng = np.random.default_rng(0)
    lo, hi = 13.8, 15.2
    true = rng.uniform(lo, hi, 1500)
    s = rng.uniform(0.06, 0.12, true.size)
    centre = true + s * rng.normal(size=true.size)  # an unbiased measurement
    post_mean, post_sd = _truncated_normal_moments(centre, s, lo, hi)
    # the posterior mean is shrunk at the edges: the slope of the issue
    assert np.polyfit(true, post_mean, 1)[0] < 0.97
    edges, dens = np.linspace(lo, hi, 29), np.ones(28) / (hi - lo)
    m, s_hat = deconvolve_prior(post_mean, post_sd, edges, dens)
    err = np.abs(m - centre)
    # exact but for centres far outside the range, where the posterior hardly depends on s any more
    assert np.percentile(err, 99) < 2e-3 and err.max() < 0.03
    assert np.percentile(np.abs(s_hat / s - 1), 99) < 0.03
    assert np.polyfit(true, m, 1)[0] == pytest.approx(1.0, abs=0.01)
    # matching only the mean (s = σ) under-corrects at the edges but still moves the right way
    m_mean, s_same = deconvolve_prior(post_mean, post_sd, edges, dens, match_sigma=False)
    assert np.array_equal(s_same, post_sd)
    edge = true > hi - 0.1
    assert post_mean[edge].mean() < m_mean[edge].mean() < m[edge].mean() + 1e-9


def test_interior_objects_are_unchanged_and_steep_prior_is_divided_out() -> None:
    edges, dens = np.linspace(13.0, 16.0, 601), np.ones(600)
    m, s = deconvolve_prior([14.5], [0.05], edges, dens)
    assert m[0] == pytest.approx(14.5, abs=1e-4) and s[0] == pytest.approx(0.05, rel=1e-3)
    # a steep (exponential) prior: posterior mean = centre − β s² ln10 for a Gaussian likelihood
    grid = 0.5 * (edges[:-1] + edges[1:])
    beta = 2.0
    steep = 10 ** (-beta * (grid - 13.0))
    centre, width = np.array([14.2, 14.8]), np.array([0.1, 0.1])
    post = centre - beta * np.log(10) * width**2
    m, _ = deconvolve_prior(post, width, edges, steep, match_sigma=False)
    assert np.allclose(m, centre, atol=3e-3)


def test_label_prior_and_bad_inputs() -> None:
    y = np.random.default_rng(1).uniform(0, 1, 3000)
    edges, dens = label_prior(y)
    assert edges.size == 31 and np.isclose(np.sum(dens * np.diff(edges)), 1.0)
    assert label_prior(y, bin_width=0.25)[0].size == 5
    with pytest.raises(InputValidationError):
        label_prior([1.0, 1.0])
    with pytest.raises(InputValidationError):
        deconvolve_prior([1.0], [0.0], edges, dens)
    with pytest.raises(ShapeMismatchError):
        deconvolve_prior([1.0, 2.0], [0.1], edges, dens)
    with pytest.raises(InputValidationError):
        deconvolve_prior([1.0], [0.1], edges[:-1], dens)


def test_prior_gaussian_nll_is_the_truncated_normal_likelihood() -> None:
    import torch

    from astrotorch.uncertainty.prior import prior_gaussian_nll

    lo, hi = 0.0, 3.0
    edges, dens = np.linspace(lo, hi, 7), np.full(6, 1 / (hi - lo))
    y = torch.tensor([[0.2], [1.5], [2.9], [np.nan]], dtype=torch.float64)
    mean = torch.tensor([[-0.5], [1.4], [4.0], [0.0]], dtype=torch.float64, requires_grad=True)
    lv = torch.tensor([[0.0], [-1.0], [0.5], [0.0]], dtype=torch.float64, requires_grad=True)
    loss = prior_gaussian_nll(y, mean, lv, edges, dens)
    m, s = mean.detach().numpy()[:3, 0], np.exp(0.5 * lv.detach().numpy()[:3, 0])
    tn = stats.truncnorm((lo - m) / s, (hi - m) / s, loc=m, scale=s).logpdf(y.numpy()[:3, 0])
    # −log of the truncated normal, less the constants the loss leaves out (½ log 2π and log π(y))
    assert loss.item() == pytest.approx(np.mean(-tn - 0.5 * np.log(2 * np.pi) + np.log(1 / (hi - lo))), rel=1e-6)
    loss.backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(lv.grad).all()
    assert float(mean.grad[3]) == 0.0  # the missing label does not pull
    # far outside the range the loss and its gradient stay finite
    far = prior_gaussian_nll(torch.tensor([[0.1]]), torch.tensor([[-30.0]], requires_grad=True), torch.tensor([[0.0]]),
                             edges, dens)
    assert torch.isfinite(far)


def test_fitting_the_prior_aware_likelihood_recovers_a_centre_beyond_the_edge() -> None:
    import torch

    from astrotorch.uncertainty.prior import prior_gaussian_nll

    edges, dens = label_prior(np.random.default_rng(0).uniform(0, 3, 5000), bin_width=0.5)

    def fit(centre: float, width: float, free_width: bool) -> tuple[float, float, float]:
        # labels drawn from the posterior a likelihood N(centre, width²) and a flat prior on [0, 3] form
        y = stats.truncnorm(-centre / width, (3 - centre) / width, loc=centre, scale=width).rvs(3000, random_state=1)
        yt = torch.as_tensor(y[:, None])
        m = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
        lv = torch.full((1, 1), 2 * np.log(width), dtype=torch.float64, requires_grad=free_width)
        opt = torch.optim.Adam([m, lv] if free_width else [m], lr=0.03)
        for _ in range(250):
            opt.zero_grad()
            prior_gaussian_nll(yt, m.expand(len(y), 1), lv.expand(len(y), 1), edges, dens).backward()
            opt.step()
        return m.item(), torch.exp(0.5 * lv).item(), float(y.mean())

    # a centre beyond the edge (with the width known: beyond an edge, centre and width trade off)
    m, _, plain = fit(-0.4, 0.5, free_width=False)
    assert m == pytest.approx(-0.4, abs=0.05) and plain > 0.2  # a plain Gaussian NLL learns the mean
    # a centre just inside, both free
    m, s, plain = fit(0.3, 0.4, free_width=True)
    assert m == pytest.approx(0.3, abs=0.05) and s == pytest.approx(0.4, abs=0.05) and plain > 0.45
