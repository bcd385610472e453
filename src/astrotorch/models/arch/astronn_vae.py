"""astroNN's two variational networks, layer for layer: ``ApogeeCVAE`` and ``ApokascEncoderDecoder``.

These are the ``architecture="astronn"`` option of :class:`astrotorch.models.ApogeeCVAE` and
:class:`astrotorch.models.ApokascEncoderDecoder` (astrotorch's own default networks are in
:mod:`astrotorch.models.arch.vae`), so that astroNN-trained weights can be loaded
(:mod:`astrotorch.models.astronn_folder`). They offer the interface the model classes use:
``encode(x) -> (mean, log_var)``, ``decode(z)``, ``forward(x)`` (sampled latent in training, the mean
in ``eval()``) and a :class:`~astrotorch.nn.layers.KLDivergence` layer ``kl``.

Keras details reproduced: 'same' padding with TensorFlow's asymmetric split (the extra pixel on the
right), strided convolutions, flatten in (length, channel) order, transposed convolutions with
'same' output length ``L_in · stride``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models.arch.apogee import ChannelsLastFlatten, activation_layer
from astrotorch.nn.layers import KLDivergence


def _same_pad(length: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (left, right) of a length-``length`` input."""
    out = -(-length // stride)
    total = max((out - 1) * stride + k - length, 0)
    return total // 2, total - total // 2


class KerasConv1d(nn.Conv1d):
    """``Conv1D(padding="same", strides=s)`` as Keras computes it, on (N, C, L) data."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(F.pad(x, _same_pad(x.shape[-1], self.kernel_size[0], self.stride[0])))


class KerasConvTranspose1d(nn.ConvTranspose1d):
    """``Conv1DTranspose(padding="same", strides=s)``: output length ``L · s``, cropped as TensorFlow does."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:  # type: ignore[override]
        k, s = self.kernel_size[0], self.stride[0]
        full = F.conv_transpose1d(x, self.weight, self.bias, stride=s)
        left = max(k - s, 0) // 2
        return full[..., left: left + x.shape[-1] * s]


def _sample(mean: torch.Tensor, log_var: torch.Tensor, training: bool) -> torch.Tensor:
    if not training:
        return mean
    return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)


def _check(x: torch.Tensor, length: int) -> torch.Tensor:
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2 or x.shape[1] != length:
        raise ShapeMismatchError(f"expected spectra of shape (N, {length}), got {tuple(x.shape)}")
    return x


