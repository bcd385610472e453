"""Small analytic data sets for tests, tutorials and the tabular CLI default."""

from __future__ import annotations

import numpy as np


def xsinx(n: int = 2000, seed: int = 0, noise: tuple[float, float] = (0.05, 0.6), x_range: tuple[float, float] = (0.0, 10.0)
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = x·sin(x) with heteroscedastic Gaussian noise whose σ grows linearly with x.

    Returns ``(x (n, 1), y (n, 1), sigma (n, 1))`` as float32; ``sigma`` is the true noise level.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(*x_range, size=(n, 1))
    sigma = noise[0] + (noise[1] - noise[0]) * (x - x_range[0]) / (x_range[1] - x_range[0])
    y = x * np.sin(x) + rng.normal(size=(n, 1)) * sigma
    return x.astype(np.float32), y.astype(np.float32), sigma.astype(np.float32)
