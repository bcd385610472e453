"""Generative models for spectra: ``ApogeeCVAE`` ("apogee_cvae") and ``ApokascEncoderDecoder``.

Both are :class:`~astrotorch.models.base.AstroModel` subclasses trained by the common Lightning
engine; :meth:`compute_loss` adds the KL term that the network's
:class:`~astrotorch.nn.layers.KLDivergence` layer records to the (missing-aware) mean squared error.

* :class:`ApogeeCVAE` — a convolutional VAE: ``fit(spectra)`` learns to reconstruct normalised spectra
  through a ``latent_dim``-dimensional latent space; :meth:`ApogeeCVAE.encode` gives the latent
  mean and σ, :meth:`ApogeeCVAE.decode` turns latent points back into spectra, and
  :meth:`ApogeeCVAE.latent_plot` draws the latent space coloured by a label.
* :class:`ApokascEncoderDecoder` — a variational encoder–decoder from spectra to a second data
  product (astroNN used APOKASC asteroseismic power spectra); ``fit(spectra, power_spectra)``.
  :func:`astrotorch.datasets.stars.oscillation_power_spectrum` makes synthetic ones from log g and Teff.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models.arch.vae import ConvVAE1D, VariationalEncoderDecoder
from astrotorch.models.base import AstroModel
from astrotorch.models.hyperparams import check_float, check_int, check_int_sequence
from astrotorch.models.registry import register_model


def _kl_loss(network: nn.Module) -> torch.Tensor | float:
    kl = getattr(network, "kl", None)
    return kl.loss if kl is not None and kl.loss is not None else 0.0


class _VariationalSpectraModel(AstroModel):
    """Shared loss and latent-space helpers."""

    def __init__(self, *, latent_dim: int = 2, kl_weight: float = 1.0, channels: tuple[int, int] = (8, 16),
                 kernel: int = 7, dense: int = 64, **kwargs: Any) -> None:
        kwargs.setdefault("input_norm_mode", 1)
        kwargs.setdefault("labels_norm_mode", 1)
        super().__init__(**kwargs)
        check_int("latent_dim", latent_dim, 1)
        check_float("kl_weight", kl_weight, 0.0)
        check_int_sequence("channels", channels, 1)
        if len(channels) != 2:
            raise InputValidationError(f"channels must be two filter counts (encoder, decoder stages), got {channels!r}")
        check_int("kernel", kernel, 1)
        check_int("dense", dense, 1)
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight
        self.channels = channels
        self.kernel = kernel
        self.dense = dense

    def prepare_x(self, x: Any) -> np.ndarray:
        arr = self._prepare_array(x, "x")
        if arr.ndim != 2:
            raise ShapeMismatchError(f"spectra must be (N, L), got shape {arr.shape}")
        return arr

    def compute_loss(self, batch: dict[str, Any], output: torch.Tensor) -> torch.Tensor:
        from astrotorch.nn import losses

        recon = losses.mean_squared_error(batch["y"], output, sample_weight=batch.get("weight"))
        # the KL layer's weight already holds kl_weight; per-pixel MSE is a mean, so scale the KL per pixel
        # too, keeping the reconstruction/KL balance independent of the spectrum length
        return recon + _kl_loss(self.network) / output.shape[1] + self.regularization_loss()

    def regularization_loss(self) -> torch.Tensor | float:
        # the KL layer exposes .loss, not .regularization: counted once, in compute_loss
        return 0.0

    def encode(self, x: Any, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and standard deviation (N, latent_dim) of spectra ``x``."""
        xn, n = self._prepare_inference_input(x)
        net = self.network.cpu().eval()
        means, sds = [], []
        with torch.inference_mode():
            for s in range(0, n, batch_size):
                m, lv = net.encode(torch.as_tensor(xn[s : s + batch_size]))
                means.append(m.numpy())
                sds.append(np.exp(0.5 * lv.numpy()))
        return np.concatenate(means), np.concatenate(sds)

    def decode(self, z: Any) -> np.ndarray:
        """Decoder output for latent points ``z`` (N, latent_dim), denormalised to data units."""
        self._check_fitted()
        zt = torch.as_tensor(np.asarray(z, np.float32))
        if zt.ndim != 2 or zt.shape[1] != self.latent_dim:
            raise ShapeMismatchError(f"z must be (N, {self.latent_dim}), got {tuple(zt.shape)}")
        with torch.inference_mode():
            out = self.network.cpu().eval().decode(zt).numpy()
        return np.asarray(self._label_norm.denormalize(out), np.float32)

    def latent_plot(self, x: Any, color: Any = None, color_label: str = "") -> Any:
        """Scatter of the first two latent dimensions (mean), coloured by ``color`` (e.g. Teff)."""
        import matplotlib.pyplot as plt

        mean, _ = self.encode(x)
        fig, ax = plt.subplots(figsize=(5, 4))
        yv = mean[:, 1] if mean.shape[1] > 1 else np.zeros(len(mean))
        sc = ax.scatter(mean[:, 0], yv, c=color, s=6, cmap="viridis")
        if color is not None:
            fig.colorbar(sc, ax=ax, label=color_label)
        ax.set_xlabel("latent 1")
        ax.set_ylabel("latent 2")
        ax.set_title(f"{self.name} latent space")
        return fig


@register_model
class ApogeeCVAE(_VariationalSpectraModel):
    """Convolutional variational autoencoder for spectra (astroNN's ``ApogeeCVAE``)."""

    name = "apogee_cvae"
    bayesian = False

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return ConvVAE1D(int(input_shape[0]), self.latent_dim, tuple(self.channels), self.kernel, self.dense, self.kl_weight)

    def fit(self, x: Any, y: Any = None, **kw: Any) -> ApogeeCVAE:  # type: ignore[override]
        """Learn to reconstruct spectra ``x`` (N, L); ``y`` defaults to ``x`` (a denoising target may be given)."""
        return super().fit(x, x if y is None else y, **kw)

    def reconstruct(self, x: Any) -> np.ndarray:
        """Spectra passed through the latent mean and decoded (data units)."""
        return self.predict(x)


@register_model
class ApokascEncoderDecoder(_VariationalSpectraModel):
    """Variational encoder–decoder from spectra to another data product (astroNN's ``ApokascEncoder``)."""

    name = "apokasc_encoder_decoder"
    bayesian = False

    def __init__(self, *, latent_dim: int = 8, labels_norm_mode: int | str = 2, **kwargs: Any) -> None:
        super().__init__(latent_dim=latent_dim, labels_norm_mode=labels_norm_mode, **kwargs)

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        return VariationalEncoderDecoder(int(input_shape[0]), output_dim, self.latent_dim, tuple(self.channels),
                                         self.kernel, self.dense, self.kl_weight)


__all__ = ["ApogeeCVAE", "ApokascEncoderDecoder"]
