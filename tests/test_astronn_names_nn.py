"""astroNN's ``nn`` names in astrotorch's own modules: loss wrappers, metrics, fast-MC layers,
``TensorInput``, ``KLDivergenceLayer``, ``StopGrad(always_on)``, ``VirutalCSVLogger``, tensor helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from astrotorch.errors import ConfigError, InputValidationError
from astrotorch.nn import intpow_avx2, reduce_var
from astrotorch.nn import losses as L
from astrotorch.nn import metrics as M
from astrotorch.nn.astronn_callbacks import VirutalCSVLogger
from astrotorch.nn.layers import (
    ErrorProp,
    FastMCInference,
    FastMCInferenceMeanVar,
    FastMCRepeat,
    KLDivergenceLayer,
    MCBatchNorm,
    MCDropout,
    StopGrad,
    TensorInput,
)

MAGIC = -9999.0


def test_loss_wrappers_are_closures_over_the_other_head():
    y = torch.tensor([[1.0, MAGIC], [2.0, 3.0]])
    pred = torch.tensor([[1.5, 0.0], [2.0, 2.0]], requires_grad=True)
    logvar = torch.tensor([[0.1, 0.0], [-0.2, 0.3]], requires_grad=True)
    err = torch.tensor([[0.1, 0.0], [0.0, 0.2]])
    direct = L.robust_mse(y, pred, logvar, err)
    assert torch.equal(L.mse_lin_wrapper(logvar, err)(y, pred), direct)
    assert torch.equal(L.mse_var_wrapper(pred, err)(y, logvar), direct)
    w = torch.tensor([1.0, 2.0])
    assert torch.equal(L.mse_lin_wrapper(logvar, err)(y, pred, w), L.robust_mse(y, pred, logvar, err, sample_weight=w))
    # astrotorch's robust losses take a log variance: -60 is no variance, so they reduce to the plain
    # cross-entropies whatever the random draws
    logits, lv = torch.randn(4, 3), torch.full((4, 3), -60.0)
    idx = torch.tensor([0, 2, 1, 1])
    a = L.bayesian_categorical_crossentropy_wrapper(lv)(idx, logits)
    b = L.bayesian_categorical_crossentropy_var_wrapper(logits)(idx, lv)
    ref = L.categorical_crossentropy(idx, logits).item()
    assert a.item() == pytest.approx(ref, rel=1e-6) and b.item() == pytest.approx(ref, rel=1e-6)
    yb = torch.tensor([[1.0, 0.0]])
    blog = torch.tensor([[0.3, -1.0]])
    no_var = torch.full((1, 2), -60.0)
    assert L.bayesian_binary_crossentropy_var_wrapper(blog)(yb, no_var).item() == pytest.approx(
        L.binary_crossentropy(yb, blog).item(), rel=1e-6)
    assert L.bayesian_binary_crossentropy_wrapper(no_var)(yb, blog).item() == pytest.approx(
        L.binary_crossentropy(yb, blog).item(), rel=1e-6)
    assert L.bayesian_binary_crossentropy_wrapper(no_var).__name__ == "bayesian_binary_crossentropy_wrapper"


@pytest.mark.parametrize("bad", [1.5, -0.2, math.nan])
def test_crossentropy_refuses_probabilities_outside_unit_interval(bad):
    # issue 16: "probabilities" 1.5 / -0.2 used to be clipped into a plausible number
    with pytest.raises(InputValidationError, match=r"probabilities in \[0, 1\].*from_logits=True"):
        L.binary_crossentropy(torch.tensor([1.0, 0.0]), torch.tensor([bad, 0.5]), from_logits=False)
    with pytest.raises(InputValidationError, match=r"probabilities in \[0, 1\]"):
        L.categorical_crossentropy(torch.tensor([0, 1]), torch.tensor([[bad, 0.5], [0.5, 0.5]]), from_logits=False)
    # a missing label's row is not checked (its prediction is ignored)
    out = L.binary_crossentropy(torch.tensor([1.0, MAGIC]), torch.tensor([0.9, bad]), from_logits=False)
    assert out.item() == pytest.approx(-math.log(0.9), rel=1e-6)


def test_new_metrics():
    y = torch.tensor([[1.0, 2.0], [4.0, MAGIC], [2.0, 8.0]])
    p = torch.tensor([[1.5, 1.0], [3.0, 0.0], [2.0, 4.0]])
    assert M.mpe(y, p).item() == pytest.approx(100 * np.mean([-0.5, 0.5, 0.25, 0.0, 0.5]))
    assert M.median_error(y, p).item() == pytest.approx(1.0)  # residuals -0.5, 1, 1, 0, 4
    assert M.mad(y, p).item() == pytest.approx(1.0)
    assert M.mad_std(y, p).item() == pytest.approx(1.4826)
    assert torch.allclose(M.mad(y, p, axis=0), torch.tensor([0.5, 2.5]))
    logits = torch.tensor([[2.0, -1.0]])
    assert M.binary_accuracy_from_logits(torch.tensor([[1.0, 0.0]]), logits).item() == 1.0
    assert M.get_metric("mpe") is M.mean_percentage_error and M.get_metric("mad") is M.median_absolute_deviation


def test_fast_mc_inference_wraps_a_model(monkeypatch):
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "0")  # semantics only: skip the dropout kernels' compilation
    torch.manual_seed(0)
    det = nn.Linear(3, 2)
    x = torch.randn(5, 3)
    out = FastMCInference(10)(det).eval()(x)
    assert out.shape == (5, 2, 2)
    assert torch.allclose(out[..., 0], det(x), atol=1e-6) and torch.all(out[..., 1] < 1e-10)
    mc = nn.Sequential(nn.Linear(3, 64), MCDropout(0.5), nn.Linear(64, 2)).eval()
    res = FastMCInference(1000)(mc)(x)
    ref = mc(x.repeat(1000, 1)).reshape(1000, 5, 2)  # the same draws made another way
    assert torch.all(res[..., 1] > 0)
    assert torch.allclose(res[..., 0], ref.mean(0), atol=0.1)
    assert torch.allclose(res[..., 1], ref.var(0, unbiased=False), rtol=0.3)

    class TwoHeads(nn.Module):
        def forward(self, z):
            return z[:, :1], z[:, 1:]

    both = FastMCInference(3)(TwoHeads())(x)
    assert both.shape == (5, 3, 2)  # the heads are concatenated, astroNN's single-output layout
    assert FastMCInference(3).get_config() == {"n": 3}
    with pytest.raises(ConfigError):
        FastMCInference(0)
    with pytest.raises(InputValidationError):
        FastMCInference(2)(lambda z: z)


def test_fast_mc_repeat_and_mean_var():
    x = torch.arange(6.0).reshape(2, 3)
    rep = FastMCRepeat(4)(x)
    assert rep.shape == (2, 4, 3) and torch.equal(rep[:, 2], x)
    noisy = rep + torch.tensor([0.0, 1.0, 2.0, 3.0]).reshape(1, 4, 1)
    mv = FastMCInferenceMeanVar()(noisy)
    assert mv.shape == (2, 3, 2)
    assert torch.allclose(mv[..., 0], x + 1.5) and torch.allclose(mv[..., 1], torch.full((2, 3), 1.25))


def test_tensor_input():
    fixed = TensorInput(torch.ones(2, 2))
    assert torch.equal(fixed(), torch.ones(2, 2)) and torch.equal(fixed(torch.zeros(7)), torch.ones(2, 2))
    noise = TensorInput(lambda z: torch.randn_like(z))
    a = noise(torch.zeros(3, 4))
    assert a.shape == (3, 4) and not torch.equal(a, noise(torch.zeros(3, 4)))
    with pytest.raises(ConfigError):
        TensorInput(3.0)
    with pytest.raises(InputValidationError, match="not a tensor"):
        TensorInput(lambda: 1.0)()


def test_kl_layer_stopgrad_and_errorprop_astronn_calls():
    mu, lv = torch.zeros(4, 2), torch.zeros(4, 2)
    layer = KLDivergenceLayer()
    out_mu, out_lv = layer([mu, lv])  # astroNN: z_mu, z_log_var = KLDivergenceLayer()([z_mu, z_log_var])
    assert out_mu is mu and out_lv is lv and layer.loss.item() == 0.0
    x = torch.ones(3, requires_grad=True)
    sg = StopGrad()
    (sg(x) * 2 + x).sum().backward()  # training mode: gradient stopped
    assert torch.equal(x.grad, torch.ones(3))
    x.grad = None
    (sg.eval()(x) * 2 + x).sum().backward()  # astroNN: identity at test time unless always_on
    assert torch.equal(x.grad, torch.full((3,), 3.0))
    x.grad = None
    (StopGrad(always_on=True).eval()(x) * 2 + x).sum().backward()
    assert torch.equal(x.grad, torch.ones(3))
    ep = ErrorProp().eval()
    z = ep([torch.zeros(1000), torch.full((1000,), 2.0)])
    assert z.std().item() == pytest.approx(2.0, rel=0.15)
    with pytest.raises(InputValidationError):
        ep([torch.zeros(2)])


def test_virtual_csv_logger_writes_only_on_savefile(tmp_path, monkeypatch):
    log = VirutalCSVLogger()
    log.history = [{"epoch": 0.0, "loss": 1.5, "val_loss": 1.7}, {"epoch": 1.0, "loss": 1.0, "val_loss": 1.2}]
    assert list(tmp_path.iterdir()) == []
    path = log.savefile(folder_name=tmp_path)
    assert path == tmp_path / "training_history.csv"
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,1.5,1.7", "1,1.0,1.2"]
    log2 = VirutalCSVLogger(filename="h.csv", separator=";", append=True)
    log2.history = [{"epoch": 0.0, "loss": 2.0}]
    log2.savefile(tmp_path)
    log2.history = [{"epoch": 1.0, "loss": 1.0}]
    log2.savefile(tmp_path)
    assert (tmp_path / "h.csv").read_text().splitlines() == ["epoch;loss", "0;2.0", "1;1.0"]
    monkeypatch.chdir(tmp_path)
    log.filename = "cwd.csv"
    assert log.savefile() == tmp_path / "cwd.csv"
    with pytest.raises(InputValidationError):
        VirutalCSVLogger(separator=";;")
    log.filename = "../escape.csv"
    with pytest.raises(InputValidationError, match="bare file name"):
        log.savefile(tmp_path)


def test_reduce_var_and_intpow():
    x = torch.tensor([[1.0, 3.0], [5.0, 7.0]])
    assert reduce_var(x).item() == pytest.approx(5.0)
    assert torch.allclose(reduce_var(x, axis=0), torch.tensor([4.0, 4.0]))
    assert reduce_var(x, axis=1, keepdims=True).shape == (2, 1)
    assert intpow_avx2(torch.tensor([-1.2]), 2).item() == pytest.approx(1.44)
    assert intpow_avx2(torch.tensor([2.0]), 3.7).item() == 8.0  # a float power is truncated, as astroNN
    with pytest.raises(InputValidationError):
        intpow_avx2(torch.tensor([2.0]), "x")


def test_mcbatchnorm_without_num_features_sizes_itself():
    layer = MCBatchNorm()  # astroNN's call
    out = layer(torch.randn(16, 3, 5))
    assert layer.num_features == 3 and layer.weight.shape == (3,) and out.shape == (16, 3, 5)
    layer.eval()
    a, b = layer(torch.randn(8, 3)), layer(torch.randn(8, 3) + 5)
    assert torch.allclose(a.mean(0), b.mean(0), atol=1e-5)  # batch statistics at inference (MC behaviour)
    with pytest.raises(ConfigError):
        MCBatchNorm(0)
