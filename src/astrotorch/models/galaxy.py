"""Galaxy-morphology classifiers: astroNN's Galaxy10CNN / Cifar10CNN and a Bayesian residual CNN.

Inputs are images as astroNN takes them, ``(N, H, W, C)`` arrays (uint8 or float); the model
transposes them to channels-first. Outputs are class probabilities ``(N, n_classes)``; the Bayesian
``galaxy_resnet`` also returns standard deviations of the probabilities (``{"model", "total"}``).

Calibration: after training, every model here fits one temperature ``T`` (logits / T) on the
*validation* split by minimising the negative log-likelihood of the probabilities exactly as
``predict`` computes them (Monte Carlo averaged for the Bayesian network). ``T`` lives in a network
buffer, so it is saved and reloaded with the weights. Disable with ``temperature_scaling=False``.

Example::

    from astrotorch.models import create_model
    m = create_model("galaxy_resnet", max_epochs=20, targetname=names)
    m.fit(images_uint8, labels)            # (N, 69, 69, 3), (N,)
    probs, std = m.predict(test_images)
    m.evaluate(test_images, test_labels)   # accuracy, log_loss, ece
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from astrotorch.datasets.galaxy10 import DECALS_CLASSES
from astrotorch.errors import InputValidationError
from astrotorch.models.arch.galaxy import Cifar10CNNNet, GalaxyResNetNet, RightAngleShiftAugment
from astrotorch.models.base import AstroModel, deterministic_layers
from astrotorch.models.registry import register_model

#: Galaxy10 DECaLS class names (one definition, in astrotorch.datasets.galaxy10)
GALAXY10_DECALS_CLASSES: tuple[str, ...] = DECALS_CLASSES

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def classes_are_chiral(names: list[str] | tuple[str, ...] | None) -> bool:
    """Whether a class list distinguishes mirror images (clockwise vs anticlockwise spirals).

    ``None`` (unknown classes) counts as chiral: refusing flips costs a little augmentation,
    while flipping a handed class set silently corrupts labels.
    """
    if names is None:
        return True
    text = " ".join(str(n).lower() for n in names)
    return any(word in text for word in ("clockwise", "anticlockwise", "counterclockwise", "s-wise", "z-wise", "handed"))


class _MirrorSwapDataset(Dataset):
    """Training-split wrapper: mirror half the images (left-right) and map their labels.

    A mirror image of a clockwise spiral is an anticlockwise spiral, so for chiral class sets a flip
    is a valid augmentation *if* the label is swapped too (``label_map``, e.g. ``[0, 2, 1, 3, 4]``).
    The coin is ``torch``'s global generator, which Lightning seeds (``seed_everything``).
    """

    def __init__(self, base: Dataset, label_map: list[int]) -> None:
        self.base = base
        self.label_map = torch.as_tensor(label_map, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.base[i])
        if bool(torch.rand(()) < 0.5):
            item["x"] = torch.flip(torch.as_tensor(item["x"]), dims=(-1,))
            y = torch.as_tensor(item["y"], dtype=torch.long)
            item["y"] = torch.where(y >= 0, self.label_map[y.clamp(min=0)], y)
        return item


def mirror_label_map(names: list[str] | tuple[str, ...] | None) -> list[int] | None:
    """Label permutation under a mirror image: swaps each "... clockwise" with "... anticlockwise" class.

    Returns ``None`` when the names have no such pair (or are unknown).
    """
    if not names:
        return None
    low = [str(n).lower().replace("counterclockwise", "anticlockwise").replace("counter-clockwise", "anticlockwise")
           for n in names]
    mapping = list(range(len(low)))
    found = False
    for i, n in enumerate(low):
        if "anticlockwise" in n:
            twin = n.replace("anticlockwise", "clockwise")
            j = next((k for k, m in enumerate(low) if m == twin), None)
            if j is not None:
                mapping[i], mapping[j] = j, i
                found = True
    return mapping if found else None


class _ImageClassifier(AstroModel):
    """Shared machinery: NHWC input, augmentation choice, validation split capture, temperature."""

    channels_last_input: ClassVar[bool] = True

    def __init__(
        self,
        *,
        augment: bool = True,
        max_shift: int = 3,
        chirality_sensitive: bool | None = None,
        mirror_swap: bool = True,
        temperature_scaling: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("task", "classification")
        super().__init__(**kwargs)
        if self.task != "classification":
            raise InputValidationError(f"{type(self).__name__} is a classifier: task must be 'classification'")
        self.augment = augment
        self.max_shift = max_shift
        self.chirality_sensitive = chirality_sensitive
        self.mirror_swap = mirror_swap
        self.temperature_scaling = temperature_scaling
        self.temperature_: float = 1.0
        self._val_ds: Dataset | None = None

    # ------------------------------------------------------------------ hooks
    def prepare_x(self, x: Any) -> np.ndarray:
        arr = super().prepare_x(x)
        if isinstance(arr, dict) or arr.ndim != 4:
            shape = {k: v.shape for k, v in arr.items()} if isinstance(arr, dict) else arr.shape
            raise InputValidationError(f"{type(self).__name__} expects images (N, H, W, C), got shape {shape}")
        return arr

    def flips_allowed(self) -> bool:
        """Mirror-image augmentation is used only for class sets without handedness."""
        chiral = self.chirality_sensitive
        if chiral is None:
            chiral = classes_are_chiral(self.targetname)
        return not chiral

    def _augmenter(self) -> nn.Module | None:
        if not self.augment:
            return None
        return RightAngleShiftAugment(max_shift=self.max_shift, allow_flips=self.flips_allowed())

    def _split(self, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        train, val = super()._split(ds)
        self._val_ds = val  # kept for temperature scaling after training
        # chiral classes: mirror images are still usable when the handed labels are swapped with them
        mapping = mirror_label_map(self.targetname) if (self.augment and self.mirror_swap) else None
        if mapping is not None and not self.flips_allowed():
            train = _MirrorSwapDataset(train, mapping)
        return train, val

    def fit(self, x: Any, y: Any = None, *args: Any, **kwargs: Any) -> _ImageClassifier:
        """Train (see :meth:`AstroModel.fit`), then fit the temperature on the validation split."""
        self._val_ds = None
        self._set_temperature(1.0)
        super().fit(x, y, *args, **kwargs)
        if self.temperature_scaling and self._val_ds is not None and len(self._val_ds) > 0:  # type: ignore[arg-type]
            self._fit_temperature(self._val_ds)
        self._val_ds = None  # do not keep a reference to the training arrays
        return self

    # ------------------------------------------------------------------ temperature scaling
    def _temperature_module(self) -> Any:
        return self.network.calib  # type: ignore[union-attr]

    def _set_temperature(self, t: float) -> None:
        self.temperature_ = float(t)
        if self.network is not None:
            self._temperature_module().temperature.fill_(float(t))

    def _raw_logit_samples(self, ds: Dataset, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit samples at T = 1, ``(S, N, C)``, drawn as ``predict`` draws them, and labels ``(N,)``."""
        net = self.network
        device = self._device()
        net.eval()
        loader = DataLoader(ds, batch_size=max(self.batch_size, 256), shuffle=False)
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 1)
        outs, ys = [], []
        with torch.no_grad():
            for batch in loader:
                xb = batch["x"].to(device)
                ys.append(batch["y"].cpu())
                if not self.bayesian:
                    with deterministic_layers(net):
                        outs.append(net(xb).float().cpu()[None])
                    continue
                trunk, head = net.mc_split()
                h = trunk(xb)
                samples = []
                for _ in range(n_samples):
                    logits, log_var = head(h)
                    eps = torch.randn(logits.shape, generator=gen).to(device)
                    samples.append((logits.float() + torch.exp(0.5 * log_var.float()) * eps).cpu())
                outs.append(torch.stack(samples))
        return torch.cat(outs, dim=1), torch.cat(ys)

    def _fit_temperature(self, ds: Dataset) -> None:
        """Minimise the validation NLL of MC-averaged softmax(z / T) over log T (bounded scalar search)."""
        from scipy.optimize import minimize_scalar

        self._set_temperature(1.0)
        n_samples = min(int(self.mc_num), 50) if self.bayesian else 1
        z, y = self._raw_logit_samples(ds, n_samples)
        valid = y >= 0
        z, y = z[:, valid].double(), y[valid]
        if y.numel() == 0:
            return
        log_s = math.log(z.shape[0])

        def nll(log_t: float) -> float:
            lp = torch.log_softmax(z / math.exp(log_t), dim=-1)  # (S, N, C)
            lp_mean = torch.logsumexp(lp, dim=0) - log_s  # log of the MC-averaged probability
            return float(-lp_mean[torch.arange(y.numel()), y].mean())

        res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
        t = math.exp(float(res.x)) if res.success else 1.0
        # keep T = 1 unless scaling actually lowers the validation NLL
        self._set_temperature(t if nll(float(res.x)) < nll(0.0) else 1.0)

    def extra_state(self) -> dict[str, Any]:
        return {"temperature": self.temperature_}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        # the buffer itself comes back with the weights; this keeps the attribute in step
        self.temperature_ = float(state.get("temperature", 1.0))


