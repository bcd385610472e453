"""Losses of the light-curve models: regression losses by name and the seed autoencoder's sparse RMSE."""

from __future__ import annotations

import torch

from astrotorch.errors import InputValidationError

REGRESSION_LOSSES = ("mse", "msle", "huber", "mae", "log_cosh", "rmse", "kl_sparsity_rmse")


# ---------------------------------------------------------------------------------------------- losses
def rmse(y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Root of the (missing-aware, weighted) mean squared error."""
    from astrotorch.nn import losses

    mse = losses.mean_squared_error(y_true, y_pred, sample_weight)
    return torch.sqrt(mse + 1e-12)


def kl_sparsity_penalty(latent: torch.Tensor, rho: float = 0.05, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j) with ρ̂_j the mean sigmoid activation of latent unit j (sparse autoencoder)."""
    act = torch.sigmoid(latent)
    if valid is not None:
        act = act[valid]
    rho_hat = act.reshape(-1, act.shape[-1]).mean(0).clamp(1e-6, 1 - 1e-6)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_sparsity_rmse(y_true: torch.Tensor, y_pred: torch.Tensor, latent: torch.Tensor, rho: float = 0.05,
                     beta: float = 1e-3, sample_weight: torch.Tensor | None = None,
                     valid: torch.Tensor | None = None) -> torch.Tensor:
    """The seed autoencoder's loss: RMSE + β · KL sparsity penalty on the latent activations."""
    return rmse(y_true, y_pred, sample_weight) + beta * kl_sparsity_penalty(latent, rho, valid)


def loss_fn(name: str):
    """The regression loss called ``name`` (one of :data:`REGRESSION_LOSSES`)."""
    from astrotorch.nn import losses

    if name == "rmse":
        return rmse
    if name == "kl_sparsity_rmse":  # without a latent (supervised heads) it reduces to RMSE
        return rmse
    if name not in REGRESSION_LOSSES:
        raise InputValidationError(f"unknown loss {name!r}; choose from {REGRESSION_LOSSES}")
    return losses.get_loss(name)


__all__ = ["REGRESSION_LOSSES", "rmse", "kl_sparsity_penalty", "kl_sparsity_rmse", "loss_fn"]
