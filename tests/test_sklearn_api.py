"""scikit-learn conventions: clone/get_params/set_params for every model, check_estimator, score,
predict_proba/classes_, cross-validation and grid search, and fit's isolated random state."""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from astrotorch.errors import InputValidationError, NotFittedError
from astrotorch.models import create_model, list_models
from astrotorch.models.registry import _REGISTRY, BUILTIN_MODELS, import_builtin_models

# Deviations from scikit-learn's conventions, on purpose (docs/CONTRACT.md, "scikit-learn").
EXPECTED_FAILED_CHECKS = {
    "check_do_not_raise_errors_in_init_or_set_params": "hyper-parameters are validated in __init__ and "
    "set_params (issue 16): a bad value fails where it is given, with the parameter's name",
    "check_sample_weight_equivalence_on_dense_data": "normalisation statistics are computed on the samples "
    "without their weights (astroNN's normaliser) and mini-batch training shuffles repeated samples into other "
    "batches, so a weight is not the same as repeating a sample",
    "check_dtype_object": "object arrays are refused with a typed error: a column of Python objects is "
    "usually a parsing mistake (tests/test_hostile_inputs.py)",
    "check_regressors_train": "regression predict returns (N, D) even for 1-D y (astroNN's shape, kept)",
    "check_regressor_multioutput": "predictions are float32, the precision the networks compute in",
    "check_supervised_y_no_nan": "NaN (and the magic number) in y mark missing labels (astroNN's convention)",
    "check_fit1d": "a 1-D x is read as N samples of one feature, as astroNN does",
    "check_fit2d_predict1d": "a 1-D x is read as N samples of one feature, as astroNN does",
    # scikit-learn 1.6 runs it whatever the input tags say (1.7+ skips it for sparse=False)
    "check_sample_weight_equivalence_on_sparse_data": "sparse input is refused with a clear error",
}
CLASSIFIER_EXPECTED = {
    "check_classifiers_classes": "negative integer labels (here -1) mark unlabelled samples, so y = {-1, 1} "
    "has one class",
}


