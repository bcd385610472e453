"""Tests of astrotorch.nn.losses: hand-computed values, missing-label semantics, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from astrotorch.config import override
from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn import losses as L

MAGIC = -9999.0
NAN = float("nan")


def t(x, grad: bool = False) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=grad)


# regression losses with (y_true, y_pred) signature and a per-entry formula to hand-check
PER_ENTRY = {
    "mse": lambda y, p: (y - p) ** 2,
    "mae": lambda y, p: abs(y - p),
    "mean_error": lambda y, p: y - p,
    "msle": lambda y, p: (math.log1p(max(p, 1e-7)) - math.log1p(max(y, 1e-7))) ** 2,
    "mape": lambda y, p: 100 * abs(y - p) / max(abs(y), 1e-7),
    "mpe": lambda y, p: 100 * (y - p) / max(abs(y), 1e-7),
    "huber": lambda y, p: 0.5 * (y - p) ** 2 if abs(y - p) <= 1 else abs(y - p) - 0.5,
    "log_cosh": lambda y, p: math.log(math.cosh(p - y)),
}
REGRESSION = list(PER_ENTRY)


# ------------------------------------------------------------------------------ hand-computed values
def test_mse_hand_value():
    # entries: (1-0)^2=1, (2-4)^2=4, (3-3)^2=0, (0.5-1.5)^2=1 -> mean 1.5
    assert L.mean_squared_error(t([[1.0, 2.0], [3.0, 0.5]]), t([[0.0, 4.0], [3.0, 1.5]])).item() == pytest.approx(1.5)


def test_mae_and_mean_error_hand_value():
    y, p = t([1.0, 2.0, 3.0]), t([2.0, 0.0, 3.5])
    assert L.mae(y, p).item() == pytest.approx((1 + 2 + 0.5) / 3)
    assert L.mean_error(y, p).item() == pytest.approx((-1 + 2 - 0.5) / 3)


def test_msle_rmsle_hand_value():
    y, p = t([0.0, 3.0]), t([1.0, 1.0])
    # log1p(1)-log1p(1e-7) ~ log 2 ; log1p(1)-log1p(3) = log(2/4)
    expected = ((math.log(2) - math.log1p(1e-7)) ** 2 + math.log(0.5) ** 2) / 2
    assert L.msle(y, p).item() == pytest.approx(expected)
    assert L.rmsle(y, p).item() == pytest.approx(math.sqrt(expected))


def test_mape_mpe_hand_value():
    y, p = t([2.0, -4.0]), t([1.0, -5.0])
    assert L.mape(y, p).item() == pytest.approx((50 + 25) / 2)
    assert L.mpe(y, p).item() == pytest.approx((50 + 25) / 2)  # (2-1)/2=+50%, (-4+5)/4=+25%
    assert L.mpe(t([2.0]), t([3.0])).item() == pytest.approx(-50.0)


def test_huber_hand_value_and_delta():
    y, p = t([0.0, 0.0]), t([0.5, 3.0])
    assert L.huber(y, p).item() == pytest.approx((0.125 + 2.5) / 2)
    assert L.huber(y, p, delta=2.0).item() == pytest.approx((0.125 + 2 * (3 - 1)) / 2)
    with pytest.raises(InputValidationError, match="delta"):
        L.huber(y, p, delta=0.0)


def test_log_cosh_hand_value_and_stable_for_large_errors():
    y, p = t([0.0, 1.0]), t([0.5, -1.0])
    assert L.log_cosh(y, p).item() == pytest.approx((math.log(math.cosh(0.5)) + math.log(math.cosh(2.0))) / 2)
    big = L.log_cosh(torch.zeros(1), torch.tensor([1000.0], requires_grad=True))
    assert torch.isfinite(big)
    assert big.item() == pytest.approx(1000 - math.log(2), rel=1e-6)
    big.backward()


@pytest.mark.parametrize("name", REGRESSION)
def test_every_regression_loss_against_formula(name):
    y = [0.3, 2.0, -1.5, 4.0, 0.0]
    p = [0.1, 3.5, -1.0, 0.5, 0.2]
    expected = np.mean([PER_ENTRY[name](a, b) for a, b in zip(y, p)])
    assert L.get_loss(name)(t(y), t(p)).item() == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_robust_mse_hand_formula_with_and_without_label_errors():
    y = t([[1.0, 2.0], [0.0, -1.0]])
    p = t([[1.5, 1.0], [0.2, -1.0]])
    lv = t([[0.0, -1.0], [0.5, 1.0]])
    err = t([[0.1, 0.0], [MAGIC, 0.3]])  # magic error -> treated as 0
    err_sq = np.array([[0.01, 0.0], [0.0, 0.09]])
    s = np.log(np.exp(lv.detach().numpy()) + err_sq)
    d2 = (y - p).detach().numpy() ** 2
    expected = np.mean(0.5 * d2 * np.exp(-s) + 0.5 * s)
    assert L.robust_mse(y, p, lv, err).item() == pytest.approx(expected, rel=1e-12)
    s0 = lv.detach().numpy()
    expected0 = np.mean(0.5 * d2 * np.exp(-s0) + 0.5 * s0)
    assert L.robust_mse(y, p, lv).item() == pytest.approx(expected0, rel=1e-12)
    # NaN label error also means "no error"
    err_nan = t([[0.1, 0.0], [NAN, 0.3]])
    assert L.robust_mse(y, p, lv, err_nan).item() == pytest.approx(expected, rel=1e-12)


def test_robust_mse_stable_for_very_negative_log_variance():
    # a zero label error must not turn log(exp(lv) + 0) into log(0) = -inf
    lv = torch.tensor([-80.0, 0.0], requires_grad=True)
    out = L.robust_mse(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0]), lv, labels_err=torch.zeros(2))
    out.backward()
    assert out.item() == pytest.approx(-20.0)
    assert torch.isfinite(lv.grad).all()


def test_gaussian_nll_matches_torch_and_robust_mse():
    y, m, lv = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    ours = L.gaussian_nll(y, m, lv, full=True)
    ref = torch.nn.functional.gaussian_nll_loss(m, y, lv.exp(), full=True, eps=0.0)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    assert L.gaussian_nll(y, m, lv).item() == pytest.approx(L.robust_mse(y, m, lv).item(), rel=1e-6)


def test_categorical_crossentropy_hand_value_logits_probabilities_indices():
    logits = t([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    onehot = t([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    z = math.exp(2) + 1 + math.exp(-1)
    expected = (-(2 - math.log(z)) + math.log(3)) / 2
    assert L.categorical_crossentropy(onehot, logits).item() == pytest.approx(expected)
    assert L.categorical_crossentropy(torch.tensor([0, 2]), logits).item() == pytest.approx(expected)
    probs = torch.softmax(logits, -1)
    assert L.categorical_crossentropy(onehot, probs, from_logits=False).item() == pytest.approx(expected, rel=1e-6)
    # matches torch's implementation
    assert L.categorical_crossentropy(torch.tensor([0, 2]), logits).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).item()
    )


def test_categorical_crossentropy_missing_rows():
    logits = torch.randn(4, 3, dtype=torch.float64)
    onehot = torch.eye(3, dtype=torch.float64)[[0, 1, 2, 1]]
    full = L.categorical_crossentropy(onehot[[0, 2]], logits[[0, 2]])
    masked = onehot.clone()
    masked[1, 0] = MAGIC
    masked[3, :] = NAN
    assert L.categorical_crossentropy(masked, logits).item() == pytest.approx(full.item())
    idx = torch.tensor([0, -1, 2, MAGIC])
    assert L.categorical_crossentropy(idx, logits).item() == pytest.approx(full.item())
    idx_int = torch.tensor([0, -1, 2, -5])
    assert L.categorical_crossentropy(idx_int, logits).item() == pytest.approx(full.item())


def test_categorical_crossentropy_bad_inputs():
    with pytest.raises(InputValidationError, match="out of range"):
        L.categorical_crossentropy(torch.tensor([0, 3]), torch.zeros(2, 3))
    with pytest.raises(InputValidationError, match="non-integers"):
        L.categorical_crossentropy(torch.tensor([0.5, 1.0]), torch.zeros(2, 3))
    with pytest.raises(ShapeMismatchError, match="one-hot"):
        L.categorical_crossentropy(torch.zeros(2, 2), torch.zeros(2, 3))


def test_binary_crossentropy_hand_value_logits_vs_probabilities():
    y = t([1.0, 0.0, 1.0])
    logits = t([0.0, 2.0, -1.0])
    sig = 1 / (1 + np.exp(-logits.numpy()))
    expected = -np.mean([math.log(sig[0]), math.log(1 - sig[1]), math.log(sig[2])])
    assert L.binary_crossentropy(y, logits).item() == pytest.approx(expected)
    assert L.binary_crossentropy(y, torch.sigmoid(logits), from_logits=False).item() == pytest.approx(expected)
    # probability 0 or 1 is clipped, not inf
    assert torch.isfinite(L.binary_crossentropy(t([1.0]), t([0.0]), from_logits=False))


def test_accuracies_hand_value():
    logits = t([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 0.5]])
    y = torch.tensor([0, 0, 0, MAGIC])
    assert L.categorical_accuracy(y, logits).item() == pytest.approx(2 / 3)
    onehot = t([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [NAN, NAN]])
    assert L.categorical_accuracy(onehot, logits).item() == pytest.approx(2 / 3)
    yb = t([1.0, 0.0, 1.0, MAGIC])
    assert L.binary_accuracy(yb, t([0.3, -2.0, -0.1, 5.0])).item() == pytest.approx(2 / 3)
    assert L.binary_accuracy(yb, t([0.7, 0.2, 0.4, 0.9]), from_logits=False).item() == pytest.approx(2 / 3)
    assert L.binary_accuracy(yb, t([0.7, 0.2, 0.65, 0.9]), from_logits=False, threshold=0.6).item() == 1.0


def test_zeros_loss_is_zero_with_zero_gradient():
    p = torch.tensor([1.0, NAN, 3.0], requires_grad=True)
    out = L.zeros_loss(torch.zeros(3), p)
    out.backward()
    assert out.item() == 0.0
    assert torch.equal(p.grad, torch.zeros(3))


# ------------------------------------------------------------------------------ robust classification
def test_robust_cce_with_zero_variance_equals_cce():
    logits = torch.randn(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 2, -1])
    lv = torch.full_like(logits, -60.0)
    ref = L.categorical_crossentropy(y, logits)
    assert L.robust_categorical_crossentropy(y, logits, lv, n_samples=7).item() == pytest.approx(ref.item(), rel=1e-9)


def test_robust_bce_with_zero_variance_equals_bce():
    logits = torch.randn(6, dtype=torch.float64)
    y = t([1.0, 0.0, 1.0, MAGIC, 0.0, 1.0])
    lv = torch.full_like(logits, -60.0)
    ref = L.binary_crossentropy(y, logits)
    assert L.robust_binary_crossentropy(y, logits, lv, n_samples=3).item() == pytest.approx(ref.item(), rel=1e-9)


def test_robust_cce_monte_carlo_matches_hand_estimate():
    # -log mean_t softmax(x + sigma eps_t)[y], recomputed with the same draws
    logits = t([[1.0, -0.5, 0.2]])
    lv = t([[0.3, -0.2, 0.5]])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    got = L.robust_categorical_crossentropy(torch.tensor([2]), logits, lv, n_samples=200, generator=g1)
    eps = torch.randn((200, 1, 3), dtype=torch.float64, generator=g2)
    probs = torch.softmax(logits + torch.exp(0.5 * lv) * eps, -1)[:, 0, 2]
    assert got.item() == pytest.approx(-math.log(probs.mean().item()), rel=1e-10)


def test_robust_cce_variance_helps_on_wrong_confident_prediction():
    # a confidently wrong logit: adding logit noise increases the probability of the true class
    logits = t([[5.0, -5.0]])
    y = torch.tensor([1])
    g = torch.Generator().manual_seed(0)
    low = L.robust_categorical_crossentropy(y, logits, torch.full_like(logits, -20.0), n_samples=500, generator=g)
    high = L.robust_categorical_crossentropy(y, logits, torch.full_like(logits, 3.0), n_samples=500, generator=g)
    assert high < low


def test_robust_cce_gradients_reach_both_outputs_and_masked_rows_get_none():
    logits = torch.randn(3, 4, requires_grad=True)
    lv = torch.zeros(3, 4, requires_grad=True)
    out = L.robust_categorical_crossentropy(torch.tensor([1, -1, 2]), logits, lv)
    out.backward()
    assert logits.grad[[0, 2]].abs().sum() > 0 and lv.grad[[0, 2]].abs().sum() > 0
    assert torch.equal(logits.grad[1], torch.zeros(4)) and torch.equal(lv.grad[1], torch.zeros(4))


def test_robust_losses_reject_bad_n_samples():
    with pytest.raises(InputValidationError, match="n_samples"):
        L.robust_categorical_crossentropy(torch.tensor([0]), torch.zeros(1, 2), torch.zeros(1, 2), n_samples=0)
    with pytest.raises(ShapeMismatchError, match="logit_log_variance"):
        L.robust_binary_crossentropy(torch.zeros(2), torch.zeros(2), torch.zeros(3))


# ------------------------------------------------------------------------------ missing-label semantics
def _binarise(y: torch.Tensor) -> torch.Tensor:
    """0/1 labels from y > 0.5, keeping missing entries missing."""
    return torch.where(L.missing_mask(y), (y > 0.5).to(y.dtype), y)


ALL_LOSSES = {
    **{name: (lambda f: lambda y, p, **kw: f(y, p, **kw))(L.get_loss(name)) for name in REGRESSION},
    "rmsle": L.rmsle,
    "robust_mse": lambda y, p, **kw: L.robust_mse(y, p, 0.3 * p, labels_err=0.1 * torch.ones_like(y), **kw),
    "gaussian_nll": lambda y, p, **kw: L.gaussian_nll(y, p, -0.2 * p, **kw),
    "bce": lambda y, p, **kw: L.binary_crossentropy(_binarise(y), p, **kw),
    # near-zero variance so that dropping an entry (which changes the random draws) is comparable
    "robust_bce": lambda y, p, **kw: L.robust_binary_crossentropy(_binarise(y), p, -40.0 + 0.1 * p, **kw),
}


@pytest.mark.parametrize("name", list(ALL_LOSSES))
@pytest.mark.parametrize("missing", [MAGIC, NAN])
def test_missing_label_equals_dropping_it(name, missing):
    fn = ALL_LOSSES[name]
    y = t([0.5, 2.0, 1.0, 3.0])
    p = t([0.7, 1.0, 1.5, 0.2])
    keep = [0, 1, 3]
    y_miss = y.clone()
    y_miss[2] = missing
    assert fn(y_miss, p).item() == pytest.approx(fn(y[keep], p[keep]).item(), rel=1e-9)


@pytest.mark.parametrize("name", list(ALL_LOSSES))
def test_all_missing_batch_gives_zero_and_zero_finite_gradients(name):
    fn = ALL_LOSSES[name]
    y = t([MAGIC, NAN, MAGIC])
    p = t([0.5, -3.0, 1e30], grad=True)
    out = fn(y, p)
    out.backward()
    assert out.item() == 0.0
    assert torch.isfinite(p.grad).all()
    assert torch.equal(p.grad, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("name", list(ALL_LOSSES))
def test_masked_predictions_get_zero_gradient(name):
    fn = ALL_LOSSES[name]
    y = t([[0.5, MAGIC], [NAN, 2.0]])
    p = t([[0.3, -5.0], [-1.0, 1.0]], grad=True)  # -5, -1: log/percentage terms would misbehave there
    fn(y, p).backward()
    assert p.grad[0, 1] == 0 and p.grad[1, 0] == 0
    assert torch.isfinite(p.grad).all()
    assert p.grad[0, 0] != 0 or name == "mean_error" or p.grad[1, 1] != 0


def test_all_missing_classification_gives_zero():
    logits = torch.randn(2, 3, requires_grad=True)
    lv = torch.randn(2, 3, requires_grad=True)
    for out in (
        L.categorical_crossentropy(torch.tensor([-1, -1]), logits),
        L.categorical_crossentropy(torch.full((2, 3), NAN), logits),
        L.categorical_crossentropy(torch.full((2, 3), NAN), torch.softmax(logits, -1), from_logits=False),
        L.robust_categorical_crossentropy(torch.tensor([MAGIC, NAN]), logits, lv),
    ):
        out.backward()
        assert out.item() == 0.0
        assert torch.equal(logits.grad, torch.zeros(2, 3)) and torch.isfinite(lv.grad if lv.grad is not None else torch.zeros(1)).all()
        logits.grad = None


def test_multi_output_mean_over_valid_entries():
    # astroNN correction term: mean over all valid (sample, label) entries
    y = t([[1.0, MAGIC, 3.0], [MAGIC, MAGIC, 2.0]])
    p = t([[0.0, 9.0, 1.0], [9.0, 9.0, 5.0]])
    assert L.mse(y, p).item() == pytest.approx((1 + 4 + 9) / 3)


def test_custom_magic_number_via_config():
    y, p = t([1.0, -999.0]), t([0.0, 50.0])
    assert L.mse(y, p).item() == pytest.approx((1 + 1049.0**2) / 2)
    with override(magic_number=-999.0):
        assert L.mse(y, p).item() == pytest.approx(1.0)
        assert L.missing_mask(y).tolist() == [True, False]


def test_missing_mask_and_correction_term():
    y = t([[1.0, MAGIC, NAN, 2.0], [MAGIC, MAGIC, MAGIC, MAGIC]])
    assert L.missing_mask(y).tolist() == [[True, False, False, True], [False] * 4]
    assert L.missing_mask(torch.tensor([1, -9999, 3])).tolist() == [True, False, True]
    assert L.magic_correction_term(y).tolist() == [2.0, 0.0]


# ------------------------------------------------------------------------------ sample weights
def test_sample_weight_multiplies_entries_over_valid_count():
    y = t([[1.0, 2.0], [3.0, MAGIC]])
    p = t([[0.0, 0.0], [0.0, 0.0]])
    w = t([2.0, 0.5])
    # entries 1, 4, 9 with weights 2, 2, 0.5 over 3 valid entries
    assert L.mse(y, p, sample_weight=w).item() == pytest.approx((2 + 8 + 4.5) / 3)
    full_w = t([[1.0, 0.0], [1.0, 1.0]])
    assert L.mse(y, p, sample_weight=full_w).item() == pytest.approx((1 + 9) / 3)
    assert L.mse(y, p, sample_weight=w[:, None]).item() == pytest.approx((2 + 8 + 4.5) / 3)
    ones = L.mse(y, p, sample_weight=torch.ones(2, dtype=torch.float64))
    assert ones.item() == pytest.approx(L.mse(y, p).item())


def test_sample_weight_on_classification_rows():
    logits = torch.randn(3, 2, dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    per_row = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    w = t([1.0, 3.0, 0.0])
    assert L.categorical_crossentropy(y, logits, sample_weight=w).item() == pytest.approx(
        (per_row * w).sum().item() / 3
    )


def test_sample_weight_bad_shape():
    with pytest.raises(ShapeMismatchError, match="sample_weight"):
        L.mse(torch.zeros(3, 2), torch.zeros(3, 2), sample_weight=torch.ones(2))
    with pytest.raises(ShapeMismatchError, match="sample_weight"):
        L.mse(torch.zeros(3, 2), torch.zeros(3, 2), sample_weight=torch.ones(3, 3))


# ------------------------------------------------------------------------------ validation
def test_shape_mismatch_is_clear():
    with pytest.raises(ShapeMismatchError, match=r"\(4,\).*\(4, 1\)"):
        L.mse(torch.zeros(4), torch.zeros(4, 1))
    with pytest.raises(ShapeMismatchError, match="log_variance"):
        L.robust_mse(torch.zeros(4), torch.zeros(4), torch.zeros(3))
    with pytest.raises(ShapeMismatchError, match="labels_err"):
        L.robust_mse(torch.zeros(4), torch.zeros(4), torch.zeros(4), torch.zeros(2))


def test_get_loss_names_and_errors():
    assert L.get_loss("MSE") is L.mean_squared_error
    assert L.get_loss("root-mean-squared-logarithmic-error") is L.rmsle
    for name in ["mse", "mae", "huber", "robust_mse", "gaussian_nll", "log_cosh", "msle", "rmsle",
                 "categorical_crossentropy", "binary_crossentropy", "robust_categorical_crossentropy",
                 "robust_binary_crossentropy", "mape", "mpe", "mean_error", "zeros_loss"]:
        assert callable(L.get_loss(name))
    assert L.get_loss(L.mae) is L.mae
    with pytest.raises(InputValidationError, match="unknown loss 'nope'"):
        L.get_loss("nope")
    assert "mse" in L.list_losses()


def test_numpy_inputs_accepted():
    assert L.mse(np.array([1.0, 2.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(2.0)
    with pytest.raises(InputValidationError, match="numeric"):
        L.mse(np.array(["a", "b"]), torch.zeros(2))


# ------------------------------------------------------------------------------ properties
finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
NONNEG = ["mse", "mae", "msle", "mape", "huber", "log_cosh"]


@settings(max_examples=30, deadline=None)
@given(
    y=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 3)), elements=finite),
    seed=st.integers(0, 2**16),
    n_missing=st.integers(1, 3),
)
def test_properties_nonneg_missing_rows_permutation(y, seed, n_missing):
    rng = np.random.default_rng(seed)
    p = y + rng.normal(size=y.shape)
    yt, pt = torch.from_numpy(y), torch.from_numpy(p)
    perm = torch.from_numpy(rng.permutation(y.shape[0]))
    extra_y = torch.full((n_missing, y.shape[1]), MAGIC, dtype=torch.float64)
    extra_y[0, 0] = NAN
    extra_p = torch.from_numpy(rng.normal(size=(n_missing, y.shape[1])) * 100)
    for name in NONNEG + ["mean_error", "mpe"]:
        fn = L.get_loss(name)
        base = fn(yt, pt)
        if name in NONNEG:
            assert base.item() >= 0
        assert fn(yt[perm], pt[perm]).item() == pytest.approx(base.item(), rel=1e-9, abs=1e-12)
        appended = fn(torch.cat([yt, extra_y]), torch.cat([pt, extra_p]))
        assert appended.item() == pytest.approx(base.item(), rel=1e-9, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    logits=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 4)), elements=finite),
    seed=st.integers(0, 2**16),
)
def test_cce_properties(logits, seed):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(logits)
    y = torch.from_numpy(rng.integers(0, x.shape[1], size=x.shape[0]))
    ce = L.categorical_crossentropy(y, x)
    assert ce.item() >= 0
    y_miss = torch.cat([y, torch.tensor([-1])])
    x_miss = torch.cat([x, torch.from_numpy(rng.normal(size=(1, x.shape[1])))])
    assert L.categorical_crossentropy(y_miss, x_miss).item() == pytest.approx(ce.item(), rel=1e-9, abs=1e-12)
    # logits vs probabilities agree where probabilities are not clipped
    probs = torch.softmax(x, -1)
    if probs.min() > 1e-6:
        assert L.categorical_crossentropy(y, probs, from_logits=False).item() == pytest.approx(
            ce.item(), rel=1e-6, abs=1e-9
        )


def test_float32_and_dtype_follow_prediction():
    out = L.mse(torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.0, 0.0], dtype=torch.float32))
    assert out.dtype == torch.float32
    assert L.mse(torch.zeros(2), torch.ones(2, dtype=torch.float64)).dtype == torch.float64


def test_half_precision_outputs_are_reduced_in_float32():
    # squares of bfloat16 numbers need up to 16 mantissa bits; kept in bfloat16 (8 bits) they would be
    # off by ~0.2 %, so agreement to 1e-6 shows the loss is evaluated in float32
    y = torch.zeros(64)
    p = (0.1 + torch.rand(64)).to(torch.bfloat16).requires_grad_(True)
    out = L.mse(y, p)
    out.backward()
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx((p.detach().float() ** 2).mean().item(), rel=1e-6)
    assert (p.detach() ** 2).mean().item() != pytest.approx(out.item(), rel=1e-6)
    assert p.grad.dtype == torch.bfloat16
    logits = torch.randn(8, 3).to(torch.float16)
    ce = L.categorical_crossentropy(torch.arange(8) % 3, logits)
    assert ce.dtype == torch.float32
    ref = torch.nn.functional.cross_entropy(logits.float(), torch.arange(8) % 3)
    assert ce.item() == pytest.approx(ref.item(), rel=1e-6)
    lv = torch.zeros(8, 3, dtype=torch.float16)
    assert L.robust_categorical_crossentropy(torch.arange(8) % 3, logits, lv).dtype == torch.float32
    assert L.robust_mse(y[:8], p[:8], torch.zeros(8, dtype=torch.bfloat16)).dtype == torch.float32
