"""Classical baselines for run reports (astrotorch.train.baselines), on small data."""

from __future__ import annotations

import numpy as np
import pytest

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.train import baselines as bl


def test_regression_metrics_match_model_evaluate() -> None:
    from astrotorch.models.baselines import LinearRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = np.stack([x @ [1.0, -2.0, 0.5, 0.0], x[:, 0] ** 2], 1) + 0.1 * rng.normal(size=(200, 2))
    y[5, 1] = np.nan  # a missing label is skipped for that output only
    m = LinearRegression(targetname=["a", "b"]).fit(x[:150], y[:150])
    ev = m.evaluate(x[150:], y[150:])
    ours = bl.regression_metrics(y[150:], m.predict(x[150:]), ["a", "b"])
    assert set(ours) == set(ev)
    for name in ev:
        assert set(ours[name]) == set(ev[name])
        for k in ev[name]:
            assert ours[name][k] == pytest.approx(ev[name][k], rel=1e-5, abs=1e-6)
    with pytest.raises(ShapeMismatchError):
        bl.regression_metrics(y, y[:, :1])


def test_tabular_baseline_regression_and_classification() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, size=(600, 2))
    y = np.sin(x[:, 0]) + 0.05 * rng.normal(size=600)
    res = bl.tabular_baseline(x[:500], y[:500], x[500:], y[500:], names=["sin"])
    assert res.metrics["sin"]["mae"] < 0.1 and res.metrics["sin"]["n"] == 100
    assert res.predictions.shape == (100, 1) and res.fit_seconds > 0
    lab = (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)
    cls = bl.tabular_baseline(x[:500], lab[:500], x[500:], lab[500:], task="classification", n_classes=4)
    assert set(cls.metrics) == {"accuracy", "balanced_accuracy", "log_loss", "ece", "n"}
    assert cls.metrics["accuracy"] > 0.9
    assert cls.predictions.shape == (100, 4) and np.allclose(cls.predictions[:, 3], 0)  # class 3 never seen
    with pytest.raises(InputValidationError):
        bl.tabular_baseline(x, y, x, y, task="ranking")
    with pytest.raises(ShapeMismatchError):
        bl.tabular_baseline(x[:10], y[:9], x, y)


def test_majority_class_baseline() -> None:
    res = bl.majority_class_baseline([0, 0, 0, 1, 2], [0, 1, 2, 0], n_classes=3)
    assert res.info["class"] == 0
    assert res.metrics["accuracy"] == pytest.approx(0.5)
    assert res.metrics["balanced_accuracy"] == pytest.approx(1 / 3)
    assert np.allclose(res.predictions[0], [0.6, 0.2, 0.2])


def test_stars_baseline_has_stellar_model_metric_layout() -> None:
    from astrotorch.datasets.stars import STAR_CLASS_TARGETS, synthetic_stars

    x, y = synthetic_stars(500, seed=3)
    res = bl.stars_baseline(x.iloc[:400], y.iloc[:400], x.iloc[400:], y.iloc[400:])
    for t in ("logg", "mv", "mh", "mass"):
        assert {"mae", "rmse", "frac_within_1pct", "seed_accuracy", "n"} <= set(res.metrics[t])
    for c in STAR_CLASS_TARGETS:
        assert {"accuracy", "macro_f1"} <= set(res.metrics[c])
    assert 0.0 <= res.metrics["physics_violation"]["any_violation_rate"] <= 1.0
    assert res.metrics["physics_violation"]["any_violation_rate"] > 0.5  # trees do not keep exact relations
    with pytest.raises(InputValidationError):
        bl.stars_baseline(x.iloc[:400].drop(columns="radius"), y.iloc[:400], x.iloc[400:], y.iloc[400:])


