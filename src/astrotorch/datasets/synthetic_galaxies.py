"""Synthetic g/r/z galaxy images of the ten Galaxy10 DECaLS classes (the built-in default data set).

Each image is built from standard photometric components, evaluated for the whole batch at once with
NumPy broadcasting over ``(N, H, W)``:

* Sérsic bulges / spheroids, ``I(R) = I_e exp(-b_n [(R/R_e)^{1/n} - 1])`` with the Ciotti & Bertin
  (1999) expansion for ``b_n``, on elliptical radii (axis ratio ``q``, position angle);
* exponential discs (Sérsic ``n = 1``) seen at inclination ``i``: projected axis ratio
  ``q = sqrt(cos²i (1 - q0²) + q0²)`` with intrinsic thickness ``q0`` (Hubble 1926);
* bars (Sérsic ``n = 0.5``, ``q ≈ 0.2–0.35``);
* logarithmic spiral arms in the disc plane, ``θ = ln(R) / tan(φ)`` with pitch angle ``φ`` (tight
  ≈ 8–15°, loose ≈ 22–35°), two or three arms, handedness ``s = ±1``;
* disturbed systems (lopsided offset light, star-forming clumps) and merging pairs with tidal tails;
* component colours (red bulges, bluer discs, blue arms and clumps), a Gaussian PSF per band (FFT
  convolution), neighbouring stars, sky + photon noise, and an asinh stretch to uint8 like the
  published colour cutouts.

Class indices are Galaxy10 DECaLS's (:data:`astrotorch.datasets.galaxy10.DECALS_CLASSES`).
Handedness convention: with the image displayed ``origin="lower"`` (x right, y up), a spiral with
``handedness = +1`` has arms whose position angle *decreases* outward (they wind clockwise going
out); ``-1`` is the mirror image. Everything is deterministic from ``seed``.

Example::

    from astrotorch.datasets.synthetic_galaxies import make_synthetic_galaxies
    ds = make_synthetic_galaxies(3000, size=64, seed=1)
    ds.images.shape, ds.labels.shape     # (3000, 64, 64, 3) uint8, (3000,)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from astrotorch.datasets.galaxy10 import DECALS_CLASSES
from astrotorch.errors import InputValidationError

#: Galaxy10 DECaLS class names, in label order
CLASS_NAMES: tuple[str, ...] = DECALS_CLASSES

BANDS = ("g", "r", "z")
# flux ratios g:r:z of each stellar population relative to r (old spheroids are red, star-forming
# arms and clumps are blue); roughly the colours of E/S0, Sbc discs and HII regions in g-r, r-z
_COLOUR_BULGE = np.array([0.45, 1.0, 1.55])
_COLOUR_DISC = np.array([0.70, 1.0, 1.20])
_COLOUR_YOUNG = np.array([1.15, 1.0, 0.75])
_COLOUR_STAR = np.array([0.80, 1.0, 1.10])


@dataclasses.dataclass
class SyntheticGalaxies:
    """A synthetic galaxy sample.

    Attributes
    ----------
    images: ``(N, H, W, 3)`` uint8 (asinh-stretched g/r/z) or float32 fluxes (``stretch=None``;
        arbitrary linear units, sky noise σ given by ``sky_sigma``).
    labels: ``(N,)`` Galaxy10 DECaLS class indices.
    catalogue: per-galaxy truths (1-D arrays): ``label``, ``handedness`` (+1/-1 for spirals, 0 else),
        ``pitch_deg``, ``n_arms``, ``inclination_deg``, ``axis_ratio``, ``position_angle_deg``,
        ``radius_px`` (disc scale length or spheroid effective radius), ``sersic_n``,
        ``bulge_to_total``, ``flux`` (total r-band flux before noise), ``psf_fwhm_px``, ``n_stars``.
    class_names: names of the classes.
    """

    images: np.ndarray
    labels: np.ndarray
    catalogue: dict[str, np.ndarray]
    class_names: tuple[str, ...] = CLASS_NAMES
    sky_sigma: float = 0.0

    def __len__(self) -> int:
        return int(self.labels.shape[0])


# ----------------------------------------------------------------------------------------- profiles
def sersic_bn(n: np.ndarray | float) -> np.ndarray:
    """``b_n`` such that ``R_e`` encloses half the light (Ciotti & Bertin 1999 expansion, n ≥ 0.36)."""
    n = np.asarray(n, dtype=np.float64)
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    # pixel centres relative to the image centre, y up (origin="lower" display)
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return (x - c)[None], (y - c)[None]


def _rotated(x: np.ndarray, y: np.ndarray, x0: np.ndarray, y0: np.ndarray, pa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along the major (u) and minor (v) axes; ``pa`` in radians from +x, counter-clockwise."""
    dx = x - x0[:, None, None]
    dy = y - y0[:, None, None]
    c, s = np.cos(pa)[:, None, None], np.sin(pa)[:, None, None]
    return dx * c + dy * s, -dx * s + dy * c


