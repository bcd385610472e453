"""Mock X-ray images of galaxy clusters (50×50 pixels × 10 energy bands) with M500 and redshift.

The physics, per cluster (all vectorised over the sample):

1. **Mass and redshift** drawn uniformly in ``log10 M500`` (M☉) and ``z``.
2. **Scaling relations** (self-similar evolution, ``E(z) = H(z)/H0`` from an astropy cosmology):
   temperature from the M–T relation of Arnaud, Pointecouteau & Pratt (2005),
   ``M500 E(z) = 3.84×10^14 M☉ (kT / 5 keV)^1.71``, and soft-band luminosity from the M–L relation
   of Pratt et al. (2009), ``L[0.1–2.4 keV] = 1.38×10^44 erg/s E(z)^{7/3} (M500 / 2×10^14 M☉)^1.62``
   (h = 0.7 normalisations), each with log-normal intrinsic scatter (defaults σ_lnT = 0.10,
   σ_lnL = 0.40, the observed orders of magnitude).
3. **Size**: ``R500 = (3 M500 / (4π · 500 ρ_c(z)))^{1/3}``; core radius ``r_c = x_c R500`` with
   ``x_c`` log-normal around 0.15 (cool cores small, disturbed clusters large); angular sizes
   ``θ = r / D_A(z)`` with astropy's angular-diameter distance.
4. **Surface brightness**: an elliptical β-model ``S ∝ [1 + (r/r_c)²]^{-3β + 1/2}`` (Cavaliere &
   Fusco-Femiano 1976), β ≈ 2/3 with scatter, axis ratio 0.6–1, random orientation, and with
   probability ``p_substructure`` a second, offset sub-clump carrying 5–25% of the flux.
5. **Spectrum**: thermal bremsstrahlung ``ε(E) ∝ g_ff(E, T) exp(-E/kT)`` (energy emissivity, Gaunt
   factor ``g ≈ (E/kT)^{-0.3}``), normalised to the soft-band luminosity in the rest frame,
   redshifted (``E_obs = E_rest/(1+z)``), turned into photon flux with the luminosity distance
   (``n(E_o) = Ṅ(E_o(1+z)) (1+z)² / 4π D_L²``, cosmological dimming included), absorbed by a
   Galactic column (photo-electric cross-section ∝ E^{-8/3}), times an effective-area curve and
   the exposure, integrated over 10 log-spaced bands between 0.5 and 7 keV.
6. **Instrument**: a Gaussian PSF, a uniform background (particle + cosmic X-ray background,
   harder spectrum), unresolved-AGN point sources (power law Γ = 1.7), and Poisson counts.

Images are returned channels-last ``(N, 50, 50, 10)`` float32 counts, with a catalogue of
``log10_m500``, ``z``, ``kT_keV``, ``lx_1e44`` (soft-band luminosity, 10^44 erg/s), ``r500_kpc``,
``rc_arcsec``, ``total_counts`` ...

Example::

    from astrotorch.datasets.xray_clusters import make_xray_clusters
    data = make_xray_clusters(2000, seed=1)
    data.images.shape, data.log10_m500.shape, data.redshift.shape
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from astrotorch.errors import InputValidationError

#: default band edges, keV (10 log-spaced bands, the 0.5–7 keV range of Chandra/XMM imaging)
BAND_EDGES_KEV: np.ndarray = np.geomspace(0.5, 7.0, 11)


@dataclasses.dataclass
class XrayClusters:
    """A mock cluster sample: counts images and the catalogue of truths.

    Attributes
    ----------
    images: ``(N, H, W, n_bands)`` float32 photon counts (integers stored as float).
    log10_m500: ``(N,)`` true log10 M500 / M☉.
    redshift: ``(N,)``.
    catalogue: dict of 1-D arrays (see the module docstring).
    band_edges_kev: ``(n_bands + 1,)`` band edges in keV.
    pixel_arcsec: pixel size, arcsec.
    """

    images: np.ndarray
    log10_m500: np.ndarray
    redshift: np.ndarray
    catalogue: dict[str, np.ndarray]
    band_edges_kev: np.ndarray
    pixel_arcsec: float

    def __len__(self) -> int:
        return int(self.log10_m500.shape[0])

    def inputs(self) -> dict[str, np.ndarray]:
        """The two-input model's ``x``: ``{"image": (N, H, W, B), "redshift": (N,)}``."""
        return {"image": self.images, "redshift": self.redshift}


