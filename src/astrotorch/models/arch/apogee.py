"""astroNN's APOGEE spectral networks as plain ``torch.nn.Module``s (no training logic).

Architectures follow astroNN (``astroNN.models.apogee_models``) layer for layer:

* :class:`ApogeeCNNNet` — Conv1D(2, 8) → ReLU → Conv1D(4, 8) → ReLU → MaxPool(4) → Flatten → Dropout →
  Dense(196) → ReLU → Dropout → Dense(96) → ReLU → Dense(D); He-normal weights.
* :class:`ApogeeBCNNNet` — the same trunk with Monte Carlo dropout after the first convolution, after
  the flatten and after Dense(196), and two heads: the mean and the log predictive variance;
  weights ~ N(0, 0.05²).
* :class:`ApogeeBCNNCensoredNet` — the BCNN trunk for the labels without line windows (Teff, log g,
  [Fe/H] ... in astroNN), plus one two-layer branch per element that sees only that element's pixels;
  each element's output combines its branch with a 2-unit max-norm summary of the full spectrum and the
  (gradient-stopped) trunk outputs.
* :class:`ApogeeDR14GaiaDR2Net` — spectra → fakemag (softplus × 73.85), apparent magnitude and a
  small tanh network on Gaia auxiliary data → parallax = fakemag · 10^(−0.2 m) + zero-point offset.

Spectra come in as (N, L); the networks add the channel axis. Convolutions use 'same' padding (for the
even kernel of 8, PyTorch pads 3 left / 4 right like Keras), and the flatten is taken in Keras'
(length, channel) order so the dense weights line up with astroNN's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models.arch.conv_trunk import (
    ChannelsLastFlatten,
    ConvTrunk,
    SameConv1d,
    activation_layer,
)
from astrotorch.nn import fused
from astrotorch.nn.layers import MCDropout


def init_weights(module: nn.Module, initializer: str) -> None:
    """Initialise Linear/Conv1d weights like Keras: ``"he_normal"`` (truncated normal, σ = sqrt(2/fan_in))
    or ``"random_normal"`` (N(0, 0.05²), astroNN's BCNN choice); biases are zero."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d)):
            if initializer == "he_normal":
                fan_in = m.weight[0].numel()
                # Keras' truncated normal divides σ by 0.8796 to keep the variance after truncation at 2σ
                std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(m.weight, 0.0, std, -2.0 * std, 2.0 * std)
            elif initializer == "random_normal":
                nn.init.normal_(m.weight, 0.0, 0.05)
            elif initializer == "glorot_uniform":
                nn.init.xavier_uniform_(m.weight)
            else:
                raise InputValidationError(f"unknown initializer {initializer!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _check_spectra(x: torch.Tensor, n_pix: int) -> torch.Tensor:
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2 or x.shape[1] != n_pix:
        raise ShapeMismatchError(f"expected spectra of shape (N, {n_pix}), got {tuple(x.shape)}")
    return x


def dense_forward(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``layers(x)`` for a stack of :class:`MCDropout`, ``nn.Linear`` and activation layers, with the
    dropout masks from :func:`astrotorch.nn.fused.keep_mask`. At inference the survivor scales are
    folded into the next linear layer (``addmm``'s ``alpha``): one pass over the activations per
    dropout instead of three (mask, multiply, scale). In training the mask carries the scale (an
    ``alpha`` would cost a pass over the weight gradient). Other layers run as they are."""
    scale = 1.0
    for layer in layers:
        if isinstance(layer, MCDropout):
            if layer.stochastic:
                mask = fused.keep_mask(x.shape, layer.rate, x.dtype, x.device)
                if torch.is_grad_enabled() and (x.requires_grad or layer.training):
                    x = x * mask.mul_(fused.keep_scale(layer.rate, x.device))
                else:
                    x = torch.mul(x, mask, out=mask)
                    scale *= fused.keep_scale(layer.rate, x.device)
            continue
        if type(layer) is nn.Linear and x.ndim == 2 and layer.bias is not None:
            x = _linear(x, layer.weight, layer.bias, scale)
        else:
            x = layer(x * scale if scale != 1.0 else x)
        scale = 1.0
    return x * scale if scale != 1.0 else x


_ONEDNN_LINEAR = [getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)]


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, alpha: float) -> torch.Tensor:
    """``alpha · x @ weightᵀ + bias``. Float32 CPU inference goes through oneDNN's matmul (the dense layer
    after the APOGEE trunk: ~11 % faster than MKL's sgemm on this machine's AMD CPU, ~8 % more on the
    weight packed once per Monte Carlo call, :func:`astrotorch.nn.fused.packed_linear_weight`), with
    ``alpha`` applied to the narrow output; elsewhere ``addmm``."""
    fast = _ONEDNN_LINEAR[0]
    if (fast is not None and not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling()):
        try:
            out = fast(x, fused.packed_linear_weight(weight, x.shape[0]), bias / alpha if alpha != 1.0 else bias,
                       "none", [], "")
        except (RuntimeError, TypeError):  # an unsupported build: MKL from now on
            _ONEDNN_LINEAR[0] = None
        else:
            return out.mul_(alpha) if alpha != 1.0 else out
    return torch.addmm(bias, x, weight.t(), alpha=alpha)


class ApogeeCNNNet(nn.Module):
    """astroNN ``ApogeeCNN``: deterministic CNN regressor, output (N, D)."""

    def __init__(self, n_pix: int, n_out: int, num_filters: Sequence[int] = (2, 4), filter_len: int = 8,
                 pool_length: int = 4, num_hidden: Sequence[int] = (196, 96), dropout_rate: float = 0.1,
                 activation: str = "relu", initializer: str = "he_normal") -> None:
        super().__init__()
        self.n_pix = n_pix
        self.trunk = ConvTrunk(n_pix, num_filters, filter_len, pool_length, activation, None)
        self.dense = nn.Sequential(
            nn.Dropout(dropout_rate),
            nn.Linear(self.trunk.n_features, num_hidden[0]), activation_layer(activation),
            nn.Dropout(dropout_rate),
            nn.Linear(num_hidden[0], num_hidden[1]), activation_layer(activation),
        )
        self.output = nn.Linear(num_hidden[1], n_out)
        init_weights(self, initializer)
        # astroNN's output layer keeps Keras' default glorot-uniform initialiser
        init_weights(self.output, "glorot_uniform")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_spectra(x, self.n_pix)
        return self.output(self.dense(self.trunk(x)))


class _BCNNRest(nn.Module):
    """Everything of the BCNN after the first convolution (stochastic part), for ``mc_split``."""

    def __init__(self, net: ApogeeBCNNNet) -> None:
        super().__init__()
        object.__setattr__(self, "_net", net)  # shares the parent's modules, no copy

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._net._from_first(h)

    def repeat_forward(self, h: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``forward`` of ``h`` repeated ``n_samples`` times, sample-major (the
        :func:`astrotorch.uncertainty.mc_predict` protocol): the repetition and the first dropout
        mask are applied in one pass."""
        return self._net._head(self._net.trunk.rest_features_repeated(h, n_samples))


class _BCNNFirst(nn.Module):
    def __init__(self, net: ApogeeBCNNNet) -> None:
        super().__init__()
        object.__setattr__(self, "_net", net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_spectra(x, self._net.n_pix)
        return self._net.trunk.first_features(x)


class ApogeeBCNNNet(nn.Module):
    """astroNN ``ApogeeBCNN``: MC-dropout CNN with a heteroscedastic head → ``(mean, log_variance)``."""

    def __init__(self, n_pix: int, n_out: int, num_filters: Sequence[int] = (2, 4), filter_len: int = 8,
                 pool_length: int = 4, num_hidden: Sequence[int] = (196, 96), dropout_rate: float = 0.3,
                 activation: str = "relu", initializer: str = "random_normal") -> None:
        super().__init__()
        self.n_pix = n_pix
        self.trunk = ConvTrunk(n_pix, num_filters, filter_len, pool_length, activation, dropout_rate)
        self.dense = nn.Sequential(
            MCDropout(dropout_rate),
            nn.Linear(self.trunk.n_features, num_hidden[0]), activation_layer(activation),
            MCDropout(dropout_rate),
            nn.Linear(num_hidden[0], num_hidden[1]), activation_layer(activation),
        )
        self.output = nn.Linear(num_hidden[1], n_out)
        self.log_variance = nn.Linear(num_hidden[1], n_out)
        init_weights(self, initializer)
        init_weights(self.output, "glorot_uniform")
        init_weights(self.log_variance, "glorot_uniform")

    def _from_first(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._head(self.trunk.rest_features(h))

    def _head(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = dense_forward(self.dense, features)
        return self.output(z), self.log_variance(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _check_spectra(x, self.n_pix)
        return self._head(self.trunk(x))

    def mc_split(self) -> tuple[nn.Module, nn.Module]:
        """(first convolution + activation, the rest): the prefix is deterministic, run once in MC."""
        return _BCNNFirst(self), _BCNNRest(self)


class MaxNormLinear(nn.Linear):
    """Dense layer whose incoming weight vector per unit has an L2 norm of at most ``max_norm``
    (Keras ``MaxNorm`` kernel constraint, applied after every optimiser step — here at every forward
    pass in training, which is equivalent for the next step's use)."""

    def __init__(self, in_features: int, out_features: int, max_norm: float) -> None:
        super().__init__(in_features, out_features)
        self.max_norm = float(max_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                norms = self.weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
                self.weight.mul_(torch.clamp(self.max_norm / norms, max=1.0))
        return super().forward(x)


class ApogeeBCNNCensoredNet(nn.Module):
    """astroNN ``ApogeeBCNNCensored`` generalised to any label set.

    ``windows`` maps output index → boolean pixel mask: those outputs get an element branch that
    sees only the masked pixels (Dense(h2·w) → ReLU → MCDropout → Dense(h3·w) → ReLU → MCDropout,
    ``w`` = 8/4 for the wide elements C and N as in astroNN, else 1), and a final Dense(1) on
    ``[branch, maxnorm-Dense(2)(trunk), stop_grad(trunk outputs)]``. The other outputs (Teff, log g,
    Fe in astroNN) are Dense(1) heads on the BCNN trunk. ``num_hidden`` = [trunk 1, trunk 2, branch 1,
    branch 2, full-spectrum summary] = astroNN's [192, 96, 32, 16, 2].
    """

    def __init__(self, n_pix: int, n_out: int, windows: Mapping[int, np.ndarray], wide: Sequence[int] = (),
                 num_filters: Sequence[int] = (2, 4), filter_len: int = 8, pool_length: int = 4,
                 num_hidden: Sequence[int] = (192, 96, 32, 16, 2), dropout_rate: float = 0.3,
                 activation: str = "relu", initializer: str = "random_normal", maxnorm: float = 0.5) -> None:
        super().__init__()
        if len(num_hidden) != 5:
            raise InputValidationError(f"num_hidden must have 5 entries for the censored BCNN, got {num_hidden}")
        self.n_pix, self.n_out = n_pix, n_out
        self.branch_idx = sorted(int(i) for i in windows)
        if any(i < 0 or i >= n_out for i in self.branch_idx):
            raise InputValidationError(f"window output indices {self.branch_idx} outside 0..{n_out - 1}")
        self.main_idx = [i for i in range(n_out) if i not in windows]
        if not self.main_idx:
            raise InputValidationError("at least one output (e.g. Teff) must come from the full-spectrum trunk")
        self.trunk = ConvTrunk(n_pix, num_filters, filter_len, pool_length, activation, dropout_rate)
        self.dense = nn.Sequential(
            MCDropout(dropout_rate),
            nn.Linear(self.trunk.n_features, num_hidden[0]), activation_layer(activation),
            MCDropout(dropout_rate),
            nn.Linear(num_hidden[0], num_hidden[1]), activation_layer(activation),
        )
        n_main = len(self.main_idx)
        self.main_out = nn.Linear(num_hidden[1], n_main)
        self.main_logvar = nn.Linear(num_hidden[1], n_main)
        self.aux_fullspec = MaxNormLinear(num_hidden[1], num_hidden[4], maxnorm)
        self.branches = nn.ModuleList()
        self.heads = nn.ModuleList()
        self.head_vars = nn.ModuleList()
        for i in self.branch_idx:
            mask = np.asarray(windows[i], dtype=bool)
            if mask.shape != (n_pix,) or not mask.any():
                raise InputValidationError(f"window of output {i} must be a non-empty bool mask of {n_pix} pixels")
            w1, w2 = (8, 4) if i in wide else (1, 1)
            branch = nn.Sequential(
                nn.Linear(int(mask.sum()), num_hidden[2] * w1), activation_layer(activation), MCDropout(dropout_rate),
                nn.Linear(num_hidden[2] * w1, num_hidden[3] * w2), activation_layer(activation), MCDropout(dropout_rate),
            )
            self.branches.append(branch)
            n_concat = num_hidden[3] * w2 + num_hidden[4] + n_main
            self.heads.append(nn.Linear(n_concat, 1))
            self.head_vars.append(nn.Linear(n_concat, 1))
        # the pixel indices of each window, as buffers (saved with the weights, follow .to(device))
        for k, i in enumerate(self.branch_idx):
            self.register_buffer(f"window_{k}", torch.as_tensor(np.flatnonzero(windows[i]), dtype=torch.long))
        init_weights(self, initializer)
        for head in [self.main_out, self.main_logvar, *self.heads, *self.head_vars]:
            init_weights(head, "glorot_uniform")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _check_spectra(x, self.n_pix)
        z = dense_forward(self.dense, self.trunk(x))
        main, main_lv = self.main_out(z), self.main_logvar(z)
        fullspec = torch.cat([self.aux_fullspec(z), main.detach()], dim=1)
        mean = x.new_empty((x.shape[0], self.n_out))
        logvar = x.new_empty((x.shape[0], self.n_out))
        mean[:, self.main_idx] = main
        logvar[:, self.main_idx] = main_lv
        for k, i in enumerate(self.branch_idx):
            h = torch.cat([self.branches[k](x[:, getattr(self, f"window_{k}")]), fullspec], dim=1)
            mean[:, i] = self.heads[k](h)[:, 0]
            logvar[:, i] = self.head_vars[k](h)[:, 0]
        return mean, logvar


class ApogeeDR14GaiaDR2Net(nn.Module):
    """astroNN ``ApogeeDR14GaiaDR2BCNN``: spectra → Ks-band fakemag, trained on Gaia parallaxes.

    Input dict: ``"spectra"`` (N, L) normalised spectra, ``"mag"`` (N, 1) extinction-corrected apparent
    magnitude (not normalised), ``"aux"`` (N, k) data the parallax zero-point offset may depend on
    (astroNN: Gaia G, colour ...). In training mode the output is the parallax (mas)
    ``fakemag · 10^(−0.2 m) + offset(aux)`` and its log variance; inside :meth:`fakemag_output` the
    output is the fakemag and its log variance (what a trained model is used for).
    """

    #: astroNN's fixed de-normalisation factor of the softplus fakemag output (fakemag std ~ 1 on APOGEE)
    FAKEMAG_SCALE = 73.85

    def __init__(self, n_pix: int, n_aux: int, num_filters: Sequence[int] = (2, 4), filter_len: int = 8,
                 pool_length: int = 4, num_hidden: Sequence[int] = (162, 64, 32, 16), dropout_rate: float = 0.3,
                 activation: str = "relu", initializer: str = "random_normal") -> None:
        super().__init__()
        if len(num_hidden) != 4:
            raise InputValidationError(f"num_hidden must have 4 entries, got {num_hidden}")
        self.n_pix, self.n_aux = n_pix, n_aux
        self.trunk = ConvTrunk(n_pix, num_filters, filter_len, pool_length, activation, dropout_rate)
        self.dense = nn.Sequential(
            MCDropout(dropout_rate),
            nn.Linear(self.trunk.n_features, num_hidden[0]), activation_layer(activation),
            MCDropout(dropout_rate),
            nn.Linear(num_hidden[0], num_hidden[1]), activation_layer(activation),
        )
        self.fakemag = nn.Linear(num_hidden[1], 1)
        self.fakemag_logvar = nn.Linear(num_hidden[1], 1)
        self.offset_net = nn.Sequential(
            nn.Linear(n_aux, num_hidden[2]), nn.Tanh(), MCDropout(dropout_rate),
            nn.Linear(num_hidden[2], num_hidden[3]), nn.Tanh(), MCDropout(dropout_rate),
            nn.Linear(num_hidden[3], 1), nn.Tanh(),
        )
        self._fakemag_mode = False
        init_weights(self, initializer)
        init_weights(self.fakemag, "glorot_uniform")
        init_weights(self.fakemag_logvar, "glorot_uniform")

    @contextlib.contextmanager
    def fakemag_output(self) -> Iterator[None]:
        """Within this context ``forward`` returns ``(fakemag, log_variance)`` instead of the parallax."""
        self._fakemag_mode = True
        try:
            yield
        finally:
            self._fakemag_mode = False

    def offset(self, aux: torch.Tensor) -> torch.Tensor:
        """Parallax zero-point offset (mas), (N, 1); |offset| < 1 mas (tanh output, as astroNN)."""
        return self.offset_net(aux)

    def forward(self, x: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, Mapping) or not {"spectra", "mag", "aux"} <= set(x):
            raise InputValidationError("ApogeeDR14GaiaDR2Net expects a dict with 'spectra', 'mag' and 'aux'")
        spec = _check_spectra(x["spectra"], self.n_pix)
        mag = x["mag"].reshape(spec.shape[0], 1)
        z = dense_forward(self.dense, self.trunk(spec))
        raw = nn.functional.softplus(self.fakemag(z))
        raw_lv = self.fakemag_logvar(z)
        fakemag = raw * self.FAKEMAG_SCALE
        if self._fakemag_mode:
            return fakemag, raw_lv + 2.0 * math.log(self.FAKEMAG_SCALE)
        inv_pow = torch.pow(10.0, -0.2 * mag)
        parallax = fakemag * inv_pow + self.offset(x["aux"].reshape(spec.shape[0], -1))
        # first-order propagation: σ_plx = σ_fakemag · 10^(−0.2 m), with σ_fakemag = σ_raw · scale
        # (astroNN writes log|plx · σ²_raw / raw|, which is not dimensionally a variance; we propagate)
        logvar = raw_lv + 2.0 * torch.log(inv_pow * self.FAKEMAG_SCALE)
        return parallax, logvar


__all__ = [
    "ApogeeBCNNCensoredNet",
    "ApogeeBCNNNet",
    "ApogeeCNNNet",
    "ApogeeDR14GaiaDR2Net",
    "ChannelsLastFlatten",
    "ConvTrunk",
    "MaxNormLinear",
    "SameConv1d",
    "activation_layer",
    "dense_forward",
    "init_weights",
]
