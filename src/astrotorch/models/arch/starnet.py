"""StarNet (Fabbro et al. 2018, arXiv:1709.09182) as a plain ``torch.nn.Module``.

The exact published architecture (as astroNN's ``StarNet2017`` implements it): Conv1D(4 filters,
length 8, ReLU) → Conv1D(16, 8, ReLU) → MaxPool(4) → Flatten → Dense(256, ReLU) → Dense(128, ReLU) →
Dense(D, linear); He-normal initialisation everywhere, no dropout, no weight decay.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from astrotorch.models.arch.apogee import ConvTrunk, _check_spectra, activation_layer, init_weights


class StarNet2017Net(nn.Module):
    """StarNet: deterministic CNN regressor, (N, L) spectra → (N, D) labels."""

    def __init__(self, n_pix: int, n_out: int, num_filters: Sequence[int] = (4, 16), filter_len: int = 8,
                 pool_length: int = 4, num_hidden: Sequence[int] = (256, 128), activation: str = "relu",
                 initializer: str = "he_normal") -> None:
        super().__init__()
        self.n_pix = n_pix
        self.trunk = ConvTrunk(n_pix, num_filters, filter_len, pool_length, activation, None)
        self.dense = nn.Sequential(
            nn.Linear(self.trunk.n_features, num_hidden[0]), activation_layer(activation),
            nn.Linear(num_hidden[0], num_hidden[1]), activation_layer(activation),
        )
        self.output = nn.Linear(num_hidden[1], n_out)
        # StarNet initialises the output layer with He-normal too (unlike astroNN's other models)
        init_weights(self, initializer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _check_spectra(x, self.n_pix)
        return self.output(self.dense(self.trunk(x)))


__all__ = ["StarNet2017Net"]
