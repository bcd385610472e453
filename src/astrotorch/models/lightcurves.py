"""Light-curve networks on the AstroModel API: ``lc_transformer`` and ``lc_gru`` (``lc_features`` lives
in :mod:`astrotorch.models.lightcurve_features` and is re-exported here).

Inputs are :class:`~astrotorch.lightcurves.LightCurveSet` objects (or lists of
:class:`~astrotorch.lightcurves.LightCurve`), never resampled: each light curve is normalised on its
own (``norm="shared"`` keeps colours, see :mod:`astrotorch.lightcurves.normalisation`). Batches are
padded only to the longest curve in the batch and, with ``bucket=True``, built from curves of
similar length (:class:`LengthBucketBatchSampler`).

Physics by default (``period_inputs=True``): at ``fit`` and ``predict`` every curve gets a
Lomb–Scargle period search over all bands with alias refinement, its power, and the phase-folded
Fourier shape per band (:mod:`astrotorch.lightcurves.periods`), and (``feature_inputs=True``) the
light-curve statistics and Bazin transient fit of :mod:`astrotorch.lightcurves.features` — all
cached per curve by content, so ``fit`` then ``predict`` on the same curves computes them once.
They go, robustly standardised, with the brightness and the counts, through the network's static
MLP branch, and every observation gets its phase at the searched period (``fold=True``). Training
keeps the weights of the best validation epoch (``restore_best=True``).

Classification follows scikit-learn: ``y`` may be omitted (the curves' labels are used);
``classes_`` holds the labels seen at ``fit``; ``predict`` returns labels, ``predict_proba`` (N, C)
probabilities in ``classes_`` order, ``score`` the accuracy. Class imbalance is handled by
``class_weight="balanced"``. Regression ``y`` is (N, D) in physical units, normalised with
``labels_norm_mode``; the loss is chosen by name (``mse``, ``msle``, ``huber``, ``mae``,
``log_cosh``, ``rmse``). ``first_days`` trains and predicts on the first N days after the first ≥5σ
detection (early classification).

The shared machinery is in :mod:`astrotorch.models.lightcurve_network` (with its training glue in
:mod:`astrotorch.models.lightcurve_training` and ``score``/``evaluate`` in
:mod:`astrotorch.models.lightcurve_scoring`); every name is re-exported here.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from astrotorch.lightcurves.labels import as_lightcurve_set
from astrotorch.models.lightcurve_losses import REGRESSION_LOSSES, kl_sparsity_penalty, kl_sparsity_rmse, rmse
from astrotorch.models.lightcurve_network import LightCurveNetworkModel
from astrotorch.models.lightcurve_scoring import lightcurve_evaluate, lightcurve_score  # noqa: F401
from astrotorch.models.lightcurve_training import (  # noqa: F401
    STATIC_CLIP,
    _best_weights_callback,
    _feature_input_names,
    _masked_collate,
    _regression_targets,
    robust_standardiser,
)
from astrotorch.models.registry import register_model


@register_model
class LightCurveTransformer(LightCurveNetworkModel):
    """Transformer encoder for irregular multi-band light curves (``"lc_transformer"``).

    Band embedding + continuous-time sinusoidal encoding of the real times (days) + padding masks;
    attention or masked-mean pooling; a static MLP branch for the period/Fourier-shape and brightness
    inputs; classification (logits) or regression head; optional self-supervised
    masked-reconstruction pretraining (:meth:`pretrain`). Network:
    :class:`~astrotorch.models.arch.lightcurves.LightCurveTransformerNet`.
    """

    name = "lc_transformer"

    def __init__(self, *, d_model: int = 64, n_heads: int = 4, n_layers: int = 2, dim_feedforward: int = 128,
                 pooling: str = "attention", min_period: float = 0.1, max_period: float = 3000.0,
                 dropout_rate: float = 0.1, **kwargs: Any) -> None:
        super().__init__(dropout_rate=dropout_rate, **kwargs)
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.dim_feedforward = dim_feedforward
        self.pooling = pooling
        self.min_period = min_period
        self.max_period = max_period

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        from astrotorch.models.arch.lightcurves import LightCurveTransformerNet

        nb, F, S = self._dims(input_shape)
        return LightCurveTransformerNet(nb, F, S, output_dim, d_model=self.d_model, n_heads=self.n_heads,
                                        n_layers=self.n_layers, dim_feedforward=self.dim_feedforward,
                                        dropout=self.dropout_rate, pooling=self.pooling,
                                        min_period=self.min_period, max_period=self.max_period)


@register_model
class LightCurveGRU(LightCurveNetworkModel):
    """RAPID-like GRU baseline over observations in time order, packed sequences (``"lc_gru"``),
    with the same static MLP branch for the period/Fourier-shape inputs."""

    name = "lc_gru"

    def __init__(self, *, hidden: int = 64, n_layers: int = 2, dropout_rate: float = 0.1, **kwargs: Any) -> None:
        super().__init__(dropout_rate=dropout_rate, **kwargs)
        self.hidden = hidden
        self.n_layers = n_layers

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        from astrotorch.models.arch.lightcurves import LightCurveGRUNet

        nb, F, S = self._dims(input_shape)
        return LightCurveGRUNet(nb, F, S, output_dim, hidden=self.hidden, n_layers=self.n_layers,
                                dropout=self.dropout_rate)


from astrotorch.models.lightcurve_features import LightCurveFeatures  # noqa: E402  (registers lc_features)

__all__ = ["LightCurveTransformer", "LightCurveGRU", "LightCurveFeatures", "LightCurveNetworkModel", "rmse",
           "kl_sparsity_rmse", "kl_sparsity_penalty", "as_lightcurve_set", "REGRESSION_LOSSES",
           "robust_standardiser"]