def _run_checks(model, expected):
    results = check_estimator(model, expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], repr(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    assert not failed, failed
    passed = [r for r in results if r["status"] == "passed"]
    assert len(passed) > 30
    return results


@pytest.mark.parametrize("name", ["linear", "knn"])
def test_check_estimator_baselines(name):
    _run_checks(create_model(name), EXPECTED_FAILED_CHECKS)


@pytest.mark.slow
def test_check_estimator_mlp_regressor():
    _run_checks(create_model("mlp", num_hidden=(16,), max_epochs=20, progress="none"),
                EXPECTED_FAILED_CHECKS)


@pytest.mark.slow
def test_check_estimator_mlp_classifier():
    model = create_model("mlp", task="classification", num_hidden=(16,), max_epochs=30, lr=0.01, progress="none")
    results = _run_checks(model, {**EXPECTED_FAILED_CHECKS, **CLASSIFIER_EXPECTED})
    names = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {"check_classifiers_train", "check_classifiers_regression_target", "check_supervised_y_2d",
            "check_classifier_data_not_an_array", "check_classifiers_one_label"} <= names


def test_registry_table_matches_the_modules():
    import_builtin_models()
    for name, module in BUILTIN_MODELS.items():
        assert _REGISTRY[name].__module__ == module, name
    builtin_modules = set(BUILTIN_MODELS.values())
    assert {n for n, c in _REGISTRY.items() if c.__module__ in builtin_modules} == set(BUILTIN_MODELS)


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_clone_get_params_set_params_for_every_model(name):
    model = create_model(name)
    params = model.get_params(deep=True)
    assert params == model.get_params(deep=False)
    twin = clone(model)
    assert type(twin) is type(model) and twin.get_params() == params
    assert is_classifier(model) == (model.task == "classification")
    assert is_regressor(model) == (model.task == "regression")
    twin.set_params(seed=7, batch_size=16)
    assert (twin.seed, twin.batch_size) == (7, 16) and model.seed == params["seed"]
    with pytest.raises(InputValidationError, match="batch_size"):
        twin.set_params(batch_size=0)
    assert twin.batch_size == 16  # a refused value changes nothing
    with pytest.raises(InputValidationError, match="no hyper-parameter 'nope'"):
        twin.set_params(nope=1)


def test_list_models_does_not_import_the_model_modules():
    import subprocess
    import sys

    code = ("import sys, astrotorch.models as m; n = m.list_models(); "
            "print(len(n), 'torch' in sys.modules, 'lightning' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(BUILTIN_MODELS)), "False", "False", "False"]


def test_astrotorch_nn_does_not_import_lightning():
    import subprocess
    import sys

    code = "import sys, astrotorch, astrotorch.nn; print('lightning' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def _blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0], [3, 3], [0, 4]], np.float32)
    lab = rng.integers(0, 3, n)
    return (centers[lab] + rng.normal(scale=0.5, size=(n, 2))).astype(np.float32), lab


def test_classifier_predicts_labels_of_any_kind_and_probabilities():
    x, lab = _blobs()
    names = np.array(["star", "galaxy", "qso"])[lab]
    m = create_model("mlp", task="classification", num_hidden=(16,), max_epochs=15, lr=0.01, progress="none")
    m.fit(x, names)
    assert list(m.classes_) == ["galaxy", "qso", "star"]  # sorted, as scikit-learn
    pred = m.predict(x[:50])
    assert pred.dtype.kind == "U" and set(pred) <= set(m.classes_)
    probs = m.predict_proba(x[:50])
    assert probs.shape == (50, 3)
    np.testing.assert_array_equal(pred, m.classes_[probs.argmax(1)])
    assert m.score(x, names) > 0.9
    with pytest.raises(InputValidationError, match="return_std"):
        m.predict_proba(x[:2], return_std=True)  # not Bayesian
    reg = create_model("linear")
    assert not hasattr(reg, "predict_proba") and not hasattr(reg, "classes_")


def test_score_is_r2_with_missing_labels_left_out():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = np.stack([x @ [1.0, 2.0, -1.0], x[:, 0] * 3 + 1], 1).astype(np.float32)
    m = create_model("linear", alpha=1e-6).fit(x, y)
    y_missing = y.copy()
    y_missing[:20, 1] = np.nan
    pred = m.predict(x)
    expected = np.mean([r2_score(y[:, 0], pred[:, 0]), r2_score(y[20:, 1], pred[20:, 1])])
    assert m.score(x, y_missing) == pytest.approx(expected)
    assert m.score(x, y) > 0.99


def test_unfitted_model_raises_both_not_fitted_errors():
    from sklearn.exceptions import NotFittedError as SkNotFitted

    m = create_model("mlp")
    for exc in (NotFittedError, SkNotFitted):
        with pytest.raises(exc):
            m.predict(np.zeros((2, 3), np.float32))


def test_clone_cross_val_score_and_grid_search_on_a_baseline():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.normal(size=120)).astype(np.float32)
    scores = cross_val_score(create_model("linear"), x, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and (scores > 0.9).all()
    grid = GridSearchCV(create_model("knn"), {"n_neighbors": [1, 5, 15]}, cv=3).fit(x, y)
    assert grid.best_params_["n_neighbors"] in (5, 15) and grid.best_estimator_.n_neighbors == grid.best_params_["n_neighbors"]


def test_cross_val_score_and_grid_search_on_a_small_network():
    x, lab = _blobs(150)
    base = create_model("mlp", task="classification", num_hidden=(8,), max_epochs=4, lr=0.02, progress="none",
                        val_size=0.0)
    scores = cross_val_score(base, x, lab, cv=3)  # StratifiedKFold: the model is a classifier
    assert scores.shape == (3,) and np.all(scores > 0.5)
    grid = GridSearchCV(base, {"num_hidden": [(4,), (8,)]}, cv=2).fit(x, lab)
    assert grid.best_params_["num_hidden"] in [(4,), (8,)]
    assert grid.best_estimator_.predict(x[:3]).shape == (3,)


def test_fit_leaves_the_global_random_state_alone_and_is_reproducible():
    x, lab = _blobs(100)
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    before = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    a = create_model("bayesian_mlp", num_hidden=(8,), max_epochs=2, mc_num=5, progress="none", seed=3).fit(x, x[:, :1])
    after = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    assert before[0] == after[0]
    assert np.array_equal(before[1][1], after[1][1]) and before[1][2:] == after[1][2:]
    assert torch.equal(before[2], after[2])
    np.random.seed(999)  # a different global state must not change the result
    torch.manual_seed(999)
    b = create_model("bayesian_mlp", num_hidden=(8,), max_epochs=2, mc_num=5, progress="none", seed=3).fit(x, x[:, :1])
    for (ka, va), (kb, vb) in zip(a.network.state_dict().items(), b.network.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    # fit_on_batch too: its dropout masks come from a model-owned stream
    state = torch.get_rng_state()
    a.fit_on_batch(x, x[:, :1])
    assert torch.equal(state, torch.get_rng_state())


def test_pickle_round_trip_keeps_predictions():
    import pickle

    x, lab = _blobs(80)
    m = create_model("mlp", num_hidden=(8,), max_epochs=2, progress="none").fit(x, x[:, :1] * 2)
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    assert back.trainer is None and m.trainer is not None


def test_model_modules_are_importable_by_name():
    for module in set(BUILTIN_MODELS.values()):
        importlib.import_module(module)
    assert set(BUILTIN_MODELS) <= set(list_models())
