"""Two-input network for cluster masses: a CNN over multi-band X-ray count images plus the redshift.

``forward({"image": (N, B, H, W), "redshift": (N, 1)[, "band_flux": (N, B)]})`` returns the (normalised)
log-mass ``(N, 1)``,
or ``(mean, log_variance)`` when built with ``heteroscedastic=True`` (Gaussian negative log-likelihood).
The image is expected already transformed to a compressed scale (``log1p`` of the counts,
standardised) by the model class.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ClusterMassNet(nn.Module):
    """CNN image branch + redshift → dense head.

    Image branch: conv-BN-ReLU blocks (one in the first stage, two after) at widths ``widths``, 2×2
    average pooling
    between stages (average, not max: the pixel values are photon counts, whose sums carry the
    flux), then global average *and* max pooling, so the head sees both the mean surface brightness
    per band (flux, spectrum → temperature) and the peak (concentration). The redshift enters the
    dense head directly: mass from flux and angular size needs the distance.

    Parameters
    ----------
    n_bands: image channels (energy bands).
    widths: channels of the stages.
    hidden: width of the dense layers.
    heteroscedastic: also output a log-variance (for the Gaussian NLL loss).
    dropout_rate: dropout in the head (0 → deterministic network).
    n_aux: inputs of the dense head besides the pooled features: the redshift, then the optional
        ``band_flux`` summary (per-band total counts, transformed by the model class).
    """

    def __init__(
        self,
        n_bands: int,
        widths: tuple[int, ...] = (24, 48, 96),
        hidden: int = 128,
        heteroscedastic: bool = False,
        dropout_rate: float = 0.0,
        n_aux: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = n_bands
        for i, w in enumerate(widths):
            if i > 0:
                layers.append(nn.AvgPool2d(2))
            # one convolution at full resolution (the costly stage on CPU), two in the later stages
            layers += [_conv_bn(c, w)] if i == 0 else [_conv_bn(c, w), _conv_bn(w, w)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(2 * c + n_aux, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout_rate),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(inplace=True),
        )
        self.mean = nn.Linear(hidden // 2, 1)
        self.log_var = nn.Linear(hidden // 2, 1) if heteroscedastic else None
        if self.log_var is not None:
            nn.init.zeros_(self.log_var.weight)
            nn.init.zeros_(self.log_var.bias)

    def forward(self, x: Mapping[str, torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        img = x["image"]
        z = x["redshift"]
        if z.ndim == 1:
            z = z[:, None]
        f = self.features(img)
        pooled = torch.cat([F.adaptive_avg_pool2d(f, 1).flatten(1), F.adaptive_max_pool2d(f, 1).flatten(1)], dim=1)
        # under autocast the features may be bf16 while the redshift is float32: match dtypes
        # explicitly (torch.cat refuses mixed dtypes outside autocast's promotion rules)
        aux = [z.to(pooled.dtype)]
        if "band_flux" in x:
            aux.append(x["band_flux"].to(pooled.dtype))
        h = self.head(torch.cat([pooled, *aux], dim=1))
        mean = self.mean(h)
        if self.log_var is None:
            return mean
        return mean, self.log_var(h)


__all__ = ["ClusterMassNet"]
