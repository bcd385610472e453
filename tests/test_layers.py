"""Tests of astrotorch.nn.layers (Bayesian layers and utility layers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from astrotorch.errors import ConfigError, InputValidationError, ShapeMismatchError
from astrotorch.nn.layers import (
    BoolMask,
    ErrorProp,
    KLDivergence,
    MCBatchNorm,
    MCConcreteDropout,
    MCDropout,
    MCGaussianDropout,
    MCSpatialDropout1D,
    MCSpatialDropout2D,
    PolyFit,
    StopGrad,
    auxiliary_loss,
)

MC_LAYERS = [
    lambda: MCDropout(0.3),
    lambda: MCGaussianDropout(0.3),
    lambda: MCSpatialDropout1D(0.3),
    lambda: MCConcreteDropout(nn.Identity(), init_min=0.3, init_max=0.3),
]


def _input_for(layer: nn.Module) -> torch.Tensor:
    return torch.randn(64, 8, 16) + 3.0  # (N, C, L) suits every layer above


@pytest.mark.parametrize("make", MC_LAYERS)
def test_mc_layers_stochastic_in_eval(make):
    layer = make().eval()
    assert layer.stochastic
    x = _input_for(layer)
    a, b = layer(x), layer(x)
    assert not torch.equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MCDropout(0.3, disable=True),
        lambda: MCGaussianDropout(0.3, disable=True),
        lambda: MCSpatialDropout1D(0.3, disable=True),
        lambda: MCConcreteDropout(nn.Identity(), disable=True),
        lambda: MCDropout(0.0),
    ],
)
def test_disabled_layers_deterministic(make):
    layer = make()
    assert not layer.stochastic
    x = torch.randn(16, 8, 16)
    for mode in (True, False):
        layer.train(mode)
        torch.testing.assert_close(layer(x), x)


@pytest.mark.parametrize("make", MC_LAYERS)
def test_expected_value_preserved(make):
    torch.manual_seed(0)
    layer = make().eval()
    x = torch.full((4000, 8, 16), 2.0)
    # inverted dropout: E[output] = input
    assert layer(x).mean().item() == pytest.approx(2.0, rel=0.02)


def test_mc_dropout_rate():
    torch.manual_seed(1)
    y = MCDropout(0.25).eval()(torch.ones(100_000))
    assert (y == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(y[y != 0].numpy(), 1 / 0.75, rtol=1e-6)


def test_gaussian_dropout_variance():
    torch.manual_seed(2)
    y = MCGaussianDropout(0.2).eval()(torch.ones(200_000))
    assert y.var().item() == pytest.approx(0.2 / 0.8, rel=0.03)


def test_spatial_dropout_drops_whole_channels():
    torch.manual_seed(3)
    x = torch.ones(32, 10, 20)
    y = MCSpatialDropout1D(0.5).eval()(x)
    per_channel_zero = (y == 0).all(dim=-1)
    per_channel_kept = (y != 0).all(dim=-1)
    assert torch.all(per_channel_zero | per_channel_kept)  # never a partially dropped channel
    assert per_channel_zero.any() and per_channel_kept.any()
    x2 = torch.ones(16, 6, 5, 7)
    y2 = MCSpatialDropout2D(0.5).eval()(x2)
    flat = y2.flatten(2)
    assert torch.all((flat == 0).all(-1) | (flat != 0).all(-1))
    assert (flat == 0).all(-1).any()


def test_spatial_dropout_shape_errors():
    with pytest.raises(ShapeMismatchError, match=r"\(N, C, L\)"):
        MCSpatialDropout1D(0.1)(torch.randn(3, 4))
    with pytest.raises(ShapeMismatchError, match=r"\(N, C, H, W\)"):
        MCSpatialDropout2D(0.1)(torch.randn(3, 4, 5))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.2", True])
def test_bad_rates(bad):
    with pytest.raises(ConfigError):
        MCDropout(bad)


def test_concrete_dropout_rate_learns():
    # noiseless linear data: dropout noise only hurts the fit, so the learned rate must fall
    torch.manual_seed(4)
    n, d = 512, 8
    x = torch.randn(n, d)
    y = x @ torch.randn(d, 1)
    layer = MCConcreteDropout(
        nn.Linear(d, 1), weight_regularizer=1e-6, dropout_regularizer=1e-5, init_min=0.5, init_max=0.5
    )
    assert layer.rate == pytest.approx(0.5)
    opt = torch.optim.Adam(layer.parameters(), lr=0.03)
    for _ in range(300):
        opt.zero_grad()
        loss = ((layer(x) - y) ** 2).mean() + layer.regularization
        loss.backward()
        opt.step()
    assert layer.rate < 0.25
    assert layer.p_logit.grad is not None


def test_concrete_dropout_regularizer_pushes_towards_half():
    # with no data term the negative-entropy regulariser alone drives p to 0.5
    layer = MCConcreteDropout(
        nn.Linear(4, 1), weight_regularizer=0.0, dropout_regularizer=1.0, init_min=0.05, init_max=0.05
    )
    opt = torch.optim.SGD([layer.p_logit], lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        layer.regularization.backward()
        opt.step()
    assert layer.rate == pytest.approx(0.5, abs=0.02)


def test_concrete_dropout_regularization_value():
    lin = nn.Linear(3, 2)
    layer = MCConcreteDropout(
        lin, weight_regularizer=0.1, dropout_regularizer=0.2, init_min=0.3, init_max=0.3
    )
    p = 0.3
    neg_entropy = p * math.log(p) + (1 - p) * math.log(1 - p)
    expected = 0.1 * (lin.weight**2).sum().item() / (1 - p) + 0.2 * 3 * neg_entropy
    assert layer.regularization.item() == pytest.approx(expected, rel=1e-5)
    assert auxiliary_loss(nn.Sequential(layer)).item() == pytest.approx(expected, rel=1e-5)
    # unknown input size until the first pass
    wrapped = MCConcreteDropout(nn.Identity())
    with pytest.raises(InputValidationError, match="forward"):
        _ = wrapped.regularization
    wrapped(torch.randn(2, 5))
    assert wrapped.regularization.ndim == 0
    with pytest.raises(ConfigError):
        MCConcreteDropout(nn.Identity(), init_min=0.5, init_max=0.2)


def test_mc_batchnorm_uses_batch_statistics_in_eval():
    torch.manual_seed(5)
    bn = MCBatchNorm(3)
    x = torch.randn(200, 3) * 4 + 10
    bn.train()
    bn(x)
    running = bn.running_mean.clone()
    bn.eval()
    y = bn(x)
    # batch statistics: eval output is standardised even though running stats are far from the data
    np.testing.assert_allclose(y.mean(0).detach().numpy(), 0.0, atol=1e-4)
    torch.testing.assert_close(bn.running_mean, running)  # inference leaves running stats alone
    # output depends on the batch it is in (stochastic over batch composition)
    y_sub = bn(x[:10])
    assert not torch.allclose(y_sub, y[:10])
    assert bn.stochastic
    # disabled: ordinary batch norm, running statistics at inference, batch-independent
    bn_off = MCBatchNorm(3, disable=True)
    bn_off.load_state_dict(bn.state_dict())
    bn_off.eval()
    torch.testing.assert_close(bn_off(x[:10]), bn_off(x)[:10])
    assert not bn_off.stochastic
    # conv feature maps
    assert MCBatchNorm(4)(torch.randn(5, 4, 6, 6)).shape == (5, 4, 6, 6)
    with pytest.raises(ShapeMismatchError):
        bn(torch.randn(5, 4))


def test_error_prop():
    torch.manual_seed(6)
    err = torch.tensor([0.0, 1.0, 2.0])
    layer = ErrorProp(err)
    x = torch.zeros(50_000, 3)
    layer.train()
    torch.testing.assert_close(layer(x), x)  # identity in training
    layer.eval()
    y = layer(x)
    np.testing.assert_allclose(y.std(0).numpy(), [0.0, 1.0, 2.0], rtol=0.02, atol=1e-6)
    assert layer.stochastic
    # per-call error overrides; NaN error means zero error
    y2 = layer(x[:5], torch.full((5, 3), float("nan")))
    torch.testing.assert_close(y2, x[:5])
    with pytest.raises(ShapeMismatchError):
        layer(torch.zeros(4, 5))
    with pytest.raises(InputValidationError):
        ErrorProp().eval()(torch.zeros(2, 2))
    with pytest.raises(InputValidationError):
        ErrorProp([-1.0])
    torch.testing.assert_close(ErrorProp(err, disable=True).eval()(x), x)


def test_kl_divergence():
    mean = torch.tensor([[0.5, -1.0], [0.0, 0.0]], requires_grad=True)
    log_var = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]], requires_grad=True)
    layer = KLDivergence()
    m, lv = layer(mean, log_var)
    assert m is mean and lv is log_var
    # closed form KL(N(mu, s²) || N(0, 1)) = 0.5 (s² + mu² - 1 - log s²)
    kl0 = 0.5 * (1 + 0.25 - 1 - 0) + 0.5 * (2 + 1 - 1 - math.log(2))
    assert layer.loss.item() == pytest.approx(kl0 / 2)
    layer.loss.backward()
    assert mean.grad is not None and log_var.grad is not None
    # tuple input and weighting
    layer2 = KLDivergence(weight=2.0)
    layer2((mean, log_var))
    assert layer2.loss.item() == pytest.approx(kl0)
    assert auxiliary_loss(nn.ModuleList([layer, layer2])).item() == pytest.approx(kl0 * 1.5)
    with pytest.raises(ShapeMismatchError):
        layer(torch.zeros(2, 2), torch.zeros(2, 3))


def test_polyfit_known_polynomial_from_init_w():
    # astroNN's example: y = 0.1 - 0.05 x with init_w [[[0.1]], [[-0.05]]]
    x = torch.randn(100, 1) * 3
    layer = PolyFit(deg=1, use_xbias=False, init_w=[[[0.1]], [[-0.05]]])
    torch.testing.assert_close(layer(x), 0.1 - 0.05 * x)
    with_bias = PolyFit(deg=1, use_xbias=True, init_w=[[[0.1]], [[-0.05]]])
    torch.testing.assert_close(with_bias(x), 0.1 - 0.05 * x + x)


def test_polyfit_learns_cubic():
    torch.manual_seed(7)
    x = torch.linspace(-1.5, 1.5, 200).unsqueeze(1)
    coef = torch.tensor([0.5, -1.0, 0.3, 0.8])
    y = sum(c * x**i for i, c in enumerate(coef))
    layer = PolyFit(deg=3, output_units=1, use_xbias=False)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(600):
        opt.zero_grad()
        loss = ((layer(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(layer.kernel.detach().squeeze().numpy(), coef.numpy(), atol=0.02)


def test_polyfit_multi_io_and_shapes():
    w = np.random.default_rng(0).normal(size=(3, 2, 4))
    layer = PolyFit(deg=2, output_units=4, use_xbias=False, init_w=w)
    x = torch.randn(5, 2, dtype=torch.float64)
    expected = sum(x[:, j : j + 1] ** i * torch.as_tensor(w[i, j]) for i in range(3) for j in range(2))
    torch.testing.assert_close(layer(x), expected, atol=1e-6, rtol=1e-5)
    lazy = PolyFit(deg=2, output_units=3)
    assert lazy(torch.randn(4, 6)).shape == (4, 3)
    assert lazy.kernel.shape == (3, 6, 3)
    with pytest.raises(ConfigError, match="init_w"):
        PolyFit(deg=1, use_xbias=False, init_w=[2.0, 3.0, 4.0])
    with pytest.raises(ConfigError):
        PolyFit(deg=2, output_units=1, init_w=[[[0.1]], [[-0.05]]])
    with pytest.raises(ShapeMismatchError):
        layer(torch.randn(5, 3))
    with pytest.raises(ConfigError):
        PolyFit(deg=-1)


def test_stopgrad():
    x = torch.randn(3, 2, requires_grad=True)
    y = (StopGrad()(x) * 2 + x).sum()
    y.backward()
    torch.testing.assert_close(x.grad, torch.ones(3, 2))  # only the direct path contributes


def test_boolmask():
    mask = np.array([True, False, True, True, False])
    layer = BoolMask(mask)
    assert layer.out_features == 3
    x = torch.arange(10.0).reshape(2, 5).requires_grad_(True)
    y = layer(x)
    torch.testing.assert_close(y, torch.tensor([[0.0, 2.0, 3.0], [5.0, 7.0, 8.0]]))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0]] * 2))
    # channel-first spectra (N, C, L): mask applies to the wavelength axis
    assert layer(torch.randn(4, 2, 5)).shape == (4, 2, 3)
    assert BoolMask([1, 0, 1, 0, 0]).out_features == 2
    with pytest.raises(ShapeMismatchError):
        layer(torch.randn(2, 6))
    with pytest.raises(ConfigError):
        BoolMask([False, False])
    with pytest.raises(ConfigError):
        BoolMask([[True]])
    with pytest.raises(ConfigError):
        BoolMask([0, 2])


def test_deterministic_layers_flagged():
    for layer in (StopGrad(), BoolMask([True]), PolyFit(1, input_dim=1), KLDivergence()):
        assert layer.stochastic is False


def test_auxiliary_loss_zero_without_terms():
    assert auxiliary_loss(nn.Linear(2, 2)).item() == 0.0


def test_mc_dropout_cpu_inference_masks_have_the_right_rate_and_mean():
    import torch

    from astrotorch.nn.layers import MCDropout

    layer = MCDropout(0.3).eval()
    x = torch.ones(400_000)
    with torch.inference_mode():
        y = layer(x)
    dropped = float((y == 0).float().mean())
    assert abs(dropped - 0.3) < 0.003
    assert abs(float(y.mean()) - 1.0) < 0.01
    # two calls draw different masks
    with torch.inference_mode():
        assert not torch.equal(layer(x), layer(x))
    # with autograd on, the same cheap masks are used and gradients flow through the kept elements
    # (the drop probability is rate rounded to 1/32768, the scale matches it: 1/0.7 to 2e-5)
    xg = torch.ones(1000, requires_grad=True)
    layer(xg).sum().backward()
    assert xg.grad is not None
    assert torch.allclose(torch.unique(xg.grad), torch.tensor([0.0, 1 / 0.7]), rtol=1e-4)


def test_hash_uniform16_is_uniform_uncorrelated_and_keyed():
    import torch

    from astrotorch.nn.layers import hash_uniform16

    like = torch.empty(1 << 20)
    keys = torch.tensor([12345, -987654], dtype=torch.int32)
    u = hash_uniform16(like, keys)
    assert u.dtype == torch.int32 and int(u.min()) >= 0 and int(u.max()) < 65536
    # uniform: chi-square over 64 equal bins (63 dof; 99.9th percentile ~ 104)
    counts = torch.bincount(u // 1024, minlength=64).double()
    expected = like.numel() / 64
    assert float(((counts - expected) ** 2 / expected).sum()) < 104
    uf = u.double() / 65536
    # neighbouring elements (the counter's consecutive values) and elements 7 apart are uncorrelated
    for lag in (1, 7, 4096):
        r = torch.corrcoef(torch.stack([uf[:-lag], uf[lag:]]))[0, 1]
        assert abs(float(r)) < 0.005
    # same keys -> same numbers; a change of either key -> an unrelated stream
    assert torch.equal(u, hash_uniform16(like, keys.clone()))
    for other in (torch.tensor([12346, -987654], dtype=torch.int32), torch.tensor([12345, -987653], dtype=torch.int32)):
        v = hash_uniform16(like, other).double() / 65536
        assert float((u.double() / 65536 == v).double().mean()) < 0.001
        assert abs(float(torch.corrcoef(torch.stack([uf, v]))[0, 1])) < 0.005


def test_fused_cpu_dropout_rate_seed_gradient_and_fallback(monkeypatch):
    import torch

    from astrotorch.nn import layers

    layer = layers.MCDropout(0.25).eval()
    x = torch.ones(2, layers.FUSED_DROPOUT_MIN_ELEMENTS)  # large enough for the compiled mask kernel
    with torch.inference_mode():
        torch.manual_seed(3)
        a = layer(x)
        torch.manual_seed(3)
        b = layer(x)
        c = layer(x)
    from astrotorch.nn import fused

    assert ("dropout", "apply") in fused._compiled or not fused.enabled()  # built on first use
    assert torch.equal(a, b)  # the hash keys come from torch's generator: manual_seed fixes the masks
    assert not torch.equal(a, c)
    assert abs(float((a == 0).float().mean()) - 0.25) < 0.004
    assert abs(float(a.mean()) - 1.0) < 0.01
    assert not torch.equal(a[0] == 0, a[1] == 0)  # both rows get their own masks
    # training: the mask kernel's mask multiplies the gradient
    xg = torch.ones(2, layers.FUSED_DROPOUT_MIN_ELEMENTS, requires_grad=True)
    yg = layer(xg)
    yg.sum().backward()
    assert torch.equal(xg.grad, yg.detach())  # d(x·m)/dx = m and x = 1
    assert torch.allclose(torch.unique(xg.grad), torch.tensor([0.0, 1 / 0.75]), rtol=1e-4)
    # bfloat16 inputs (autocast) get a bfloat16 mask
    with torch.inference_mode():
        assert layer(x.bfloat16()).dtype == torch.bfloat16
    # switched off (or where compilation is unavailable) the eager masks are used
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "0")
    with torch.inference_mode():
        d = layer(x)
    assert abs(float((d == 0).float().mean()) - 0.25) < 0.004


def test_mc_dropout_inside_torch_compile_on_cpu_uses_hash_masks():
    import torch

    from astrotorch.nn.layers import MCDropout

    layer = MCDropout(0.3)
    compiled = torch.compile(lambda t: layer(t), fullgraph=True)
    x = torch.ones(1000, 100)
    torch.manual_seed(5)
    a = compiled(x)
    torch.manual_seed(5)
    b = compiled(x)
    assert torch.equal(a, b)  # keys come from torch's generator
    assert abs(float((a == 0).float().mean()) - 0.3) < 0.01
    assert abs(float(a.mean()) - 1.0) < 0.02