def sersic_image(
    x: np.ndarray, y: np.ndarray, x0: np.ndarray, y0: np.ndarray, re: np.ndarray, n: np.ndarray,
    q: np.ndarray, pa: np.ndarray, flux: np.ndarray,
) -> np.ndarray:
    """Batch of Sérsic profiles ``(N, H, W)`` normalised to total ``flux`` (analytic integral).

    ``re`` effective (half-light) radius along the major axis, pixels; ``q`` axis ratio; ``pa``
    radians. The analytic total ``2π q R_e² n e^{b} b^{-2n} Γ(2n)`` fixes the amplitude, so a galaxy
    partly outside the stamp keeps its physical surface brightness.
    """
    from scipy.special import gamma

    flux = np.broadcast_to(np.asarray(flux, dtype=np.float64), np.shape(re))
    active = np.nonzero(flux != 0)[0]
    if active.size < flux.size:
        # components that a class does not have carry zero flux: evaluate only the galaxies that have
        # them (a several-fold saving, as most components belong to one or two classes)
        out = np.zeros((flux.size,) + x.shape[1:], dtype=np.float32)
        if active.size:
            out[active] = sersic_image(x, y, x0[active], y0[active], re[active], n[active], q[active], pa[active], flux[active])
        return out
    x0, y0, re, n, q, pa = (np.asarray(a, dtype=np.float32) for a in (x0, y0, re, n, q, pa))
    u, v = _rotated(x, y, x0, y0, pa)
    q3 = np.clip(q, 0.02, 1.0)[:, None, None]
    # a (1/4 px)² softening stands in for averaging over the central pixel: sampling a steep n ≈ 4
    # cusp at the pixel centre alone would put ~10% too much flux there
    r = np.sqrt(u**2 + (v / q3) ** 2 + np.float32(0.0625))
    bn = sersic_bn(n).astype(np.float32)
    n3, re3 = n[:, None, None], re[:, None, None]
    prof = np.exp(-bn[:, None, None] * ((r / re3 + np.float32(1e-6)) ** (np.float32(1.0) / n3) - bn.dtype.type(1.0)))
    q64, re64, n64 = (a.astype(np.float64) for a in (q, re, n))
    total = 2 * np.pi * q64 * re64**2 * n64 * np.exp(sersic_bn(n64)) * sersic_bn(n64) ** (-2 * n64) * gamma(2 * n64)
    return (prof * (flux / total).astype(np.float32)[:, None, None]).astype(np.float32)


def spiral_pattern(
    x: np.ndarray, y: np.ndarray, x0: np.ndarray, y0: np.ndarray, q: np.ndarray, pa: np.ndarray,
    pitch_deg: np.ndarray, n_arms: np.ndarray, handedness: np.ndarray, phase: np.ndarray, sharpness: float | np.ndarray = 4.0,
) -> np.ndarray:
    """Logarithmic-spiral arm pattern in [0, 1] evaluated in the (deprojected) disc plane.

    Arm crests where ``m (θ_disc + s ln(R) / tan φ) - phase ≡ 0``, i.e. position angle changing by
    ``-s ln(R)/tan φ`` outward; ``s = handedness``. ``sharpness`` raises ``(1 + cos)/2`` to a power
    to narrow the arms.
    """
    u, v = _rotated(x, y, x0, y0, pa)
    vq = v / np.clip(q, 0.05, 1.0)[:, None, None]
    r = np.sqrt(u**2 + vq**2) + 0.5
    theta = np.arctan2(vq, u)
    # the disc-plane angle is measured in the (u, v) frame, which is rotated by pa from the image;
    # handedness flips the sign of the winding, which mirrors the pattern
    t = np.tan(np.deg2rad(pitch_deg))[:, None, None]
    arg = n_arms[:, None, None] * (theta + handedness[:, None, None] * np.log(r) / t) - phase[:, None, None]
    sharp = np.asarray(sharpness, dtype=np.float32)
    if sharp.ndim == 1:
        sharp = sharp[:, None, None]
    return ((0.5 * (1.0 + np.cos(arg))) ** sharp).astype(np.float32)