class AstroNNCVAENet(nn.Module):
    """astroNN ``ApogeeCVAE``: spectrum (N, L) → latent → reconstructed spectrum (N, L).

    Encoder: Conv1D(f0, k, relu) → Dropout → Conv1D(f1, k, relu) → Dropout → MaxPool(p) → Flatten →
    Dense(h0, relu) → Dropout → Dense(h1, relu) → Dropout → Dense(d) mean, Dense(d) log variance.
    Decoder: Dense(h1, relu) → Dropout → Dense(L·f1, relu) → Dropout → reshape (L, f1) →
    Conv1D(f1, k, relu) → Dropout → Conv1D(f0, k, relu) → Conv1D(1, k) linear.
    """

    def __init__(self, input_len: int, latent_dim: int = 2, num_filters: Sequence[int] = (2, 4), filter_len: int = 8,
                 pool_length: int = 4, num_hidden: Sequence[int] = (128, 64), dropout_rate: float = 0.1,
                 activation: str = "relu", kl_weight: float = 1.0) -> None:
        super().__init__()
        f0, f1 = (int(v) for v in num_filters)
        h0, h1 = (int(v) for v in num_hidden)
        if input_len < pool_length:
            raise InputValidationError(f"spectra of {input_len} pixels are shorter than the pool length {pool_length}")
        self.input_len, self.latent_dim, self._f1 = int(input_len), int(latent_dim), f1
        self.encoder = nn.Sequential(
            KerasConv1d(1, f0, filter_len), activation_layer(activation), nn.Dropout(dropout_rate),
            KerasConv1d(f0, f1, filter_len), activation_layer(activation), nn.Dropout(dropout_rate),
            nn.MaxPool1d(pool_length), ChannelsLastFlatten(),
            nn.Linear((input_len // pool_length) * f1, h0), activation_layer(activation), nn.Dropout(dropout_rate),
            nn.Linear(h0, h1), activation_layer(activation), nn.Dropout(dropout_rate),
        )
        self.mean = nn.Linear(h1, latent_dim)
        self.log_var = nn.Linear(h1, latent_dim)
        self.kl = KLDivergence(kl_weight)
        self.decoder_dense = nn.Sequential(
            nn.Linear(latent_dim, h1), activation_layer(activation), nn.Dropout(dropout_rate),
            nn.Linear(h1, input_len * f1), activation_layer(activation), nn.Dropout(dropout_rate),
        )
        self.decoder_conv = nn.Sequential(
            KerasConv1d(f1, f1, filter_len), activation_layer(activation), nn.Dropout(dropout_rate),
            KerasConv1d(f1, f0, filter_len), activation_layer(activation),
            KerasConv1d(f0, 1, filter_len),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(_check(x, self.input_len)[:, None, :])
        return self.mean(h), self.log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.decoder_dense(z).reshape(z.shape[0], self.input_len, self._f1).transpose(1, 2)
        return self.decoder_conv(h)[:, 0, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.kl(self.encode(x))
        return self.decode(_sample(mean, log_var, self.training))


class AstroNNEncoderDecoderNet(nn.Module):
    """astroNN ``ApokascEncoderDecoder``: spectrum (N, L) → latent → another data product (N, M).

    Encoder: Conv1D(f0, k0, stride 2, relu) → Dropout → Conv1D(f1, k0, stride 2, relu) → MaxPool(p)
    → Dropout → Flatten → Dense(h0, tanh) → Dense(d) mean, Dense(d) log variance. Decoder:
    Dense((M/4)·h1, relu) → Dropout → reshape (M/4, h1) → Conv1DTranspose(f2, k1, stride 2, relu) →
    Dropout → Conv1DTranspose(f3, k1, stride 2, relu) → Dropout → Conv1DTranspose(1, k1) linear.
    ``output_len`` must be a multiple of 4.
    """

    def __init__(self, input_len: int, output_len: int, latent_dim: int = 5,
                 num_filters: Sequence[int] = (32, 64, 16, 16), filter_len: Sequence[int] = (8, 32),
                 pool_length: int = 2, num_hidden: Sequence[int] = (16, 16), dropout_rate: float = 0.0,
                 activation: str = "relu", kl_weight: float = 1.0) -> None:
        super().__init__()
        f0, f1, f2, f3 = (int(v) for v in num_filters)
        k0, k1 = (int(v) for v in filter_len)
        h0, h1 = (int(v) for v in num_hidden)
        if output_len % 4:
            raise InputValidationError(f"astroNN's encoder-decoder needs an output length divisible by 4, got {output_len}")
        self.input_len, self.output_len, self.latent_dim = int(input_len), int(output_len), int(latent_dim)
        self._internal, self._h1 = output_len // 4, h1
        conv_len = -(-input_len // 4)  # two stride-2 'same' convolutions: ceil(ceil(n/2)/2) = ceil(n/4)
        flat = (conv_len // pool_length) * f1
        if flat < 1:
            raise InputValidationError(f"spectra of {input_len} pixels are too short for this encoder")
        self.encoder = nn.Sequential(
            KerasConv1d(1, f0, k0, stride=2), activation_layer(activation), nn.Dropout(dropout_rate),
            KerasConv1d(f0, f1, k0, stride=2), activation_layer(activation),
            nn.MaxPool1d(pool_length), nn.Dropout(dropout_rate), ChannelsLastFlatten(),
            nn.Linear(flat, h0), nn.Tanh(),
        )
        self.mean = nn.Linear(h0, latent_dim)
        self.log_var = nn.Linear(h0, latent_dim)
        self.kl = KLDivergence(kl_weight)
        self.decoder_dense = nn.Sequential(nn.Linear(latent_dim, self._internal * h1), activation_layer(activation),
                                           nn.Dropout(dropout_rate))
        self.decoder_conv = nn.Sequential(
            KerasConvTranspose1d(h1, f2, k1, stride=2), activation_layer(activation), nn.Dropout(dropout_rate),
            KerasConvTranspose1d(f2, f3, k1, stride=2), activation_layer(activation), nn.Dropout(dropout_rate),
            KerasConvTranspose1d(f3, 1, k1, stride=1),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(_check(x, self.input_len)[:, None, :])
        return self.mean(h), self.log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.decoder_dense(z).reshape(z.shape[0], self._internal, self._h1).transpose(1, 2)
        return self.decoder_conv(h)[:, 0, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.kl(self.encode(x))
        return self.decode(_sample(mean, log_var, self.training))


__all__ = ["AstroNNCVAENet", "AstroNNEncoderDecoderNet", "KerasConv1d", "KerasConvTranspose1d"]
