"""astrotorch.nn.astronn against numbers produced by the real astroNN 1.1.0 for the same inputs.

The reference file is written once by ``tests/data/make_astronn_nn_reference.py`` (run with the
astroNN/TensorFlow python). Documented differences (a sample without valid label gives 0, not NaN;
the percentage error follows the manual's formula) are asserted explicitly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.nn.astronn import losses as AL
from astrotorch.nn.astronn import metrics as AM
from astrotorch.nn.astronn import numpy as AN

REF = json.loads((Path(__file__).parent / "data" / "astronn_nn_reference.json").read_text())
I, O = REF["inputs"], REF["outputs"]
MAGIC = -9999.0


def t(name: str) -> torch.Tensor:
    return torch.tensor(I[name], dtype=torch.float32)


def close(ours, theirs, rtol=2e-5, atol=2e-6) -> None:
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                               rtol=rtol, atol=atol)


PER_SAMPLE = ["mean_squared_error", "mean_absolute_error", "mean_error", "mean_absolute_percentage_error",
              "mean_squared_logarithmic_error", "median_absolute_percentage_error"]


@pytest.mark.parametrize("name", PER_SAMPLE)
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses_match_astronn(name, weighted):
    args = (t("y"), t("p")) + ((t("w"),) if weighted else ())
    ours = getattr(AL, name)(*args).numpy()
    theirs = np.asarray(O[name + ("_weighted" if weighted else "")])
    assert ours.shape == (6,)  # astroNN returns one value per sample; Keras averages them
    # sample 5 has no valid label: astroNN divides by zero (NaN/inf), astrotorch returns 0
    assert not np.isfinite(theirs[5]) and ours[5] == 0.0
    close(ours[:5], theirs[:5])


def test_robust_mse_and_wrappers_match_astronn():
    y, p, var, err, w = t("y"), t("p"), t("var"), t("err"), t("w")
    close(AL.robust_mse(y, p, var, err)[:5], O["robust_mse"][:5])
    close(AL.robust_mse(y, p, var, err, w)[:5], O["robust_mse_weighted"][:5])
    close(AL.mse_lin_wrapper(var, err)(y, p)[:5], O["mse_lin_wrapper"][:5])
    close(AL.mse_var_wrapper(p, err)(y, var)[:5], O["mse_var_wrapper"][:5])
    assert AL.mse_lin_wrapper(var, err).__name__ == "mse_lin_wrapper" and AL.mse_lin is AL.mse_lin_wrapper


def test_percentage_error_follows_the_manual_and_differs_from_astronn_code_as_documented():
    y, p = t("y"), t("p")
    ours = AL.mean_percentage_error(y, p).numpy()
    # astroNN's code evaluates y - p / y (operator precedence); that is what its numbers are
    yv, pv = np.asarray(I["y"], np.float64), np.asarray(I["p"], np.float64)
    miss = (yv == MAGIC) | np.isnan(yv)
    yc = np.where(miss, 1.0, yv)
    bug = np.where(miss, 0.0, yc - pv / np.maximum(yc, 1e-7)).mean(1) * 4 / np.maximum((~miss).sum(1), 1)
    close(100 * bug[:5], O["mean_percentage_error"][:5], rtol=1e-4)
    manual = np.where(miss, 0.0, (yc - pv) / yc).sum(1) / np.maximum((~miss).sum(1), 1)
    close(ours[:5], 100 * manual[:5], rtol=1e-5)
    assert AL.mpe is AL.mean_percentage_error and AM.mpe is AL.mean_percentage_error


def test_reconstruction_zeros_and_median_losses_match_astronn():
    close(AL.mean_squared_reconstruction_error(t("y"), t("p")), O["mean_squared_reconstruction_error"])
    z = AL.zeros_loss(t("y"), t("p"))
    assert torch.equal(z, torch.zeros(6))  # astroNN: NaN where y_true holds NaN
    yc, pc = t("y_complete"), t("p")[:5]
    for name in ("median_error", "median_absolute_deviation", "mad_std"):
        close(getattr(AL, name)(yc, pc), O[name], rtol=1e-5)
        close(getattr(AL, name)(yc, pc, None, 0), O[name + "_axis0"], rtol=1e-5)
    assert AM.mad is AL.median_absolute_deviation


def test_crossentropies_match_astronn_with_its_defaults():
    onehot, probs, logits, wc = t("onehot"), t("probs"), t("logits"), t("wc")
    close(AL.categorical_crossentropy(onehot, probs)[[0, 1, 2, 4]], np.asarray(O["cce_probs"])[[0, 1, 2, 4]])
    close(AL.categorical_crossentropy(onehot, logits, from_logits=True)[[0, 1, 2, 4]],
          np.asarray(O["cce_logits"])[[0, 1, 2, 4]])
    close(AL.categorical_crossentropy(onehot, probs, wc)[[0, 1, 2, 4]], np.asarray(O["cce_probs_weighted"])[[0, 1, 2, 4]])
    close(AL.categorical_accuracy(onehot, logits), O["categorical_accuracy"])
    yb, bp, bl = t("yb"), t("bprobs"), t("blogits")
    close(AL.binary_crossentropy(yb, bp), O["bce_probs"], rtol=1e-4)
    close(AL.binary_crossentropy(yb, bl, from_logits=True), O["bce_logits"])
    close(AL.binary_crossentropy(yb, bp, wc), O["bce_probs_weighted"], rtol=1e-4)
    close(AL.binary_accuracy(yb, bp), O["binary_accuracy"])
    close(AL.binary_accuracy_from_logits(yb, bl), O["binary_accuracy_from_logits"])
    close(AL.nll(yb, bp), O["nll"], rtol=1e-4)


def test_probabilities_outside_unit_interval_are_refused():
    y = torch.tensor([[1.0, 0.0]])
    for bad in ([[1.5, 0.2]], [[-0.2, 0.5]], [[math.nan, 0.5]]):
        with pytest.raises(InputValidationError, match="probabilities in \\[0, 1\\]"):
            AL.binary_crossentropy(y, torch.tensor(bad))
        with pytest.raises(InputValidationError, match="from_logits=True"):
            AL.categorical_crossentropy(y, torch.tensor(bad))
    # logits may be anything
    assert torch.isfinite(AL.binary_crossentropy(y, torch.tensor([[1.5, -0.2]]), from_logits=True)).all()


def test_robust_crossentropies_match_astronn_exactly_without_variance():
    zeros = torch.zeros(3, 3)
    close(AL.robust_categorical_crossentropy(t("onehot")[:3], t("logits")[:3], zeros), O["robust_cce_zero_var"])
    bl = t("blogits")
    close(AL.robust_binary_crossentropy(t("yb"), bl, torch.zeros_like(bl)), O["robust_bce_zero_var"], rtol=1e-4)


def test_robust_crossentropies_match_astronn_monte_carlo_mean():
    # astroNN averages 25 random draws; its mean over 400 calls vs ours over 10,000 draws in one call
    gen = torch.Generator().manual_seed(0)
    ours = AL.robust_categorical_crossentropy(t("onehot")[:3], t("logits")[:3], t("logit_var")[:3],
                                              mc_num=10_000, generator=gen).numpy()
    sem = np.asarray(O["robust_cce_mc_sem"])
    assert np.all(np.abs(ours - np.asarray(O["robust_cce_mc_mean"])) < 5 * sem + 0.01)
    ours_b = AL.robust_binary_crossentropy(t("yb")[:4], t("blogits")[:4], t("blogit_var")[:4], mc_num=10_000,
                                           generator=gen).numpy()
    sem_b = np.asarray(O["robust_bce_mc_sem"])
    assert np.all(np.abs(ours_b - np.asarray(O["robust_bce_mc_mean"])) < 5 * sem_b + 0.01)


def test_bayesian_wrappers_call_the_robust_losses():
    y, lo, lv = t("onehot")[:3], t("logits")[:3], torch.zeros(3, 3)
    a = AL.bayesian_categorical_crossentropy_wrapper(lv)(y, lo)
    b = AL.bayesian_categorical_crossentropy_var_wrapper(lo)(y, lv)
    close(a, O["robust_cce_zero_var"])
    close(b, O["robust_cce_zero_var"])
    yb, bl = t("yb"), t("blogits")
    close(AL.bayesian_binary_crossentropy_wrapper(torch.zeros_like(bl))(yb, bl), O["robust_bce_zero_var"], rtol=1e-4)
    close(AL.bayesian_binary_crossentropy_var_wrapper(bl)(yb, torch.zeros_like(bl)), O["robust_bce_zero_var"], rtol=1e-4)


def test_losses_have_finite_gradients_with_missing_labels():
    p = t("p").requires_grad_(True)
    for fn in (AL.mse, AL.mae, AL.mape, AL.msle, AL.mpe):
        fn(t("y"), p).mean().backward()
        assert torch.isfinite(p.grad).all()
        p.grad = None


def test_numpy_tools_match_astronn_argument_order():
    xn, yn = np.asarray(I["xn"]), np.asarray(I["yn"])
    for name in ("mean_absolute_error", "median_absolute_error", "mean_absolute_percentage_error",
                 "median_absolute_percentage_error"):
        fn = getattr(AN, name)
        close(float(fn(xn, yn)), O["np_" + name], rtol=1e-10)
        close(np.ma.filled(fn(xn, yn, axis=0), np.nan), O["np_" + name + "_axis0"], rtol=1e-10)
    # the percentage divides by y, the truth (second argument), as in astroNN
    assert float(AN.mape(np.array([1.1]), np.array([1.0]))) == pytest.approx(10.0)
    close(AN.kl_divergence(t("probs").numpy(), np.roll(t("probs").numpy(), 1, axis=1)), O["np_kl_divergence"], rtol=1e-5)
    close(AN.l1(xn[0], 0.3), O["np_l1"])
    close(AN.l2(xn[0], 0.3), O["np_l2"])
    close(np.ma.filled(AN.sigmoid(np.array([-2.0, 0.0, 1.5, MAGIC])), np.nan), O["np_sigmoid"])
    close(np.ma.filled(AN.sigmoid_inv(np.array([0.2, 0.5, 0.9, MAGIC])), np.nan), O["np_sigmoid_inv"])
    close(AN.relu(np.array([-1.0, 0.0, 2.0])), O["np_relu"])


def test_numpy_units_and_bad_input():
    from astropy import units as u

    assert float(AN.mae(np.array([1.0, 2.0]) * u.km, np.array([1000.0, 1000.0]) * u.m)) == pytest.approx(500.0)  # in y's unit (m)
    with pytest.raises(TypeError, match="only one of x and y"):
        AN.mae(np.array([1.0]) * u.km, np.array([1.0]))
    with pytest.raises(ShapeMismatchError):
        AN.mape(np.ones(3), np.ones(4))
    # NaN counts as missing (astroNN's mean turns NaN)
    assert float(AN.mae(np.array([1.0, np.nan]), np.array([2.0, 5.0]))) == 1.0


def test_lookup_and_shape_errors():
    assert AL.losses_lookup("mse_lin_wrapper") is AL.mse_lin_wrapper
    with pytest.raises(InputValidationError, match="unknown astroNN loss"):
        AL.losses_lookup("not_a_loss")
    with pytest.raises(ShapeMismatchError):
        AL.mse(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(InputValidationError, match="mc_num"):
        AL.robust_binary_crossentropy(torch.ones(2, 2), torch.ones(2, 2), torch.ones(2, 2), mc_num=0)
