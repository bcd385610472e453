"""astroNN's utility layers as ``torch.nn.Module``s: ``PolyFit``, ``StopGrad``, ``BoolMask``.

Deterministic helpers (no Monte Carlo behaviour); :mod:`astrotorch.nn.layers` re-exports them next to
the Bayesian layers, where astroNN keeps them (``astroNN.nn.layers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from astrotorch.errors import ConfigError, ShapeMismatchError


class PolyFit(LazyModuleMixin, nn.Module):
    """Polynomial layer with learnable coefficients (astroNN's ``PolyFit``).

    For input ``x`` of shape ``(N, J)``::

        out[n, k] = sum_j sum_{i=0..deg} W[i, j, k] * x[n, j] ** i   (+ sum_j x[n, j] if use_xbias)

    i.e. ``output = P(x) + x`` with ``use_xbias`` (a residual on the input) or ``P(x)`` without.

    Parameters
    ----------
    deg:
        Polynomial degree (>= 0).
    output_units:
        Number of outputs ``K``.
    use_xbias:
        Add the (summed) input to the polynomial, astroNN's ``output = P(inputs) + inputs``.
    init_w:
        Optional initial coefficients, nested list/array of shape ``(deg + 1, input_dim, output_units)``
        (``init_w[i][j][k]`` multiplies ``x_j ** i`` for output ``k``); it fixes ``input_dim``.
    input_dim:
        Number of input features; if neither this nor ``init_w`` is given the weights are created
        on the first forward pass.
    name, activation:
        astroNN's optional arguments: a layer name kept for reference, and an activation applied to the
        output (``None``/``"linear"``, ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softplus"``, ``"elu"``).
        astroNN's ``kernel_regularizer``/``kernel_constraint`` are Keras objects: in PyTorch add the
        penalty to the loss; only ``None`` is accepted here.
    """

    cls_to_become = None
    stochastic = False

    def __init__(
        self,
        deg: int = 1,
        output_units: int = 1,
        use_xbias: bool = True,
        init_w: Sequence[Any] | np.ndarray | Tensor | None = None,
        input_dim: int | None = None,
        name: str | None = None,
        activation: str | None = None,
        kernel_regularizer: Any = None,
        kernel_constraint: Any = None,
    ) -> None:
        super().__init__()
        if kernel_regularizer is not None or kernel_constraint is not None:
            raise ConfigError("PolyFit: kernel_regularizer/kernel_constraint are Keras objects; add a penalty to the loss instead")
        acts = {None: None, "linear": None, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                "softplus": F.softplus, "elu": F.elu}
        if activation not in acts:
            raise ConfigError(f"PolyFit activation must be one of {[k for k in acts if k]}, got {activation!r}")
        self.name = name
        self.activation = activation
        self._act = acts[activation]
        if isinstance(deg, bool) or not isinstance(deg, (int, np.integer)) or deg < 0:
            raise ConfigError(f"deg must be a non-negative integer, got {deg!r}")
        if (
            isinstance(output_units, bool)
            or not isinstance(output_units, (int, np.integer))
            or output_units < 1
        ):
            raise ConfigError(f"output_units must be a positive integer, got {output_units!r}")
        self.deg = int(deg)
        self.output_units = int(output_units)
        self.use_xbias = bool(use_xbias)
        if init_w is not None:
            w = torch.as_tensor(np.asarray(init_w, dtype=np.float32))
            if w.ndim != 3 or w.shape[0] != self.deg + 1 or w.shape[2] != self.output_units:
                raise ConfigError(
                    "init_w must have shape (deg + 1, input_dim, output_units) = "
                    f"({self.deg + 1}, input_dim, {self.output_units}), got {tuple(w.shape)}"
                )
            if input_dim is not None and int(input_dim) != w.shape[1]:
                raise ConfigError(f"init_w has input_dim {w.shape[1]} but input_dim={input_dim} was given")
            self.kernel: nn.Parameter = nn.Parameter(w.clone())
        elif input_dim is not None:
            if int(input_dim) < 1:
                raise ConfigError(f"input_dim must be a positive integer, got {input_dim!r}")
            self.kernel = nn.Parameter(torch.empty(self.deg + 1, int(input_dim), self.output_units))
            self.reset_parameters()
        else:
            self.kernel = UninitializedParameter()

    def reset_parameters(self) -> None:
        """Keras ``random_normal`` initialisation (std 0.05), as astroNN."""
        if not self.has_uninitialized_params():
            nn.init.normal_(self.kernel, mean=0.0, std=0.05)

    def initialize_parameters(self, x: Tensor) -> None:  # called by LazyModuleMixin on the first pass
        if self.has_uninitialized_params():
            if x.ndim != 2:
                raise ShapeMismatchError(f"PolyFit expects (N, input_dim) inputs, got shape {tuple(x.shape)}")
            with torch.no_grad():
                self.kernel.materialize((self.deg + 1, int(x.shape[1]), self.output_units))
                self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.kernel.shape[1]:
            raise ShapeMismatchError(
                f"PolyFit expects (N, {self.kernel.shape[1]}) inputs, got shape {tuple(x.shape)}"
            )
        powers = torch.arange(self.deg + 1, device=x.device, dtype=x.dtype)
        # (N, deg+1, J); pow with exponent 0 gives 1 everywhere, including x = 0
        xp = x.unsqueeze(1) ** powers.view(1, -1, 1)
        out = torch.einsum("nij,ijk->nk", xp, self.kernel.to(x.dtype))
        if self.use_xbias:
            out = out + x.sum(dim=1, keepdim=True)
        return out if self._act is None else self._act(out)

    def extra_repr(self) -> str:
        return f"deg={self.deg}, output_units={self.output_units}, use_xbias={self.use_xbias}"


class StopGrad(nn.Module):
    """Identity in the forward pass that blocks gradients (``x.detach()``).

    As astroNN's: by default the gradient is stopped in training mode only, so jacobians of a model in
    ``eval()`` still flow through; ``always_on=True`` stops it in every mode.
    """

    stochastic = False

    def __init__(self, name: str | None = None, always_on: bool = False) -> None:
        super().__init__()
        self.name = name  # astroNN's (Keras) layer name, kept for reference
        self.always_on = bool(always_on)

    def forward(self, x: Tensor) -> Tensor:
        return x.detach() if (self.always_on or self.training) else x

    def extra_repr(self) -> str:
        return f"always_on={self.always_on}"


class BoolMask(nn.Module):
    """Keep the input features selected by a boolean mask (along the last axis).

    For spectra ``(N, L)`` (or ``(N, C, L)``) this selects pixels, e.g. the wavelength windows
    of one element, as astroNN's ``BoolMask``. Gradients flow to the kept features only.
    """

    stochastic = False

    def __init__(self, mask: Any) -> None:
        super().__init__()
        m = torch.as_tensor(np.asarray(mask))
        if m.ndim != 1:
            raise ConfigError(f"BoolMask needs a 1-D mask, got shape {tuple(m.shape)}")
        if m.dtype != torch.bool:
            if not bool(((m == 0) | (m == 1)).all()):
                raise ConfigError("BoolMask mask must be boolean (or 0/1)")
            m = m.bool()
        if not bool(m.any()):
            raise ConfigError("BoolMask mask selects no feature")
        self.register_buffer("mask", m)
        self.register_buffer("index", torch.nonzero(m, as_tuple=False).squeeze(1))

    @property
    def out_features(self) -> int:
        """Number of features kept."""
        return int(self.index.numel())

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.mask.numel():
            raise ShapeMismatchError(
                f"BoolMask of length {self.mask.numel()} does not fit input shape {tuple(x.shape)} "
                "(last axis)"
            )
        return x.index_select(-1, self.index)

    def extra_repr(self) -> str:
        return f"in_features={self.mask.numel()}, out_features={self.out_features}"


__all__ = ["BoolMask", "PolyFit", "StopGrad"]
