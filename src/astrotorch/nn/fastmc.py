"""astroNN's fast Monte Carlo inference layers (``FastMCInference``, ``FastMCRepeat``,
``FastMCInferenceMeanVar``) and ``TensorInput``, as ``torch.nn.Module``s.

Monte Carlo dropout inference runs a network with its MC layers on many times and summarises the
draws. The fast way, here as in astroNN, is one big batched forward pass over copies of the batch
(the data never leave the device): :class:`FastMCInference` turns a model into that; the two layers
do the repeat and the summary by hand inside a network of your own. astrotorch's models use
:func:`astrotorch.uncertainty.mc_predict`, which also splits the deterministic prefix off and
bounds the memory; these classes exist so that astroNN code ports line by line.

Outputs follow astroNN's layout: the last axis holds ``(mean, variance)`` (variance over the draws,
population formula as ``tf.nn.moments``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from astrotorch.errors import ConfigError, InputValidationError


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n (number of Monte Carlo draws) must be a positive integer, got {n!r}")
    return n


def _repeat_batch(x: Any, n: int) -> Any:
    """``(N, ...)`` → ``(n * N, ...)``: draw-major copies (all of draw 0, then draw 1 ...)."""
    if isinstance(x, Mapping):
        return {k: _repeat_batch(v, n) for k, v in x.items()}
    if not isinstance(x, Tensor):
        raise InputValidationError(f"FastMCInference expects tensors (or a dict of tensors), got {type(x).__name__}")
    return x.unsqueeze(0).expand((n,) + tuple(x.shape)).reshape((n * x.shape[0],) + tuple(x.shape[1:]))


def _batch_len(x: Any) -> int:
    if isinstance(x, Mapping):
        return _batch_len(next(iter(x.values())))
    return int(x.shape[0])


def mean_var(draws: Tensor, axis: int) -> Tensor:
    """Mean and (population) variance of ``draws`` along ``axis``, stacked on a new last axis."""
    mean = draws.mean(dim=axis)
    var = (draws - mean.unsqueeze(axis)).square().mean(dim=axis)
    return torch.stack((mean, var), dim=-1)


class FastMCModel(nn.Module):
    """A model evaluated ``n`` times in one batched pass; returns ``(..., 2)`` = (mean, variance).

    A model returning a tuple (e.g. astrotorch's Bayesian networks: prediction and log variance) has
    its outputs concatenated along the last axis first, which is astroNN's single-output layout
    (``result[:, :D]`` the prediction, ``result[:, D:]`` the log variance).
    """

    def __init__(self, model: nn.Module, n: int) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise InputValidationError(f"FastMCInference wraps a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.n = _check_n(n)

    def forward(self, x: Any) -> Tensor:
        n_rows = _batch_len(x)
        out = self.model(_repeat_batch(x, self.n))
        if isinstance(out, (tuple, list)):
            out = torch.cat([o.reshape(o.shape[0], -1) for o in out], dim=-1)
        draws = out.reshape((self.n, n_rows) + tuple(out.shape[1:]))
        return mean_var(draws, axis=0)


class FastMCInference:
    """``FastMCInference(n)(model)``: ``model`` turned into a :class:`FastMCModel` doing ``n`` draws.

    Call the result in ``eval()`` mode; astrotorch's MC layers (``MCDropout`` ...) keep sampling
    there, while ordinary ``nn.Dropout`` does not (as Keras' ``Dropout`` at prediction time).
    """

    def __init__(self, n: int, **kwargs: Any) -> None:
        self.n = _check_n(n)

    def __call__(self, model: nn.Module) -> FastMCModel:
        return FastMCModel(model, self.n)

    def get_config(self) -> dict[str, int]:
        """``{"n": n}`` (astroNN's layer configuration)."""
        return {"n": self.n}


class FastMCRepeat(nn.Module):
    """Repeat the input ``n`` times along a new axis 1: ``(N, ...)`` → ``(N, n, ...)``."""

    stochastic = False

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = _check_n(n)

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(1).expand((x.shape[0], self.n) + tuple(x.shape[1:]))

    def extra_repr(self) -> str:
        return f"n={self.n}"


class FastMCInferenceMeanVar(nn.Module):
    """Mean and variance over the draws axis (1, the :class:`FastMCRepeat` axis): ``(N, n, ...)`` → ``(N, ..., 2)``.

    astroNN's manual puts the draws on axis 1; its code reduces axis 0 (what
    :class:`FastMCInference` feeds it). ``axis`` chooses.
    """

    stochastic = False

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Tensor) -> Tensor:
        return mean_var(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class TensorInput(nn.Module):
    """A layer whose output is a given tensor, whatever its input (astroNN's ``TensorInput``).

    ``tensor``: a tensor, returned as it is (a buffer: it follows ``.to(device)``), or a
    callable ``f(*inputs) -> Tensor`` evaluated at every call — e.g.
    ``TensorInput(lambda x: torch.randn_like(x))`` for fresh noise shaped like the input, which is
    what astroNN's example builds with ``tf.random.normal(shape=tf.shape(input1))``.
    """

    stochastic = False

    def __init__(self, tensor: Tensor | Callable[..., Tensor]) -> None:
        super().__init__()
        if isinstance(tensor, Tensor):
            self.register_buffer("tensor", tensor)
            self._fn: Callable[..., Tensor] | None = None
        elif callable(tensor):
            self._fn = tensor
            self.register_buffer("tensor", None)
        else:
            raise ConfigError(f"TensorInput needs a tensor or a callable returning one, got {type(tensor).__name__}")

    def forward(self, *inputs: Any) -> Tensor:
        if self._fn is None:
            return self.tensor
        out = self._fn(*inputs)
        if not isinstance(out, Tensor):
            raise InputValidationError(f"TensorInput's callable returned {type(out).__name__}, not a tensor")
        return out


__all__ = ["FastMCInference", "FastMCModel", "FastMCRepeat", "FastMCInferenceMeanVar", "TensorInput", "mean_var"]
