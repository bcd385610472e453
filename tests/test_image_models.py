"""Galaxy image classifiers: astroNN architectures, augmentation physics, Bayesian ResNet, calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from astrotorch.datasets.synthetic_galaxies import make_synthetic_galaxies
from astrotorch.errors import InputValidationError
from astrotorch.models.arch.galaxy import (
    Cifar10CNNNet,
    GalaxyResNetNet,
    MaxNormLinear,
    PolarBranch,
    RightAngleShiftAugment,
    SpiralWindingFeatures,
    center_crop,
    dihedral_views,
    resolve_crop,
)
from astrotorch.models.galaxy import (
    Cifar10CNN,
    Galaxy10CNN,
    GalaxyResNet,
    _MirrorSwapDataset,
    classes_are_chiral,
    mirror_label_map,
)

GZ1 = ["Elliptical", "Spiral clockwise", "Spiral anticlockwise", "Edge-on", "Merger"]


@pytest.fixture(scope="module")
def two_class() -> tuple[np.ndarray, np.ndarray]:
    # round smooth (2) vs edge-on without bulge (8): separable by shape, relabelled 0 / 1
    d = make_synthetic_galaxies(160, size=32, seed=11, classes=[2, 8])
    return d.images, (d.labels == 8).astype(np.int64)


def test_cifar10cnn_matches_astronn_layer_sizes() -> None:
    # Keras Cifar10CNN on 32×32×3 with 10 classes: 224 + 1168 + 262400 + 32896 + 1290 parameters
    net = Cifar10CNNNet((3, 32, 32), 10)
    assert sum(p.numel() for p in net.parameters()) == 224 + 1168 + 262400 + 32896 + 1290
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # 69×69 Galaxy10 SDSS input: 4×4 pooling floors 69 → 17
    assert Cifar10CNNNet((3, 69, 69), 10).fc1.in_features == 16 * 17 * 17


def test_maxnorm_constraint_holds() -> None:
    lin = MaxNormLinear(5, 3, max_norm=2.0)
    with torch.no_grad():
        lin.weight.mul_(100.0)
    x = torch.eye(5)
    eff = (lin(x) - lin.bias).T  # rows = effective weight vectors
    assert torch.all(eff.norm(dim=1) <= 2.0 + 1e-5)


def _dihedral(img: torch.Tensor, flips: bool) -> list[torch.Tensor]:
    out = [torch.rot90(img, k, dims=(-2, -1)) for k in range(4)]
    if flips:
        out += [torch.rot90(torch.flip(img, dims=(-1,)), k, dims=(-2, -1)) for k in range(4)]
    return out


@pytest.mark.parametrize("flips", [False, True])
def test_augmentation_is_exact_rotation_and_respects_chirality(flips: bool) -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 3, 9, 9)
    aug = RightAngleShiftAugment(max_shift=0, allow_flips=flips).train()
    y = aug(x)
    seen_mirror = False
    for i in range(64):
        rots = _dihedral(x[i], flips=False)
        match_rot = any(torch.allclose(y[i], r, atol=1e-5) for r in rots)
        if not flips:
            assert match_rot  # a rotation, never a mirror image: handedness is preserved
        else:
            assert any(torch.allclose(y[i], r, atol=1e-5) for r in _dihedral(x[i], flips=True))
            seen_mirror |= not match_rot
    assert seen_mirror == flips
    assert torch.equal(aug.eval()(x), x)  # identity at inference


def test_augmentation_shift_is_integer_pixels() -> None:
    torch.manual_seed(1)
    x = torch.zeros(32, 1, 15, 15)
    x[:, :, 7, 7] = 1.0
    y = RightAngleShiftAugment(max_shift=2).train()(x)
    for i in range(32):
        assert torch.isclose(y[i].max(), torch.tensor(1.0)) and torch.isclose(y[i].sum(), torch.tensor(1.0))
        r, c = divmod(int(torch.argmax(y[i])), 15)
        assert abs(r - 7) <= 2 and abs(c - 7) <= 2


def test_chirality_defaults_and_mirror_map() -> None:
    assert classes_are_chiral(GZ1) and classes_are_chiral(None)
    assert not classes_are_chiral(["Round Smooth", "Barred Spiral"])
    assert not GalaxyResNet(targetname=GZ1).flips_allowed()
    assert GalaxyResNet(targetname=["Round Smooth", "Barred Spiral"]).flips_allowed()
    assert not GalaxyResNet(targetname=["Round Smooth", "Barred Spiral"], chirality_sensitive=True).flips_allowed()
    assert mirror_label_map(GZ1) == [0, 2, 1, 3, 4]
    assert mirror_label_map(["a", "b"]) is None


def test_mirror_swap_dataset_flips_image_and_label_together() -> None:
    from astrotorch.models.base import ArrayDataset

    x = torch.arange(4.0).reshape(1, 1, 2, 2).repeat(50, 1, 1, 1)
    base = ArrayDataset(x, torch.full((50,), 1))
    ds = _MirrorSwapDataset(base, [0, 2, 1, 3, 4])
    torch.manual_seed(0)
    flipped = 0
    for i in range(50):
        item = ds[i]
        is_flipped = torch.equal(item["x"], torch.flip(x[i], dims=(-1,)))
        assert is_flipped == (int(item["y"]) == 2)
        flipped += is_flipped
    assert 10 < flipped < 40


def test_resnet_mc_split_equals_forward() -> None:
    net = GalaxyResNetNet((3, 24, 24), 4, widths=(8, 8, 8)).eval()
    for m in net.modules():
        if hasattr(m, "disable"):
            m.disable = True
    x = torch.rand(3, 3, 24, 24)
    trunk, head = net.mc_split()
    a, b = net(x), head(trunk(x))
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])


def test_galaxy_resnet_fit_predict_calibrate_save(two_class, tmp_path: Path) -> None:
    from astrotorch.models import load_folder

    x, y = two_class
    m = GalaxyResNet(max_epochs=3, widths=(8, 8, 16), hidden=16, mc_num=8, targetname=["round", "edge-on"],
                     accelerator="cpu", batch_size=32, val_size=0.25)
    m.fit(x, y)
    torch.manual_seed(3)
    probs, std = m.predict_proba(x[:10], return_std=True)
    torch.manual_seed(3)
    np.testing.assert_array_equal(m.predict(x[:10]), m.classes_[probs.argmax(1)])  # labels, not probabilities
    assert probs.shape == (10, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert set(std) >= {"model", "total"} and np.all(std["total"] >= 0)
    assert 0.05 <= m.temperature_ <= 20.0
    assert float(m.network.calib.temperature) == pytest.approx(m.temperature_)
    ev = m.evaluate(x, y)
    assert {"accuracy", "ece", "log_loss"} <= set(ev)
    m.save(tmp_path / "m")
    m2 = load_folder(tmp_path / "m")
    assert m2.temperature_ == pytest.approx(m.temperature_)
    torch.manual_seed(0)
    p1 = m.predict_proba(x[:10])
    torch.manual_seed(0)
    p2 = m2.predict_proba(x[:10])
    np.testing.assert_allclose(p1, p2, atol=1e-5)


def test_dihedral_views_and_centre_crop() -> None:
    x = torch.arange(2 * 3 * 7 * 7, dtype=torch.float32).reshape(2, 3, 7, 7)
    views = dihedral_views(x)
    assert len(views) == 8 and sum(m for _, m in views) == 4
    flat = {tuple(v.flatten().tolist()) for v, _ in views}
    assert len(flat) == 8  # all distinct for a generic image
    assert {tuple(v.flatten().tolist()) for v in _dihedral(x, True)} == flat
    for v, mirrored in views:  # a mirrored view is a mirror of some rotation, and vice versa
        is_rot = any(torch.equal(v, torch.rot90(x, k, dims=(-2, -1))) for k in range(4))
        assert is_rot != mirrored
    # 69 → 49: 10 pixels each side, so the crop commutes with the rotations (exactly centred)
    img = torch.rand(1, 3, 69, 69)
    c = center_crop(img, 49)
    assert c.shape == (1, 3, 49, 49) and torch.equal(c, img[..., 10:59, 10:59])
    for k in range(4):
        torch.testing.assert_close(center_crop(torch.rot90(img, k, dims=(-2, -1)), 49), torch.rot90(c, k, dims=(-2, -1)))
    assert center_crop(img, 80) is img
    # fractional crops keep the parity of the side (exactly centred): the default 0.71 is 49 of 69
    assert [resolve_crop(0.71, n) for n in (69, 256, 32)] == [49, 182, 22]
    assert resolve_crop(None, 69) is None and resolve_crop(40, 69) == 40
    assert GalaxyResNet(targetname=GZ1).build_network((3, 69, 69), 5).trunk.crop == 49


def _log_spiral(n: int = 69, pitch_deg: float = 20.0, arms: int = 2) -> torch.Tensor:
    c = (n - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(n) - c, torch.arange(n) - c, indexing="ij")
    r = torch.sqrt(xx**2 + yy**2) + 1e-3
    theta = torch.atan2(-yy, xx)
    arm = torch.cos(arms * (theta - torch.log(r) / math.tan(math.radians(pitch_deg)))) + 1.0
    img = torch.exp(-r / 6.0) * (0.3 + arm) + 0.02
    return img.expand(1, 3, n, n).clone()


def test_spiral_winding_features_sign_and_symmetry() -> None:
    feat = SpiralWindingFeatures()
    s = _log_spiral()
    f = feat(s)
    assert f.shape == (1, 4)
    assert float(f[0, 3].abs()) > 2.0  # strongly wound pattern: |coherence| near 1 (× scale 5)
    # mirror image: opposite winding; rotations by 90°: unchanged
    torch.testing.assert_close(feat(torch.flip(s, dims=(-1,))), -f, atol=1e-4, rtol=1e-4)
    for k in (1, 2, 3):
        torch.testing.assert_close(feat(torch.rot90(s, k, dims=(-2, -1))), f, atol=1e-4, rtol=1e-4)
    # a smooth round galaxy has no winding
    c = 34
    yy, xx = torch.meshgrid(torch.arange(69) - c, torch.arange(69) - c, indexing="ij")
    blob = torch.exp(-torch.sqrt(xx**2 + yy**2.0) / 6.0).expand(1, 3, 69, 69)
    assert float(feat(blob).abs().max()) < 0.2 * float(f[0, 3].abs())
    # the opposite-handed spiral (negative pitch) has the opposite sign
    assert float(feat(_log_spiral(pitch_deg=-20.0))[0, 3]) * float(f[0, 3]) < 0


def test_polar_branch_rotation_is_cyclic_shift() -> None:
    pb = PolarBranch(3, 8, n_theta=64)
    x = torch.rand(2, 3, 69, 69)
    p = pb.polar(x)
    assert p.shape == (2, 3, 24, 64)
    torch.testing.assert_close(pb.polar(torch.rot90(x, 1, dims=(-2, -1))), torch.roll(p, 16, dims=-1), atol=1e-5, rtol=0)
    assert pb(x).shape == (2, 8)
    net = GalaxyResNetNet((3, 69, 69), 5, widths=(4, 4, 4), crop=49, polar_width=8, spiral_features=True)
    assert net.trunk.out_features == 4 + 8 + 4
    out = net(x)
    assert out[0].shape == (2, 5)


def _noiseless(m: GalaxyResNet) -> None:
    """Switch off MC dropout and the logit noise, so predictions are deterministic."""
    for mod in m.network.modules():
        if hasattr(mod, "disable"):
            mod.disable = True
    with torch.no_grad():
        m.network.head.log_var.bias.fill_(-40.0)
        m.network.head.log_var.weight.zero_()


def test_tta_is_rotation_invariant_and_swaps_handedness_for_mirrors() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 255, size=(40, 21, 21, 3)).astype(np.uint8)
    y = rng.integers(0, 5, size=40)
    m = GalaxyResNet(max_epochs=1, widths=(4, 4, 4), hidden=8, mc_num=2, crop=15, targetname=GZ1, accelerator="cpu",
                     batch_size=20, val_size=0.25, temperature_scaling=False, spiral_features=True, polar_width=4)
    assert m.tta and m.lr_schedule == "cosine"
    m.fit(x, y)
    _noiseless(m)
    with torch.no_grad():  # make the two spiral outputs strongly depend on the image, not only on the bias
        m.network.head.logits.weight.normal_(0, 3.0)
    xs = x[:8]
    p = m.predict_proba(xs)
    swap = [0, 2, 1, 3, 4]
    np.testing.assert_allclose(m.predict_proba(np.rot90(xs, 1, axes=(1, 2))), p, atol=1e-5)
    np.testing.assert_allclose(m.predict_proba(np.rot90(xs, 3, axes=(1, 2))), p, atol=1e-5)
    # the mirror image of a clockwise spiral is an anticlockwise spiral: outputs 1 and 2 swap
    pm = m.predict_proba(xs[:, :, ::-1])
    np.testing.assert_allclose(pm, p[:, swap], atol=1e-5)
    assert np.abs(p[:, 1] - p[:, 2]).max() > 1e-3  # the check above is not trivially symmetric
    # without TTA the network alone has no such symmetry
    m.tta = False
    q = m.predict_proba(xs)
    assert np.abs(m.predict_proba(np.rot90(xs, 1, axes=(1, 2))) - q).max() > 1e-4
    # handed classes with no mirror map: rotations only (4 views), never an unswapped mirror
    m.tta, m.targetname = True, ["a", "b", "c", "d", "e"]
    m.chirality_sensitive = True
    assert len(m._tta_views(torch.zeros(1, 3, 5, 5))) == 4
    m.chirality_sensitive = False
    assert len(m._tta_views(torch.zeros(1, 3, 5, 5))) == 8


def test_galaxy_resnet_cosine_schedule_and_options(two_class) -> None:
    x, y = two_class
    m = GalaxyResNet(max_epochs=2, widths=(4, 8, 8), hidden=8, mc_num=2, crop=24, lr=1e-2, targetname=["round", "edge-on"],
                     accelerator="cpu", batch_size=32)
    m.fit(x, y)
    assert m.early_stopping_patience is None and len(m.history) == 2
    assert m.history["lr"].iloc[-1] < 0.05 * 1e-2  # decayed towards min_lr_fraction · lr
    assert m.network.trunk.crop == 24
    with pytest.raises(InputValidationError):
        GalaxyResNet(lr_schedule="step")
    for bad in (3, -0.5, 0.0):
        with pytest.raises(InputValidationError):
            GalaxyResNet(crop=bad)
    p = GalaxyResNet(lr_schedule="plateau", max_epochs=1, widths=(4, 4, 4), hidden=8, mc_num=2, tta=False,
                     targetname=["round", "edge-on"], accelerator="cpu", batch_size=32).fit(x, y).predict_proba(x[:4])
    assert p.shape == (4, 2)


def test_galaxy10cnn_learns_separable_classes() -> None:
    # its own, larger set: 96 training images left this test at chance on another torch build
    d = make_synthetic_galaxies(360, size=32, seed=12, classes=[2, 8])
    x, y = d.images, (d.labels == 8).astype(np.int64)
    m = Galaxy10CNN(max_epochs=12, targetname=["round", "edge-on"], accelerator="cpu", lr=0.002, val_size=0.2,
                    early_stopping_patience=None)
    m.fit(x[:300], y[:300])
    acc = float(np.mean(m.predict_classes(x[300:]) == y[300:]))
    assert acc >= 0.8
    assert m.get_params()["l2"] == 1e-4 and m.get_params()["dropout_rate"] == 0.1  # astroNN's defaults


def test_default_names_and_bad_inputs() -> None:
    assert Galaxy10CNN().targetname[0] == "Disturbed" and len(Galaxy10CNN().targetname) == 10
    assert Cifar10CNN().targetname[0] == "airplane"
    m = GalaxyResNet(max_epochs=1)
    with pytest.raises(InputValidationError, match=r"\(N, H, W, C\)"):
        m.fit(np.zeros((4, 8, 8)), np.zeros(4))
    with pytest.raises(InputValidationError, match="classifier"):
        GalaxyResNet(task="regression")


def _cli_args(**kw):
    base = dict(task="galaxy10", data="synthetic", model=None, epochs=1, seed=0, n_train=60, test_size=0.25, labels=None,
                crop=None, size=32, exclude_classes="", loss="gaussian_nll", precision="32-true", accelerator="cpu",
                batch_size=32, overwrite=False)
    base.update(kw)
    return base


def test_cli_train_images_galaxy_and_cluster(tmp_path: Path) -> None:
    import json

    from astrotorch.cli.train_images import train_images

    out = tmp_path / "g"
    train_images(**_cli_args(out=out, model="galaxy10_cnn"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "galaxy10" and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    for f in ("confusion.png", "reliability.png", "loss_curves.png", "examples.png"):
        assert (out / "plots" / f).is_file()
    assert (out / "model" / "manifest.json").is_file() and (out / "report.md").is_file()
    out2 = tmp_path / "c"
    train_images(**_cli_args(task="cluster-mass", out=out2, n_train=48))
    m2 = json.loads((out2 / "metrics.json").read_text())
    assert m2["loss"] == "gaussian_nll" and "zscore_std" in m2["test"]
    for f in ("pred_vs_true.png", "error_histogram.png", "zscores.png", "loss_curves.png"):
        assert (out2 / "plots" / f).is_file()
    with pytest.raises(InputValidationError, match="task"):
        train_images(**_cli_args(task="spectra", out=tmp_path / "x"))
    assert not (tmp_path / "x").exists()


@pytest.mark.realdata
def test_cli_reads_the_shared_h5(shared_data: Path, tmp_path: Path) -> None:
    from astrotorch.cli.train_images import _galaxy_data

    x, y, names, src, *_ = _galaxy_data(str(shared_data / "galaxy_zoo1_sdss" / "galaxy_zoo1_sdss69.h5"), 0, 0, None, None,
                                    None, [4])
    assert x.shape == (5286, 69, 69, 3) and names[1] == "Spiral clockwise" and "Don't know" not in names
    assert set(np.unique(y)) == set(range(5))
