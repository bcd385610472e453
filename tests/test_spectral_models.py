"""Tests of the APOGEE spectral architectures (models/arch/apogee.py, starnet.py) and models (models/spectra.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from astrotorch.datasets.spectra import element_windows, synthetic_spectra
from astrotorch.errors import InputValidationError, ModelFolderError, ShapeMismatchError
from astrotorch.io import sha256sum
from astrotorch.models import create_model, list_models, load_folder
from astrotorch.models import sigma_calibration as SC
from astrotorch.models import spectra as MS  # noqa: F401  (registers the spectral models)
from astrotorch.models.arch.apogee import (
    ApogeeBCNNCensoredNet,
    ApogeeBCNNNet,
    ApogeeCNNNet,
    ApogeeDR14GaiaDR2Net,
)
from astrotorch.models.arch.starnet import StarNet2017Net
from astrotorch.uncertainty.mc import mc_predict

L = 7514


def _n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_registered_with_astronn_defaults() -> None:
    names = {"apogee_cnn", "apogee_bcnn", "apogee_bcnn_censored", "apogee_dr14_gaiadr2_bcnn", "starnet2017"}
    assert names <= set(list_models())
    cnn = create_model("apogee_cnn")
    assert (cnn.num_filters, cnn.filter_len, cnn.pool_length, cnn.num_hidden) == ((2, 4), 8, 4, (196, 96))
    assert (cnn.lr, cnn.l2, cnn.dropout_rate, cnn.input_norm_mode) == (0.005, 1e-5, 0.1, 3)
    bcnn = create_model("apogee_bcnn")
    assert (bcnn.lr, bcnn.dropout_rate, bcnn.l2, bcnn.num_hidden) == (0.0005, 0.3, 5e-9, (196, 96))
    assert bcnn.bayesian and not cnn.bayesian
    cen = create_model("apogee_bcnn_censored")
    assert cen.num_hidden == (192, 96, 32, 16, 2) and cen.max_epochs == 50 and cen.maxnorm == 0.5
    gaia = create_model("apogee_dr14_gaiadr2_bcnn")
    assert gaia.num_hidden == (162, 64, 32, 16) and gaia.lr == 0.001 and gaia.labels_norm_mode == 0
    sn = create_model("starnet2017")
    assert (sn.num_filters, sn.num_hidden, sn.lr, sn.max_epochs, sn.reduce_lr_min) == ((4, 16), (256, 128), 0.0007, 30, 8e-5)
    assert sn.early_stopping_patience == 4 and sn.dropout_rate == 0.0


def test_parameter_counts_match_astronn_layers() -> None:
    d = 3
    flat_bcnn = (L // 4) * 4
    conv = (1 * 8 * 2 + 2) + (2 * 8 * 4 + 4)
    dense = flat_bcnn * 196 + 196 + 196 * 96 + 96
    assert _n_params(ApogeeCNNNet(L, d)) == conv + dense + 96 * d + d
    assert _n_params(ApogeeBCNNNet(L, d)) == conv + dense + 2 * (96 * d + d)
    flat_sn = (L // 4) * 16
    sn = (1 * 8 * 4 + 4) + (4 * 8 * 16 + 16) + flat_sn * 256 + 256 + 256 * 128 + 128 + 128 * d + d
    assert _n_params(StarNet2017Net(L, d)) == sn


def test_output_conventions_and_shape_errors() -> None:
    x = torch.randn(5, L)
    assert ApogeeCNNNet(L, 4)(x).shape == (5, 4)
    mean, logvar = ApogeeBCNNNet(L, 4)(x)
    assert mean.shape == logvar.shape == (5, 4)
    assert StarNet2017Net(L, 2)(x).shape == (5, 2)
    # astroNN's (N, L, 1) is not a valid network input; (N, 1, L) channel-first is accepted
    assert ApogeeCNNNet(L, 4)(x[:, None, :]).shape == (5, 4)
    with pytest.raises(ShapeMismatchError):
        ApogeeCNNNet(L, 4)(torch.randn(5, 100))


def test_bcnn_is_stochastic_in_eval_and_cnn_is_not() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, L)
    bcnn, cnn = ApogeeBCNNNet(L, 2).eval(), ApogeeCNNNet(L, 2).eval()
    assert not torch.allclose(bcnn(x)[0], bcnn(x)[0])
    assert torch.equal(cnn(x), cnn(x))


def test_bcnn_mc_split_matches_full_network() -> None:
    torch.manual_seed(1)
    net = ApogeeBCNNNet(L, 2).eval()
    prefix, rest = net.mc_split()
    # the prefix is deterministic (no MC layer before the first dropout)
    assert not any(getattr(m, "stochastic", False) for m in prefix.modules())
    x = torch.randn(4, L)
    for m in net.modules():
        if hasattr(m, "disable"):
            m.disable = True
    a = net(x)
    b = rest(prefix(x))
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    for m in net.modules():
        if hasattr(m, "disable"):
            m.disable = False
    # vectorised MC with the split agrees in distribution with a loop of full passes
    torch.manual_seed(2)
    res = mc_predict(net, x, n_samples=400)
    with torch.no_grad():
        loop = torch.stack([net(x)[0] for _ in range(400)])
    assert torch.allclose(res.mean, loop.mean(0), atol=4 * float(loop.std(0).max()) / 20 + 1e-4)
    ratio = res.model_var / loop.var(0)
    assert torch.all((ratio > 0.7) & (ratio < 1.4))


def test_censored_branch_sees_only_its_window() -> None:
    torch.manual_seed(0)
    win = element_windows(["Mg", "C"])
    net = ApogeeBCNNCensoredNet(L, 3, {1: win["Mg_H"], 2: win["C_H"]}, wide=(2,)).eval()
    for m in net.modules():
        if hasattr(m, "disable"):
            m.disable = True
    # cut the full-spectrum summary (the only other path into an element head besides stop-gradients)
    with torch.no_grad():
        net.aux_fullspec.weight.zero_()
    x = torch.randn(2, L, requires_grad=True)
    mean, _ = net(x)
    (g,) = torch.autograd.grad(mean[:, 1].sum(), x)
    outside = ~torch.as_tensor(win["Mg_H"])
    assert torch.all(g[:, outside] == 0) and torch.any(g[:, ~outside] != 0)
    # wide branch for C (astroNN: 32*8 and 16*4 units)
    assert net.branches[1][0].out_features == 256 and net.branches[1][3].out_features == 64
    # the trunk output (index 0) does depend on pixels outside the Mg window
    (g0,) = torch.autograd.grad(net(x)[0][:, 0].sum(), x)
    assert torch.any(g0[:, outside] != 0)


def test_maxnorm_constraint_applied_in_training() -> None:
    win = element_windows(["Mg"])
    net = ApogeeBCNNCensoredNet(L, 2, {1: win["Mg_H"]}).train()
    with torch.no_grad():
        net.aux_fullspec.weight.mul_(100.0)
    net(torch.randn(2, L))
    assert float(net.aux_fullspec.weight.norm(dim=1).max()) <= 0.5 + 1e-5


def test_gaia_net_physics() -> None:
    torch.manual_seed(0)
    net = ApogeeDR14GaiaDR2Net(L, 2).eval()
    for m in net.modules():
        if hasattr(m, "disable"):
            m.disable = True
    spec = torch.randn(3, L)
    aux = torch.randn(3, 2)
    with net.fakemag_output():
        fakemag, _ = net({"spectra": spec, "mag": torch.zeros(3, 1), "aux": aux})
    assert torch.all(fakemag > 0)  # softplus: a luminosity is positive
    p10, lv10 = net({"spectra": spec, "mag": torch.full((3, 1), 10.0), "aux": aux})
    p15, lv15 = net({"spectra": spec, "mag": torch.full((3, 1), 15.0), "aux": aux})
    off = net.offset(aux)
    assert torch.all(off.abs() < 1.0)
    # 5 magnitudes fainter → 10× smaller parallax (plus the same zero-point offset), 100× smaller variance
    assert torch.allclose(p10 - off, fakemag * 10 ** -2.0, rtol=1e-5)
    assert torch.allclose((p10 - off) / (p15 - off), torch.full_like(p10, 10.0), rtol=1e-4)
    assert torch.allclose(lv10 - lv15, torch.full_like(lv10, np.log(100.0)), atol=1e-4)
    with pytest.raises(InputValidationError):
        net(spec)


@pytest.fixture(scope="module")
def small_data():
    return synthetic_spectra(160, seed=9, n_visits=1)


def test_bcnn_fit_predict_save_load(small_data, tmp_path) -> None:
    d = small_data.combined
    m = create_model("apogee_bcnn", max_epochs=1, batch_size=32, targetname=d.label_names, accelerator="cpu", mc_num=8)
    m.fit(d.flux, d.labels, y_err=d.label_err)
    pred, sig = m.predict(d.flux[:6], x_err=d.flux_err[:6])
    assert pred.shape == (6, len(d.label_names))
    assert set(sig) == {"total", "model", "predictive", "propagated", "floor"}  # floor: validation calibration
    tot = np.sqrt(sig["model"] ** 2 + sig["predictive"] ** 2 + sig["propagated"] ** 2 + sig["floor"] ** 2)
    assert np.allclose(sig["total"], tot, rtol=1e-5)
    assert np.all(np.isfinite(pred)) and 2000 < np.median(pred[:, 0]) < 8000  # Teff in K, denormalised
    m.save(tmp_path / "bcnn")
    back = load_folder(tmp_path / "bcnn")
    assert type(back).__name__ == "ApogeeBCNN"
    for k, v in m.network.state_dict().items():
        assert torch.equal(v, back.network.state_dict()[k])
    with pytest.raises(ShapeMismatchError):
        m.predict(d.flux[:2, :100])


def test_cnn_and_starnet_save_load_identical(small_data, tmp_path) -> None:
    d = small_data.combined
    for name in ("apogee_cnn", "starnet2017"):
        m = create_model(name, max_epochs=1, batch_size=32, targetname=["teff", "logg"], accelerator="cpu")
        m.fit(d.flux, d.labels[:, :2])
        m.save(tmp_path / name)
        back = load_folder(tmp_path / name)
        assert np.array_equal(m.predict(d.flux[:5]), back.predict(d.flux[:5]))


def test_censored_model_needs_names_and_uses_windows(small_data, tmp_path) -> None:
    d = small_data.combined
    cols = d.label_index(["teff", "logg", "Fe_H", "Mg_H", "C_H"])
    m = create_model("apogee_bcnn_censored", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=4)
    with pytest.raises(InputValidationError):
        m.fit(d.flux, d.labels[:, cols])  # no targetname: windows cannot be matched to labels
    m = create_model("apogee_bcnn_censored", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=4,
                     targetname=["teff", "logg", "Fe_H", "Mg_H", "C_H"])
    m.fit(d.flux, d.labels[:, cols], y_err=d.label_err[:, cols])
    assert m.network.branch_idx == [3, 4] and m.network.main_idx == [0, 1, 2]
    pred, sig = m.predict(d.flux[:3])
    assert pred.shape == (3, 5)
    # explicit windows (pixel indices) round-trip through save/load
    win = {"Mg_H": np.flatnonzero(element_windows(["Mg"])["Mg_H"])}
    m2 = create_model("apogee_bcnn_censored", element_windows=win, max_epochs=1, accelerator="cpu", mc_num=4,
                      targetname=["teff", "Mg_H"])
    m2.fit(d.flux, d.labels[:, d.label_index(["teff", "Mg_H"])])
    m2.save(tmp_path / "cen")
    back = load_folder(tmp_path / "cen")
    from astrotorch.models.spectra import _windows_to_indices

    assert _windows_to_indices(back.element_windows) == _windows_to_indices(m2.element_windows)
    with pytest.raises(InputValidationError):
        create_model("apogee_bcnn_censored", element_windows="bogus")
    with pytest.raises(InputValidationError):
        create_model("apogee_bcnn_censored", element_windows={"Mg_H": np.zeros(L, bool)})


def test_aspcap_windows_from_real_mask(shared_data) -> None:
    path = shared_data / "apogee" / "astronn_aspcap_l31c_masks.npy"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    win = MS.aspcap_element_windows(path=path)
    assert {"Mg_H", "C_H", "Fe_H", "Ti2_H"} <= set(win)
    assert all(0 <= min(v) and max(v) < L for v in win.values())
    m = create_model("apogee_bcnn_censored", element_windows=win, targetname=["teff", "Mg_H", "Al_H"])
    net = m.build_network((L,), 3)
    assert net.branch_idx == [1, 2]


def test_gaia_model_fits_parallax_and_predicts_fakemag(small_data) -> None:
    d = small_data.combined
    rng = np.random.default_rng(0)
    n = len(d)
    teff, logg = d.labels_true[:, 0], d.labels_true[:, 1]
    # a luminosity from log g and Teff (L ∝ M T^4 / g), Ks absolute magnitude with a bolometric correction
    log_l = np.log10(1.2) - (logg - 4.44) + 4 * np.log10(teff / 5772.0)
    abs_k = 4.74 - 2.5 * log_l - 2.0
    app_k = rng.uniform(8.0, 12.0, n)
    plx = 10 ** (0.2 * (abs_k - app_k) + 2.0) + 0.05  # mas, with a zero-point offset
    x = {"spectra": d.flux, "mag": app_k, "aux": rng.normal(size=(n, 2))}
    m = create_model("apogee_dr14_gaiadr2_bcnn", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=4)
    m.fit(x, plx, y_err=np.full(n, 0.02))
    p, s = m.predict(x)
    assert p.shape == (n, 1) and set(s) >= {"total", "model", "predictive"}
    fm, fs = m.predict_fakemag(x)
    assert fm.shape == (n, 1) and np.all(fm > 0) and np.all(fs["total"] > 0)
    assert m.predict_offset(x["aux"]).shape == (n,)
    with pytest.raises(InputValidationError):
        m.predict(d.flux)  # needs the dict input


@pytest.fixture(scope="module")
def calibrated_bcnn(small_data):
    """One ApogeeBCNN fitted with x_err and the validation σ calibration (shared, read-only)."""
    d = small_data.combined
    cols = d.label_index(["teff", "logg", "Fe_H"])
    m = create_model("apogee_bcnn", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=6, val_size=0.25,
                     calibrate_uncertainty=True, targetname=["teff", "logg", "Fe_H"])
    return m.fit(d.flux, d.labels[:, cols], x_err=d.flux_err, y_err=d.label_err[:, cols])


def test_calibration_warning_from_fit_points_at_the_caller(small_data) -> None:
    d = small_data.combined
    m = create_model("apogee_bcnn", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=4, val_size=0.25)
    with pytest.warns(UserWarning, match="40 calibration stars pin σ") as seen:
        m.fit(d.flux, d.labels[:, :2], x_err=d.flux_err, y_err=d.label_err[:, :2])
    assert [w.filename for w in seen if "pin σ" in str(w.message)] == [__file__]


def test_bcnn_validation_calibration_scales_sigma(small_data, calibrated_bcnn) -> None:
    d = small_data.combined
    m = calibrated_bcnn
    assert m.sigma_scale_ is not None and m.sigma_scale_.shape == (3,)
    assert np.all((m.sigma_scale_ >= 0.1) & (m.sigma_scale_ <= 10.0))
    # the factor is applied to every σ component (same MC draws: same seed)
    torch.manual_seed(0)
    _, sig = m.predict(d.flux[:4])
    m2_scale, m.sigma_scale_ = m.sigma_scale_, None
    torch.manual_seed(0)
    try:
        _, raw = m.predict(d.flux[:4])
    finally:
        m.sigma_scale_ = m2_scale  # the fitted model is shared with the next test
    assert np.allclose(np.median(sig["predictive"] / raw["predictive"], axis=0), m2_scale, rtol=1e-3)


def test_bcnn_calibration_fits_propagated_scale_and_persists(small_data, calibrated_bcnn, tmp_path) -> None:
    d = small_data.combined
    cols = d.label_index(["teff", "logg", "Fe_H"])
    m = calibrated_bcnn
    assert m.propagated_scale_ is not None and m.propagated_scale_.shape == (3,)
    torch.manual_seed(0)
    _, sig = m.predict(d.flux[:4], x_err=d.flux_err[:4])
    assert m.sigma_floor_ is not None and np.all(m.sigma_floor_ >= 0)
    assert np.allclose(sig["total"] ** 2, sig["model"] ** 2 + sig["predictive"] ** 2 + sig["propagated"] ** 2
                       + sig["floor"] ** 2, rtol=1e-4)
    m.save(tmp_path / "bcnn")
    m2 = load_folder(tmp_path / "bcnn")
    assert np.allclose(m2.propagated_scale_, m.propagated_scale_) and np.allclose(m2.sigma_floor_, m.sigma_floor_)
    assert m2.calibration_snr_factor == m.calibration_snr_factor
    # how well the 40 validation stars pin σ (their bound), stored and persisted
    assert m.sigma_precision_.shape == (3,) and np.all((m.sigma_precision_ > 0.1) & np.isfinite(m.sigma_precision_))
    assert np.allclose(m2.sigma_precision_, m.sigma_precision_)
    # the noise power and its reference level are fitted and persisted; every σ component of a
    # spectrum with k times the validation noise carries the factor k^(γ/2)
    assert m.noise_power_.shape == (3,) and np.all((m.noise_power_ >= 0) & (m.noise_power_ <= SC.NOISE_POWER_BOUNDS[1]))
    assert m.noise_reference_ > 0 and m2.noise_reference_ == pytest.approx(m.noise_reference_)
    assert np.allclose(m2.noise_power_, m.noise_power_)
    g, m.noise_power_ = m.noise_power_, np.full(3, 2.0, np.float32)
    try:
        torch.manual_seed(0)
        _, at_ref = m.predict(d.flux[:4], x_err=d.flux_err[:4])
        m.noise_power_ = np.zeros(3, np.float32)
        torch.manual_seed(0)
        _, flat = m.predict(d.flux[:4], x_err=d.flux_err[:4])
    finally:
        m.noise_power_ = g
    ratio = MS.noise_level(m._propagated_input_errors(d.flux_err[:4])) / m.noise_reference_
    for key in ("model", "predictive", "propagated", "floor", "total"):
        assert np.allclose(at_ref[key], flat[key] * ratio[:, None], rtol=1e-4)
    torch.manual_seed(0)
    _, no_err = m.predict(d.flux[:4])  # without x_err: the training S/N, no noise factor
    assert "propagated" not in no_err and np.allclose(no_err["model"], flat["model"], rtol=1e-4)
    for key, value in (("noise_reference", -1.0), ("sigma_precision", [0.1, "x", 0.2]), ("sigma_precision", [-0.1])):
        bad = json.loads((tmp_path / "bcnn" / "config.json").read_text())
        bad[key] = value
        (tmp_path / "bcnn" / "config.json").write_text(json.dumps(bad))
        manifest = json.loads((tmp_path / "bcnn" / "manifest.json").read_text())  # a consistent but wrong folder
        manifest["files"]["config.json"] = sha256sum(tmp_path / "bcnn" / "config.json")
        (tmp_path / "bcnn" / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ModelFolderError, match=key):
            load_folder(tmp_path / "bcnn")
        m.save(tmp_path / "bcnn", overwrite=True)
    # without x_err in fit there is no propagated term: one factor only
    m3 = create_model("apogee_bcnn", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=6, val_size=0.25,
                      targetname=["teff", "logg", "Fe_H"])
    m3.fit(d.flux, d.labels[:, cols], y_err=d.label_err[:, cols])
    assert m3.sigma_scale_ is not None and m3.propagated_scale_ is None
    with pytest.raises(InputValidationError):
        create_model("apogee_bcnn", calibration_snr_factor=(0.5, 2.0))


def test_broken_noise_power_applies_beyond_the_break_and_persists(small_data, calibrated_bcnn, tmp_path) -> None:
    d = small_data.combined
    m = load_folder(calibrated_bcnn.save(tmp_path / "m"))  # a copy: the fixture is shared
    x, e = d.flux[:4], d.flux_err[:4] * 3.0  # three times the validation noise: beyond a break at 2
    ratio = SC.noise_level(m._propagated_input_errors(e)) / m.noise_reference_
    assert np.all(ratio > 2.5)
    m.noise_power_ = np.full(3, 1.0, np.float32)
    torch.manual_seed(0)
    _, one = m.predict(x, x_err=e)
    m.noise_power_high_, m.noise_break_ = np.array([3.0, np.nan, 3.0], np.float32), np.array([2.0, np.nan, 2.0], np.float32)
    torch.manual_seed(0)
    _, two = m.predict(x, x_err=e)
    # σ gains (ν/ν_b)^((γ₂ − γ)/2) beyond the break; the label without one keeps one power
    for key in ("model", "propagated", "total"):
        assert np.allclose(two[key][:, [0, 2]], one[key][:, [0, 2]] * (ratio / 2.0)[:, None], rtol=1e-4)
        assert np.allclose(two[key][:, 1], one[key][:, 1], rtol=1e-5)
    m.save(tmp_path / "broken")
    m2 = load_folder(tmp_path / "broken")
    assert np.array_equal(m2.noise_power_high_, m.noise_power_high_, equal_nan=True)
    assert np.array_equal(m2.noise_break_, m.noise_break_, equal_nan=True)
    torch.manual_seed(0)
    assert np.allclose(m2.predict(x, x_err=e)[1]["total"], two["total"], rtol=1e-5)
    cfg_path = tmp_path / "broken" / "config.json"
    good = cfg_path.read_text()
    for change in ({"noise_break": None}, {"noise_break": [2.0, None, -1.0]}, {"noise_power_high": [3.0, None]},
                   {"noise_power_high": [3.0, 1.0, 3.0]}):  # a power without its break
        cfg_path.write_text(json.dumps({**json.loads(good), **change}))
        manifest = json.loads((tmp_path / "broken" / "manifest.json").read_text())
        manifest["files"]["config.json"] = sha256sum(cfg_path)
        (tmp_path / "broken" / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ModelFolderError, match="noise_power_high and noise_break"):
            load_folder(tmp_path / "broken")
    with pytest.raises(InputValidationError, match="calibration_noise_form"):
        create_model("apogee_bcnn", calibration_noise_form="spline")


def test_calibrate_sigma_refits_on_given_stars(small_data, calibrated_bcnn, tmp_path) -> None:
    """The public recalibration: the same estimator as fit's, on stars the caller chooses."""
    d = small_data.combined
    cols = d.label_index(["teff", "logg", "Fe_H"])
    m = load_folder(calibrated_bcnn.save(tmp_path / "m"))  # a copy: the fixture is shared
    m.sigma_scale_ = m.propagated_scale_ = m.sigma_floor_ = m.noise_power_ = None
    val = m.validation_indices(len(d.flux))
    assert len(val) == 40 and np.array_equal(np.sort(val), np.sort(m._split(list(range(160)))[1].indices))
    with pytest.warns(UserWarning, match="30 calibration stars pin σ") as seen:  # 30 stars cannot pin σ to 10 %
        m.calibrate_sigma(d.flux[:30], d.labels[:30, cols], x_err=d.flux_err[:30], y_err=d.label_err[:30, cols])
    assert seen[0].filename == __file__  # the warning points at the caller's line, not the library's
    assert m.sigma_precision_.shape == (3,) and np.all(m.sigma_precision_ > 0.1)
    names, m.targetname = m.targetname, None  # unnamed labels are named as evaluate names them
    with pytest.warns(UserWarning, match=r"only to label_0 ±\d+ %, label_1"):
        m.calibrate_sigma(d.flux[:30], d.labels[:30, cols], x_err=d.flux_err[:30], y_err=d.label_err[:30, cols])
    m.targetname = names
    assert m.calibrate_sigma(d.flux[:80], d.labels[:80, cols], x_err=d.flux_err[:80], y_err=d.label_err[:80, cols]) is m
    assert m.sigma_scale_.shape == (3,) and m.propagated_scale_.shape == (3,) and m.noise_power_.shape == (3,)
    assert m.noise_reference_ == pytest.approx(float(np.median(MS.noise_level(m._propagated_input_errors(d.flux_err[:80])))))
    m.calibrate_sigma(d.flux[:80], d.labels[:80, cols])  # no errors: one factor (and floor) per label
    assert m.propagated_scale_ is None and m.noise_power_ is None and m.sigma_scale_.shape == (3,)
    with pytest.raises(ShapeMismatchError, match="y must have shape"):
        m.calibrate_sigma(d.flux[:80], d.labels[:79, cols])
    with pytest.raises(ShapeMismatchError, match="y_err"):
        m.calibrate_sigma(d.flux[:80], d.labels[:80, cols], y_err=d.label_err[:80, :2])
    with pytest.raises(InputValidationError, match="at least 10"):
        m.calibrate_sigma(d.flux[:5], d.labels[:5, cols])


