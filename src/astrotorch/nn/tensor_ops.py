"""Two of astroNN's tensor helpers (``astroNN.nn.reduce_var``, ``astroNN.nn.intpow_avx2``) in PyTorch."""

from __future__ import annotations

import torch

from astrotorch.errors import InputValidationError


def reduce_var(x: torch.Tensor, axis: int | None = None, keepdims: bool = False) -> torch.Tensor:
    """Population variance ``mean((x - mean(x))²)`` over ``axis`` (all axes when ``None``)."""
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if axis is None:
        m = x.mean()
        out = (x - m).square().mean()
        return out.reshape((1,) * x.ndim) if keepdims else out
    m = x.mean(dim=axis, keepdim=True)
    return (x - m).square().mean(dim=axis, keepdim=keepdims)


def intpow_avx2(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x ** n`` for an integer ``n`` (astroNN's AVX2 workaround; ``torch.pow`` has no such problem).

    A float ``n`` is truncated to an integer, as astroNN does.
    """
    if isinstance(n, bool):
        raise InputValidationError(f"n must be an integer power, got {n!r}")
    try:
        n = int(n)
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"n must be an integer power, got {n!r}") from exc
    return torch.pow(torch.as_tensor(x), n)


__all__ = ["reduce_var", "intpow_avx2"]
