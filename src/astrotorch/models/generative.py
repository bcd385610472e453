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

Both take ``architecture="astrotorch"`` (default: astrotorch's networks, :mod:`~astrotorch.models.arch.vae`)
or ``"astronn"`` (astroNN's networks layer for layer, :mod:`~astrotorch.models.arch.astronn_vae`, with
astroNN's ``num_filters``, ``filter_len``, ``pool_length``, ``num_hidden``, ``dropout_rate``), which
is what astroNN-saved folders convert to. astroNN's method names are there too:
:meth:`~_VariationalSpectraModel.predict_encoder` (latent mean, σ and a sample),
:meth:`~_VariationalSpectraModel.predict_decoder` and :meth:`~_VariationalSpectraModel.jacobian_latent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.models.arch.astronn_vae import AstroNNCVAENet, AstroNNEncoderDecoderNet
from astrotorch.models.arch.vae import ConvVAE1D, VariationalEncoderDecoder
from astrotorch.models.base import AstroModel
from astrotorch.models.hyperparams import check_float, check_int, check_int_sequence
from astrotorch.models.registry import register_model


def _kl_loss(network: nn.Module) -> torch.Tensor | float:
    kl = getattr(network, "kl", None)
    return kl.loss if kl is not None and kl.loss is not None else 0.0


class _VariationalSpectraModel(AstroModel):
    """Shared loss and latent-space helpers."""

    #: astroNN's architecture defaults (num_filters, filter_len, pool_length, num_hidden)
    _ASTRONN_DEFAULTS: tuple[tuple[int, ...], Any, int, tuple[int, ...]] = ((2, 4), 8, 4, (128, 64))

    def __init__(self, *, latent_dim: int = 2, kl_weight: float = 1.0, channels: tuple[int, int] = (8, 16),
                 kernel: int = 7, dense: int = 64, architecture: str = "astrotorch",
                 num_filters: Sequence[int] | None = None, filter_len: int | Sequence[int] | None = None,
                 pool_length: int | None = None, num_hidden: Sequence[int] | None = None, **kwargs: Any) -> None:
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
        if architecture not in ("astrotorch", "astronn"):
            raise InputValidationError(f"architecture must be 'astrotorch' or 'astronn', got {architecture!r}")
        for name, value in (("num_filters", num_filters), ("num_hidden", num_hidden)):
            if value is not None:
                check_int_sequence(name, value, 1)
        if pool_length is not None:
            check_int("pool_length", pool_length, 1)
        if filter_len is not None and not isinstance(filter_len, (int, np.integer)):
            check_int_sequence("filter_len", filter_len, 1)
        elif filter_len is not None:
            check_int("filter_len", filter_len, 1)
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight
        self.channels = channels
        self.kernel = kernel
        self.dense = dense
        self.architecture = architecture
        # astroNN's layer sizes, used by architecture="astronn" only (None: astroNN's defaults);
        # stored as given (scikit-learn's clone), resolved by astronn_sizes()
        self.num_filters = num_filters
        self.filter_len = filter_len
        self.pool_length = pool_length
        self.num_hidden = num_hidden

    def astronn_sizes(self) -> tuple[tuple[int, ...], Any, int, tuple[int, ...]]:
        """(num_filters, filter_len, pool_length, num_hidden) with astroNN's defaults filled in."""
        f, k, p, h = self._ASTRONN_DEFAULTS
        filters = tuple(int(v) for v in (self.num_filters if self.num_filters is not None else f))
        flen = self.filter_len if self.filter_len is not None else k
        flen = int(flen) if isinstance(flen, (int, np.integer)) else tuple(int(v) for v in flen)
        pool = int(self.pool_length if self.pool_length is not None else p)
        hidden = tuple(int(v) for v in (self.num_hidden if self.num_hidden is not None else h))
        return filters, flen, pool, hidden

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

    def predict_encoder(self, x: Any, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """astroNN's name: latent mean, standard deviation and one sample ``mean + σ ε`` (each (N, latent_dim))."""
        mean, sd = self.encode(x, batch_size=batch_size)
        z = mean + sd * np.random.default_rng().standard_normal(mean.shape).astype(mean.dtype)
        return mean, sd, z

    def predict_decoder(self, z: Any) -> np.ndarray:
        """astroNN's name for :meth:`decode`: decoder output for latent points ``z``, in data units."""
        return self.decode(z)

    def jacobian_latent(self, x: Any, mean_output: bool = False, mc_num: int = 1, denormalize: bool = False) -> np.ndarray:
        """∂(latent mean)/∂input per sample: (N, latent_dim, L), or its mean over samples with ``mean_output``.

        With ``denormalize`` the derivative is per input *unit* (divided by the input scaling), else per
        normalised input. ``mc_num > 1`` averages that many jacobians with the network's dropout
        layers sampling (astroNN's MC jacobian); 1 uses the deterministic encoder.
        """
        from torch.func import jacrev, vmap

        if isinstance(mc_num, bool) or not isinstance(mc_num, (int, np.integer)) or mc_num < 1:
            raise InputValidationError(f"mc_num must be a positive integer, got {mc_num!r}")
        xn, n = self._prepare_inference_input(x)
        net = self.network.cpu()

        def mean_of(xi: torch.Tensor) -> torch.Tensor:
            return net.encode(xi.unsqueeze(0))[0].squeeze(0)

        xt = torch.as_tensor(xn)
        was_training = net.training
        try:
            jacs = []
            for _ in range(int(mc_num)):
                net.train(int(mc_num) > 1)
                jacs.append(vmap(jacrev(mean_of), randomness="different")(xt).detach().numpy())
        finally:
            net.train(was_training)
        jac = np.mean(jacs, axis=0)
        if denormalize:
            scale = np.broadcast_to(np.asarray(self._input_norm.scale, np.float32), xn.shape[1:])
            jac = jac / scale[None, None]
        return jac.mean(axis=0) if mean_output else jac

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
        if self.architecture == "astronn":
            filters, flen, pool, hidden = self.astronn_sizes()
            return AstroNNCVAENet(int(input_shape[0]), self.latent_dim, filters, int(flen), pool, hidden,
                                  self.dropout_rate, kl_weight=self.kl_weight)
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
    _ASTRONN_DEFAULTS = ((32, 64, 16, 16), (8, 32), 2, (16, 16))

    def __init__(self, *, latent_dim: int = 8, labels_norm_mode: int | str = 2, **kwargs: Any) -> None:
        super().__init__(latent_dim=latent_dim, labels_norm_mode=labels_norm_mode, **kwargs)

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        if self.architecture == "astronn":
            filters, flen, pool, hidden = self.astronn_sizes()
            return AstroNNEncoderDecoderNet(int(input_shape[0]), output_dim, self.latent_dim, filters, flen, pool,
                                            hidden, self.dropout_rate, kl_weight=self.kl_weight)
        return VariationalEncoderDecoder(int(input_shape[0]), output_dim, self.latent_dim, tuple(self.channels),
                                         self.kernel, self.dense, self.kl_weight)


__all__ = ["ApogeeCVAE", "ApokascEncoderDecoder"]
