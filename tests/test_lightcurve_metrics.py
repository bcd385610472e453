"""Light-curve metrics: PLAsTiCC weighted log loss, F1, confusion matrix, ROC, redshift/period scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.lightcurves.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    nmad,
    period_metrics,
    redshift_metrics,
    roc_curves,
    weighted_log_loss,
)


def test_weighted_log_loss_hand_value():
    y = np.array([0, 0, 1])
    p = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9]])
    l0 = -(math.log(0.8) + math.log(0.5)) / 2
    l1 = -math.log(0.9)
    assert weighted_log_loss(y, p, class_weights=None) == pytest.approx((l0 + l1) / 2)
    assert weighted_log_loss(y, p, class_weights=[1.0, 3.0]) == pytest.approx((l0 + 3 * l1) / 4)
    # PLAsTiCC default: kilonova counts twice
    assert weighted_log_loss(y, p, ["SNIa", "KN"]) == pytest.approx((l0 + 2 * l1) / 3)
    # by PLAsTiCC id (64 = kilonova)
    assert weighted_log_loss(y, p, [90, 64]) == pytest.approx((l0 + 2 * l1) / 3)


def test_weighted_log_loss_limits():
    y = np.array([0, 1, 2, 2])
    assert weighted_log_loss(y, np.full((4, 3), 1 / 3), class_weights=None) == pytest.approx(math.log(3))
    perfect = np.eye(3)[y]
    assert weighted_log_loss(y, perfect) < 1e-10
    assert np.isfinite(weighted_log_loss(y, 1 - perfect))  # clipped, not infinite
    with pytest.raises(InputValidationError):
        weighted_log_loss(np.array([3]), np.full((1, 3), 1 / 3))
    with pytest.raises(ShapeMismatchError):
        weighted_log_loss(y, np.full((3, 3), 1 / 3))


def test_confusion_f1_accuracy():
    y = np.array([0, 0, 1, 1, 2])
    q = np.array([0, 1, 1, 1, 0])
    m = confusion_matrix(y, q, 3)
    assert m.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1: class 0 = 2·1/(2+1+1) = 0.5, class 1 = 4/5 = 0.8, class 2 = 0
    assert macro_f1(y, q, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert accuracy(y, q) == pytest.approx(0.6)


def test_roc_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200)
    p[np.arange(200), y] += 0.3
    p /= p.sum(1, keepdims=True)
    rocs = roc_curves(y, p)
    for c in range(3):
        assert rocs[c]["auc"] == pytest.approx(roc_auc_score(y == c, p[:, c]), abs=1e-9)
    rep = classification_report(y, p, ["a", "b", "c"])
    assert set(rep) >= {"accuracy", "macro_f1", "weighted_log_loss", "confusion_matrix", "auc"}


def test_redshift_and_period_metrics():
    zt = np.array([0.1, 0.2, 0.3, 0.4])
    zp = zt + 0.01 * (1 + zt) * np.array([1, -1, 0, 2])
    r = redshift_metrics(zt, zp)
    assert r["nmad"] == pytest.approx(nmad(np.array([1, -1, 0, 2]) * 0.01))
    # 1.4826... = 1 / Φ⁻¹(3/4): the normal-consistent MAD scale (astropy's mad_std)
    assert nmad(np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0 / 0.6744897501960817)
    pm = period_metrics(np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.505, 0.25]))
    assert pm["frac_within"] == pytest.approx(2 / 3)
    assert pm["median_abs_dlog10p"] == pytest.approx(math.log10(1.01))
    with pytest.raises(InputValidationError):
        period_metrics(np.array([0.5]), np.array([-1.0]))