def _effective_area_cm2(e_kev: np.ndarray) -> np.ndarray:
    """A smooth effective-area curve (cm²): ~600 cm² near 1.5 keV, falling at both ends (CCD-like)."""
    low = 1.0 / (1.0 + (0.6 / e_kev) ** 4)  # filter / contamination cut-off at low energy
    high = np.exp(-((np.log(e_kev / 1.5)) ** 2) / (2 * 0.9**2))  # mirror reflectivity at high energy
    return 600.0 * low * np.maximum(high, 0.05)


def _photoabsorption(e_kev: np.ndarray, nh_1e22: np.ndarray | float) -> np.ndarray:
    """Galactic absorption ``exp(-N_H σ(E))`` with σ(E) ≈ 2.4×10^-22 (E/1 keV)^{-8/3} cm² (Morrison & McCammon-like)."""
    sigma = 2.4e-22 * e_kev ** (-8.0 / 3.0)
    return np.exp(-np.asarray(nh_1e22)[..., None] * 1e22 * sigma)


def _beta_model(
    x: np.ndarray, y: np.ndarray, x0: np.ndarray, y0: np.ndarray, rc: np.ndarray, beta: np.ndarray, q: np.ndarray, pa: np.ndarray,
) -> np.ndarray:
    """Elliptical β-model surface brightness per pixel, normalised to unit integral over the plane.

    ``∫ [1 + r²/r_c²]^{-3β+1/2} dA = π r_c² q / (3β - 3/2)`` (β > 1/2), so a cluster larger than the
    field of view keeps its true surface brightness (its flux partly falls outside, as observed).
    """
    dx = x[None] - x0[:, None, None]
    dy = y[None] - y0[:, None, None]
    c, s = np.cos(pa)[:, None, None], np.sin(pa)[:, None, None]
    u = dx * c + dy * s
    v = (-dx * s + dy * c) / q[:, None, None]
    r2 = (u**2 + v**2) / rc[:, None, None] ** 2
    expo = (-3.0 * beta + 0.5)[:, None, None]
    norm = (np.pi * rc**2 * q / (3.0 * beta - 1.5))[:, None, None]
    return ((1.0 + r2) ** expo / norm).astype(np.float32)


