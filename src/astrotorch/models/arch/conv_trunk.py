"""astroNN's spectral feature extractor (two 'same' Conv1D, max pooling, flatten), computed on blocks
of pixels so that the convolutions are cheap on CPU.

The APOGEE convolutions have few channels (1 → 2 → 4 in astroNN's networks, 1 → 4 → 16 in StarNet),
which oneDNN's kernels handle poorly. :class:`ConvTrunk` therefore groups the spectrum into blocks of
``s`` pixels (``s`` = the pool length): a channels-last ``(N, L, C)`` tensor *is* an
``(N, L / s, s · C)`` tensor of blocks without a copy, and the same convolution becomes a
convolution over blocks with ``s · C_in`` input and ``s · C_out`` output channels and a kernel of
``ceil((k + s − 1) / s)`` blocks (:func:`blocked_weight`; the extra taps are zeros). The result is
the same up to float rounding (tests), and with ``s`` = the pool length each output block is one
pooling window. Measured on this machine's CPU (1 thread, 7,514-pixel spectra, CPU time): the 2 → 4
convolution's forward and backward for 64 spectra 19.4 → 7.2 ms, its inference for 200 spectra
7.7 → 3.0 ms; the first convolution 7.5 → 3.5 ms (docs/results/vs_astronn.md, "Session 4").

Layout: the first convolution is evaluated on a grid that starts ``(k − 1) // 2`` pixels before the
spectrum, and the positions outside the spectrum are zeroed, so its output already *is* the second
convolution's zero-padded input (no copy for the padding). Dropout between the two convolutions
takes its mask from :func:`astrotorch.nn.fused.keep_mask` and folds the survivor scale into the
second convolution's weights. Monte Carlo inference repeats the first convolution's output once per
sample in the same pass that applies the mask (:meth:`ConvTrunk.rest_features_repeated`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from astrotorch.errors import InputValidationError
from astrotorch.nn import fused
from astrotorch.nn.layers import MCDropout

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU}
#: activations that commute with max pooling (monotonic non-decreasing): the trunk pools first and
#: activates the ``s``x smaller result (identical outputs and gradients). All of _ACTIVATIONS map 0
#: to 0, which the zeroed padding relies on.
_MONOTONIC = (nn.ReLU, nn.Tanh, nn.ELU, nn.SELU)


def activation_layer(name: str) -> nn.Module:
    """``nn.Module`` for an activation name (Keras names)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise InputValidationError(f"unknown activation {name!r}; choose from {sorted(_ACTIVATIONS)}") from None


#: target block length (pixels) of the blocked convolutions in training: blocks hold BLOCK_PIXELS // p
#: pool windows (8 pixels for ApogeeBCNN's pool of 4: its training step ~2 ms faster than with 4-pixel
#: blocks on this machine's CPU; at inference 4-pixel blocks are faster and are used)
BLOCK_PIXELS = 8


class SameConv1d(nn.Conv1d):
    """Keras-style 'same' 1-D convolution (left pad (k-1)//2, right pad k//2).

    Holds the parameters of the trunk's convolutions (``nn.Conv1d`` layout, so saved weights match
    ``nn.Conv1d(padding="same")``); :class:`ConvTrunk` evaluates them blocked. Called on its own it
    is the plain reference computation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        k = self.kernel_size[0]
        return F.conv1d(F.pad(x, ((k - 1) // 2, k // 2)), self.weight, self.bias)


class ChannelsLastFlatten(nn.Module):
    """Flatten (N, C, L) in Keras' (L, C) order, so dense weights match astroNN's layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(x.shape[0], -1)


