"""Image-classification networks: astroNN's Cifar10CNN/Galaxy10CNN and a small modern residual CNN.

All networks take channels-first images ``(N, C, H, W)`` (already normalised by the model class)
and return logits ``(N, n_classes)``; the Bayesian residual network returns
``(logits, logit_log_variance)`` as the contract fixes for Bayesian classification.

Every network carries a ``temperature`` buffer (1 after training) that divides the logits: the
model class fits it on the validation split (temperature scaling, Guo et al. 2017) and it is saved
with the weights, so a reloaded model predicts calibrated probabilities without extra state.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from astrotorch.nn.layers import MCDropout


# ----------------------------------------------------------------------------------------- augmentation
class RightAngleShiftAugment(nn.Module):
    """Random rotations by multiples of 90°, small integer-pixel shifts and (optionally) flips.

    Acts only in training mode (identity in ``eval()``), on the whole batch at once through one
    ``grid_sample`` call, so it costs little on CPU and runs on the GPU with the network.
    Rotations by 90° are exact pixel permutations of a square image, and integer shifts with
    ``align_corners=True`` bilinear sampling reproduce pixel values exactly, so the augmentation
    adds no interpolation blur. Flips (mirror images) change a galaxy's handedness: they are off
    when ``allow_flips=False`` (the default for classes that distinguish clockwise from
    anticlockwise spirals), because a mirrored clockwise spiral *is* an anticlockwise one.

    Parameters
    ----------
    max_shift:
        Largest shift, in pixels, along each axis (uniform integer in ``[-max_shift, max_shift]``).
    allow_flips:
        Also apply random mirror images (only for chirality-blind class sets).
    """

    def __init__(self, max_shift: int = 3, allow_flips: bool = False) -> None:
        super().__init__()
        self.max_shift = int(max_shift)
        self.allow_flips = bool(allow_flips)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n, _, h, w = x.shape
        dev = x.device
        k = torch.randint(0, 4, (n,), device=dev)
        angle = k.to(torch.float32) * (math.pi / 2)
        # exact cos/sin of multiples of 90° (round away the 1e-8 residuals of torch.cos)
        c, s = torch.round(torch.cos(angle)), torch.round(torch.sin(angle))
        theta = torch.zeros(n, 2, 3, device=dev, dtype=torch.float32)
        theta[:, 0, 0], theta[:, 0, 1] = c, -s
        theta[:, 1, 0], theta[:, 1, 1] = s, c
        if self.allow_flips:
            flip = torch.randint(0, 2, (n,), device=dev).to(torch.float32) * 2 - 1
            theta[:, 0, 0] = theta[:, 0, 0] * flip
            theta[:, 1, 0] = theta[:, 1, 0] * flip
        if self.max_shift > 0:
            shift = torch.randint(-self.max_shift, self.max_shift + 1, (n, 2), device=dev).to(torch.float32)
            # normalised coordinates with align_corners=True: one pixel = 2 / (size - 1)
            theta[:, 0, 2] = shift[:, 0] * 2.0 / max(w - 1, 1)
            theta[:, 1, 2] = shift[:, 1] * 2.0 / max(h - 1, 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True).to(x.dtype)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


class _Temperature(nn.Module):
    """Holds the temperature-scaling buffer and applies it to logits (and their log-variance)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature.to(logits.dtype)


