"""Variational 1-d convolutional networks for spectra (astroNN's ``Apogee_CVAE`` / ``ApokascEncoderDecoder``).

* :class:`SpectraEncoder` — spectrum (N, L) → latent mean and log-variance (N, d): two Conv1d + ReLU +
  max-pool stages, then dense layers.
* :class:`ConvVAE1D` — encoder, reparameterised sample (the mean at ``eval()``), a
  :class:`~astrotorch.nn.layers.KLDivergence` layer recording ``KL(q(z|x) || N(0, I))`` in ``.loss``,
  and a transposed decoder (dense → upsample + Conv1d) back to (N, L).
* :class:`VariationalEncoderDecoder` — the same encoder and KL, decoded by an MLP into a different
  data product of length ``output_len`` (e.g. an oscillation power spectrum).
"""

from __future__ import annotations

import torch
from torch import nn

from astrotorch.errors import ShapeMismatchError
from astrotorch.nn.layers import KLDivergence


def _pooled_len(length: int, stages: int) -> int:
    for _ in range(stages):
        length //= 2
    return length


class SpectraEncoder(nn.Module):
    """(N, L) spectra → (mean, log_var) of a ``latent_dim`` Gaussian."""

    def __init__(self, input_len: int, latent_dim: int, channels: tuple[int, int] = (8, 16), kernel: int = 7,
                 dense: int = 64) -> None:
        super().__init__()
        if _pooled_len(input_len, 2) < 1:
            raise ShapeMismatchError(f"spectra need at least 4 pixels, got {input_len}")
        self.input_len = input_len
        c1, c2 = channels
        self.conv = nn.Sequential(
            nn.Conv1d(1, c1, kernel, padding="same"), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(c1, c2, kernel, padding="same"), nn.ReLU(), nn.MaxPool1d(2),
        )
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(c2 * _pooled_len(input_len, 2), dense), nn.ReLU())
        self.mean = nn.Linear(dense, latent_dim)
        self.log_var = nn.Linear(dense, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 2 or x.shape[1] != self.input_len:
            raise ShapeMismatchError(f"expected spectra of shape (N, {self.input_len}), got {tuple(x.shape)}")
        h = self.dense(self.conv(x[:, None, :]))
        return self.mean(h), self.log_var(h).clamp(-10.0, 10.0)


def _sample(mean: torch.Tensor, log_var: torch.Tensor, training: bool) -> torch.Tensor:
    if not training:
        return mean
    return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)


class ConvVAE1D(nn.Module):
    """Convolutional VAE: spectra → latent → spectra (reconstruction (N, L))."""

    def __init__(self, input_len: int, latent_dim: int = 2, channels: tuple[int, int] = (8, 16), kernel: int = 7,
                 dense: int = 64, kl_weight: float = 1.0) -> None:
        super().__init__()
        c1, c2 = channels
        self.input_len = input_len
        self.latent_dim = latent_dim
        self.encoder = SpectraEncoder(input_len, latent_dim, channels, kernel, dense)
        self.kl = KLDivergence(kl_weight)
        self._l4 = _pooled_len(input_len, 2)
        self._c2 = c2
        self.decoder_dense = nn.Sequential(nn.Linear(latent_dim, dense), nn.ReLU(), nn.Linear(dense, c2 * self._l4), nn.ReLU())
        self.decoder_conv = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv1d(c2, c1, kernel, padding="same"), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv1d(c1, 1, kernel, padding="same"),
        )
        # pooling drops odd pixels; a final linear map restores the exact length
        self.out_len = 4 * self._l4
        self.resize = nn.Identity() if self.out_len == input_len else nn.Linear(self.out_len, input_len)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.decoder_dense(z).reshape(z.shape[0], self._c2, self._l4)
        return self.resize(self.decoder_conv(h)[:, 0, :])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.kl(self.encoder(x))
        return self.decode(_sample(mean, log_var, self.training))


class VariationalEncoderDecoder(nn.Module):
    """Spectra → latent (with KL) → MLP → a second data product of length ``output_len``."""

    def __init__(self, input_len: int, output_len: int, latent_dim: int = 8, channels: tuple[int, int] = (8, 16),
                 kernel: int = 7, dense: int = 64, kl_weight: float = 1.0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = SpectraEncoder(input_len, latent_dim, channels, kernel, dense)
        self.kl = KLDivergence(kl_weight)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, dense), nn.ReLU(), nn.Linear(dense, dense), nn.ReLU(),
                                     nn.Linear(dense, output_len))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.kl(self.encoder(x))
        return self.decode(_sample(mean, log_var, self.training))


__all__ = ["SpectraEncoder", "ConvVAE1D", "VariationalEncoderDecoder"]