@register_model
class Cifar10CNN(_ImageClassifier):
    """astroNN's ``Cifar10CNN``: two 3×3 convolutions (8, 16 filters), 4×4 max-pool, dense 256 → 128.

    Defaults are astroNN's: ``lr=0.005``, ``max_epochs=30``, ``l2=1e-4``, ``dropout_rate=0.1``,
    ``reduce_lr_patience=1``, ``input_norm_mode=255``, CIFAR-10 class names. astroNN trains it
    without augmentation (``augment=False`` here by default) and without temperature scaling
    (``temperature_scaling=False``).
    """

    name = "cifar10_cnn"
    bayesian = False
    default_targetname: ClassVar[tuple[str, ...]] = CIFAR10_CLASSES

    def __init__(
        self,
        *,
        max_epochs: int = 30,
        lr: float = 0.005,
        l2: float = 1e-4,
        dropout_rate: float = 0.1,
        reduce_lr_patience: int = 1,
        input_norm_mode: int | str = 255,
        labels_norm_mode: int | str = 0,
        augment: bool = False,
        temperature_scaling: bool = False,
        targetname: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_epochs=max_epochs,
            lr=lr,
            l2=l2,
            dropout_rate=dropout_rate,
            reduce_lr_patience=reduce_lr_patience,
            input_norm_mode=input_norm_mode,
            labels_norm_mode=labels_norm_mode,
            augment=augment,
            temperature_scaling=temperature_scaling,
            targetname=list(targetname) if targetname is not None else list(self.default_targetname),
            **kwargs,
        )

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return Cifar10CNNNet(tuple(input_shape), output_dim, dropout_rate=self.dropout_rate, augment=self._augmenter())