class MaxNormLinear(nn.Linear):
    """``nn.Linear`` whose weight vector into each output unit has L2 norm ≤ ``max_norm``.

    Keras' ``MaxNorm(2)`` kernel constraint (used by astroNN's Cifar10CNN) rescales the weights after
    every optimiser step; here the same projection is applied in the forward pass, so the effective
    weights always satisfy the constraint whatever optimiser or precision is used.
    """

    def __init__(self, in_features: int, out_features: int, max_norm: float = 2.0) -> None:
        super().__init__(in_features, out_features)
        self.max_norm = float(max_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.renorm(self.weight, p=2, dim=0, maxnorm=self.max_norm)
        return F.linear(x, w, self.bias)


def _he_normal_(module: nn.Module) -> None:
    # Keras' he_normal is a truncated normal with std sqrt(2 / fan_in); kaiming_normal_ is untruncated,
    # so truncate explicitly at 2 std as Keras does
    fan_in = nn.init._calculate_correct_fan(module.weight, "fan_in")
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978  # Keras' truncation correction factor
    nn.init.trunc_normal_(module.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


# ----------------------------------------------------------------------------------------- astroNN
class Cifar10CNNNet(nn.Module):
    """astroNN's ``Cifar10CNN`` (also its ``Galaxy10CNN``), layer for layer.

    conv 3×3 (8 filters, 'same') → ReLU → conv 3×3 (16, 'same') → ReLU → max-pool 4×4 → flatten →
    dropout → dense 256 → ReLU → dropout → dense 128 (max-norm 2) → ReLU → dense ``n_classes``
    (logits). He-normal initialisation of the hidden layers, Glorot-uniform for the output layer,
    zero biases, as in Keras. astroNN's dropout is plain (training-only) dropout in this network.
    L2 regularisation (1e-4) is the model class's ``l2`` hyper-parameter.

    Parameters
    ----------
    input_shape: ``(C, H, W)``.
    n_classes: number of classes.
    dropout_rate: rate of both dropout layers (astroNN: 0.1).
    num_filters, num_hidden, pool: astroNN's defaults ``(8, 16)``, ``(256, 128)``, 4.
    augment: optional augmentation module applied first (training only).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        n_classes: int,
        dropout_rate: float = 0.1,
        num_filters: tuple[int, int] = (8, 16),
        num_hidden: tuple[int, int] = (256, 128),
        pool: int = 4,
        augment: nn.Module | None = None,
    ) -> None:
        super().__init__()
        c, h, w = input_shape
        self.augment = augment if augment is not None else nn.Identity()
        self.conv1 = nn.Conv2d(c, num_filters[0], 3, padding="same")
        self.conv2 = nn.Conv2d(num_filters[0], num_filters[1], 3, padding="same")
        self.pool = nn.MaxPool2d(pool)  # Keras' 'valid' pooling floors the size, like PyTorch
        flat = num_filters[1] * (h // pool) * (w // pool)
        self.drop1 = nn.Dropout(dropout_rate)
        self.fc1 = nn.Linear(flat, num_hidden[0])
        self.drop2 = nn.Dropout(dropout_rate)
        self.fc2 = MaxNormLinear(num_hidden[0], num_hidden[1], max_norm=2.0)
        self.out = nn.Linear(num_hidden[1], n_classes)
        for m in (self.conv1, self.conv2, self.fc1, self.fc2):
            _he_normal_(m)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.calib = _Temperature()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.augment(x)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        # Keras is channels-last: flattening order differs from PyTorch's, which only permutes the
        # (randomly initialised) dense weights — the function class is identical
        x = torch.flatten(self.pool(x), 1)
        x = F.relu(self.fc1(self.drop1(x)))
        x = F.relu(self.fc2(self.drop2(x)))
        return self.calib(self.out(x))


# ----------------------------------------------------------------------------------------- residual CNN
class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016): BN-ReLU-conv3×3-BN-ReLU-conv3×3 + shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        sc = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + sc


class _ResNetTrunk(nn.Module):
    """Deterministic part of :class:`GalaxyResNetNet`: augmentation, stem, residual stages, pooling."""

    def __init__(
        self,
        in_ch: int,
        widths: tuple[int, ...],
        blocks_per_stage: int,
        augment: nn.Module | None,
        stem_stride: int = 2,
        crop: int | None = None,
        polar_width: int = 0,
        spiral_features: bool = False,
    ) -> None:
        super().__init__()
        self.augment = augment if augment is not None else nn.Identity()
        self.crop = int(crop) if crop else None
        self.polar = PolarBranch(in_ch, polar_width, r_max=(self.crop or 48) / 2.0) if polar_width > 0 else None
        # radii of the winding features were chosen on 69×69 Galaxy Zoo cutouts cropped to 49: scale with the view
        self.spiral = SpiralWindingFeatures(view_side=self.crop or 49) if spiral_features else None
        self.stem = nn.Conv2d(in_ch, widths[0], 3, stride=stem_stride, padding=1, bias=False)
        layers: list[nn.Module] = []
        c = widths[0]
        for i, wdt in enumerate(widths):
            for b in range(blocks_per_stage):
                stride = 2 if (b == 0 and i > 0) else 1
                layers.append(PreActBlock(c, wdt, stride))
                c = wdt
        self.stages = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c)
        self.out_features = c + (self.polar.out_features if self.polar is not None else 0)
        self.out_features += self.spiral.out_features if self.spiral is not None else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.augment(x)
        if self.crop is not None:
            # centre crop *after* the shift augmentation, so shifted-in pixels are real sky, not padding
            x = center_crop(x, self.crop)
        # a stride-2 stem (as in ResNets) quarters the cost of every later layer; with stride 1 the
        # first stage keeps single-pixel detail (useful on GPU, 4× slower on CPU)
        feats = self.stages(self.stem(x))
        feats = torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn(feats)), 1), 1)
        if self.polar is not None:
            feats = torch.cat([feats, self.polar(x)], dim=1)
        if self.spiral is not None:
            feats = torch.cat([feats, self.spiral(x)], dim=1)
        return feats


class PolarBranch(nn.Module):
    """Small CNN on a log-polar resampling of the image centre, for spiral handedness.

    The image is resampled on a grid of ``n_r`` logarithmically spaced radii (``r_min`` pixels to
    ``r_max`` pixels) × ``n_theta`` angles around the central pixel. In these coordinates a
    logarithmic spiral arm is a straight stripe whose slope sign is its handedness, a rotation is a
    cyclic shift along θ (convolved with circular padding, so exactly equivariant for multiples of 90°
    when ``n_theta`` is a multiple of 4) and a mirror image reverses θ. Three 3×3 convolutions and
    global average pooling give ``width`` features.
    """

    def __init__(self, in_ch: int, width: int = 32, n_r: int = 24, n_theta: int = 64, r_min: float = 1.5, r_max: float = 24.0) -> None:
        super().__init__()
        self.n_r, self.n_theta, self.r_min, self.r_max = int(n_r), int(n_theta), float(r_min), float(r_max)
        w2 = max(width // 2, 1)
        self.conv1 = nn.Conv2d(in_ch, w2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w2)
        self.conv2 = nn.Conv2d(w2, width, 3, stride=2, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width, 3, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.out_features = int(width)
        self._grid_key: tuple[int, int] | None = None
        self.register_buffer("_grid", torch.zeros(0), persistent=False)

    def _polar_grid(self, h: int, w: int, device: torch.device) -> torch.Tensor:
        if self._grid_key != (h, w) or self._grid.device != device:
            r = torch.logspace(math.log10(self.r_min), math.log10(self.r_max), self.n_r, dtype=torch.float64)
            t = torch.arange(self.n_theta, dtype=torch.float64) * (2 * math.pi / self.n_theta)
            rr, tt = torch.meshgrid(r, t, indexing="ij")
            # align_corners=True: pixel i of n sits at -1 + 2i/(n-1); the centre pixel at 0 for odd n
            gx = rr * torch.cos(tt) * 2.0 / max(w - 1, 1)
            gy = -rr * torch.sin(tt) * 2.0 / max(h - 1, 1)
            self._grid = torch.stack([gx, gy], dim=-1).float()[None].to(device)
            self._grid_key = (h, w)
        return self._grid

    @staticmethod
    def _pad(x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 0, 0), mode="circular")  # θ wraps around
        return F.pad(x, (0, 0, 1, 1), mode="replicate")  # radius does not

    def polar(self, x: torch.Tensor) -> torch.Tensor:
        grid = self._polar_grid(x.shape[-2], x.shape[-1], x.device).to(x.dtype).expand(x.shape[0], -1, -1, -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.polar(x)
        p = F.relu(self.bn1(self.conv1(self._pad(p))))
        p = F.relu(self.bn2(self.conv2(self._pad(p))))
        p = F.relu(self.bn3(self.conv3(self._pad(p))))
        return torch.flatten(F.adaptive_avg_pool2d(p, 1), 1)


class SpiralWindingFeatures(nn.Module):
    """Fixed (not learned) spiral-winding features: signed log-polar structure-tensor coherence.

    The brightness (channel mean) is resampled on ``n_r`` log-spaced radii × ``n_theta`` angles
    around the central pixel; the azimuthal mean of each ring is subtracted (what is left: arms, bars,
    inclination) and each ring is divided by its mean absolute residual. A logarithmic spiral arm is
    then a straight stripe in (ln r, θ) and the sign of the gradient cross-term
    ``Σ ∂_u p ∂_θ p / sqrt(Σ (∂_u p)² Σ (∂_θ p)²)`` is its winding sense: the feature changes sign
    under a mirror image and is unchanged by rotations (cyclic shifts in θ). One value per radial band
    (``bands``: index ranges into the ``n_r`` radii), multiplied by ``scale``. ``r_min``/``r_max`` are
    for a 49-pixel view (69×69 Galaxy Zoo cutouts cropped to 49) and scale with ``view_side``.

    On the 680 Galaxy Zoo 1 spirals of ``galaxy_zoo1_sdss69.h5`` the sign of the band over radii
    ~3–18 px alone gives the volunteers' handedness for 87% of them (bench/images_acceptance.py).
    """

    def __init__(
        self,
        n_r: int = 32,
        n_theta: int = 128,
        r_min: float = 2.0,
        r_max: float = 22.0,
        bands: tuple[tuple[int, int], ...] = ((0, 11), (11, 22), (22, 32), (5, 28)),
        scale: float = 5.0,
        view_side: int = 49,
    ) -> None:
        super().__init__()
        f = float(view_side) / 49.0  # r_min / r_max are given for a 49-pixel view
        self.polar = PolarBranch(1, 1, n_r=n_r, n_theta=n_theta, r_min=r_min * f, r_max=r_max * f)
        for p in self.polar.parameters():  # only its resampling grid is used
            p.requires_grad_(False)
        self.bands = tuple((int(a), int(b)) for a, b in bands)
        self.scale = float(scale)
        self.out_features = len(self.bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.polar.polar(x.float().mean(1, keepdim=True))[:, 0]  # (N, n_r, n_theta)
        p = p - p.mean(-1, keepdim=True)
        p = p / (p.abs().mean(-1, keepdim=True) + 1e-3)
        gu = torch.zeros_like(p)
        gu[:, 1:-1] = (p[:, 2:] - p[:, :-2]) / 2
        gu[:, 0], gu[:, -1] = p[:, 1] - p[:, 0], p[:, -1] - p[:, -2]
        gt = (torch.roll(p, -1, -1) - torch.roll(p, 1, -1)) / 2
        feats = []
        for a, b in self.bands:
            uu = (gu[:, a:b] ** 2).sum((1, 2))
            tt = (gt[:, a:b] ** 2).sum((1, 2))
            ut = (gu[:, a:b] * gt[:, a:b]).sum((1, 2))
            feats.append(ut / torch.sqrt(uu * tt + 1e-12))
        return (self.scale * torch.stack(feats, dim=1)).to(x.dtype)


def resolve_crop(crop: int | float | None, side: int) -> int | None:
    """Crop size in pixels: an int is pixels; a float in (0, 1] is a fraction of ``side``.

    Fractions are rounded to the nearest size with the parity of ``side``, so the window stays exactly
    centred (and commutes with 90° rotations): 0.71 of 69 → 49, of 256 → 182.
    """
    if crop is None or crop == 0:
        return None
    if isinstance(crop, float) and crop <= 1.0:
        px = int(round(crop * side))
        if (side - px) % 2:
            px += 1 if crop * side >= px else -1
        return min(max(px, 1), side)
    return int(crop)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central ``size × size`` window of ``(N, C, H, W)`` images (unchanged if they are no larger).

    With odd ``H - size`` the window is half a pixel off centre (towards the top left); choose
    ``size`` with the parity of ``H`` (e.g. 49 of 69) for an exactly centred, rotation-symmetric crop.
    """
    h, w = x.shape[-2:]
    if size >= h and size >= w:
        return x
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return x[..., top : top + min(size, h), left : left + min(size, w)]


def dihedral_views(x: torch.Tensor) -> list[tuple[torch.Tensor, bool]]:
    """The 8 images of the dihedral group D4 acting on ``(N, C, H, W)`` images: (view, mirrored).

    The four rotations by multiples of 90° and their left-right mirror images; ``mirrored`` marks the
    four views whose handedness is reversed (a clockwise spiral looks anticlockwise in them).
    """
    views: list[tuple[torch.Tensor, bool]] = []
    for k in range(4):
        r = torch.rot90(x, k, dims=(-2, -1))
        views.append((r, False))
        views.append((torch.flip(r, dims=(-1,)), True))
    return views


class _BayesHead(nn.Module):
    """MC-dropout head: dropout → dense → ReLU → dropout → logits (+ logit log-variance)."""

    def __init__(self, c: int, hidden: int, n_classes: int, dropout_rate: float, bayesian: bool) -> None:
        super().__init__()
        self.bayesian = bayesian
        self.drop1 = MCDropout(dropout_rate)
        self.fc = nn.Linear(c, hidden)
        self.drop2 = MCDropout(dropout_rate)
        self.logits = nn.Linear(hidden, n_classes)
        self.log_var = nn.Linear(hidden, n_classes) if bayesian else None
        if self.log_var is not None:
            # start with small logit noise (log σ² ≈ -4) so early training is plain cross-entropy
            nn.init.zeros_(self.log_var.weight)
            nn.init.constant_(self.log_var.bias, -4.0)
        self.calib = _Temperature()

    def forward(self, h: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc(self.drop1(h)))
        h = self.drop2(h)
        logits = self.calib(self.logits(h))
        if self.log_var is None:
            return logits
        # temperature T scales logits by 1/T, hence their variance by 1/T²
        log_var = self.log_var(h) - 2.0 * torch.log(self.calib.temperature.to(h.dtype))
        return logits, log_var


class GalaxyResNetNet(nn.Module):
    """Small pre-activation ResNet for galaxy cutouts with an MC-dropout (Bayesian) head.

    An optional central crop (``crop`` pixels, applied after the augmentation), a 3×3 stem (stride
    ``stem_stride``), optionally a log-polar branch (``polar_width`` > 0, :class:`PolarBranch`)
    whose features join the pooled ResNet features, optionally the fixed spiral-winding features
    (``spiral_features``, :class:`SpiralWindingFeatures`), three stages of pre-activation residual blocks (widths
    ``widths``, stride 2 between stages),
    global average pooling, then MC dropout → dense ``hidden`` → MC dropout → logits and, when
    ``bayesian``, a logit log-variance output for the robust (heteroscedastic) categorical
    cross-entropy. ``mc_split()`` separates the deterministic trunk from the stochastic head, so
    Monte Carlo inference runs the convolutional trunk once per image.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        n_classes: int,
        widths: tuple[int, ...] = (16, 32, 64),
        blocks_per_stage: int = 1,
        hidden: int = 128,
        dropout_rate: float = 0.2,
        bayesian: bool = True,
        augment: nn.Module | None = None,
        stem_stride: int = 2,
        crop: int | float | None = None,
        polar_width: int = 0,
        spiral_features: bool = False,
    ) -> None:
        super().__init__()
        side = int(min(input_shape[1:])) if len(input_shape) >= 3 else 0
        crop_px = resolve_crop(crop, side) if side else (int(crop) if crop and crop > 1 else None)
        self.trunk = _ResNetTrunk(
            input_shape[0], tuple(widths), blocks_per_stage, augment, stem_stride, crop_px, polar_width, spiral_features
        )
        self.head = _BayesHead(self.trunk.out_features, hidden, n_classes, dropout_rate, bayesian)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.trunk(x))

    def mc_split(self) -> tuple[nn.Module, nn.Module]:
        """(deterministic trunk, stochastic head) for vectorised MC-dropout inference."""
        return self.trunk, self.head

    @property
    def calib(self) -> _Temperature:
        return self.head.calib


__all__ = [
    "Cifar10CNNNet",
    "GalaxyResNetNet",
    "RightAngleShiftAugment",
    "MaxNormLinear",
    "PreActBlock",
    "center_crop",
    "resolve_crop",
    "PolarBranch",
    "SpiralWindingFeatures",
    "dihedral_views",
]
