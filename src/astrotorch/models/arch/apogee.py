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
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn import fused
from astrotorch.nn.layers import MCDropout

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU}


def activation_layer(name: str) -> nn.Module:
    """``nn.Module`` for an activation name (Keras names)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise InputValidationError(f"unknown activation {name!r}; choose from {sorted(_ACTIVATIONS)}") from None


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


class SameConv1d(nn.Conv1d):
    """Keras-style 'same' 1-D convolution (left pad (k-1)//2, right pad k//2) computed as a (1, k)
    ``conv2d`` on channels-last data.

    Same parameters and outputs as ``nn.Conv1d(padding="same")`` (saved weights are interchangeable),
    but oneDNN's 2-D kernels are ~1.8x cheaper on CPU for the few-channel convolutions of the
    APOGEE networks (bench/vs_astronn.py --at-conv2d profile), and the explicit padding avoids
    PyTorch's even-kernel 'same' padding copy.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        k = self.kernel_size[0]
        x = F.pad(x, ((k - 1) // 2, k // 2))
        try:
            x2 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        except RuntimeError:
            # torch.func transforms (vmap in jacobian/hessian) cannot change the memory format
            return F.conv1d(x, self.weight, self.bias)
        return F.conv2d(x2, self.weight.unsqueeze(2), self.bias).squeeze(2)


class ChannelsLastFlatten(nn.Module):
    """Flatten (N, C, L) in Keras' (L, C) order, so dense weights match astroNN's layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], -1)


#: activations that commute with max pooling (monotonic non-decreasing): for these the trunk pools
#: first and activates the 4x smaller result, which gives identical outputs and gradients
_MONOTONIC = (nn.ReLU, nn.Tanh, nn.ELU, nn.SELU)


def _pool_then_act(p: int, act: nn.Module):  # noqa: ANN202 - returns a tensor function
    """``(N, L, C)`` → flattened ``act(max-pool_p(x))`` in Keras (L, C) order, as a pure function
    (compiled by :mod:`astrotorch.nn.fused`: read the convolution output once, write the features)."""

    def pool_then_act(o: torch.Tensor) -> torch.Tensor:
        n, length, c = o.shape
        # windows as (N, L // p, p * C) with the p pixels' channels side by side; maxima of the p
        # channel slices in float32 (bfloat16 inputs: ~1.6x faster compiled than amax over an axis)
        w = o[:, : (length // p) * p].reshape(n, length // p, p * c).float()
        pooled = w[:, :, 0:c]
        for j in range(1, p):
            pooled = torch.maximum(pooled, w[:, :, j * c:(j + 1) * c])
        return act(pooled).to(o.dtype).reshape(n, -1)

    return pool_then_act


class _HalfMaxPool(torch.autograd.Function):
    """Max pooling along L of bfloat16/float16 ``(N, L, C)`` data for CPU training: windows and
    indices are found in float32 (exact for these values: the cast is lossless) and the gradient is
    scattered in the input's dtype. PyTorch's CPU pooling kernel is ~2.5x slower in bfloat16 than the
    cast plus float32 pooling (the slowest forward op of a bf16 ApogeeBCNN step), while a float32
    backward would allocate and fill a float32 gradient the next (bf16) convolution does not want."""

    @staticmethod
    def forward(ctx: Any, o: torch.Tensor, p: int) -> torch.Tensor:  # type: ignore[override]
        out, index = torch.ops.aten.max_pool2d_with_indices(o.float().transpose(1, 2).unsqueeze(2), [1, p], [1, p])
        ctx.save_for_backward(o, index)
        ctx.p = p
        return out.to(o.dtype).squeeze(2).transpose(1, 2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        o, index = ctx.saved_tensors
        p = ctx.p
        grad_in = torch.ops.aten.max_pool2d_with_indices_backward(
            grad.to(o.dtype).transpose(1, 2).unsqueeze(2), o.transpose(1, 2).unsqueeze(2),
            [1, p], [1, p], [0, 0], [1, 1], False, index)
        return grad_in.squeeze(2).transpose(1, 2), None


def _conv_cl(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Valid cross-correlation of channels-last ``(N, L', C_in)`` data with ``(C_out, C_in, k)`` kernels
    → ``(N, L' − k + 1, C_out)``; an ``(N, C, 1, L)`` view with channels-last strides goes to oneDNN's
    2-D kernels without a copy."""
    out = F.conv2d(x.transpose(1, 2).unsqueeze(2), weight.unsqueeze(2), bias)
    return out.squeeze(2).transpose(1, 2)


class _ConvInputGradAsConv(torch.autograd.Function):
    """:func:`_conv_cl` whose input gradient is computed as a forward convolution of the zero-padded
    output gradient with the flipped, transposed kernels. For the few-channel APOGEE convolutions on
    CPU, oneDNN's input-gradient kernel is ~1.6x slower than its forward kernel on the same sizes; the
    kernel gradient keeps oneDNN's own backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _conv_cl(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        k = weight.shape[-1]
        grad = grad.to(x.dtype)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _conv_cl(F.pad(grad, (0, 0, k - 1, k - 1)), weight.flip(2).transpose(0, 1), None)
        if ctx.needs_input_grad[1] or (ctx.has_bias and ctx.needs_input_grad[2]):
            _, grad_w4, grad_b = torch.ops.aten.convolution_backward(
                grad.transpose(1, 2).unsqueeze(2), x.transpose(1, 2).unsqueeze(2), weight.unsqueeze(2),
                [weight.shape[0]] if ctx.has_bias else None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                [False, bool(ctx.needs_input_grad[1]), bool(ctx.has_bias and ctx.needs_input_grad[2])])
            grad_w = None if grad_w4 is None else grad_w4.squeeze(2)
        return grad_x, grad_w, grad_b


class ConvTrunk(nn.Module):
    """astroNN's spectral feature extractor: two 'same' Conv1D layers, ReLU, max pooling, flatten.

    ``dropout_after_first``: an MC dropout between the two convolutions (the BCNN's first dropout).
    The parameters live in :attr:`first` (conv + activation, deterministic) and :attr:`rest`
    (``nn.Sequential``s, which also serve as the plain reference computation); :meth:`forward`
    runs the same layers on channels-last ``(N, L, C)`` data instead, so the (1, k) ``conv2d``
    needs no layout copies, the flatten in Keras' (length, channel) order is free, and for monotonic
    activations the activation runs after the pooling. Monte Carlo inference computes
    :meth:`first_features` once per spectrum and :meth:`rest_features` per sample.
    """

    def __init__(self, n_pix: int, num_filters: Sequence[int], filter_len: int, pool_length: int,
                 activation: str, dropout_after_first: float | None) -> None:
        super().__init__()
        if len(num_filters) != 2:
            raise InputValidationError(f"num_filters must have two entries, got {num_filters}")
        if n_pix < pool_length:
            raise InputValidationError(f"spectra of {n_pix} pixels are shorter than the pool length {pool_length}")
        self.first = nn.Sequential(
            SameConv1d(1, num_filters[0], filter_len), activation_layer(activation)
        )
        rest: list[nn.Module] = []
        if dropout_after_first is not None:
            rest.append(MCDropout(dropout_after_first))
        rest += [
            SameConv1d(num_filters[0], num_filters[1], filter_len),
            activation_layer(activation),
            nn.MaxPool1d(pool_length),
            ChannelsLastFlatten(),
        ]
        self.rest = nn.Sequential(*rest)
        self.pool_length = pool_length
        self.n_features = (n_pix // pool_length) * num_filters[1]

    @staticmethod
    def _pad(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        """Zero-pad channels-last ``(N, L, C)`` data along L with Keras' 'same' margins for ``conv``
        (left (k-1)//2, right k//2)."""
        k = conv.kernel_size[0]
        return F.pad(x, (0, 0, (k - 1) // 2, k // 2))

    @staticmethod
    def _conv(x_padded: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        """Convolution of padded channels-last ``(N, L + k - 1, C_in)`` data → ``(N, L, C_out)``."""
        if x_padded.device.type == "cpu" and x_padded.requires_grad and torch.is_grad_enabled():
            # half-precision training, a convolution whose input needs a gradient (not the first):
            # cheaper backward (in float32 oneDNN's own is as fast)
            dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x_padded.dtype
            if dtype in (torch.bfloat16, torch.float16):
                bias = None if conv.bias is None else conv.bias.to(dtype)
                with torch.autocast("cpu", enabled=False):
                    return _ConvInputGradAsConv.apply(x_padded.to(dtype), conv.weight.to(dtype), bias)
        return _conv_cl(x_padded, conv.weight, conv.bias)

    def first_features(self, x: torch.Tensor) -> torch.Tensor:
        """Spectra ``(N, L)`` → activated first convolution, channels-last ``(N, L + k2 - 1, C1)``,
        already zero-padded with the second convolution's margins: MC inference repeats this per
        sample, so the padding is done once per spectrum rather than once per sample (dropout keeps
        the zeros zero)."""
        conv, act = self.first
        second = self.rest[1] if isinstance(self.rest[0], MCDropout) else self.rest[0]
        return self._pad(act(self._conv(self._pad(x.unsqueeze(2), conv), conv)), second)

    def rest_features(self, h: torch.Tensor) -> torch.Tensor:
        """``first_features`` output (padded) → flattened features ``(N, (L // pool) * C2)`` in Keras order."""
        layers = list(self.rest)
        if isinstance(layers[0], MCDropout):
            h = layers.pop(0)(h)
        conv, act = layers[0], layers[1]
        o = self._conv(h, conv)
        p = self.pool_length
        if isinstance(act, _MONOTONIC) and o.device.type == "cpu" and not (torch.is_grad_enabled() and o.requires_grad):
            # inference on CPU: pooling and activation as one compiled loop over the convolution output
            pooled = fused.run(("pool_act", p, type(act)), _pool_then_act(p, act), o)
            if pooled is not None:
                return pooled
        if not isinstance(act, _MONOTONIC):
            o = act(o)
        pooled = self._max_pool(o, p)
        if isinstance(act, _MONOTONIC):
            pooled = act(pooled)
        return pooled.reshape(pooled.shape[0], -1)

    @staticmethod
    def _max_pool(o: torch.Tensor, p: int) -> torch.Tensor:
        """Max pooling (stride = window = ``p``, remainder dropped) along L of ``(N, L, C)`` data."""
        if torch.is_grad_enabled() and o.requires_grad:
            if o.device.type == "cpu" and o.dtype in (torch.bfloat16, torch.float16):
                return _HalfMaxPool.apply(o, p)
            # max_pool1d's backward scatters to one index per window (cheapest in training)
            return F.max_pool1d(o.transpose(1, 2), p).transpose(1, 2)
        # inference: an elementwise maximum over the p strided slices is ~3-5x faster than a
        # pooling kernel on this layout (bench/vs_astronn.py profile); in float32 even under
        # bf16 autocast, where casting first beats bfloat16 elementwise maxima on CPU
        if o.device.type == "cpu" and o.dtype in (torch.bfloat16, torch.float16):
            o = o.float()
        n, length, c = o.shape
        windows = o[:, : (length // p) * p].reshape(n, length // p, p, c)
        out = windows[:, :, 0]
        for j in range(1, p):
            out = torch.maximum(out, windows[:, :, j])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest_features(self.first_features(x))

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same computation through the ``first``/``rest`` Sequentials on ``(N, C, L)`` data (tests)."""
        return self.rest(self.first(x.unsqueeze(1)))


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

    def __init__(self, net: "ApogeeBCNNNet") -> None:
        super().__init__()
        object.__setattr__(self, "_net", net)  # shares the parent's modules, no copy

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._net._from_first(h)


class _BCNNFirst(nn.Module):
    def __init__(self, net: "ApogeeBCNNNet") -> None:
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
        z = self.dense(self.trunk.rest_features(h))
        return self.output(z), self.log_variance(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _check_spectra(x, self.n_pix)
        return self._from_first(self.trunk.first_features(x))

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
        z = self.dense(self.trunk(x))
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
        z = self.dense(self.trunk(spec))
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
    "activation_layer",
    "init_weights",
]