@register_model
class Galaxy10CNN(Cifar10CNN):
    """astroNN's ``Galaxy10CNN``: the Cifar10CNN architecture with Galaxy10 class names.

    As in astroNN it is exactly :class:`Cifar10CNN` with the Galaxy10 target names (here the DECaLS
    names; pass ``targetname=`` for Galaxy10 SDSS or Galaxy Zoo 1 classes).
    """

    name = "galaxy10_cnn"
    default_targetname: ClassVar[tuple[str, ...]] = GALAXY10_DECALS_CLASSES


@register_model
class GalaxyResNet(_ImageClassifier):
    """Bayesian pre-activation ResNet for galaxy cutouts (MC dropout + learned logit variance).

    Trained with the robust categorical cross-entropy (Kendall & Gal 2017) on
    ``(logits, logit_log_variance)``; predicts MC-averaged class probabilities with their standard
    deviations. Augmentation: random 90° rotations and shifts of up to ``max_shift`` pixels, plus
    mirror images only when the classes have no handedness (``chirality_sensitive``, automatic from
    ``targetname``); for handed classes (clockwise / anticlockwise spirals) a mirrored image gets the
    mirrored label instead (``mirror_swap=True``). Temperature scaling on the validation split (``temperature_scaling=True``).

    Parameters (beyond :class:`AstroModel`'s)
    -----------------------------------------
    widths: channels of the three residual stages (default (16, 32, 64): ~200 training images/s on
        one CPU thread at 69×69; use e.g. (32, 64, 128) with ``blocks_per_stage=2`` on a GPU).
    blocks_per_stage: pre-activation blocks per stage.
    stem_stride: stride of the first convolution (2 halves the resolution before the residual stages).
    hidden: width of the MC-dropout dense layer.
    """

    name = "galaxy_resnet"
    bayesian = True

    def __init__(
        self,
        *,
        widths: tuple[int, ...] | list[int] = (16, 32, 64),
        blocks_per_stage: int = 1,
        stem_stride: int = 2,
        hidden: int = 128,
        max_epochs: int = 30,
        lr: float = 2e-3,
        batch_size: int = 64,
        l2: float = 5e-5,
        dropout_rate: float = 0.2,
        reduce_lr_patience: int = 2,
        early_stopping_patience: int | None = 6,
        input_norm_mode: int | str = 255,
        labels_norm_mode: int | str = 0,
        mc_num: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_epochs=max_epochs,
            lr=lr,
            batch_size=batch_size,
            l2=l2,
            dropout_rate=dropout_rate,
            reduce_lr_patience=reduce_lr_patience,
            early_stopping_patience=early_stopping_patience,
            input_norm_mode=input_norm_mode,
            labels_norm_mode=labels_norm_mode,
            mc_num=mc_num,
            **kwargs,
        )
        self.widths = [int(w) for w in widths]
        self.blocks_per_stage = blocks_per_stage
        self.stem_stride = stem_stride
        self.hidden = hidden

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return GalaxyResNetNet(
            tuple(input_shape),
            output_dim,
            widths=tuple(self.widths),
            blocks_per_stage=self.blocks_per_stage,
            stem_stride=self.stem_stride,
            hidden=self.hidden,
            dropout_rate=self.dropout_rate,
            bayesian=True,
            augment=self._augmenter(),
        )


__all__ = [
    "Cifar10CNN",
    "Galaxy10CNN",
    "GalaxyResNet",
    "GALAXY10_DECALS_CLASSES",
    "CIFAR10_CLASSES",
    "classes_are_chiral",
    "mirror_label_map",
]
