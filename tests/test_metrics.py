"""Tests of astrotorch.nn.metrics (torch, missing-aware, no gradient)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn import metrics as M
from astrotorch.nn import numpy as anp

MAGIC = -9999.0
NAN = float("nan")


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


Y = t([[1.0, 10.0], [2.0, MAGIC], [4.0, 20.0], [NAN, 40.0]])
P = t([[1.5, 12.0], [0.0, 5.0], [4.0, 10.0], [7.0, 30.0]])
# valid absolute errors: col0 -> 0.5, 2, 0 ; col1 -> 2, 10, 10


def test_mean_and_median_absolute_error_hand_values():
    assert M.mae(Y, P).item() == pytest.approx((0.5 + 2 + 0 + 2 + 10 + 10) / 6)
    assert M.median_ae(Y, P).item() == pytest.approx(2.0)  # sorted 0, .5, 2, 2, 10, 10
    assert M.mae(Y, P, axis=0).tolist() == pytest.approx([2.5 / 3, 22 / 3])
    assert M.median_absolute_error(Y, P, axis=0).tolist() == pytest.approx([0.5, 10.0])
    assert M.median_absolute_error(Y, P, axis=1).tolist() == pytest.approx([1.25, 2.0, 5.0, 10.0])


def test_percentage_and_signed_metrics_hand_values():
    pct = [50.0, 100.0, 0.0, 20.0, 50.0, 25.0]
    assert M.mape(Y, P).item() == pytest.approx(np.mean(pct))
    assert M.median_ape(Y, P).item() == pytest.approx(np.median(pct))
    signed = [-0.5, 2.0, 0.0, -2.0, 10.0, 10.0]
    assert M.mean_error(Y, P).item() == pytest.approx(np.mean(signed))
    assert M.mse(Y, P).item() == pytest.approx(np.mean(np.square(signed)))
    assert M.rmse(Y, P).item() == pytest.approx(np.sqrt(np.mean(np.square(signed))))
    assert M.rmse(Y, P, axis=0).tolist() == pytest.approx(
        [np.sqrt((0.25 + 4) / 3), np.sqrt((4 + 100 + 100) / 3)]
    )


def test_metrics_agree_with_numpy_versions():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(20, 3))
    p = y + rng.normal(size=(20, 3))
    y[rng.random((20, 3)) < 0.2] = MAGIC
    y[0, 0] = NAN
    for name in ["mae", "median_ae", "mape", "median_ape", "me", "mse", "rmse"]:
        for axis in [None, 0, 1]:
            ours = getattr(M, name)(torch.from_numpy(y), torch.from_numpy(p), axis=axis).numpy()
            ref = getattr(anp, name)(y, p, axis=axis)
            np.testing.assert_allclose(ours, ref, rtol=1e-12, err_msg=f"{name} axis={axis}")


def test_no_valid_entry_gives_nan_and_slices_independent():
    y = t([[MAGIC, 1.0], [NAN, 3.0]])
    p = t([[0.0, 0.0], [0.0, 0.0]])
    mae0 = M.mae(y, p, axis=0)
    assert torch.isnan(mae0[0]) and mae0[1].item() == pytest.approx(2.0)
    med0 = M.median_ae(y, p, axis=0)
    assert torch.isnan(med0[0]) and med0[1].item() == pytest.approx(2.0)
    assert torch.isnan(M.mae(t([MAGIC]), t([1.0])))
    assert torch.isnan(M.median_ape(t([NAN, MAGIC]), t([1.0, 2.0])))
    assert torch.isnan(M.median_ae(torch.zeros(0), torch.zeros(0)))


def test_median_even_count_averages_middle_values():
    assert M.median_ae(t([0.0, 0.0, 0.0, 0.0]), t([1.0, 2.0, 3.0, 10.0])).item() == pytest.approx(2.5)


def test_metrics_carry_no_gradient():
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    for fn in (M.mae, M.mse, M.median_ae, M.rmse):
        assert not fn(torch.zeros(2), p).requires_grad


def test_sample_weight_in_mean_metrics():
    y, p = t([1.0, 2.0, MAGIC]), t([0.0, 0.0, 0.0])
    assert M.mae(y, p, sample_weight=t([3.0, 1.0, 100.0])).item() == pytest.approx((3 + 2) / 2)


def test_accuracies():
    logits = t([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 0.5]])
    assert M.categorical_accuracy(torch.tensor([0, 0, 0, -1]), logits).item() == pytest.approx(2 / 3)
    assert torch.isnan(M.categorical_accuracy(torch.tensor([-1, -1, -1, -1]), logits))
    yb = t([1.0, 0.0, 1.0, NAN])
    assert M.binary_accuracy(yb, t([0.3, -2.0, -0.1, 5.0])).item() == pytest.approx(2 / 3)
    assert M.binary_accuracy(yb, t([0.9, 0.1, 0.9, 0.0]), from_logits=False).item() == 1.0


def test_metric_input_errors():
    with pytest.raises(ShapeMismatchError):
        M.mae(torch.zeros(3), torch.zeros(4))
    with pytest.raises(InputValidationError, match="axis"):
        M.mae(torch.zeros(3, 2), torch.zeros(3, 2), axis=2)


@settings(max_examples=40, deadline=None)
@given(
    y=hnp.arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 3)),
                 elements=st.floats(-1e3, 1e3, allow_nan=False)),
    frac=st.floats(0, 1),
    seed=st.integers(0, 1000),
)
def test_median_matches_numpy_nanmedian(y, frac, seed):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=y.shape)
    y = y.copy()
    y[rng.random(y.shape) < frac] = MAGIC
    for axis in (None, 0, 1):
        ours = M.median_ae(torch.from_numpy(y), torch.from_numpy(p), axis=axis).numpy()
        ref = anp.median_ae(y, p, axis=axis)
        np.testing.assert_allclose(ours, ref, rtol=1e-12, equal_nan=True)


def test_get_metric():
    assert M.get_metric("MAE") is M.mean_absolute_error
    assert M.get_metric("median-absolute-percentage-error") is M.median_ape
    assert M.get_metric(M.rmse) is M.rmse
    with pytest.raises(InputValidationError, match="unknown metric 'nope'"):
        M.get_metric("nope")


def test_accuracies_have_one_implementation_with_nan_when_nothing_is_valid():
    from astrotorch.nn import losses as L

    assert L.categorical_accuracy is M.categorical_accuracy and L.binary_accuracy is M.binary_accuracy
    assert L.get_loss("categorical_accuracy") is M.get_metric("categorical_accuracy")
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], requires_grad=True)
    assert torch.isnan(L.categorical_accuracy(torch.tensor([-1, -1]), logits))
    assert torch.isnan(L.categorical_accuracy(torch.full((2, 2), float("nan")), logits))
    assert torch.isnan(L.binary_accuracy(torch.tensor([MAGIC, float("nan")]), torch.tensor([0.3, -1.0])))
    assert torch.isnan(L.binary_accuracy(torch.empty(0), torch.empty(0)))
    acc = L.categorical_accuracy(torch.tensor([0, 0]), logits)
    assert acc.item() == 0.5 and not acc.requires_grad
    # weights multiply the hits; the denominator counts the valid rows, as for the mean metrics
    assert M.categorical_accuracy(torch.tensor([0, 1]), logits, sample_weight=torch.tensor([2.0, 1.0])).item() == 1.5