def _psf_convolve(img: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Convolve ``(N, B, H, W)`` with circular Gaussians of FWHM ``fwhm`` ``(N, B)`` pixels (FFT)."""
    n, b, h, w = img.shape
    sigma = fwhm / 2.354820045
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k2 = (kx**2 + ky**2)[None, None]
    transfer = np.exp(-2.0 * np.pi**2 * sigma[:, :, None, None] ** 2 * k2)
    out = np.fft.irfft2(np.fft.rfft2(img) * transfer, s=(h, w))
    return out.astype(np.float32)


def asinh_stretch(flux: np.ndarray, softening: float, max_flux: float) -> np.ndarray:
    """Lupton-style asinh stretch to uint8: ``255 asinh(f/soft) / asinh(max/soft)``, clipped to [0, 255]."""
    val = np.arcsinh(np.clip(flux, 0, None) / softening) / np.arcsinh(max_flux / softening)
    return np.clip(np.round(255.0 * val), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------- generator
def _u(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def make_synthetic_galaxies(
    n: int = 1000,
    size: int = 64,
    seed: int = 0,
    classes: list[int] | tuple[int, ...] | None = None,
    class_weights: np.ndarray | list[float] | None = None,
    psf_fwhm: tuple[float, float] = (1.4, 2.4),
    sky_sigma: float = 0.02,
    star_density: float = 1.0,
    stretch: str | None = "asinh",
    chunk: int = 512,
) -> SyntheticGalaxies:
    """Generate ``n`` g/r/z galaxy images of the Galaxy10 DECaLS classes.

    Parameters
    ----------
    n: number of images.
    size: image side in pixels (square stamps).
    seed: random seed; the same seed gives identical images.
    classes: class indices to draw from (default all ten).
    class_weights: relative frequency of each class in ``classes`` (default equal).
    psf_fwhm: range of the r-band PSF FWHM, pixels (g is 8% broader, z 8% narrower, as seeing
        improves with wavelength).
    sky_sigma: Gaussian sky-noise standard deviation per pixel, in the flux units where a typical
        galaxy has a central r-band surface brightness of order 1.
    star_density: mean number of neighbouring stars per image (Poisson).
    stretch: ``"asinh"`` → uint8 images; ``None`` → float32 linear fluxes.
    chunk: images generated per vectorised batch (bounds memory: ~40 float arrays of chunk×size²).
    """
    if n < 1:
        raise InputValidationError(f"n must be ≥ 1, got {n}")
    if size < 16:
        raise InputValidationError(f"size must be ≥ 16 pixels, got {size}")
    if stretch not in ("asinh", None):
        raise InputValidationError(f"stretch must be 'asinh' or None, got {stretch!r}")
    cls = np.arange(10) if classes is None else np.asarray(classes, dtype=np.int64)
    if cls.size == 0 or cls.min() < 0 or cls.max() > 9:
        raise InputValidationError(f"classes must be indices in 0..9, got {classes!r}")
    p = None
    if class_weights is not None:
        p = np.asarray(class_weights, dtype=np.float64)
        if p.shape != cls.shape or (p < 0).any() or p.sum() <= 0:
            raise InputValidationError("class_weights must be non-negative, one per class, not all zero")
        p = p / p.sum()
    rng = np.random.default_rng(seed)
    labels = rng.choice(cls, size=n, p=p)
    # one child seed per chunk: the images of a chunk do not depend on the chunk size used elsewhere
    chunk_seeds = rng.integers(0, 2**63 - 1, size=(n + chunk - 1) // chunk)
    imgs, cats = [], []
    for k, start in enumerate(range(0, n, chunk)):
        lab = labels[start : start + chunk]
        im, cat = _render_chunk(lab, size, np.random.default_rng(chunk_seeds[k]), psf_fwhm, sky_sigma, star_density)
        imgs.append(im)
        cats.append(cat)
    flux = np.concatenate(imgs)  # (N, H, W, 3)
    catalogue = {key: np.concatenate([c[key] for c in cats]) for key in cats[0]}
    if stretch == "asinh":
        # fixed stretch for the whole sample (not per image), so brightness differences survive
        images = asinh_stretch(flux, softening=3.0 * sky_sigma if sky_sigma > 0 else 0.05, max_flux=4.0)
    else:
        images = flux.astype(np.float32)
    return SyntheticGalaxies(images=images, labels=labels.astype(np.int64), catalogue=catalogue, sky_sigma=sky_sigma)


def _render_chunk(
    labels: np.ndarray, size: int, rng: np.random.Generator, psf_fwhm: tuple[float, float], sky_sigma: float, star_density: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    n = labels.shape[0]
    x, y = _coords(size)
    s = size / 64.0  # sizes below are for 64-pixel stamps and scale with the stamp
    zeros = np.zeros(n)
    ones = np.ones(n)
    img = np.zeros((n, 3, size, size), dtype=np.float32)

    def add(component: np.ndarray, colour: np.ndarray, jitter: float = 0.08) -> None:
        col = colour[None, :] * rng.lognormal(0.0, jitter, (n, 3))
        col[:, 1] = 1.0  # colours are relative to r
        img[:] += component[:, None] * col[:, :, None, None].astype(np.float32)

    # centre jitter (sub-pixel to ~1.5 px): cutouts are centred on the catalogue position
    x0 = rng.normal(0.0, 0.6 * s, n)
    y0 = rng.normal(0.0, 0.6 * s, n)
    pa = _u(rng, 0.0, np.pi, n)
    is_ = {c: labels == c for c in range(10)}
    smooth = is_[2] | is_[3] | is_[4]
    spiral = is_[5] | is_[6] | is_[7]
    edge = is_[8] | is_[9]

    # ---------------------------------------------------------------- total flux (r band)
    flux = rng.lognormal(np.log(60.0), 0.35, n) * s**2

    # ---------------------------------------------------------------- spheroids (classes 2, 3, 4)
    sph_q = np.where(is_[2], _u(rng, 0.85, 1.0, n), np.where(is_[3], _u(rng, 0.5, 0.8, n), _u(rng, 0.2, 0.42, n)))
    sph_n = _u(rng, 2.5, 5.0, n)
    sph_re = _u(rng, 3.5, 8.0, n) * s
    sph = sersic_image(x, y, x0, y0, sph_re, sph_n, sph_q, pa, np.where(smooth, flux, 0.0))
    add(sph, _COLOUR_BULGE)

    # ---------------------------------------------------------------- discs (spirals, edge-on)
    # inclination: spirals seen fairly face-on (GZ "face-on" selection), edge-on classes at > 80°
    incl = np.where(edge, _u(rng, 82.0, 90.0, n), _u(rng, 0.0, 55.0, n))
    q0 = np.where(edge, _u(rng, 0.07, 0.13, n), 0.15)
    disc_q = np.sqrt(np.cos(np.deg2rad(incl)) ** 2 * (1 - q0**2) + q0**2)
    disc_h = np.where(edge, _u(rng, 5.0, 9.0, n), _u(rng, 4.5, 8.0, n)) * s
    bt = np.where(is_[9], _u(rng, 0.25, 0.45, n), np.where(is_[8], _u(rng, 0.0, 0.03, n), _u(rng, 0.1, 0.3, n)))
    bt = np.where(spiral | edge, bt, 0.0)
    disc_flux = np.where(spiral | edge, flux * (1 - bt), 0.0)
    # an exponential disc is a Sérsic n = 1 profile with R_e = 1.678 h
    disc_re = 1.678 * disc_h
    base_disc = sersic_image(x, y, x0, y0, disc_re, ones, disc_q, pa, ones)
    # spiral arms: modulate the disc light; the arm amplitude tapers in over the inner ~h
    pitch = np.where(is_[6], _u(rng, 8.0, 14.0, n), _u(rng, 22.0, 35.0, n))
    n_arms = np.where(rng.random(n) < 0.8, 2, 3).astype(np.float64)
    handed = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    phase = _u(rng, 0, 2 * np.pi, n)
    arm = spiral_pattern(x, y, x0, y0, disc_q, pa, pitch, n_arms, handed, phase, sharpness=np.where(is_[6], 3.0, 5.0))
    u, v = _rotated(x, y, x0, y0, pa)
    r_disc = np.sqrt(u**2 + (v / np.clip(disc_q, 0.05, 1)[:, None, None]) ** 2)
    taper = 1.0 - np.exp(-((r_disc / (0.8 * disc_h[:, None, None])) ** 2))
    arm_amp = np.where(spiral, _u(rng, 1.8, 3.0, n), 0.0)[:, None, None]
    disc_old = base_disc  # the smooth (old-star) part of the disc
    disc_arms = base_disc * arm * taper * arm_amp
    # share the disc light between a smooth part and the arms, keeping the total disc flux
    arm_norm = disc_arms.sum(axis=(1, 2)) + disc_old.sum(axis=(1, 2))
    scale = (disc_flux / np.maximum(arm_norm, 1e-9))[:, None, None]
    add(disc_old * scale, _COLOUR_DISC)
    add(disc_arms * scale, _COLOUR_YOUNG)

    # bulges of spirals and edge-on-with-bulge discs: rounder than the disc, n ≈ 1.5–4
    bul_q = np.where(edge, _u(rng, 0.6, 0.95, n), _u(rng, 0.75, 1.0, n))
    bul_re = np.where(edge, _u(rng, 0.35, 0.6, n), _u(rng, 0.18, 0.35, n)) * disc_h
    bul = sersic_image(x, y, x0, y0, bul_re, _u(rng, 1.5, 4.0, n), bul_q, pa, flux * bt)
    add(bul, _COLOUR_BULGE)

    # bars (class 5): n = 0.5 elongated component along its own angle, ~15% of the light
    bar_pa = pa + _u(rng, -np.pi / 2, np.pi / 2, n)
    bar_flux = np.where(is_[5], flux * _u(rng, 0.12, 0.2, n), 0.0)
    bar = sersic_image(x, y, x0, y0, _u(rng, 0.8, 1.3, n) * disc_h, 0.5 * ones, _u(rng, 0.2, 0.32, n), bar_pa, bar_flux)
    add(bar, _COLOUR_BULGE)

    # ---------------------------------------------------------------- disturbed (class 0)
    # a lopsided system: a main body plus an offset diffuse component and star-forming clumps
    dist = is_[0]
    d_re = _u(rng, 4.0, 8.0, n) * s
    main = sersic_image(x, y, x0, y0, d_re, _u(rng, 0.8, 2.5, n), _u(rng, 0.4, 0.9, n), pa, np.where(dist, 0.55 * flux, 0.0))
    off_ang = _u(rng, 0, 2 * np.pi, n)
    off_r = _u(rng, 0.6, 1.4, n) * d_re
    diffuse = sersic_image(
        x, y, x0 + off_r * np.cos(off_ang), y0 + off_r * np.sin(off_ang), 1.6 * d_re, ones,
        _u(rng, 0.3, 0.8, n), pa + _u(rng, -1, 1, n), np.where(dist, 0.3 * flux, 0.0),
    )
    add(main, _COLOUR_DISC)
    add(diffuse, _COLOUR_DISC)
    for _ in range(4):
        ang, rad = _u(rng, 0, 2 * np.pi, n), _u(rng, 0.3, 1.6, n) * d_re
        clump = sersic_image(
            x, y, x0 + rad * np.cos(ang), y0 + rad * np.sin(ang), _u(rng, 0.6, 1.4, n) * s, 0.5 * ones, ones, zeros,
            np.where(dist, flux * _u(rng, 0.02, 0.06, n), 0.0),
        )
        add(clump, _COLOUR_YOUNG, jitter=0.15)

    # ---------------------------------------------------------------- merging pairs (class 1)
    mer = is_[1]
    sep = _u(rng, 7.0, 16.0, n) * s
    ang = _u(rng, 0, 2 * np.pi, n)
    frac = _u(rng, 0.35, 0.65, n)  # light fraction of the first nucleus
    xa, ya = x0 + (1 - frac) * sep * np.cos(ang), y0 + (1 - frac) * sep * np.sin(ang)
    xb, yb = x0 - frac * sep * np.cos(ang), y0 - frac * sep * np.sin(ang)
    for xc, yc, f in ((xa, ya, frac), (xb, yb, 1 - frac)):
        nuc = sersic_image(x, y, xc, yc, _u(rng, 2.5, 5.0, n) * s, _u(rng, 1.0, 4.0, n), _u(rng, 0.5, 1.0, n),
                           _u(rng, 0, np.pi, n), np.where(mer, 0.75 * flux * f, 0.0))
        add(nuc, _COLOUR_BULGE if rng.random() < 0.5 else _COLOUR_DISC)
        # tidal tails: a faint, extended, very loosely wound two-armed pattern around each nucleus
        tail_h = _u(rng, 6.0, 11.0, n) * s
        env = sersic_image(x, y, xc, yc, 1.678 * tail_h, ones, _u(rng, 0.5, 1.0, n), zeros, ones)
        tails = env * spiral_pattern(x, y, xc, yc, ones, zeros, _u(rng, 35.0, 55.0, n), np.full(n, 1.0),
                                     np.where(rng.random(n) < 0.5, 1.0, -1.0), _u(rng, 0, 2 * np.pi, n), sharpness=6.0)
        tails = tails / np.maximum(tails.sum(axis=(1, 2)), 1e-9)[:, None, None]
        add(tails * np.where(mer, 0.125 * flux, 0.0)[:, None, None], _COLOUR_DISC)

    # ---------------------------------------------------------------- neighbouring stars (point sources)
    n_stars = rng.poisson(star_density, n)
    for k in range(int(n_stars.max(initial=0))):
        has = n_stars > k
        px = rng.integers(0, size, n)
        py = rng.integers(0, size, n)
        # keep stars off the galaxy core: reject positions within ~6 px (scaled) of the centre
        c = (size - 1) / 2.0
        far = np.hypot(px - c, py - c) > 8 * s
        amp = np.where(has & far, rng.lognormal(np.log(8.0), 0.9, n) * s**2, 0.0)
        col = _COLOUR_STAR[None, :] * rng.lognormal(0.0, 0.25, (n, 3))
        img[np.arange(n), :, py, px] += (amp[:, None] * col).astype(np.float32)

    # ---------------------------------------------------------------- PSF, noise
    fwhm_r = _u(rng, psf_fwhm[0], psf_fwhm[1], n) * s
    fwhm = np.stack([1.08 * fwhm_r, fwhm_r, 0.92 * fwhm_r], axis=1)
    img = _psf_convolve(img, fwhm)
    # photon noise of the source (gain chosen so that bright cores have S/N of a few hundred) plus sky
    gain = 400.0
    noise = np.sqrt(np.clip(img, 0, None) / gain + sky_sigma**2)
    img = img + noise.astype(np.float32) * rng.standard_normal(img.shape, dtype=np.float32)

    axis_ratio = np.select([smooth, spiral | edge, dist], [sph_q, disc_q, ones], default=ones)
    radius = np.select([smooth, spiral | edge, dist], [sph_re, disc_h, d_re], default=sep)
    cat = {
        "label": labels.astype(np.int64),
        "handedness": np.where(spiral, handed, 0.0).astype(np.int8),
        "pitch_deg": np.where(spiral, pitch, np.nan),
        "n_arms": np.where(spiral, n_arms, 0).astype(np.int8),
        "inclination_deg": np.where(spiral | edge, incl, np.nan),
        "axis_ratio": axis_ratio,
        "position_angle_deg": np.rad2deg(pa),
        "radius_px": radius,
        "sersic_n": np.where(smooth, sph_n, np.where(spiral | edge, 1.0, np.nan)),
        "bulge_to_total": np.where(spiral | edge, bt, np.where(smooth, 1.0, np.nan)),
        "flux": flux,
        "psf_fwhm_px": fwhm_r,
        "n_stars": n_stars.astype(np.int16),
    }
    return np.transpose(img, (0, 2, 3, 1)), cat


def synthetic_galaxy10(n: int = 1000, size: int = 64, seed: int = 0, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, size, size, 3), labels (N,))`` — shortcut for :func:`make_synthetic_galaxies`."""
    ds = make_synthetic_galaxies(n, size=size, seed=seed, **kwargs)
    return ds.images, ds.labels


__all__ = [
    "CLASS_NAMES",
    "SyntheticGalaxies",
    "asinh_stretch",
    "make_synthetic_galaxies",
    "sersic_bn",
    "sersic_image",
    "spiral_pattern",
    "synthetic_galaxy10",
]
