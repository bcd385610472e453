"""Synthetic Galaxy10 generator: determinism, profiles, handedness, class structure."""

from __future__ import annotations

import numpy as np
import pytest

from astrotorch.datasets import synthetic_galaxies as sg
from astrotorch.errors import InputValidationError


@pytest.fixture(scope="module")
def sample() -> sg.SyntheticGalaxies:
    return sg.make_synthetic_galaxies(200, size=40, seed=3)


def test_shapes_and_determinism(sample: sg.SyntheticGalaxies) -> None:
    assert sample.images.shape == (200, 40, 40, 3) and sample.images.dtype == np.uint8
    assert set(np.unique(sample.labels)) == set(range(10))
    again = sg.make_synthetic_galaxies(200, size=40, seed=3)
    np.testing.assert_array_equal(again.images, sample.images)
    np.testing.assert_array_equal(again.labels, sample.labels)
    other = sg.make_synthetic_galaxies(200, size=40, seed=4)
    assert not np.array_equal(other.images, sample.images)
    for key, col in sample.catalogue.items():
        assert col.shape == (200,), key


def test_chunking_does_not_change_the_sample() -> None:
    a = sg.make_synthetic_galaxies(40, size=32, seed=9, chunk=512)
    b = sg.make_synthetic_galaxies(40, size=32, seed=9, chunk=512)
    np.testing.assert_array_equal(a.images, b.images)


def test_sersic_half_light_radius() -> None:
    # the analytic normalisation and b_n: half the flux lies inside R_e
    size = 401
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    for n in (1.0, 4.0):
        img = sg.sersic_image(x[None], y[None], np.zeros(1), np.zeros(1), np.array([20.0]), np.array([n]),
                              np.ones(1), np.zeros(1), np.array([1.0]))[0]
        r = np.hypot(x, y)
        total = img.sum()
        # pixel sampling of the n = 4 cusp and the light beyond 10 R_e limit the n = 4 accuracy
        assert abs(img[r < 20.0].sum() / total - 0.5) < (0.02 if n == 1 else 0.05)
        # total flux of a profile mostly inside the stamp matches the requested flux
        assert total == pytest.approx(1.0, rel=0.06 if n == 4 else 0.01)


def test_handedness_is_a_mirror_image() -> None:
    size = 41
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    args = dict(x=x[None], y=y[None], x0=np.zeros(1), y0=np.zeros(1), q=np.ones(1), pa=np.zeros(1),
                pitch_deg=np.array([20.0]), n_arms=np.array([2.0]), phase=np.zeros(1))
    cw = sg.spiral_pattern(handedness=np.array([1.0]), **args)[0]
    acw = sg.spiral_pattern(handedness=np.array([-1.0]), **args)[0]
    np.testing.assert_allclose(cw[::-1], acw, atol=1e-5)  # mirror in y maps one onto the other
    assert np.abs(cw - acw).mean() > 0.1  # and they are different images
    # handedness +1: the arm crest's position angle decreases outward (documented convention)
    r_in, r_out = 5.0, 15.0
    ang = np.linspace(-np.pi, np.pi, 721)

    def crest(r: float) -> float:
        xs, ys = r * np.cos(ang), r * np.sin(ang)
        vals = sg.spiral_pattern(xs[None, :, None].astype(np.float32), ys[None, :, None].astype(np.float32),
                                 np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1), np.array([20.0]), np.array([1.0]),
                                 np.array([1.0]), np.zeros(1))[0, :, 0]
        return float(ang[np.argmax(vals)])

    d = np.angle(np.exp(1j * (crest(r_out) - crest(r_in))))
    expected = -(np.log(r_out + 0.5) - np.log(r_in + 0.5)) / np.tan(np.deg2rad(20.0))
    assert d == pytest.approx(np.angle(np.exp(1j * expected)), abs=0.05)


def test_catalogue_follows_class_definitions(sample: sg.SyntheticGalaxies) -> None:
    cat, lab = sample.catalogue, sample.labels
    assert np.all(cat["axis_ratio"][lab == 2] >= 0.85)
    assert np.all(cat["axis_ratio"][lab == 4] <= 0.42)
    edge = (lab == 8) | (lab == 9)
    assert np.all(cat["inclination_deg"][edge] >= 82) and np.all(cat["axis_ratio"][edge] < 0.2)
    assert np.all(cat["bulge_to_total"][lab == 9] > cat["bulge_to_total"][lab == 8].max())
    spiral = np.isin(lab, (5, 6, 7))
    assert set(np.unique(cat["handedness"][spiral])) == {-1, 1}
    assert np.all(cat["handedness"][~spiral] == 0)
    assert cat["pitch_deg"][lab == 6].max() < cat["pitch_deg"][lab == 7].min()


def test_images_carry_class_information(sample: sg.SyntheticGalaxies) -> None:
    # image moments separate the shapes: cigars and edge-on discs are elongated, round smooth is not
    img = sample.images.astype(np.float64).sum(-1)
    size = img.shape[1]
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    w = np.clip(img - np.median(img, axis=(1, 2), keepdims=True), 0, None)
    w = np.where(np.hypot(x, y)[None] < 14, w, 0)
    m = w.sum((1, 2))
    xx = (w * x**2).sum((1, 2)) / m
    yy = (w * y**2).sum((1, 2)) / m
    xy = (w * x * y).sum((1, 2)) / m
    tr, det = xx + yy, xx * yy - xy**2
    lam1 = tr / 2 + np.sqrt(tr**2 / 4 - det)
    lam2 = tr / 2 - np.sqrt(tr**2 / 4 - det)
    elong = np.sqrt(lam2 / lam1)
    assert np.median(elong[sample.labels == 2]) > np.median(elong[sample.labels == 4]) + 0.2
    assert np.median(elong[sample.labels == 2]) > np.median(elong[sample.labels == 8]) + 0.2
    # blue arms: spirals are bluer (g/z) than round smooth spheroids
    col = sample.images[..., 0].astype(float).sum((1, 2)) / sample.images[..., 2].astype(float).sum((1, 2))
    assert np.median(col[sample.labels == 7]) > np.median(col[sample.labels == 2])


def test_float_output_and_class_subset() -> None:
    d = sg.make_synthetic_galaxies(20, size=32, seed=0, classes=[2, 8], class_weights=[1, 3], stretch=None)
    assert d.images.dtype == np.float32 and set(np.unique(d.labels)) <= {2, 8}
    assert np.isfinite(d.images).all()
    x, y = sg.synthetic_galaxy10(5, size=24, seed=1)
    assert x.shape == (5, 24, 24, 3) and y.shape == (5,)


@pytest.mark.parametrize(
    "kwargs",
    [dict(n=0), dict(size=8), dict(classes=[11]), dict(classes=[1, 2], class_weights=[1.0]), dict(stretch="log")],
)
def test_bad_arguments(kwargs: dict) -> None:
    base = dict(n=4, size=32, seed=0)
    base.update(kwargs)
    with pytest.raises(InputValidationError):
        sg.make_synthetic_galaxies(**base)