def _blob(size: int, axis_ratio: float = 1.0, angle: float = 0.0, offset: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * xx + s * yy - offset, -s * xx + c * yy
    img = np.exp(-0.5 * (u**2 + (v / axis_ratio) ** 2) / 16.0)
    return np.stack([img, 0.5 * img, 0.25 * img], -1)


def test_image_statistics_respond_to_shape_and_handedness() -> None:
    imgs = np.stack([_blob(33), _blob(33, 0.4, 0.3), _blob(33, offset=4.0)])
    f, names = bl.image_statistics(imgs)
    col = {n: i for i, n in enumerate(names)}
    assert f.shape == (3, len(names))
    assert f[0, col["ellipticity"]] < 0.05 < 0.4 < f[1, col["ellipticity"]]
    assert f[0, col["asymmetry"]] < 0.05 < f[2, col["asymmetry"]]
    assert f[0, col["colour_0_1"]] == pytest.approx(np.log10(0.5), abs=1e-3)
    # 90° rotations leave every statistic unchanged (up to the image centre convention)
    rot, _ = bl.image_statistics(np.rot90(imgs, 1, axes=(1, 2)).copy())
    assert np.allclose(rot, f, atol=1e-5)
    # a two-armed spiral: the winding features flip sign in a mirror image
    yy, xx = np.mgrid[0:49, 0:49] - 24.0
    r, th = np.hypot(xx, yy) + 1e-6, np.arctan2(yy, xx)
    spiral = (1 + np.cos(2 * th - 4 * np.log(r))) * np.exp(-r / 8)
    sp = np.stack([spiral] * 3, -1)[None]
    a, _ = bl.image_statistics(sp)
    b, _ = bl.image_statistics(sp[:, :, ::-1].copy())
    w = [col[n] for n in names if n.startswith("winding")]
    assert np.all(np.abs(a[0, w]) > 0.1)
    assert np.allclose(a[0, w], -b[0, w], atol=1e-4)
    with pytest.raises(ShapeMismatchError):
        bl.image_statistics(np.zeros((2, 3, 4, 5, 6)))


def test_image_tree_baseline_separates_round_from_elongated() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    imgs = np.stack([_blob(25, 1.0 if k == 0 else 0.35, rng.uniform(0, np.pi)) for k in y])
    imgs = imgs + 0.01 * rng.normal(size=imgs.shape)
    res = bl.image_tree_baseline(imgs[:90], y[:90], imgs[90:], y[90:], n_classes=2)
    assert res.metrics["accuracy"] > 0.9 and "ellipticity" in res.info["features"]


def test_standard_candle_redshift_inverts_distance_modulus() -> None:
    from astropy.cosmology import Planck18

    rng = np.random.default_rng(0)
    z = rng.uniform(0.01, 0.15, 50)
    m = -19.3 + Planck18.distmod(z).value
    zp, abs_mag = bl.standard_candle_redshift(m[:40], z[:40], np.r_[m[40:], np.nan])
    assert abs_mag == pytest.approx(-19.3, abs=1e-3)
    assert np.allclose(zp[:-1], z[40:], rtol=1e-3) and np.isnan(zp[-1])
    with pytest.raises(InputValidationError):
        bl.standard_candle_redshift([np.nan], [0.1], [18.0])


def test_lightcurve_baseline_on_synthetic_curves() -> None:
    from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves

    curves = make_synthetic_lightcurves(48, classes=("SNIa", "RRL"), seed=0, balanced=True)
    tr, te = curves.split(0.25, seed=0)
    res = bl.lightcurve_baseline(tr, te, periodogram=False)
    assert {"accuracy", "macro_f1", "confusion_matrix", "auc"} <= set(res.metrics)
    assert res.metrics["n"] == len(te) and res.metrics["accuracy"] > 0.7


def test_spectra_baselines_ridge_and_knn() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 30)).astype(np.float32)
    y = np.stack([x[:, :5].sum(1), x[:, 5] - x[:, 6]], 1).astype(np.float32)
    res = bl.spectra_baselines(x[:120], y[:120], x[120:], y[120:], names=["teff", "logg"], n_neighbors=5)
    assert set(res) == {"ridge", "knn"}
    assert res["ridge"].metrics["teff"]["mae"] < 0.1  # a linear relation: ridge is near exact
    assert res["knn"].metrics["teff"]["mae"] > res["ridge"].metrics["teff"]["mae"]


def test_spectra_ridge_penalty_is_chosen_on_training_rows_only() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 110)).astype(np.float32)
    y = (x[:, :3].sum(1, keepdims=True) + 0.5 * rng.normal(size=(200, 1))).astype(np.float32)
    picked = bl.ridge_alpha(x[:150], y[:150], (1e-3, 10.0, 1e6), seed=0, names=None)
    # 120 fitting rows for 110 pixels: 1e-3 sits at the interpolation peak, 1e6 shrinks the signal away
    assert picked == 10.0
    res = bl.spectra_baselines(x[:150], y[:150], x[150:], y[150:], alphas=(1e-3, 10.0, 1e6))
    assert res["ridge"].name == "ridge (alpha 10)"
    # a test set that changes cannot change the choice: it never sees the test rows
    res2 = bl.spectra_baselines(x[:150], y[:150], x[150:] * 0, y[150:] * 0, alphas=(1e-3, 10.0, 1e6))
    assert res2["ridge"].name == "ridge (alpha 10)"


def test_which_wins_table() -> None:
    net = {"logg": {"mae": 0.04}, "mh": {"mae": 0.28}, "mv": {"mae": 0.017}}
    tree = {"logg": {"mae": 0.041}, "mh": {"mae": 0.259}, "mv": {"mae": 0.027}}
    knn = bl.BaselineResult("knn", {"logg": {"mae": 0.05}, "mh": {"mae": np.nan}})
    rows = bl.which_wins(net, {"tree": tree, "knn": knn})
    assert [r["wins"] for r in rows] == ["network", "tree", "network"]
    assert np.isnan(rows[2]["knn"])  # knn has no mv
    # a tolerance: a baseline must be better by more than 10 % to win
    assert bl.which_wins(net, {"tree": tree}, rel_tol=0.1)[1]["wins"] == "network"
    acc = bl.which_wins({"accuracy": 0.87}, {"majority": {"accuracy": 0.70}}, outputs=[None], metric="accuracy")
    assert acc[0]["wins"] == "network" and acc[0]["output"] == "all"
    table = bl.which_wins_table(net, {"tree": tree}, outputs=["logg", "mh"])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| output | metric | network | tree | wins |")
    with pytest.raises(InputValidationError):
        bl.which_wins(net, {"tree": tree}, metric="r2")