def test_propagated_sigma_ignores_flagged_pixels(small_data) -> None:
    d = small_data.combined
    cols = d.label_index(["teff", "logg", "Fe_H"])
    m = create_model("apogee_bcnn", max_epochs=1, batch_size=32, accelerator="cpu", mc_num=8, val_size=0.0,
                     targetname=["teff", "logg", "Fe_H"])
    m.fit(d.flux, d.labels[:, cols], y_err=d.label_err[:, cols])
    x, e = d.flux[:6], d.flux_err[:6].copy()
    e_clean = np.where(MS.flagged_by_error(e), 0.0, e)
    huge = e.copy()
    flagged = MS.flagged_by_error(e)
    assert flagged.any()
    huge[flagged] *= 1e3  # a flagged pixel's error must not matter, however large
    torch.manual_seed(0)
    _, s_flag = m.predict(x, x_err=huge)
    torch.manual_seed(0)
    _, s_clean = m.predict(x, x_err=e_clean)
    np.testing.assert_allclose(s_flag["propagated"], s_clean["propagated"], rtol=1e-5)
    m.set_params(masked_error_ratio=None)  # propagate every pixel: the inflated errors dominate
    torch.manual_seed(0)
    _, s_all = m.predict(x, x_err=huge)
    assert np.all(np.median(s_all["propagated"], axis=0) > 3 * np.median(s_clean["propagated"], axis=0))
    with pytest.raises(InputValidationError):
        create_model("apogee_bcnn", masked_error_ratio=0.5)


