"""Numerical ODE integration with gradients, on torchdiffeq (astroNN's ``astroNN.neuralode.odeint``).

``odeint(func, x, t)`` solves ``dx/dt = func(x, t)`` (astroNN's argument order: state first) from
``x(t[0]) = x`` and returns the state at every time in ``t``: shape ``(len(t), *x.shape)``.
A batch of initial conditions ``(B, D)`` is integrated together in one solve. Gradients flow to
``x``, ``t`` and the parameters of ``func`` (an ``nn.Module``), either by back-propagating through
the solver's operations or, with ``adjoint=True``, by solving the adjoint ODE backwards (memory
independent of the number of steps).

Methods: ``"dop853"`` (torchdiffeq's ``dopri8``, the Dormand–Prince 8th-order embedded pair, adaptive
steps — astroNN's default), ``"dopri5"`` (adaptive 5th order), ``"rk4"`` (classic fixed-step
Runge–Kutta on the grid ``t``, optionally subdivided with ``step_size``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError

_METHODS = {"dop853": "dopri8", "dopri8": "dopri8", "dopri5": "dopri5", "rk4": "rk4"}


class _SwapArgs(nn.Module):
    """Adapter: torchdiffeq calls ``f(t, y)``, astroNN-style functions take ``f(y, t)``."""

    def __init__(self, func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        # registered as a sub-module when it is one, so the adjoint method sees its parameters
        if isinstance(func, nn.Module):
            self.func = func
        else:
            self._plain = func

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        f = self.func if hasattr(self, "func") else self._plain
        out = f(y, t)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(out, dtype=y.dtype, device=y.device)
        if out.shape != y.shape:
            raise ShapeMismatchError(f"func returned shape {tuple(out.shape)} for a state of shape {tuple(y.shape)}")
        return out


def odeint(
    func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: Any,
    t: Any,
    method: str = "dop853",
    precision: torch.dtype = torch.float32,
    rtol: float = 1e-6,
    atol: float = 1e-12,
    adjoint: bool = False,
    step_size: float | None = None,
) -> torch.Tensor:
    """Integrate ``dx/dt = func(x, t)``.

    :param func: callable ``(state, t) -> derivative`` (tensor of the state's shape), e.g. an ``nn.Module``
    :param x: initial state, ``(D,)`` or a batch ``(B, D)`` (tensor or array)
    :param t: increasing or decreasing 1-d times (at least two); the solution is reported there
    :param method: ``"dop853"`` | ``"dopri5"`` | ``"rk4"``
    :param precision: ``torch.float32`` or ``torch.float64`` for the state and times
    :param rtol, atol: tolerances of the adaptive methods
    :param adjoint: use the adjoint method for gradients (``func`` must be an ``nn.Module`` to train its
        parameters this way)
    :param step_size: for ``"rk4"``, an internal step finer than the ``t`` grid
    :return: ``(len(t), *x.shape)`` solution
    """
    import torchdiffeq

    if method not in _METHODS:
        raise InputValidationError(f"unknown method {method!r}; choose one of {sorted(_METHODS)}")
    if precision not in (torch.float32, torch.float64):
        raise InputValidationError(f"precision must be torch.float32 or torch.float64, got {precision}")
    x0 = x.to(precision) if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=precision)
    tt = t.to(precision) if isinstance(t, torch.Tensor) else torch.as_tensor(t, dtype=precision)
    if tt.ndim != 1 or tt.numel() < 2:
        raise InputValidationError(f"t must be 1-d with at least two times, got shape {tuple(tt.shape)}")
    if x0.ndim == 0 or x0.numel() == 0:
        raise InputValidationError("x must hold at least one state variable")
    if not torch.isfinite(x0).all() or not torch.isfinite(tt).all():
        raise InputValidationError("x and t must be finite")
    dt = torch.diff(tt)
    if not ((dt > 0).all() or (dt < 0).all()):
        raise InputValidationError("t must be strictly monotonic")
    tt = tt.to(x0.device)
    f = _SwapArgs(func)
    options: dict[str, Any] = {}
    if method == "rk4" and step_size is not None:
        options["step_size"] = float(step_size)
    solver = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    kwargs: dict[str, Any] = {"rtol": rtol, "atol": atol, "method": _METHODS[method], "options": options or None}
    if adjoint:
        kwargs["adjoint_params"] = tuple(f.parameters())
    return solver(f, x0, tt, **kwargs)


__all__ = ["odeint"]
