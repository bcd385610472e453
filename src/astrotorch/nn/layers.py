"""Layers for Bayesian deep learning (astroNN's ``astroNN.nn.layers``), as ``torch.nn.Module``s.

MC layers (:class:`MCDropout`, :class:`MCSpatialDropout1D`, :class:`MCSpatialDropout2D`,
:class:`MCGaussianDropout`, :class:`MCConcreteDropout`, :class:`MCBatchNorm`) stay stochastic in
``eval()`` mode so Monte Carlo dropout inference (Gal & Ghahramani 2016) works with a model in
inference mode; ``disable=True`` turns the randomness off. Every layer here carries a boolean
``stochastic`` attribute (True when it draws random numbers at inference), which
:mod:`astrotorch.uncertainty.mc` uses to find where the deterministic part of a network ends.

astroNN's utility layers (PolyFit, StopGrad, BoolMask) live in :mod:`astrotorch.nn.tool_layers` and its
fast-MC layers in :mod:`astrotorch.nn.fastmc`; both are re-exported here.

Extra loss terms (concrete-dropout regularisation, VAE KL divergence) are exposed on the layer
(``.regularization`` / ``.loss``) and summed over a network by :func:`auxiliary_loss`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from astrotorch.errors import ConfigError, InputValidationError, ShapeMismatchError


def _check_rate(rate: float, name: str = "rate") -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)):
        raise ConfigError(f"{name} must be a number in [0, 1), got {rate!r}")
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {rate}")
    return rate


class _MCDropoutBase(nn.Module):
    """Shared behaviour: active in training and in eval, identity when disabled or rate is 0."""

    def __init__(self, rate: float, disable: bool = False) -> None:
        super().__init__()
        self.rate = _check_rate(rate)
        self.disable = bool(disable)

    @property
    def stochastic(self) -> bool:
        """True when the layer draws random numbers at inference."""
        return not self.disable and self.rate > 0.0

    def extra_repr(self) -> str:
        return f"rate={self.rate}, disable={self.disable}"


class MCDropout(_MCDropoutBase):
    """Monte Carlo dropout: inverted dropout applied in training *and* inference.

    Each element is zeroed with probability ``rate`` and the survivors are scaled by
    ``1 / (1 - rate)``, so the expected output equals the input. ``disable=True`` makes the layer
    the identity (astroNN's "dropout off" switch).
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.stochastic:
            return x
        if x.device.type == "cpu":
            if torch.compiler.is_compiling():
                return _hash_dropout(x, self.rate)
            return _cpu_dropout(x, self.rate)
        # training=True on purpose: MC dropout keeps sampling masks in eval()
        return F.dropout(x, p=self.rate, training=True)


def _cpu_dropout(x: Tensor, rate: float) -> Tensor:
    """Inverted dropout on CPU (training and MC inference alike).

    Large tensors are dropped out by the compiled hash kernels (:func:`_fused`) where compiled
    kernels were requested (``ASTROTORCH_COMPILE_KERNELS=1``); otherwise by :func:`_eager_cpu_dropout`. Either mask serves
    the backward pass (``x * mask`` is differentiable in ``x``).
    """
    if x.numel() >= FUSED_DROPOUT_MIN_ELEMENTS:
        if torch.is_grad_enabled() and x.requires_grad:
            mask = _fused(x, rate, "mask")
            if mask is not None:
                return x * mask
        else:
            out = _fused(x, rate, "apply")
            if out is not None:
                return out
    return _eager_cpu_dropout(x, rate)


def _eager_cpu_dropout(x: Tensor, rate: float) -> Tensor:
    """Inverted dropout with cheap masks in plain tensor ops (:func:`astrotorch.nn.fused.dropout`:
    random bytes from 64-bit random words instead of ``bernoulli_``'s one Mersenne-Twister draw per
    element, which dominated CPU MC-dropout prediction)."""
    from astrotorch.nn import fused

    return fused.dropout(x, rate)


# murmur3's 32-bit finaliser constants (0x85EBCA6B, 0xC2B2AE35) as signed int32
_FMIX_M1 = 0x85EBCA6B - (1 << 32)
_FMIX_M2 = 0xC2B2AE35 - (1 << 32)


def _fmix32(h: Tensor) -> Tensor:
    """murmur3 ``fmix32`` on int32 tensors (multiplications wrap; ``>>`` made logical by masking)."""
    h = h ^ ((h >> 16) & 0xFFFF)
    h = h * _FMIX_M1
    h = h ^ ((h >> 13) & 0x7FFFF)
    h = h * _FMIX_M2
    return h ^ ((h >> 16) & 0xFFFF)


def hash_uniform16(like: Tensor, keys: Tensor) -> Tensor:
    """16-bit uniform integers in [0, 65536) from a counter-based hash, one per element of ``like``.

    ``keys``: two int32 scalars (drawn from torch's generator per call, so ``torch.manual_seed``
    still fixes the stream). Element ``i`` gets ``fmix32(fmix32(i + k0) + k1)``: the murmur3
    finaliser is a bijection with full avalanche, and the second keyed round decorrelates calls
    whose counter ranges overlap. Written in plain tensor ops so ``torch.compile`` fuses counter,
    hash, threshold and ``where`` into one loop — no random tensor is materialised, which is what
    makes compiled CPU MC dropout cheap. Statistical checks: tests/test_layers.py.
    """
    if like.numel() >= 1 << 31:
        raise InputValidationError(f"hash dropout counts elements in int32; {like.numel()} elements is too many")
    idx = torch.arange(like.numel(), dtype=torch.int32, device=like.device).view(like.shape)
    return _fmix32(_fmix32(idx + keys[0]) + keys[1]) & 0xFFFF


def _mask_kernel(flat: Tensor, keys: Tensor, threshold: Tensor, scale: Tensor) -> Tensor:
    keep = hash_uniform16(flat, keys) >= threshold
    return torch.where(keep, scale.to(flat.dtype), torch.zeros((), dtype=flat.dtype, device=flat.device))


def _apply_kernel(flat: Tensor, keys: Tensor, threshold: Tensor, scale: Tensor) -> Tensor:
    keep = hash_uniform16(flat, keys) >= threshold
    return torch.where(keep, flat * scale.to(flat.dtype), torch.zeros((), dtype=flat.dtype, device=flat.device))


#: CPU dropout of tensors with at least this many elements uses the compiled hash kernels (smaller
#: ones are not worth it) when ``ASTROTORCH_COMPILE_KERNELS=1`` asks for compiled kernels.
FUSED_DROPOUT_MIN_ELEMENTS = 1 << 18
_KERNELS = {"mask": _mask_kernel, "apply": _apply_kernel}


def _fused(x: Tensor, rate: float, kind: str) -> Tensor | None:
    """Inverted dropout on CPU from one fused loop per call (:mod:`astrotorch.nn.fused`).

    :func:`hash_uniform16`, the threshold and the ``where`` compile into a single vectorised loop —
    no random tensor or boolean mask is written, which makes it several times cheaper per element
    than the random-words-compare-fill sequence of :func:`_eager_cpu_dropout` (bench/vs_astronn.py).
    ``kind="mask"`` returns the mask (0 or the survivor scale) for training, where ``x * mask``
    carries the gradient; ``kind="apply"`` returns the dropped-out ``x`` for inference (one read and
    one write of ``x``). Kernels work on the flattened tensor. ``None`` where compiled kernels are
    unavailable.
    """
    from astrotorch.nn import fused

    if not fused.enabled():
        return None
    out = fused.run(("dropout", kind), _KERNELS[kind], x.detach().reshape(-1), *_hash_dropout_args(rate, x.device))
    return None if out is None else out.view(x.shape)


def _hash_dropout_args(rate: float, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``(keys, threshold, scale)`` of the hash kernels: fresh keys from torch's generator, the drop
    threshold in 1/65536 and the survivor scale that keeps the expected output equal to the input."""
    threshold = int(round(rate * 65536))
    keys = torch.randint(-(1 << 31), (1 << 31) - 1, (2,), dtype=torch.int32, device=device)
    return (keys, torch.tensor(threshold, dtype=torch.int32, device=device),
            torch.tensor(65536.0 / (65536 - threshold), device=device))


def _hash_dropout(x: Tensor, rate: float) -> Tensor:
    """Inverted dropout with :func:`hash_uniform16` masks (used inside ``torch.compile`` on CPU)."""
    return _apply_kernel(x, *_hash_dropout_args(rate, x.device))


class MCSpatialDropout1D(_MCDropoutBase):
    """Monte Carlo spatial dropout for ``(N, C, L)`` inputs: drops whole channels.

    Adjacent positions of a 1-D feature map are strongly correlated, so element-wise dropout barely
    regularises them; dropping a channel over its whole length does (Tompson et al. 2015).
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise ShapeMismatchError(
                f"MCSpatialDropout1D expects (N, C, L) inputs, got shape {tuple(x.shape)}"
            )
        if not self.stochastic:
            return x
        return F.dropout1d(x, p=self.rate, training=True)


class MCSpatialDropout2D(_MCDropoutBase):
    """Monte Carlo spatial dropout for ``(N, C, H, W)`` inputs: drops whole channels."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise ShapeMismatchError(
                f"MCSpatialDropout2D expects (N, C, H, W) inputs, got shape {tuple(x.shape)}"
            )
        if not self.stochastic:
            return x
        return F.dropout2d(x, p=self.rate, training=True)


class MCGaussianDropout(_MCDropoutBase):
    """Monte Carlo Gaussian dropout: multiply by ``N(1, rate / (1 - rate))`` noise, also at inference.

    The variance ``rate / (1 - rate)`` matches that of Bernoulli inverted dropout with the same
    rate (Srivastava et al. 2014), as in Keras' ``GaussianDropout`` that astroNN builds on.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.stochastic:
            return x
        std = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + std * torch.randn_like(x))


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


class MCConcreteDropout(nn.Module):
    """Concrete dropout wrapper with a learned dropout rate (Gal, Hron & Kendall 2017, arXiv:1705.07832).

    Wraps ``layer`` (e.g. ``nn.Linear`` or ``nn.Conv1d``) and applies, before it, a continuous
    relaxation of Bernoulli dropout whose rate ``p = sigmoid(p_logit)`` is a trainable parameter.
    The training loss must include :attr:`regularization` (:func:`auxiliary_loss` collects it),
    otherwise nothing stops ``p`` collapsing to 0:

    ``weight_regularizer * ||W||² / (1 - p) + dropout_regularizer * input_dim * (p log p + (1-p) log(1-p))``

    As in the paper's code, the regularisers already carry the ``1 / N`` of the dataset size
    (``weight_regularizer = l² / (τ N)``, ``dropout_regularizer = 2 / (τ N)``), so the term is added
    to the per-sample mean loss as it is.

    Parameters
    ----------
    layer:
        The wrapped module.
    weight_regularizer:
        Prior length-scale term ``l² / (τ N)``.
    dropout_regularizer:
        ``2 / (τ N)``; scales the negative-entropy term that pushes ``p`` towards 0.5.
    init_min, init_max:
        The initial rate is drawn uniformly (in logit space) between them.
    temperature:
        Temperature of the relaxed Bernoulli; 0.1 as in the paper.
    disable:
        If True the wrapper applies no dropout (the wrapped layer still runs).
    """

    def __init__(
        self,
        layer: nn.Module,
        weight_regularizer: float = 1e-6,
        dropout_regularizer: float = 1e-5,
        init_min: float = 0.1,
        init_max: float = 0.1,
        temperature: float = 0.1,
        disable: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(layer, nn.Module):
            raise ConfigError(f"MCConcreteDropout wraps a torch.nn.Module, got {type(layer).__name__}")
        for name, value in (("init_min", init_min), ("init_max", init_max)):
            if not 0.0 < float(value) < 1.0:
                raise ConfigError(f"{name} must be in (0, 1), got {value}")
        if init_min > init_max:
            raise ConfigError(f"init_min ({init_min}) must not exceed init_max ({init_max})")
        if weight_regularizer < 0 or dropout_regularizer < 0:
            raise ConfigError("weight_regularizer and dropout_regularizer must be non-negative")
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        self.layer = layer
        self.weight_regularizer = float(weight_regularizer)
        self.dropout_regularizer = float(dropout_regularizer)
        self.temperature = float(temperature)
        self.disable = bool(disable)
        lo, hi = _logit(float(init_min)), _logit(float(init_max))
        self.p_logit = nn.Parameter(torch.empty(1).uniform_(lo, hi))
        # number of input features, from the wrapped layer when it says, else from the last input
        self._input_dim: int | None = getattr(layer, "in_features", None) or getattr(
            layer, "in_channels", None
        )

    @property
    def stochastic(self) -> bool:
        """True when the layer draws random numbers at inference."""
        return not self.disable

    @property
    def p(self) -> Tensor:
        """Current dropout rate (a differentiable 1-element tensor)."""
        return torch.sigmoid(self.p_logit)

    @property
    def rate(self) -> float:
        """Current dropout rate as a float."""
        return float(self.p.detach())

    def _concrete_dropout(self, x: Tensor) -> Tensor:
        eps = torch.finfo(x.dtype).eps
        p = self.p.to(x.dtype)
        u = torch.rand_like(x)
        # relaxed Bernoulli "drop" indicator: sigmoid((logit p + logit u) / t)
        drop = torch.sigmoid(
            (torch.log(p + eps) - torch.log1p(-p + eps) + torch.log(u + eps) - torch.log1p(-u + eps))
            / self.temperature
        )
        return x * (1.0 - drop) / (1.0 - p)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim >= 2:
            self._input_dim = self._input_dim or int(x.shape[1])
        if self.stochastic:
            x = self._concrete_dropout(x)
        return self.layer(x)

    @property
    def regularization(self) -> Tensor:
        """The concrete-dropout regularisation term (scalar tensor, differentiable in weights and ``p``)."""
        if self._input_dim is None:
            raise InputValidationError(
                "MCConcreteDropout does not know its input dimension yet: run one forward pass first "
                "(or wrap a layer with in_features / in_channels)"
            )
        p = self.p.squeeze()
        weights = [w for n, w in self.layer.named_parameters() if n.endswith("weight")]
        if not weights:  # e.g. a custom module: regularise all of its parameters
            weights = list(self.layer.parameters())
        sq = sum((w * w).sum() for w in weights) if weights else torch.zeros((), device=p.device)
        weight_reg = self.weight_regularizer * sq / (1.0 - p)
        dropout_reg = p * torch.log(p) + (1.0 - p) * torch.log1p(-p)
        dropout_reg = self.dropout_regularizer * self._input_dim * dropout_reg
        return weight_reg + dropout_reg

    def regularization_loss(self) -> Tensor:
        """Same as :attr:`regularization` (method form, for loss code that prefers calls)."""
        return self.regularization

    def extra_repr(self) -> str:
        return (
            f"rate={self.rate:.4f}, weight_regularizer={self.weight_regularizer}, "
            f"dropout_regularizer={self.dropout_regularizer}, disable={self.disable}"
        )


class MCBatchNorm(nn.Module):
    """Batch normalisation that normalises with the *batch* statistics also at inference.

    Works on ``(N, C)``, ``(N, C, L)`` and ``(N, C, H, W)`` inputs. In training it behaves like
    ``nn.BatchNorm*`` (and updates running statistics); in ``eval()`` it keeps using the statistics
    of the batch at hand, which makes predictions depend on the batch drawn, the stochastic
    behaviour astroNN's MC batch norm relies on. With ``disable=True`` it is an ordinary batch
    norm (running statistics at inference). ``num_features=None`` (astroNN's ``MCBatchNorm()``)
    sizes the layer on its first input: run one forward pass before creating an optimiser.
    """

    def __init__(
        self,
        num_features: int | None = None,
        eps: float = 1e-3,
        momentum: float = 0.01,
        affine: bool = True,
        disable: bool = False,
    ) -> None:
        super().__init__()
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.disable = bool(disable)
        self.affine = bool(affine)
        if num_features is None:  # astroNN's MCBatchNorm(): the size comes from the first input
            self.num_features = 0
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            return
        if isinstance(num_features, bool) or int(num_features) < 1:
            raise ConfigError(f"num_features must be a positive integer, got {num_features!r}")
        self._allocate(int(num_features))

    def _allocate(self, num_features: int, device: Any = None) -> None:
        self.num_features = num_features
        if self.affine:
            self.weight = nn.Parameter(torch.ones(num_features, device=device))
            self.bias = nn.Parameter(torch.zeros(num_features, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features, device=device))
        self.register_buffer("running_var", torch.ones(num_features, device=device))

    @property
    def stochastic(self) -> bool:
        """True when inference output depends on the batch (not disabled)."""
        return not self.disable

    def forward(self, x: Tensor) -> Tensor:
        if self.num_features == 0 and x.ndim >= 2:
            # sized on the first call (create it before the optimiser so its parameters are included)
            self._allocate(int(x.shape[1]), device=x.device)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ShapeMismatchError(
                f"MCBatchNorm({self.num_features}) expects (N, {self.num_features}, ...) inputs, "
                f"got shape {tuple(x.shape)}"
            )
        if self.training:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, True, self.momentum, self.eps
            )
        if self.disable:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        # inference with batch statistics; running statistics are left untouched
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, disable={self.disable}"


class ErrorProp(nn.Module):
    """Propagate known input errors: add ``N(0, input_err²)`` noise at inference, identity in training.

    Combined with MC inference this samples the inputs within their errors, so the spread of the
    predictions includes the propagated input uncertainty. The error can be fixed at construction
    (``ErrorProp(input_err)``, broadcastable to the input) or given per call (``layer(x, x_err)``).
    Missing errors (NaN) count as zero.
    """

    def __init__(self, input_err: Any = None, disable: bool = False) -> None:
        super().__init__()
        self.disable = bool(disable)
        if input_err is None:
            self.register_buffer("input_err", None)
        else:
            err = torch.as_tensor(np.asarray(input_err, dtype=np.float32))
            if bool((err < 0).any()):
                raise InputValidationError("input_err must be non-negative (it is a standard deviation)")
            self.register_buffer("input_err", err)

    @property
    def stochastic(self) -> bool:
        """True: the layer adds noise at inference unless disabled."""
        return not self.disable

    def forward(self, x: Tensor | Sequence[Tensor], x_err: Tensor | None = None) -> Tensor:
        if isinstance(x, (list, tuple)):  # astroNN's call: ErrorProp()([x, x_err])
            if len(x) != 2 or x_err is not None:
                raise InputValidationError("ErrorProp takes (x, x_err) or a [x, x_err] list")
            x, x_err = x
        if self.training or self.disable:
            return x
        err = x_err if x_err is not None else self.input_err
        if err is None:
            raise InputValidationError("ErrorProp needs an error: ErrorProp(input_err) or layer(x, x_err)")
        err = torch.nan_to_num(err.to(dtype=x.dtype, device=x.device), nan=0.0)
        try:
            noise = torch.randn_like(x) * err
        except RuntimeError as exc:
            raise ShapeMismatchError(
                f"input error of shape {tuple(err.shape)} does not broadcast to input shape {tuple(x.shape)}"
            ) from exc
        if noise.shape != x.shape:
            raise ShapeMismatchError(
                f"input error of shape {tuple(err.shape)} does not broadcast to input shape {tuple(x.shape)}"
            )
        return x + noise


class KLDivergence(nn.Module):
    """Identity on a VAE latent ``(mean, log_var)`` that records its KL divergence to ``N(0, I)``.

    ``forward(mean, log_var)`` returns the pair unchanged and stores
    ``weight * mean_batch(-0.5 * sum_latent(1 + log_var - mean² - exp(log_var)))`` in :attr:`loss`
    (a differentiable scalar) for the model to add to its reconstruction loss.
    """

    stochastic = False

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        if weight < 0:
            raise ConfigError(f"KL weight must be non-negative, got {weight}")
        self.weight = float(weight)
        self.loss: Tensor | None = None

    def forward(
        self, mean: Tensor | tuple[Tensor, Tensor], log_var: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if log_var is None:
            if not (isinstance(mean, (tuple, list)) and len(mean) == 2):
                raise InputValidationError("KLDivergence takes (mean, log_var) or a (mean, log_var) tuple")
            mean, log_var = mean
        assert isinstance(mean, Tensor) and isinstance(log_var, Tensor)
        if mean.shape != log_var.shape:
            raise ShapeMismatchError(
                f"mean {tuple(mean.shape)} and log_var {tuple(log_var.shape)} must have the same shape"
            )
        kl = -0.5 * (1.0 + log_var - mean.pow(2) - log_var.exp())
        per_sample = kl.reshape(kl.shape[0], -1).sum(dim=1) if kl.ndim > 1 else kl
        self.loss = self.weight * per_sample.mean()
        return mean, log_var

    def extra_repr(self) -> str:
        return f"weight={self.weight}"


#: astroNN's name: ``z_mu, z_log_var = KLDivergenceLayer()([z_mu, z_log_var])`` works unchanged
KLDivergenceLayer = KLDivergence


def auxiliary_loss(module: nn.Module) -> Tensor:
    """Sum of the extra loss terms of a network: concrete-dropout regularisation and KL terms.

    Call after the forward pass (KL terms are recorded there). Returns a scalar tensor (0 when the
    network has no such layer) that the training loss adds.
    """
    total: Tensor | None = None
    for sub in module.modules():
        term: Tensor | None = None
        if isinstance(sub, MCConcreteDropout) and sub._input_dim is not None:
            term = sub.regularization
        elif isinstance(sub, KLDivergence) and sub.loss is not None:
            term = sub.loss
        if term is not None:
            total = term if total is None else total + term
    if total is None:
        ref = next(iter(module.parameters()), None)
        return torch.zeros((), device=ref.device if ref is not None else None)
    return total.reshape(())


__all__ = [
    "MCDropout",
    "MCSpatialDropout1D",
    "MCSpatialDropout2D",
    "MCGaussianDropout",
    "MCConcreteDropout",
    "MCBatchNorm",
    "ErrorProp",
    "KLDivergence",
    "PolyFit",
    "StopGrad",
    "BoolMask",
    "KLDivergenceLayer",
    "FastMCInference",
    "FastMCRepeat",
    "FastMCInferenceMeanVar",
    "TensorInput",
    "auxiliary_loss",
]

# astroNN keeps these in astroNN.nn.layers too (one implementation each, in their own modules)
from astrotorch.nn.fastmc import FastMCInference, FastMCInferenceMeanVar, FastMCRepeat, TensorInput  # noqa: E402
from astrotorch.nn.tool_layers import BoolMask, PolyFit, StopGrad  # noqa: E402