def make_xray_clusters(
    n: int = 2000,
    seed: int = 0,
    size: int = 50,
    band_edges_kev: np.ndarray | None = None,
    log10_m500_range: tuple[float, float] = (13.8, 15.2),
    z_range: tuple[float, float] = (0.05, 1.0),
    pixel_arcsec: float = 8.0,
    exposure_ks: float | tuple[float, float] = 50.0,
    scatter_ln_t: float = 0.10,
    scatter_ln_l: float = 0.40,
    p_substructure: float = 0.3,
    psf_fwhm_arcsec: float = 8.0,
    background_per_arcmin2_ks: float = 0.08,
    mean_point_sources: float = 1.5,
    nh_1e22: tuple[float, float] = (0.01, 0.08),
    cosmology: Any = None,
    poisson: bool = True,
) -> XrayClusters:
    """Generate ``n`` mock X-ray cluster observations (deterministic from ``seed``).

    Parameters
    ----------
    n: number of clusters.
    size: image side, pixels (50 as in the seed notebook).
    band_edges_kev: energy-band edges (default 10 log-spaced bands over 0.5–7 keV).
    log10_m500_range, z_range: uniform ranges of log10 M500/M☉ and redshift.
    pixel_arcsec: pixel size (8″: a 6.7′ field, binned Chandra/XMM-like).
    exposure_ks: exposure, ks; a ``(lo, hi)`` pair draws it log-uniformly per cluster.
    scatter_ln_t, scatter_ln_l: intrinsic log-normal scatter of T and L at fixed mass.
    p_substructure: probability of an offset sub-clump.
    psf_fwhm_arcsec: Gaussian PSF FWHM.
    background_per_arcmin2_ks: background counts per arcmin² per ks over the full band.
    mean_point_sources: mean number of AGN in the field (Poisson).
    nh_1e22: range of the Galactic absorbing column, 10^22 cm^-2.
    cosmology: an astropy cosmology (default ``FlatLambdaCDM(H0=70, Om0=0.3)``, matching the h = 0.7
        normalisations of the scaling relations).
    poisson: draw Poisson counts (``False`` returns the expected counts, useful for tests).
    """
    import astropy.units as u
    from astropy.cosmology import FlatLambdaCDM

    if n < 1:
        raise InputValidationError(f"n must be ≥ 1, got {n}")
    if size < 8:
        raise InputValidationError(f"size must be ≥ 8 pixels, got {size}")
    if not (log10_m500_range[0] < log10_m500_range[1]) or not (0 < z_range[0] < z_range[1]):
        raise InputValidationError(f"need increasing ranges with z > 0: mass {log10_m500_range}, z {z_range}")
    edges = np.asarray(BAND_EDGES_KEV if band_edges_kev is None else band_edges_kev, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] <= 0:
        raise InputValidationError("band_edges_kev must be increasing positive energies (at least two edges)")
    cosmo = cosmology if cosmology is not None else FlatLambdaCDM(H0=70.0, Om0=0.3)
    rng = np.random.default_rng(seed)

    # ---------------------------------------------------------------- catalogue
    logm = rng.uniform(*log10_m500_range, n)
    z = rng.uniform(*z_range, n)
    m500 = 10.0**logm  # M_sun
    ez = np.asarray(cosmo.efunc(z))
    kt = 5.0 * (m500 * ez / 3.84e14) ** (1.0 / 1.71) * np.exp(rng.normal(0.0, scatter_ln_t, n))  # keV
    lx = 1.38e44 * ez ** (7.0 / 3.0) * (m500 / 2e14) ** 1.62 * np.exp(rng.normal(0.0, scatter_ln_l, n))  # erg/s
    rho_c = cosmo.critical_density(z).to(u.Msun / u.kpc**3).value
    r500_kpc = (3.0 * m500 / (4.0 * np.pi * 500.0 * rho_c)) ** (1.0 / 3.0)
    d_a = cosmo.angular_diameter_distance(z).to(u.kpc).value
    d_l_cm = cosmo.luminosity_distance(z).to(u.cm).value
    kpc_per_arcsec = d_a * (np.pi / 180.0 / 3600.0)
    xc = np.exp(rng.normal(np.log(0.15), 0.35, n))
    rc_arcsec = xc * r500_kpc / kpc_per_arcsec
    beta = np.clip(rng.normal(2.0 / 3.0, 0.06, n), 0.55, 0.85)
    q = rng.uniform(0.6, 1.0, n)
    pa = rng.uniform(0.0, np.pi, n)
    if isinstance(exposure_ks, tuple):
        expo_ks = np.exp(rng.uniform(np.log(exposure_ks[0]), np.log(exposure_ks[1]), n))
    else:
        expo_ks = np.full(n, float(exposure_ks))
    nh = rng.uniform(*nh_1e22, n)

    # ---------------------------------------------------------------- spectrum → counts per band
    # fine observed-energy grid inside each band (trapezoid integration per band)
    n_sub = 24
    e_obs = np.stack([np.geomspace(lo, hi, n_sub) for lo, hi in zip(edges[:-1], edges[1:])])  # (B, n_sub)
    kev_erg = (1.0 * u.keV).to(u.erg).value
    # bremsstrahlung energy emissivity shape (per keV) with a rough Gaunt factor, rest frame
    def emissivity(e_rest: np.ndarray, t: np.ndarray) -> np.ndarray:
        x = e_rest / t[..., None] if e_rest.ndim == t.ndim + 1 else e_rest / t
        return np.maximum(x, 1e-3) ** -0.3 * np.exp(-x)

    # normalise so that the rest-frame 0.1-2.4 keV energy luminosity equals lx
    e_soft = np.geomspace(0.1, 2.4, 256)
    soft = np.trapezoid(emissivity(e_soft[None, :], kt[:, None]), e_soft, axis=1)  # keV * shape
    amp = lx / (soft * kev_erg)  # erg/s per (keV * shape unit)  -> emissivity in erg/s/keV = amp*kev_erg*shape
    e_rest = e_obs[None] * (1.0 + z)[:, None, None]  # (N, B, n_sub)
    shape = np.maximum(e_rest / kt[:, None, None], 1e-3) ** -0.3 * np.exp(-e_rest / kt[:, None, None])
    # photon luminosity per unit rest energy: ε / E (photons/s/keV); observed photon flux per keV
    ndot = amp[:, None, None] * shape / e_rest  # photons / s / keV (rest)
    n_obs = ndot * (1.0 + z)[:, None, None] ** 2 / (4.0 * np.pi * d_l_cm[:, None, None] ** 2)  # ph/s/cm²/keV
    area = _effective_area_cm2(e_obs)[None]  # (1, B, n_sub)
    absorb = _photoabsorption(e_obs[None], nh[:, None])  # (N, B, n_sub)
    rate = np.trapezoid(n_obs * area * absorb, e_obs[None], axis=2)  # counts/s per band (N, B)
    band_counts = rate * expo_ks[:, None] * 1e3

    # ---------------------------------------------------------------- images
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    xx, yy = xx - c, yy - c
    x0 = rng.normal(0.0, 1.0, n)
    y0 = rng.normal(0.0, 1.0, n)
    rc_pix = np.maximum(rc_arcsec / pixel_arcsec, 0.3)
    main = _beta_model(xx, yy, x0, y0, rc_pix, beta, q, pa)
    has_sub = rng.random(n) < p_substructure
    sub_frac = np.where(has_sub, rng.uniform(0.05, 0.25, n), 0.0)
    off_r = rng.uniform(0.8, 2.5, n) * rc_pix
    off_a = rng.uniform(0, 2 * np.pi, n)
    sub = _beta_model(xx, yy, x0 + off_r * np.cos(off_a), y0 + off_r * np.sin(off_a), 0.4 * rc_pix, np.full(n, 0.7),
                      rng.uniform(0.6, 1.0, n), rng.uniform(0, np.pi, n))
    shape_img = (1.0 - sub_frac)[:, None, None] * main + sub_frac[:, None, None] * sub  # per pixel, sums ≤ 1
    # the sub-clump shares the main cluster's spectrum (a simplification: infalling groups are cooler),
    # so the cluster cube is separable, shape(x, y) × counts(band), and the PSF acts on the shape only

    # ---------------------------------------------------------------- PSF (Gaussian, FFT)
    sig_pix = psf_fwhm_arcsec / pixel_arcsec / 2.354820045
    ky = np.fft.fftfreq(size)[:, None]
    kx = np.fft.rfftfreq(size)[None, :]
    transfer = np.exp(-2.0 * np.pi**2 * sig_pix**2 * (kx**2 + ky**2))
    shape_img = np.clip(np.fft.irfft2(np.fft.rfft2(shape_img) * transfer, s=(size, size)), 0.0, None).astype(np.float32)

    # ---------------------------------------------------------------- point sources (AGN)
    e_mid = np.sqrt(edges[:-1] * edges[1:])
    de = np.diff(edges)
    area_mid = _effective_area_cm2(e_mid)
    n_ps = rng.poisson(mean_point_sources, n)
    sig_ps = max(sig_pix, 0.3)
    phot = e_mid ** (-1.7) * de  # photons per band of a Γ = 1.7 power law, unit normalisation
    energy = np.sum(e_mid ** (-0.7) * de) * kev_erg  # its 0.5-7 keV energy flux (erg per unit)
    ps_maps, ps_counts = [], []
    for k in range(int(n_ps.max(initial=0))):
        on = n_ps > k
        # 0.5-7 keV flux log-normal around 3e-15 erg/s/cm² (typical serendipitous AGN)
        fx = np.exp(rng.normal(np.log(3e-15), 1.0, n)) * on
        cnt = (fx / energy)[:, None] * phot[None] * area_mid[None] * _photoabsorption(e_mid[None], nh[:, None])[:, 0]
        ps_counts.append((cnt * expo_ks[:, None] * 1e3).astype(np.float32))
        sx = rng.uniform(-c, c, n)
        sy = rng.uniform(-c, c, n)
        blob = np.exp(-0.5 * ((xx[None] - sx[:, None, None]) ** 2 + (yy[None] - sy[:, None, None]) ** 2) / sig_ps**2)
        ps_maps.append((blob / (2 * np.pi * sig_ps**2)).astype(np.float32))

    # ---------------------------------------------------------------- background
    pix_arcmin2 = (pixel_arcsec / 60.0) ** 2
    # particle background is flat in energy (per keV), the CXB falls with energy: a 50/50 mix
    bkg_shape = 0.5 * de / de.sum() + 0.5 * (e_mid ** (-1.4) * de) / np.sum(e_mid ** (-1.4) * de)
    bkg = (background_per_arcmin2_ks * pix_arcmin2 * expo_ks[:, None] * bkg_shape[None]).astype(np.float32)  # (N, B)

    # ---------------------------------------------------------------- assemble + Poisson, in chunks (memory)
    images = np.empty((n, size, size, edges.size - 1), dtype=np.float32)
    bc = band_counts.astype(np.float32)
    for s0 in range(0, n, 256):
        sl = slice(s0, min(s0 + 256, n))
        cube = shape_img[sl, :, :, None] * bc[sl, None, None, :] + bkg[sl, None, None, :]
        for pmap, pcnt in zip(ps_maps, ps_counts):
            cube += pmap[sl, :, :, None] * pcnt[sl, None, None, :]
        images[sl] = rng.poisson(cube) if poisson else cube
    catalogue = {
        "log10_m500": logm,
        "z": z,
        "kT_keV": kt,
        "lx_1e44": lx / 1e44,
        "r500_kpc": r500_kpc,
        "rc_arcsec": rc_arcsec,
        "r500_arcsec": r500_kpc / kpc_per_arcsec,
        "beta": beta,
        "axis_ratio": q,
        "substructure_fraction": sub_frac,
        "exposure_ks": expo_ks,
        "nh_1e22": nh,
        "n_point_sources": n_ps,
        "cluster_counts": band_counts.sum(axis=1),
        "total_counts": images.sum(axis=(1, 2, 3)),
        "ez": ez,
        "luminosity_distance_mpc": d_l_cm / (1.0 * u.Mpc).to(u.cm).value,
    }
    return XrayClusters(
        images=images, log10_m500=logm.astype(np.float32), redshift=z.astype(np.float32), catalogue=catalogue,
        band_edges_kev=edges, pixel_arcsec=float(pixel_arcsec),
    )


__all__ = ["BAND_EDGES_KEV", "XrayClusters", "make_xray_clusters"]
