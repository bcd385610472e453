"""Galaxy image classifiers: astroNN architectures, augmentation physics, Bayesian ResNet, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from astrotorch.datasets.synthetic_galaxies import make_synthetic_galaxies
from astrotorch.errors import InputValidationError
from astrotorch.models.arch.galaxy import Cifar10CNNNet, GalaxyResNetNet, MaxNormLinear, RightAngleShiftAugment
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
    probs, std = m.predict(x[:10])
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
    p1 = m.predict(x[:10])[0]
    torch.manual_seed(0)
    p2 = m2.predict(x[:10])[0]
    np.testing.assert_allclose(p1, p2, atol=1e-5)


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

    x, y, names, src = _galaxy_data(str(shared_data / "galaxy_zoo1_sdss" / "galaxy_zoo1_sdss69.h5"), 0, 0, None, None,
                                    None, [4])
    assert x.shape == (5286, 69, 69, 3) and names[1] == "Spiral clockwise" and "Don't know" not in names
    assert set(np.unique(y)) == set(range(5))