def test_train_spectra_cli_writes_run_folder(tmp_path) -> None:
    import json

    from astrotorch.cli.train_spectra import train_spectra

    with pytest.warns(UserWarning, match="the 30 calibration stars pin σ"):  # ±13 % from 30 exact labels
        out = train_spectra(model="apogee_bcnn", data="synthetic", n_train=60, n_test=16, n_visits=1, epochs=1,
                            mc_num=4, labels="teff,logg,Fe_H", out=tmp_path / "run", seed=1, calibration_stars=30)
    files = {p.name for p in out.iterdir()}
    assert {"model", "metrics.json", "metrics.csv", "metrics.md", "metrics_visits.csv", "report.md", "plots"} <= files
    assert {"residuals.png", "calibration.png", "jacobian.png"} <= {p.name for p in (out / "plots").iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 60 and set(metrics["test"]) == {"teff", "logg", "Fe_H"}
    assert "z_std" in metrics["test"]["logg"]
    report = (out / "report.md").read_text()
    assert "Held-out metrics" in report and "plots/calibration.png" in report
    # σ calibrated after training on 30 more generated stars with exact labels, not on the validation split
    assert metrics["sigma_calibrated_on"].startswith("30 more generated stars with exact labels")
    assert "factors fitted on 30 more generated stars with exact labels" in report
    saved = load_folder(out / "model")
    assert type(saved).__name__ == "ApogeeBCNN" and saved.sigma_scale_ is not None
    assert saved.calibrate_uncertainty is False  # fit did not calibrate on its validation split
    assert saved.sigma_precision_ == pytest.approx(np.full(3, 1 / np.sqrt(60)), rel=1e-5)  # exact labels: 1/sqrt(2N)
    with pytest.raises(InputValidationError):
        train_spectra(model="apogee_dr14_gaiadr2_bcnn", n_train=20, n_test=10, out=tmp_path / "x")


def test_same_conv1d_matches_keras_same_padding_conv1d():
    import torch
    from torch import nn

    from astrotorch.models.arch.apogee import SameConv1d

    torch.manual_seed(0)
    for c_in, c_out, k in ((1, 2, 8), (2, 4, 8), (3, 5, 7)):
        ref = nn.Conv1d(c_in, c_out, k, padding="same")
        fast = SameConv1d(c_in, c_out, k)
        fast.load_state_dict(ref.state_dict())  # same parameter names and shapes
        x = torch.randn(4, c_in, 101)
        torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)
