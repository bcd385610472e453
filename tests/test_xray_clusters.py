"""Mock X-ray clusters (physics checks) and the two-input cluster-mass model (losses, bf16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from astrotorch.datasets.xray_clusters import BAND_EDGES_KEV, make_xray_clusters
from astrotorch.errors import InputValidationError
from astrotorch.models.cluster import ClusterMassCNN

NOSCATTER = dict(scatter_ln_t=0.0, scatter_ln_l=0.0, p_substructure=0.0, mean_point_sources=0.0)


@pytest.fixture(scope="module")
def small() -> object:
    return make_xray_clusters(96, seed=5, size=16)


def test_shapes_counts_determinism(small) -> None:
    assert small.images.shape == (96, 16, 16, 10) and small.images.dtype == np.float32
    assert np.all(small.images >= 0) and np.all(small.images == np.round(small.images))  # Poisson counts
    again = make_xray_clusters(96, seed=5, size=16)
    np.testing.assert_array_equal(again.images, small.images)
    assert small.band_edges_kev.shape == (11,) and np.allclose(small.band_edges_kev, BAND_EDGES_KEV)
    assert set(small.inputs()) == {"image", "redshift"}


def test_scaling_relations_and_distances() -> None:
    from astropy.cosmology import FlatLambdaCDM

    d = make_xray_clusters(50, seed=1, size=16, poisson=False, **NOSCATTER)
    c = d.catalogue
    cosmo = FlatLambdaCDM(H0=70, Om0=0.3)
    ez = cosmo.efunc(c["z"])
    # Arnaud et al. 2005 M-T: M E(z) = 3.84e14 (kT / 5 keV)^1.71
    np.testing.assert_allclose(10 ** c["log10_m500"] * ez, 3.84e14 * (c["kT_keV"] / 5) ** 1.71, rtol=1e-6)
    np.testing.assert_allclose(c["lx_1e44"], 1.38 * ez ** (7 / 3) * (10 ** c["log10_m500"] / 2e14) ** 1.62, rtol=1e-6)
    # R500 from 500 ρc(z) and its angular size with D_A
    import astropy.units as u

    rho = cosmo.critical_density(c["z"]).to(u.Msun / u.kpc**3).value
    np.testing.assert_allclose(4 / 3 * np.pi * c["r500_kpc"] ** 3 * 500 * rho, 10 ** c["log10_m500"], rtol=1e-6)
    theta = (c["r500_kpc"] * u.kpc / cosmo.angular_diameter_distance(c["z"])).to(u.arcsec, u.dimensionless_angles()).value
    np.testing.assert_allclose(c["r500_arcsec"], theta, rtol=1e-6)


def test_counts_fall_with_redshift_and_rise_with_mass() -> None:
    kw = dict(size=50, poisson=False, log10_m500_range=(14.5, 14.5001), **NOSCATTER)
    near = make_xray_clusters(1, seed=0, z_range=(0.1, 0.1001), **kw)
    far = make_xray_clusters(1, seed=0, z_range=(0.8, 0.8001), **kw)
    assert near.catalogue["cluster_counts"][0] > 10 * far.catalogue["cluster_counts"][0]  # cosmological dimming
    assert near.catalogue["r500_arcsec"][0] > 3 * far.catalogue["r500_arcsec"][0]  # angular size
    big = make_xray_clusters(1, seed=0, z_range=(0.3, 0.3001), size=50, poisson=False,
                             log10_m500_range=(15.0, 15.0001), **NOSCATTER)
    small = make_xray_clusters(1, seed=0, z_range=(0.3, 0.3001), size=50, poisson=False,
                               log10_m500_range=(14.0, 14.0001), **NOSCATTER)
    assert big.catalogue["cluster_counts"][0] > 20 * small.catalogue["cluster_counts"][0]
    # hotter (more massive) clusters have harder spectra: more counts above 2 keV relative to below
    def hardness(d) -> float:
        per_band = d.images[0].sum(axis=(0, 1)) - d.images[0].min(axis=(0, 1)) * d.images.shape[1] ** 2
        hi = BAND_EDGES_KEV[:-1] >= 2.0
        return per_band[hi].sum() / per_band[~hi].sum()

    assert hardness(big) > hardness(small)


def test_generator_rejects_bad_arguments() -> None:
    with pytest.raises(InputValidationError):
        make_xray_clusters(0)
    with pytest.raises(InputValidationError):
        make_xray_clusters(5, z_range=(0.5, 0.1))
    with pytest.raises(InputValidationError):
        make_xray_clusters(5, band_edges_kev=np.array([2.0, 1.0]))


# ----------------------------------------------------------------------------------------- model
@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "gaussian_nll"])
def test_each_loss_trains_and_predicts(small, loss: str) -> None:
    m = ClusterMassCNN(loss=loss, max_epochs=2, widths=(8, 8, 8), hidden=16, accelerator="cpu", batch_size=32)
    m.fit(small.inputs(), small.log10_m500)
    assert np.isfinite(m.history["loss"]).all()
    out = m.predict(small.inputs())
    if loss == "gaussian_nll":
        pred, sd = out
        assert set(sd) >= {"total", "model", "predictive"} and np.all(sd["total"] > 0)
    else:
        pred = out
    assert pred.shape == (96, 1) and np.isfinite(pred).all()
    met = m.mass_metrics(small.inputs(), small.log10_m500)
    assert met["n"] == 96 and met["scatter_dex"] > 0
    assert ("zscore_std" in met) == (loss == "gaussian_nll")


def test_gaussian_nll_learns_the_mass(small) -> None:
    # a few epochs on 96 clusters must beat predicting the mean mass (the scatter of the truth)
    # the posterior mean (prior_correction off): dividing the prior out of a barely trained network's
    # broad posterior trades shrinkage for a much larger scatter
    m = ClusterMassCNN(loss="gaussian_nll", max_epochs=12, widths=(8, 16, 16), hidden=32, accelerator="cpu",
                       batch_size=16, val_size=0.0, early_stopping_patience=None, lr=3e-3, prior_correction=False)
    m.fit(small.inputs(), small.log10_m500)
    met = m.mass_metrics(small.inputs(), small.log10_m500)
    assert met["rmse_dex"] < 0.8 * np.std(small.log10_m500)


def test_bf16_autocast_forward_and_loss(small) -> None:
    m = ClusterMassCNN(loss="gaussian_nll", max_epochs=1, widths=(8, 8, 8), hidden=16, accelerator="cpu")
    m.fit(small.inputs(), small.log10_m500)
    x = {k: torch.as_tensor(v) for k, v in m._normalize_x(m.prepare_x(small.inputs())).items()}
    y = torch.as_tensor(m._label_norm.transform(small.log10_m500[:, None].astype(np.float32)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m.network(x)
        assert out[0].dtype == torch.bfloat16  # the network really runs in bf16
        loss = m.compute_loss({"x": x, "y": y}, out)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in m.network.parameters() if p.grad is not None)


@pytest.mark.parametrize("loss", ["huber", "gaussian_nll"])
def test_lightning_bf16_mixed_training(small, loss: str) -> None:
    m = ClusterMassCNN(loss=loss, max_epochs=1, widths=(8, 8, 8), hidden=16, accelerator="cpu", precision="bf16-mixed")
    m.fit(small.inputs(), small.log10_m500)
    assert np.isfinite(m.history["loss"]).all()


def test_save_load_roundtrip(small, tmp_path: Path) -> None:
    from astrotorch.models import load_folder

    m = ClusterMassCNN(loss="gaussian_nll", max_epochs=1, widths=(8, 8, 8), hidden=16, accelerator="cpu")
    m.fit(small.inputs(), small.log10_m500)
    m.save(tmp_path / "m")
    m2 = load_folder(tmp_path / "m")
    assert m2.bayesian and m2.loss == "gaussian_nll"
    a, sa = m.predict(small.inputs())
    b, sb = m2.predict(small.inputs())
    np.testing.assert_allclose(a, b, rtol=1e-5)
    np.testing.assert_allclose(sa["total"], sb["total"], rtol=1e-5)


def test_model_input_errors(small) -> None:
    with pytest.raises(InputValidationError, match="loss"):
        ClusterMassCNN(loss="poisson")
    m = ClusterMassCNN(max_epochs=1)
    with pytest.raises(InputValidationError, match="dict"):
        m.fit(small.images, small.log10_m500)
    with pytest.raises(InputValidationError, match="redshift"):
        m.fit({"image": small.images}, small.log10_m500)
    with pytest.raises(InputValidationError, match="negative"):
        m.fit({"image": -small.images - 1, "redshift": small.redshift}, small.log10_m500)


# --------------------------------------------------------------------------- mass-dependent bias
def test_binned_mass_bias_and_slope() -> None:
    from astrotorch.models.cluster import binned_mass_bias, mass_slope

    rng = np.random.default_rng(0)
    true = rng.uniform(13.8, 15.2, 5000)
    shrunk = 14.5 + 0.9 * (true - 14.5) + 0.05 * rng.normal(size=true.size)
    assert mass_slope(true, shrunk) == pytest.approx(0.9, abs=0.01)
    rows = binned_mass_bias(true, shrunk, sigma=np.full(true.size, 0.05))
    assert [r["lo"] for r in rows] == pytest.approx([13.8, 14.0, 14.2, 14.4, 14.6, 14.8, 15.0])
    assert sum(r["n"] for r in rows) == true.size  # the last bin keeps its upper edge
    assert rows[0]["bias_dex"] == pytest.approx(0.1 * 0.6, abs=0.01)  # +0.1·(14.5 − 13.9)
    assert rows[-1]["bias_dex"] == pytest.approx(-0.1 * 0.6, abs=0.01)
    assert all(r["scatter_dex"] == pytest.approx(0.05, abs=0.01) and r["zscore_std"] > 0.8 for r in rows)
    with pytest.raises(InputValidationError):
        binned_mass_bias(true, shrunk, edges=[14.0, 13.0])
    with pytest.raises(InputValidationError):
        mass_slope(true, shrunk, lo=16.0, hi=17.0)


def test_prior_correction_trains_on_the_prior_aware_likelihood(small) -> None:
    from astrotorch.uncertainty.prior import prior_gaussian_nll

    m = ClusterMassCNN(loss="gaussian_nll", max_epochs=1, widths=(8, 8, 8), hidden=16, accelerator="cpu")
    m.fit(small.inputs(), small.log10_m500)
    assert m.prior_edges_.size == m.prior_density_.size + 1
    assert m.prior_edges_[0] == pytest.approx(small.log10_m500.min())
    x = {k: torch.as_tensor(v) for k, v in m._normalize_x(m.prepare_x(small.inputs())).items()}
    y = torch.as_tensor(m._label_norm.transform(small.log10_m500[:, None].astype(np.float32)))
    with torch.no_grad():
        out = m.network(x)
        loss = m.compute_loss({"x": x, "y": y}, out)
        edges = m._label_norm.transform(m.prior_edges_[:, None].astype(np.float32)).ravel()
        expected = prior_gaussian_nll(y, out[0], out[1], edges, m.prior_density_)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    assert set(m.prepare_x(small.inputs())) == {"image", "redshift", "band_flux"}
    # off: the plain Gaussian NLL, and no prior is kept
    plain = ClusterMassCNN(loss="gaussian_nll", max_epochs=1, widths=(8, 8, 8), hidden=16, accelerator="cpu",
                           prior_correction=False, band_fluxes=False)
    plain.fit(small.inputs(), small.log10_m500)
    assert plain.prior_density_ is None and set(plain.prepare_x(small.inputs())) == {"image", "redshift"}
    with pytest.raises(InputValidationError, match="lr_schedule"):
        ClusterMassCNN(lr_schedule="step")


@pytest.mark.parametrize("param,value", [("band_fluxes", "yes"), ("prior_correction", 1), ("lr_schedule", "step"),
                                         ("warmup_fraction", 1.0), ("min_lr_fraction", -0.1)])
def test_new_hyperparameters_are_validated(param: str, value: object) -> None:
    with pytest.raises(InputValidationError, match=param):
        ClusterMassCNN(**{param: value})


def test_clone_keeps_every_parameter_as_given() -> None:
    from sklearn.base import clone

    m = ClusterMassCNN(widths=[8, 8], band_fluxes=False, prior_correction=False, lr_schedule="plateau")
    c = clone(m)
    assert c.get_params() == m.get_params() and c.widths == [8, 8] and c.bayesian
