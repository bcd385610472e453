"""Cramér–Rao lower bound of the synthetic APOGEE-like generator (issue 3 diagnosis).

For stars drawn from the generator's label distribution, the Fisher matrix of the noise-free
normalised spectrum is ``F = Jᵀ Σ⁻¹ J`` with ``J`` the finite-difference Jacobian over every label that
enters the spectrum (Teff, log g and the 18 [X/H]; [M/H] and [α/M] act only through the [X/H]) and
``Σ`` the generator's per-pixel noise variance at the chosen S/N (photon noise ∝ sqrt(flux) over the
chip throughput; flagged pixels carry no information and are ignored here, a < 1 % effect).
The marginal bound of label k is ``sqrt((F⁻¹)_kk)``: no unbiased estimator using only the spectrum
can beat it. Reported as the RMS over stars (comparable to an RMSE) and the median.

The log g information is also split into where it comes from: line *depths* (the gravity
coefficients of the line optical depths: ionisation balance, molecules, Brackett) versus line
*shapes* (the gravity-dependent Lorentzian damping wings), by computing the bound with only one of the
two log g channels active in ``∂f/∂log g``.

Usage::

    OMP_NUM_THREADS=1 nice python -m bench.spectra_crlb --n-stars 40 --snr 100
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np


def jacobian(labels: np.ndarray, cols: list[int], steps: np.ndarray, spec_fn: Any) -> np.ndarray:
    """Central finite-difference Jacobian (stars, pixels, len(cols)) of ``spec_fn`` at ``labels``."""
    n = labels.shape[0]
    out = []
    for c, h in zip(cols, steps):
        up, dn = labels.copy(), labels.copy()
        up[:, c] += h
        dn[:, c] -= h
        out.append((spec_fn(up) - spec_fn(dn)) / (2 * h))
    return np.stack(out, axis=-1).reshape(n, -1, len(cols))


def crlb(labels: np.ndarray, snr: float, spec_fn: Any = None, logg_channel: str = "both",
         with_prior: bool = False) -> tuple[np.ndarray, list[str]]:
    """Per-star marginal CRLB (stars, labels) for the spectrum-relevant labels; returns (bounds, names).

    ``with_prior``: add a local Gaussian approximation of the generator's label prior to the Fisher
    matrix (a van Trees-style Bayesian bound, see :func:`prior_precision`), i.e. what an estimator that
    has learnt the Teff–log g sequence from the training set can at best reach.
    """
    from astrotorch.datasets import spectra as S

    spec_fn = spec_fn or S.normalized_spectra
    names = ["teff", "logg"] + [f"{e}_H" for e in S.ELEMENTS]
    cols = [S.LABEL_NAMES.index(n) for n in names]
    steps = np.array([10.0, 0.01] + [0.01] * len(S.ELEMENTS))
    flux = spec_fn(labels)
    var = np.clip(flux, 0.02, None) / (snr * S._throughput()[None, :]) ** 2
    J = jacobian(labels, cols, steps, spec_fn)
    if logg_channel != "both":
        J[:, :, 1] = _logg_channel(labels, logg_channel)
    out = np.empty((labels.shape[0], len(names)))
    for i in range(labels.shape[0]):
        Ji = J[i] / np.sqrt(var[i])[:, None]
        F = Ji.T @ Ji
        if with_prior:
            F = F + prior_precision(labels[i], names)
        out[i] = np.sqrt(np.diag(np.linalg.inv(F)))
    return out, names


def prior_precision(lab: np.ndarray, names: list[str]) -> np.ndarray:
    """Local Gaussian precision of the generator's label prior in the (Teff, log g, [Fe/H]) subspace.

    From :func:`astrotorch.datasets.spectra.sample_labels`: giants (log g < 3.75) lie on
    ``Teff = 4750 + 330 (log g − 2.5) − 260 [M/H] ± 50 K`` (the red clump is tighter, ±0.07 dex in
    log g, but is not told apart from the RGB here: conservative); dwarfs on
    ``log g = 4.72 − 0.30 x − 0.35 x³ U ± 0.04`` with ``x = (Teff + 150 [M/H] − 3900)/2600``, U ~ U(0, 1)
    (the turn-off spread is taken as its standard deviation, 0.35 x³/√12). [M/H] is replaced by
    [Fe/H] (they differ by ~0.03 dex). Only this sequence is used; the abundance correlations are not.
    """
    k = len(names)
    it, ig, ife = names.index("teff"), names.index("logg"), names.index("Fe_H")
    g = np.zeros(k)
    if lab[1] < 3.75:
        g[it], g[ig], g[ife] = 1.0, -330.0, 260.0
        sd = 50.0
    else:
        x = (lab[0] + 150.0 * lab[2] - 3900.0) / 2600.0
        dldx = -0.30 - 0.35 * 3 * x ** 2 * 0.5
        g[ig], g[it], g[ife] = 1.0, -dldx / 2600.0, -dldx * 150.0 / 2600.0
        sd = float(np.hypot(0.04, 0.35 * max(x, 0.0) ** 3 / np.sqrt(12.0)))
    return np.outer(g, g) / sd ** 2


def _logg_channel(labels: np.ndarray, which: str, h: float = 0.01) -> np.ndarray:
    """∂f/∂log g with only the 'depth' (optical-depth coefficients) or 'shape' (damping) channel."""
    from astrotorch.datasets import spectra as S

    def spec(lab: np.ndarray, logg_tau: np.ndarray, logg_damp: np.ndarray) -> np.ndarray:
        g_mat, l_mat = S._profile_matrices()
        l1 = lab.copy()
        l1[:, 1] = logg_tau
        tau = S._line_tau(l1)
        damp = S._DAMPING_REF * 10.0 ** (0.25 * (logg_damp - 2.5))
        opac = np.asarray((g_mat.T @ tau.T).T) + damp[:, None] * np.asarray((l_mat.T @ tau.T).T)
        f = np.exp(-opac)
        from scipy.ndimage import convolve1d

        for s in S.chip_slices():
            f[:, s] = convolve1d(f[:, s], S._lsf_kernel(), axis=1, mode="nearest")
        return f

    g = labels[:, 1]
    if which == "depth":
        return (spec(labels, g + h, g) - spec(labels, g - h, g)) / (2 * h)
    if which == "shape":
        return (spec(labels, g, g + h) - spec(labels, g, g - h)) / (2 * h)
    raise ValueError(which)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-stars", type=int, default=40)
    p.add_argument("--snr", type=float, nargs="+", default=[100.0, 50.0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--feh-below", type=float, default=None,
                   help="only stars with [Fe/H] below this (e.g. -1: the generator's 3%% metal-poor halo tail)")
    args = p.parse_args()
    from astrotorch.datasets.spectra import LABEL_NAMES, sample_labels

    rng = np.random.default_rng(args.seed)
    if args.feh_below is None:
        labels = sample_labels(args.n_stars, rng)
    else:  # draw until enough stars fall below the cut
        labels = np.empty((0, len(LABEL_NAMES)))
        while len(labels) < args.n_stars:
            lab = sample_labels(20 * args.n_stars, rng)
            labels = np.concatenate([labels, lab[lab[:, LABEL_NAMES.index("Fe_H")] < args.feh_below]])
        labels = labels[: args.n_stars]
    for snr in args.snr:
        for ch in ("both", "depth", "shape"):
            b, names = crlb(labels, snr, logg_channel=ch)
            show = ["teff", "logg", "Fe_H"] if ch == "both" else ["logg"]
            print(f"S/N {snr:g}, log g channel {ch}: " + ", ".join(
                f"{n}: rms {np.sqrt(np.mean(b[:, names.index(n)] ** 2)):.4g} median {np.median(b[:, names.index(n)]):.4g}"
                for n in show), flush=True)
        if True:
            b, names = crlb(labels, snr)
            print(f"  fraction of stars with log g CRLB > 0.04 dex: {np.mean(b[:, 1] > 0.04):.2f}")
            bp, _ = crlb(labels, snr, with_prior=True)
            print("  with the label prior (Bayesian bound): " + ", ".join(
                f"{n}: rms {np.sqrt(np.mean(bp[:, names.index(n)] ** 2)):.4g} median {np.median(bp[:, names.index(n)]):.4g}"
                for n in ("teff", "logg", "Fe_H")), flush=True)


if __name__ == "__main__":
    main()