@functools.lru_cache(maxsize=32)
def _tap_index(s: int, k: int, device: torch.device) -> torch.Tensor:
    """``(s, kb·s)`` tap of the kernel linking output pixel ``j`` of a block to input pixel ``q`` of
    its ``kb`` input blocks (``q − j``; ``k`` where outside the kernel, which selects a zero)."""
    kb = -(-(k + s - 1) // s)
    with torch.inference_mode(False):  # cached: must also serve autograd outside inference mode
        tap = torch.arange(kb * s).view(1, -1) - torch.arange(s).view(-1, 1)
        return torch.where((tap >= 0) & (tap < k), tap, k).to(device)


#: output-channel orders of :func:`blocked_weight` as permutations of the kernel axes
#: ``(o, c, w, j, tap)`` (pixel ``w·p + j`` of a block of ``s`` pixels, ``p`` = pool window):
#: "pixel": channel ``(w·p + j)·C_out + o`` (the plain channels-last order);
#: "window": ``j·(s/p)·C_out + w·C_out + o``, so that a (1, p) pooling of the
#: ``(N, (s/p)·C_out, blocks, p)`` channels-last view maxes over j;
#: "channel": ``w·C_out·p + o·p + j``, so that each window is p adjacent numbers.
_ORDERS = {"pixel": (2, 3, 0), "window": (3, 2, 0), "channel": (2, 0, 3)}


def blocked_weight(weight: torch.Tensor, s: int, order: str = "pixel", window: int = 1) -> torch.Tensor:
    """``(C_out, C_in, k)`` kernels → ``(s·C_out, s·C_in, 1, kb)`` kernels of the same convolution on
    data grouped in blocks of ``s`` pixels (``kb = ceil((k + s − 1) / s)``).

    Input channel ``q·C_in + c`` is channel ``c`` at pixel ``q`` of an input block (the channels-last
    memory order, so blocking is a free view). Output channels follow ``order`` (see ``_ORDERS``;
    ``window`` = the pool length ``p``, a divisor of ``s``). Differentiable in ``weight``.
    """
    c_out, c_in, k = weight.shape
    idx = _tap_index(s, k, weight.device)
    kb = idx.shape[1] // s
    taps = F.pad(weight, (0, 1))[:, :, idx]  # (C_out, C_in, s, kb·s): [o, c, pixel, tap]
    taps = taps.reshape(c_out, c_in, s // window, window, kb * s).permute(*_ORDERS[order], 4, 1)
    return taps.reshape(s * c_out, kb, s * c_in).transpose(1, 2).unsqueeze(2)


def blocked_bias(bias: torch.Tensor, s: int, order: str = "pixel", window: int = 1) -> torch.Tensor:
    """The bias of :func:`blocked_weight`'s output channels."""
    wjo = bias.reshape(1, 1, -1).expand(s // window, window, bias.shape[0])  # [w, j, o]
    perm = {"pixel": (0, 1, 2), "window": (1, 0, 2), "channel": (0, 2, 1)}[order]
    return wjo.permute(*perm).reshape(-1)


def blocked_conv(blocks: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, s: int,
                 order: str = "pixel", window: int = 1) -> torch.Tensor:
    """Valid convolution of blocked channels-last data ``(N, B, s·C_in)`` with ``(C_out, C_in, k)``
    kernels → ``(N, B − kb + 1, s·C_out)``: output block ``b`` holds the ``s`` pixels whose windows
    start in input block ``b`` (channel order of :func:`blocked_weight`). The ``(N, s·C_in, 1, B)``
    view has channels-last strides, which oneDNN takes without a copy."""
    if bias is not None:
        bias = blocked_bias(bias, s, order, window)
    out = F.conv2d(blocks.transpose(1, 2).unsqueeze(2), blocked_weight(weight, s, order, window), bias)
    return out.squeeze(2).transpose(1, 2)


class _HalfMaxPool(torch.autograd.Function):
    """``(1, s)`` max pooling of bfloat16/float16 channels-last ``(N, C, H, s)`` data for CPU training:
    windows and indices are found in float32 (the cast is exact) and the gradient is scattered in the
    input's dtype. PyTorch's CPU pooling kernel is ~7x slower in bfloat16 than the cast plus float32
    pooling here, while a float32 backward would fill a float32 gradient the next (half-precision)
    convolution does not want."""

    @staticmethod
    def forward(ctx: Any, o: torch.Tensor, s: int) -> torch.Tensor:  # type: ignore[override]
        out, index = torch.ops.aten.max_pool2d_with_indices(o.float(), [1, s], [1, s])
        ctx.save_for_backward(o, index)
        ctx.s = s
        return out.to(o.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        o, index = ctx.saved_tensors
        s = ctx.s
        grad_in = torch.ops.aten.max_pool2d_with_indices_backward(
            grad.to(o.dtype), o, [1, s], [1, s], [0, 0], [1, 1], False, index)
        return grad_in, None


def _max_pool_blocks(windows: torch.Tensor, s: int) -> torch.Tensor:
    """Max over the last axis (length ``s``) of a channels-last ``(N, C, H, s)`` view, for training."""
    if windows.device.type == "cpu" and windows.dtype in (torch.bfloat16, torch.float16):
        return _HalfMaxPool.apply(windows, s)
    return F.max_pool2d(windows, (1, s))


class ConvTrunk(nn.Module):
    """astroNN's spectral feature extractor: two 'same' Conv1D layers, activation, max pooling, flatten.

    ``dropout_after_first``: an MC dropout between the two convolutions (the BCNN's first dropout).
    The parameters live in :attr:`first` (conv + activation, deterministic) and :attr:`rest`
    (``nn.Sequential``s, which also give the plain reference computation,
    :meth:`reference_forward`); :meth:`forward` computes the same on blocks of ``pool_length``
    pixels (module docstring). Monte Carlo inference computes :meth:`first_features` once per
    spectrum and :meth:`rest_features` (or :meth:`rest_features_repeated`) per sample.
    """

    def __init__(self, n_pix: int, num_filters: Sequence[int], filter_len: int, pool_length: int,
                 activation: str, dropout_after_first: float | None) -> None:
        super().__init__()
        if len(num_filters) != 2:
            raise InputValidationError(f"num_filters must have two entries, got {num_filters}")
        if n_pix < pool_length:
            raise InputValidationError(f"spectra of {n_pix} pixels are shorter than the pool length {pool_length}")
        self.first = nn.Sequential(SameConv1d(1, num_filters[0], filter_len), activation_layer(activation))
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
        self.n_pix = n_pix
        self.pool_length = pool_length
        self.n_features = (n_pix // pool_length) * num_filters[1]
        # block geometry. Blocks of s_train = m·p pixels (m = BLOCK_PIXELS // p windows per block)
        # for the first convolution and the training pass of the second; blocks of p pixels (one
        # window) for the second convolution at inference (faster there, measured). The first
        # convolution's output is the second's zero-padded input: `length` pixels starting `left`
        # pixels before the spectrum, a multiple of s_train, long enough for both block sizes; the
        # first convolution reads x from 2·left pixels before the spectrum.
        p, k = pool_length, filter_len
        self._left = (k - 1) // 2
        self._s_train = max(1, BLOCK_PIXELS // p) * p
        windows = n_pix // p
        need = max(self._need(windows, p, k, s) for s in (p, self._s_train))
        self._length = -(-need // self._s_train) * self._s_train
        self._x_len = self._length + (self._kb(k, self._s_train) - 1) * self._s_train

    @staticmethod
    def _kb(k: int, s: int) -> int:
        """Input blocks per output block of a kernel of length ``k`` on blocks of ``s`` pixels."""
        return -(-(k + s - 1) // s)

    @classmethod
    def _need(cls, windows: int, p: int, k: int, s: int) -> int:
        """Padded input pixels the second convolution needs for ``windows`` pool windows, blocks of ``s``."""
        return (-(-windows * p // s) + cls._kb(k, s) - 1) * s

    @property
    def dropout(self) -> MCDropout | None:
        """The MC dropout between the two convolutions, if any."""
        return self.rest[0] if isinstance(self.rest[0], MCDropout) else None

    def _second(self) -> tuple[nn.Conv1d, nn.Module]:
        layers = list(self.rest)[1:] if self.dropout is not None else list(self.rest)
        return layers[0], layers[1]

    def first_features(self, x: torch.Tensor, zero_padding: bool = True) -> torch.Tensor:
        """Spectra ``(N, L)`` → activated first convolution as the second convolution's zero-padded
        channels-last input ``(N, length, C1)``; row ``i`` is pixel ``i − (k − 1) // 2``.

        ``zero_padding=False`` leaves the padding rows unzeroed, for :meth:`rest_features` with
        ``padding_zeroed=False`` (which zeroes them in its dropout mask: one pass fewer in training)."""
        conv, act = self.first
        if x.device.type == "cpu":
            fused.tune_allocator()
        s, n = self._s_train, x.shape[0]
        left = 2 * self._left
        blocks = F.pad(x, (left, self._x_len - left - self.n_pix)).reshape(n, -1, s)
        out = blocked_conv(blocks, conv.weight, conv.bias, s).reshape(n, self._length, -1)
        # the grid's pixels outside the spectrum are the second convolution's 'same' padding: zero
        # them before the activation (act(0) = 0); the convolution's backward does not need its output
        if zero_padding:
            self._zero_padding(out)
        return act(out)

    def _zero_padding(self, t: torch.Tensor) -> torch.Tensor:
        """Zero (in place) the rows of a first-features-shaped tensor outside the spectrum."""
        t[:, : self._left] = 0.0
        t[:, self._left + self.n_pix:] = 0.0
        return t

    def rest_features(self, h: torch.Tensor, padding_zeroed: bool = True) -> torch.Tensor:
        """``first_features`` output → flattened features ``(N, (L // pool) · C2)`` in Keras order."""
        drop = self.dropout
        scale = 1.0
        if drop is not None and drop.stochastic:
            mask = fused.keep_mask(h.shape, drop.rate, h.dtype, h.device)
            if not padding_zeroed:
                self._zero_padding(mask)
            h = h * mask if torch.is_grad_enabled() and h.requires_grad else torch.mul(h, mask, out=mask)
            scale = fused.keep_scale(drop.rate, h.device)
        elif not padding_zeroed:
            h = self._zero_padding(h.clone())
        return self._pooled(h, scale)

    def rest_features_repeated(self, h: torch.Tensor, n_samples: int) -> torch.Tensor:
        """:meth:`rest_features` of ``h`` repeated ``n_samples`` times (sample-major rows, as
        :func:`astrotorch.uncertainty.mc_predict` lays them out), with the repetition and the dropout
        mask applied in one pass (inference)."""
        drop = self.dropout
        shape = (n_samples, *h.shape)
        if drop is None or not drop.stochastic:
            return self._pooled(h.unsqueeze(0).expand(shape).reshape(-1, *h.shape[1:]), 1.0)
        mask = fused.keep_mask(shape, drop.rate, h.dtype, h.device)
        repeated = torch.mul(h.unsqueeze(0), mask, out=mask).view(-1, *h.shape[1:])
        return self._pooled(repeated, fused.keep_scale(drop.rate, h.device))

    def _pooled(self, h: torch.Tensor, scale: float) -> torch.Tensor:
        """Second convolution (weights × ``scale``, the dropout's survivor scale), pooling, activation."""
        conv, act = self._second()
        p, n, c2 = self.pool_length, h.shape[0], conv.out_channels
        weight = conv.weight * scale if scale != 1.0 else conv.weight
        monotonic = isinstance(act, _MONOTONIC)
        if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad):
            s = self._s_train
            # window-major channels: the (N, (s/p)·C2, blocks, p) view has channels-last strides, and
            # its (1, p) max pooling (the cheapest forward + backward measured) leaves the maxima in
            # Keras' (L, C) order
            out = blocked_conv(h.reshape(n, self._length // s, -1), weight, conv.bias, s, "window", p)
            if not monotonic:
                out = act(out)
            pooled = _max_pool_blocks(out.reshape(n, -1, p, (s // p) * c2).permute(0, 3, 1, 2), p)
            pooled = pooled.permute(0, 2, 3, 1).reshape(n, -1)
        else:
            # inference: one window per block, channel-major, so each window is p adjacent numbers and
            # a 1-D max pooling reads them in order (~5x faster than the 2-D pooling, whose indices
            # only the gradient needs)
            out = blocked_conv(h.reshape(n, self._length // p, -1), weight, conv.bias, p, "channel", p)
            if not monotonic:
                out = act(out)
            if out.device.type == "cpu" and out.dtype in (torch.bfloat16, torch.float16):
                # float32 maxima are ~2x faster than half-precision ones on CPU, cast included
                pooled = F.max_pool1d(out.reshape(n, 1, -1).float(), p).to(out.dtype).reshape(n, -1)
            else:
                pooled = F.max_pool1d(out.reshape(n, 1, -1), p).reshape(n, -1)
        if pooled.shape[1] != self.n_features:  # windows past the spectrum's last whole one (padding)
            pooled = pooled[:, : self.n_features]
        if not monotonic:
            return pooled
        if not torch.is_grad_enabled() and isinstance(act, nn.ReLU):
            return pooled.clamp_min_(0.0)  # a fresh tensor: no second allocation at inference
        return act(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # with a stochastic dropout between the convolutions, its mask zeroes the padding
        fold = self.dropout is not None and self.dropout.stochastic
        return self.rest_features(self.first_features(x, zero_padding=not fold), padding_zeroed=not fold)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same computation through the ``first``/``rest`` Sequentials on ``(N, C, L)`` data (tests)."""
        return self.rest(self.first(x.unsqueeze(1)))


__all__ = ["ChannelsLastFlatten", "ConvTrunk", "SameConv1d", "activation_layer", "blocked_bias", "blocked_conv",
           "blocked_weight"]
