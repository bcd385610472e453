"""Galaxy-morphology classifiers: astroNN's Galaxy10CNN / Cifar10CNN and a Bayesian residual CNN.

Inputs are images as astroNN takes them, ``(N, H, W, C)`` arrays (uint8 or float); the model
transposes them to channels-first. ``predict`` returns the class labels (scikit-learn's convention),
``predict_proba`` the class probabilities ``(N, n_classes)``; the Bayesian ``galaxy_resnet`` also
returns standard deviations of the probabilities with ``predict_proba(x, return_std=True)``
(``{"model", "total"}``).

Calibration: after training, every model here fits one temperature ``T`` (logits / T) on the
*validation* split by minimising the negative log-likelihood of the probabilities exactly as
``predict`` computes them (Monte Carlo averaged for the Bayesian network). ``T`` lives in a network
buffer, so it is saved and reloaded with the weights. Disable with ``temperature_scaling=False``.

Example::

    from astrotorch.models import create_model
    m = create_model("galaxy_resnet", max_epochs=20, targetname=names)
    m.fit(images_uint8, labels)            # (N, 69, 69, 3), (N,)
    probs, std = m.predict_proba(test_images, return_std=True)
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
from astrotorch.models.arch.galaxy import (
    Cifar10CNNNet,
    GalaxyResNetNet,
    RightAngleShiftAugment,
    dihedral_views,
)
from astrotorch.models.base import AstroModel, deterministic_layers
from astrotorch.models.hyperparams import check_bool, check_choice, check_float, check_int, check_int_sequence
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
    The coin is ``torch``'s global generator, which ``fit`` seeds from ``seed`` for its duration.
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
    #: class names used when ``targetname`` is None (none: class labels come from ``y``)
    default_targetname: ClassVar[tuple[str, ...] | None] = None
    temperature_: float = 1.0
    _val_ds: Dataset | None = None

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
        check_bool("augment", augment)
        check_int("max_shift", max_shift, 0)
        if chirality_sensitive is not None:
            check_bool("chirality_sensitive", chirality_sensitive)
        check_bool("mirror_swap", mirror_swap)
        check_bool("temperature_scaling", temperature_scaling)
        self.augment = augment
        self.max_shift = max_shift
        self.chirality_sensitive = chirality_sensitive
        self.mirror_swap = mirror_swap
        self.temperature_scaling = temperature_scaling

    def class_names(self) -> list[str] | None:
        """``targetname``, or the model's default class names when it is None."""
        names = self.targetname if self.targetname is not None else self.default_targetname
        return None if names is None else list(names)

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
            chiral = classes_are_chiral(self.class_names())
        return not chiral

    def _augmenter(self) -> nn.Module | None:
        if not self.augment:
            return None
        return RightAngleShiftAugment(max_shift=self.max_shift, allow_flips=self.flips_allowed())

    def _split(self, ds: Dataset) -> tuple[Dataset, Dataset | None]:
        train, val = super()._split(ds)
        self._val_ds = val  # kept for temperature scaling after training
        # chiral classes: mirror images are still usable when the handed labels are swapped with them
        mapping = mirror_label_map(self.class_names()) if (self.augment and self.mirror_swap) else None
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

    def _tta_views(self, xb: torch.Tensor) -> list[tuple[torch.Tensor, list[int] | None]]:
        """Test-time views of a batch and the class permutation that maps each view's outputs back.

        Without ``tta`` only the image itself. With it, the dihedral group D4: the four 90° rotations
        and, where mirror images are allowed, their mirrors. For a chiral class set a mirrored view
        shows a clockwise spiral as an anticlockwise one, so its class outputs are permuted back with
        :func:`mirror_label_map` (clockwise ↔ anticlockwise); with no such map (unknown handed
        classes) the mirrored views are left out.
        """
        if not getattr(self, "tta", False):
            return [(xb, None)]
        mapping = None if self.flips_allowed() else mirror_label_map(self.class_names())
        use_mirrors = self.flips_allowed() or mapping is not None
        return [(v, mapping if m else None) for v, m in dihedral_views(xb) if use_mirrors or not m]

    def _logit_samples_batch(self, net: nn.Module, xb: torch.Tensor, n_samples: int, gen: torch.Generator) -> torch.Tensor:
        """Logit samples ``(V·S, B, C)`` for one batch: ``S`` MC draws for each of the ``V`` test-time views."""
        out = []
        for view, perm in self._tta_views(xb):
            if not self.bayesian:
                with deterministic_layers(net):
                    zs = [net(view).float()]
            else:
                trunk, head = net.mc_split()
                h = trunk(view)
                zs = []
                for _ in range(n_samples):
                    logits, log_var = head(h)
                    eps = torch.randn(logits.shape, generator=gen).to(logits.device)
                    zs.append(logits.float() + torch.exp(0.5 * log_var.float()) * eps)
            for z in zs:
                out.append((z[:, perm] if perm is not None else z).cpu())
        return torch.stack(out)

    def _raw_logit_samples(self, ds: Dataset, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit samples at T = 1, ``(S, N, C)``, drawn as ``predict`` draws them (views included), and labels."""
        net = self.network
        device = self._device()
        net.eval()
        loader = DataLoader(ds, batch_size=max(self.batch_size, 256), shuffle=False)
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 1)
        outs, ys = [], []
        with torch.no_grad():
            for batch in loader:
                ys.append(batch["y"].cpu())
                outs.append(self._logit_samples_batch(net, batch["x"].to(device), n_samples, gen))
        return torch.cat(outs, dim=1), torch.cat(ys)

    def predict_proba(
        self, x: Any, x_err: Any = None, batch_size: int | None = None, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
        """Class probabilities; with ``tta`` averaged over the test-time views (see :meth:`_tta_views`).

        ``return_std=True`` (Bayesian models): ``(probs, {"model", "total"})``, the standard deviation
        of the probability over MC draws and views. Without ``tta`` (or with ``x_err``) this is
        :meth:`AstroModel.predict_proba`.
        """
        if not getattr(self, "tta", False) or x_err is not None:
            return super().predict_proba(x, x_err=x_err, batch_size=batch_size, return_std=return_std)
        if return_std and not self.bayesian:
            raise InputValidationError(f"{type(self).__name__} is not Bayesian: predict_proba has no return_std")
        xn, n = self._prepare_inference_input(x)
        device = self._inference_device()
        net = self.network.to(device)
        net.eval()
        bs = batch_size or max(self.batch_size, 256)
        gen = torch.Generator(device="cpu").manual_seed(self.seed + 2)
        means, sds = [], []
        with torch.inference_mode():
            for start in range(0, n, bs):
                xb = torch.as_tensor(xn[start : start + bs], device=device)
                p = torch.softmax(self._logit_samples_batch(net, xb, int(self.mc_num), gen), dim=-1)
                means.append(p.mean(0).numpy())
                sds.append(p.std(0, unbiased=False).numpy())
        probs = np.concatenate(means)
        if not return_std:
            return probs
        sd = np.concatenate(sds)
        return probs, {"model": sd, "total": sd}

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
        targetname: list[str] | tuple[str, ...] | None = CIFAR10_CLASSES,
        num_filters: tuple[int, int] = (8, 16),
        num_hidden: tuple[int, int] = (256, 128),
        pool_length: int = 4,
        **kwargs: Any,
    ) -> None:
        # astroNN's layer sizes (other widths come from converted astroNN folders); stored as given
        check_int_sequence("num_filters", num_filters)
        check_int_sequence("num_hidden", num_hidden)
        check_int("pool_length", pool_length, minimum=1)
        self.num_filters = num_filters
        self.num_hidden = num_hidden
        self.pool_length = pool_length
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
            targetname=targetname,
            **kwargs,
        )

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return Cifar10CNNNet(tuple(input_shape), output_dim, dropout_rate=self.dropout_rate, num_filters=tuple(self.num_filters),
                             num_hidden=tuple(self.num_hidden), pool=int(self.pool_length), augment=self._augmenter())


@register_model
class Galaxy10CNN(Cifar10CNN):
    """astroNN's ``Galaxy10CNN``: the Cifar10CNN architecture with Galaxy10 class names.

    As in astroNN it is exactly :class:`Cifar10CNN` with the Galaxy10 target names (here the DECaLS
    names; pass ``targetname=`` for Galaxy10 SDSS or Galaxy Zoo 1 classes).
    """

    name = "galaxy10_cnn"
    default_targetname: ClassVar[tuple[str, ...]] = GALAXY10_DECALS_CLASSES

    def __init__(self, *, targetname: list[str] | tuple[str, ...] | None = GALAXY10_DECALS_CLASSES, **kwargs: Any) -> None:
        super().__init__(targetname=targetname, **kwargs)


def _warmup_cosine_module(network: nn.Module, model: AstroModel) -> Any:
    """A Lightning module whose optimiser follows linear warm-up then cosine decay (per step)."""
    from astrotorch.train.lightning_module import AstroLightningModule, make_adam

    class _WarmupCosineModule(AstroLightningModule):
        def configure_optimizers(self) -> Any:
            m = self._astro_model
            opt = make_adam(self.network.parameters(), lr=m.lr, l2=m.l2)
            total = max(int(self.trainer.estimated_stepping_batches), 1)
            warm = min(max(int(round(float(m.warmup_fraction) * total)), 1), total)
            floor = float(m.min_lr_fraction)

            def factor(step: int) -> float:
                if step < warm:
                    return (step + 1) / warm
                t = min((step - warm) / max(total - warm, 1), 1.0)
                return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return _WarmupCosineModule(network, model)


@register_model
class GalaxyResNet(_ImageClassifier):
    """Bayesian pre-activation ResNet for galaxy cutouts (MC dropout + learned logit variance).

    Trained with the robust categorical cross-entropy (Kendall & Gal 2017) on
    ``(logits, logit_log_variance)``; predicts MC-averaged class probabilities with their standard
    deviations. Augmentation: random 90° rotations and shifts of up to ``max_shift`` pixels, plus
    mirror images only when the classes have no handedness (``chirality_sensitive``, automatic from
    ``targetname``); for handed classes (clockwise / anticlockwise spirals) a mirrored image gets the
    mirrored label instead (``mirror_swap=True``). Test-time augmentation (``tta=True``) averages the
    probabilities over the eight rotations and mirror images of each galaxy, mirrored views with the
    clockwise ↔ anticlockwise outputs swapped back. Temperature scaling on the validation split
    (``temperature_scaling=True``), fitted on the probabilities exactly as ``predict`` computes them.

    Parameters (beyond :class:`AstroModel`'s)
    -----------------------------------------
    widths: channels of the three residual stages.
    blocks_per_stage: pre-activation blocks per stage.
    stem_stride: stride of the first convolution (2 halves the resolution before the residual stages;
        1 keeps arms one or two pixels wide, at about twice the cost once the image is cropped).
    crop: side of the central window the network sees: pixels (int ≥ 8), a fraction of the image
        side (float ≤ 1, rounded to keep the window exactly centred) or ``None`` (the whole image).
        Galaxy Zoo cutouts are centred and 69×69 is mostly sky; the default 0.71 keeps the central
        49×49 (±24 px). Applied after the shift augmentation, inside the network, so ``predict``
        takes the full-size images.
    polar_width: features of a log-polar side branch (0: none). In log-polar coordinates a spiral
        arm is a straight stripe whose slope gives the handedness (see ``arch.galaxy.PolarBranch``).
    spiral_features: append four fixed spiral-winding features (signed log-polar structure-tensor
        coherence in radial bands, ``arch.galaxy.SpiralWindingFeatures``) to the learned ones: their
        sign is the arms' winding sense, which the convolutional features alone learn poorly here.
    hidden: width of the MC-dropout dense layer.
    tta: average predictions over the dihedral group (8 views; 4 when handed classes have no mirror map).
    lr_schedule: ``"cosine"`` (linear warm-up over ``warmup_fraction`` of the steps, then cosine decay
        to ``min_lr_fraction·lr``, no early stopping by default) or ``"plateau"`` (ReduceLROnPlateau
        on the validation loss, as the other models).
    """

    name = "galaxy_resnet"
    bayesian = True

    def __init__(
        self,
        *,
        widths: tuple[int, ...] | list[int] = (16, 32, 64),
        blocks_per_stage: int = 1,
        stem_stride: int = 1,
        crop: int | float | None = 0.71,
        polar_width: int = 0,
        spiral_features: bool = True,
        hidden: int = 128,
        tta: bool = True,
        lr_schedule: str = "cosine",
        warmup_fraction: float = 0.03,
        min_lr_fraction: float = 0.01,
        max_epochs: int = 30,
        lr: float = 2e-3,
        batch_size: int = 64,
        l2: float = 5e-5,
        dropout_rate: float = 0.2,
        reduce_lr_patience: int = 2,
        early_stopping_patience: int | None = None,
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
        check_choice("lr_schedule", lr_schedule, ("cosine", "plateau"))
        if crop is not None:
            check_float("crop", crop, 0.0, low_inclusive=False)
            frac = isinstance(crop, float) and crop <= 1.0
            if not frac and (crop != int(crop) or int(crop) < 8):
                raise InputValidationError(f"crop must be None, a fraction in (0, 1] or at least 8 pixels, got {crop}")
        check_int_sequence("widths", widths, 1)
        check_int("blocks_per_stage", blocks_per_stage, 1)
        check_int("stem_stride", stem_stride, 1)
        check_int("polar_width", polar_width, 0)
        check_bool("spiral_features", spiral_features)
        check_int("hidden", hidden, 1)
        check_bool("tta", tta)
        check_float("warmup_fraction", warmup_fraction, 0.0, 1.0)
        check_float("min_lr_fraction", min_lr_fraction, 0.0, 1.0)
        self.widths = widths
        self.blocks_per_stage = blocks_per_stage
        self.stem_stride = stem_stride
        self.crop = crop
        self.polar_width = polar_width
        self.spiral_features = spiral_features
        self.hidden = hidden
        self.tta = tta
        self.lr_schedule = lr_schedule
        self.warmup_fraction = warmup_fraction
        self.min_lr_fraction = min_lr_fraction

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
            crop=self.crop,
            polar_width=self.polar_width,
            spiral_features=self.spiral_features,
        )

    def make_lightning_module(self, network: nn.Module) -> Any:
        if self.lr_schedule == "cosine":
            return _warmup_cosine_module(network, self)
        return super().make_lightning_module(network)


__all__ = [
    "Cifar10CNN",
    "Galaxy10CNN",
    "GalaxyResNet",
    "GALAXY10_DECALS_CLASSES",
    "CIFAR10_CLASSES",
    "classes_are_chiral",
    "mirror_label_map",
]
