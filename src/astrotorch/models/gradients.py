"""Jacobians and Hessians of a model's prediction with respect to its input (``torch.func``).

astroNN's keywords: ``mean_output`` (average over samples), ``mc_num`` (average over that many
Monte Carlo passes with the MC layers on; 1 = the deterministic mean network) and ``denormalize``
(physical units, label units per input unit — astrotorch's default; ``False`` gives the derivative of
the normalised output with respect to the normalised input, astroNN's default).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from astrotorch.errors import InputValidationError
from astrotorch.models.hyperparams import check_int
from astrotorch.models.inference import deterministic_layers


def _single_input_fn(net: torch.nn.Module) -> Any:
    def f(xi: torch.Tensor) -> torch.Tensor:
        o = net(xi.unsqueeze(0))
        o = o[0] if isinstance(o, tuple) else o
        return o.squeeze(0)

    return f


def _scales(model: Any, in_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Label scale per output and input scale per input element (1 where not normalised)."""
    if model.task == "regression" and model._label_norm is not None:
        out_scale = np.asarray(model._label_norm.scale, np.float32).reshape(-1)
        out_scale = np.broadcast_to(out_scale, (int(model.output_dim),))
    else:
        out_scale = np.ones(int(model.output_dim), np.float32)
    in_scale = np.broadcast_to(np.asarray(model._input_norm.scale, np.float32), in_shape)
    return out_scale, in_scale


def _prepare(model: Any, x: Any, what: str, mc_num: int) -> tuple[np.ndarray, int]:
    check_int("mc_num", mc_num, 1)
    xn, n = model._prepare_inference_input(x)
    if isinstance(xn, dict):
        raise InputValidationError(f"{what} needs a single-array input model")
    return xn, n


def _randomness(passes: int) -> str:
    # MC passes: one dropout mask per pass shared by the batch ("same": the MC layers draw in place,
    # which vmap cannot vary per sample); every sample still averages over ``passes`` masks
    return "same" if passes > 1 else "different"


def _mc_passes(model: Any, mc_num: int) -> int:
    # a deterministic network gives the same derivative on every pass: one is exact
    return int(mc_num) if model.bayesian or model.dropout_rate > 0 else 1


def _derivative(model: Any, xn: np.ndarray, n: int, op: Any, mc_num: int, batch_size: int) -> np.ndarray:
    """``op`` (``jacrev`` or ``hessian``) of the network per sample, averaged over the MC passes."""
    from torch.func import vmap

    net = model.network
    net.eval()
    f = _single_input_fn(net)
    device = model._device()
    passes = _mc_passes(model, mc_num)
    total = None
    for _ in range(passes):
        chunks = []
        with deterministic_layers(net) if passes == 1 else contextlib.nullcontext():
            for start in range(0, n, batch_size):
                xb = torch.as_tensor(xn[start : start + batch_size], device=device)
                chunks.append(vmap(op(f), randomness=_randomness(passes))(xb).detach().cpu().numpy())
        d = np.concatenate(chunks)
        total = d if total is None else total + d
    return total / passes


def jacobian(model: Any, x: Any, mean_output: bool = False, mc_num: int = 1, denormalize: bool = True,
             batch_size: int = 64) -> np.ndarray:
    """∂prediction/∂input per sample: ``(N, D_out, *input_shape)`` (or its mean over samples)."""
    from torch.func import jacrev

    xn, n = _prepare(model, x, "jacobian", mc_num)
    jac = _derivative(model, xn, n, jacrev, mc_num, batch_size)
    if denormalize:
        out_scale, in_scale = _scales(model, xn.shape[1:])
        jac = jac * out_scale.reshape((1, -1) + (1,) * len(xn.shape[1:])) / in_scale[None, None]
    return jac.mean(axis=0) if mean_output else jac


def hessian(model: Any, x: Any, mean_output: bool = False, mc_num: int = 1, denormalize: bool = True,
            batch_size: int = 64) -> np.ndarray:
    """∂²prediction/∂input² per sample: ``(N, D_out, *in, *in)`` (or its mean over samples).

    Memory grows as the input size squared: meant for tabular inputs, not full spectra.
    """
    from torch.func import hessian as t_hessian

    xn, n = _prepare(model, x, "hessian", mc_num)
    h = _derivative(model, xn, n, t_hessian, mc_num, batch_size)
    if denormalize:
        in_shape = xn.shape[1:]
        nd = len(in_shape)
        out_scale, in_scale = _scales(model, in_shape)
        h = h * out_scale.reshape((1, -1) + (1,) * (2 * nd))
        h = h / in_scale.reshape((1, 1) + in_shape + (1,) * nd) / in_scale.reshape((1, 1) + (1,) * nd + in_shape)
    return h.mean(axis=0) if mean_output else h


__all__ = ["jacobian", "hessian"]
