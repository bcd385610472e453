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
