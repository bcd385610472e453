"""Selection at a chosen purity and precision–recall curves (astrotorch.uncertainty.selection)."""

from __future__ import annotations

import numpy as np
import pytest

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.uncertainty.selection import (
    class_probabilities,
    fit_purity_threshold,
    precision_recall_curves,
    recall_at_purity,
    selection_scores,
)


def _probs(scores: np.ndarray) -> np.ndarray:
    """Two-class probabilities with P(class 1) = scores."""
    return np.stack([1 - scores, scores], 1)


def test_threshold_is_lowest_meeting_purity_not_first_crossing() -> None:
    # ranked by P(1): hit, hit, miss, miss, hit, hit, miss, miss, miss, miss
    scores = np.linspace(0.95, 0.05, 10)
    labels = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0])
    sel = fit_purity_threshold(_probs(scores), labels, 1, purity=0.6)
    # precision by depth: 1, 1, .67, .5, .6, .67, .57, ... → deepest meeting 0.6 is depth 6
    assert sel.reached and sel.n_selected == 6
    assert sel.threshold == pytest.approx(scores[5])
    assert sel.validation_purity == pytest.approx(4 / 6)
    assert sel.validation_recall == pytest.approx(1.0)
    assert sel.n_positive == 4
    # a stricter target stops before the first miss
    strict = fit_purity_threshold(_probs(scores), labels, 1, purity=0.9)
    assert strict.n_selected == 2 and strict.validation_recall == pytest.approx(0.5)
    assert recall_at_purity(_probs(scores), labels, 1, 0.9) == pytest.approx(0.5)


def test_select_applies_threshold_to_new_objects_and_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3)) + 2.0 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    val, test = slice(0, 300), slice(300, 600)
    sel = fit_purity_threshold(p[val], y[val], "b", 0.8, class_names=["a", "b", "c"])
    assert sel.class_index == 1 and sel.class_name == "b" and sel.reached
    mask = sel.select(p[test])
    assert np.array_equal(mask, p[test, 1] >= sel.threshold)
    sc = selection_scores(sel, p[test], y[test])
    assert sc["n_selected"] == int(mask.sum())
    assert sc["purity"] == pytest.approx(np.mean(y[test][mask] == 1))
    assert sc["recall"] == pytest.approx(np.sum(mask & (y[test] == 1)) / np.sum(y[test] == 1))
    # new objects from the same population: purity near the validation target
    assert 0.65 < sc["purity"] <= 1.0
    assert sc["expected_purity"] == pytest.approx(p[test][mask, 1].mean())
    assert set(sel.to_dict()) >= {"threshold", "target_purity", "validation_recall"}


def test_unreachable_purity_selects_nothing_and_ties_are_not_split() -> None:
    labels = np.array([1, 0, 1, 0])
    sel = fit_purity_threshold(_probs(np.full(4, 0.5)), labels, 1, purity=0.9)
    # all scores tie: the only possible selection is all four, purity 0.5 < 0.9
    assert not sel.reached and sel.threshold == np.inf and sel.n_selected == 0
    assert not sel.select(_probs(np.array([0.99, 0.5]))).any()
    none = fit_purity_threshold(_probs(np.array([0.3, 0.2])), np.array([0, 0]), 1, purity=0.5)
    assert not none.reached and none.n_positive == 0


def test_precision_recall_curves_per_class() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    p = rng.dirichlet(np.ones(3), 400) * 0.5 + 0.5 * np.eye(3)[y]
    curves = precision_recall_curves(p, y, ["e", "s", "m"])
    assert set(curves) == {"e", "s", "m"}
    for k, name in enumerate(("e", "s", "m")):
        c = curves[name]
        assert c["n_positive"] == int(np.sum(y == k))
        assert c["precision"].shape == c["recall"].shape
        assert c["average_precision"] == pytest.approx(1.0)  # the true class always scores ≥ 0.5
    # a class no object has: NaN average precision, empty curve
    p4 = np.concatenate([p, np.zeros((400, 1))], 1)
    assert np.isnan(precision_recall_curves(p4, y)["3"]["average_precision"])


def test_bad_inputs_and_probability_helper() -> None:
    with pytest.raises(InputValidationError):
        fit_purity_threshold(_probs(np.array([0.5])), [1], 1, purity=1.5)
    with pytest.raises(ShapeMismatchError):
        fit_purity_threshold(_probs(np.array([0.5, 0.2])), [1], 1, purity=0.5)
    with pytest.raises(InputValidationError):
        fit_purity_threshold(_probs(np.array([0.5])), [1], "merger", purity=0.5, class_names=["a", "b"])
    with pytest.raises(InputValidationError):
        precision_recall_curves(np.array([[np.nan, 1.0]]), [0])

    class WithProba:
        def predict_proba(self, x):
            return np.full((len(x), 2), 0.5)

    class BayesPredict:
        def predict(self, x):
            return np.full((len(x), 2), 0.25), {"total": np.zeros((len(x), 2))}

    assert class_probabilities(WithProba(), np.zeros(3)).shape == (3, 2)
    assert class_probabilities(BayesPredict(), np.zeros(4))[0, 0] == 0.25
