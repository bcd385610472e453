"""The blocked (space-to-depth) convolutions of the APOGEE convolutional trunk against the plain
reference, its Monte Carlo fast path, and prediction in bfloat16 for models trained with
``precision="bf16-mixed"``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotorch.models.arch.apogee import ApogeeBCNNNet, ApogeeCNNNet, ConvTrunk
from astrotorch.models.arch.conv_trunk import blocked_conv, blocked_weight


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("n_pix,pool", [(7514, 4), (203, 3)])
def test_trunk_fast_path_matches_reference_values_and_gradients(activation: str, n_pix: int, pool: int) -> None:
    torch.manual_seed(0)
    trunk = ConvTrunk(n_pix, (2, 4), 8, pool, activation, dropout_after_first=None)
    x = torch.randn(5, n_pix)
    fast = trunk(x)
    ref = trunk.reference_forward(x)
    assert fast.shape == ref.shape == (5, (n_pix // pool) * 4)
    assert torch.allclose(fast, ref, atol=1e-5)
    # gradients w.r.t. every parameter, through the pooling and activation swap
    g_fast = torch.autograd.grad(fast.square().sum(), list(trunk.parameters()))
    g_ref = torch.autograd.grad(ref.square().sum(), list(trunk.parameters()))
    for a, b in zip(g_fast, g_ref):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-3 * float(b.abs().max()))
    # inference (no autograd) takes the elementwise-maximum pooling: same numbers
    with torch.inference_mode():
        assert torch.allclose(trunk(x), ref.detach(), atol=1e-5)


def test_bf16_autocast_training_step_matches_float32_closely() -> None:
    torch.manual_seed(3)
    net = ApogeeBCNNNet(400, 2, pool_length=4, dropout_rate=1e-6)
    x = torch.randn(8, 400)
    grads = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        net.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            mean, _ = net(x)
        mean.float().square().sum().backward()
        grads[name] = net.trunk.rest[1].weight.grad.clone()  # the convolution whose output is pooled
    rel = (grads["bf16"] - grads["fp32"]).norm() / grads["fp32"].norm()
    assert rel < 0.05


def test_bcnn_mc_split_composes_to_the_forward_pass_without_dropout() -> None:
    torch.manual_seed(1)
    net = ApogeeBCNNNet(300, 3, pool_length=4).eval()
    for m in net.modules():
        if hasattr(m, "disable"):
            m.disable = True
    first, rest = net.mc_split()
    x = torch.randn(4, 300)
    with torch.inference_mode():
        mean_a, lv_a = net(x)
        mean_b, lv_b = rest(first(x))
    assert torch.equal(mean_a, mean_b) and torch.equal(lv_a, lv_b)


def test_cnn_forward_rejects_wrong_length() -> None:
    from astrotorch.errors import ShapeMismatchError

    net = ApogeeCNNNet(300, 2)
    with pytest.raises(ShapeMismatchError):
        net(torch.randn(2, 299))


def test_bf16_mixed_model_predicts_in_bfloat16_close_to_float32() -> None:
    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.models import create_model

    d = synthetic_spectra(300, seed=4)
    cols = [d.label_names.index(n) for n in ("teff", "logg", "Fe_H")]
    m = create_model("apogee_bcnn", max_epochs=2, batch_size=64, accelerator="cpu", mc_num=20,
                     precision="bf16-mixed", targetname=["teff", "logg", "Fe_H"])
    m.fit(d.flux, d.labels[:, cols])
    torch.manual_seed(0)
    pred16, unc16 = m.predict(d.flux[:64])
    assert pred16.dtype == np.float32 and np.isfinite(pred16).all() and np.isfinite(unc16["total"]).all()
    m.precision = "32-true"
    torch.manual_seed(0)
    pred32, unc32 = m.predict(d.flux[:64])
    # bf16 rounding (8-bit mantissa) is far below the MC spread the prediction carries
    assert np.all(np.abs(pred16 - pred32) < 0.5 * unc32["total"])


@pytest.mark.parametrize("s,k,c_in,c_out", [(4, 8, 2, 4), (4, 8, 1, 2), (3, 8, 4, 16), (1, 5, 2, 3), (8, 3, 2, 2), (6, 7, 3, 1)])
@pytest.mark.parametrize("order", ["pixel", "window", "channel"])
def test_blocked_convolution_is_the_plain_convolution(s: int, k: int, c_in: int, c_out: int, order: str) -> None:
    torch.manual_seed(5)
    window = 2 if s % 2 == 0 else 1  # pool windows of 2 pixels where the block allows
    n_blocks, kb = 9, -(-(k + s - 1) // s)
    x = torch.randn(3, n_blocks * s, c_in, dtype=torch.float64)  # channels-last
    w = torch.randn(c_out, c_in, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(c_out, dtype=torch.float64)
    ref = torch.nn.functional.conv1d(x.transpose(1, 2), w, b)  # valid: (3, c_out, n_blocks*s - k + 1)
    out = blocked_conv(x.reshape(3, n_blocks, s * c_in), w, b, s, order, window)
    n_out = n_blocks - kb + 1
    assert out.shape == (3, n_out, s * c_out)
    m = s // window
    if order == "pixel":
        wjo = out.reshape(3, n_out, m, window, c_out)
    elif order == "window":
        wjo = out.reshape(3, n_out, window, m, c_out).transpose(2, 3)
    else:
        wjo = out.reshape(3, n_out, m, c_out, window).transpose(3, 4)
    pix = wjo.reshape(3, n_out * s, c_out)  # pixel w·window + j of block b is output position b·s + ...
    assert torch.allclose(pix, ref.transpose(1, 2)[:, : n_out * s], atol=1e-12)
    # the blocked kernels are a differentiable function of the plain ones
    g_ref, = torch.autograd.grad(ref[:, :, : n_out * s].sum(), w)
    g_blk, = torch.autograd.grad(out.sum(), w)
    assert torch.allclose(g_blk, g_ref, atol=1e-10)
    assert blocked_weight(w, s, order, window).shape == (s * c_out, s * c_in, 1, kb)


@pytest.mark.parametrize("n_pix,k,pool", [(50, 5, 1), (64, 8, 8), (37, 4, 2), (7514, 8, 4), (203, 8, 3), (101, 9, 5)])
def test_trunk_geometry_variants_match_reference_in_float64(n_pix: int, k: int, pool: int) -> None:
    torch.manual_seed(6)
    trunk = ConvTrunk(n_pix, (3, 5), k, pool, "relu", dropout_after_first=None).double()
    x = torch.randn(4, n_pix, dtype=torch.float64)
    fast, ref = trunk(x), trunk.reference_forward(x)
    assert fast.shape == ref.shape == (4, trunk.n_features)
    assert torch.allclose(fast, ref, atol=1e-10)
    g_fast = torch.autograd.grad(fast.square().sum(), list(trunk.parameters()))
    g_ref = torch.autograd.grad(ref.square().sum(), list(trunk.parameters()))
    for a, b in zip(g_fast, g_ref):
        assert torch.allclose(a, b, atol=1e-8 * float(b.abs().max() + 1))
    with torch.inference_mode():
        assert torch.allclose(trunk(x), ref.detach(), atol=1e-10)


def test_trunk_first_features_are_the_zero_padded_first_convolution() -> None:
    torch.manual_seed(7)
    trunk = ConvTrunk(203, (2, 4), 8, 3, "relu", dropout_after_first=None)
    x = torch.randn(2, 203)
    h = trunk.first_features(x)
    ref = trunk.first(x.unsqueeze(1)).transpose(1, 2)  # (2, 203, 2), pixel-major
    left = 3
    assert torch.allclose(h[:, left:left + 203], ref, atol=1e-6)
    assert not h[:, :left].any() and not h[:, left + 203:].any()


def test_repeated_mc_path_equals_rest_features_of_the_repeated_input() -> None:
    """``rest_features_repeated`` (repetition and the first dropout mask in one pass) draws the same
    mask as ``rest_features`` on the explicitly repeated input (same seed, same number of elements)."""
    torch.manual_seed(8)
    trunk = ConvTrunk(301, (2, 4), 8, 4, "relu", dropout_after_first=0.3)
    h = trunk.first_features(torch.randn(3, 301)).detach()
    with torch.inference_mode():
        torch.manual_seed(11)
        fast = trunk.rest_features_repeated(h, 5)
        torch.manual_seed(11)
        ref = trunk.rest_features(h.unsqueeze(0).expand(5, *h.shape).reshape(15, *h.shape[1:]))
        assert torch.allclose(fast, ref, atol=1e-6)
        # the mask is active: samples of one spectrum differ, and with dropout off they agree
        assert not torch.allclose(fast[0], fast[3])
        trunk.dropout.disable = True
        still = trunk.rest_features_repeated(h, 5)
    assert torch.allclose(still[0], still[3]) and torch.allclose(still[:3], trunk.rest_features(h), atol=1e-6)


def test_bcnn_mc_prediction_uses_repeat_forward_with_the_loop_statistics() -> None:
    """The vectorised ApogeeBCNN MC path (mc_split + repeat_forward) against astroNN's way, separate
    forward passes in a loop: the same mean and spread within the Monte Carlo error."""
    from astrotorch.models.arch import apogee
    from astrotorch.uncertainty.mc import mc_loop_predict, mc_predict

    calls = []
    original = apogee._BCNNRest.repeat_forward

    def spy(self, h, n):  # noqa: ANN001, ANN202
        calls.append((tuple(h.shape), n))
        return original(self, h, n)

    torch.manual_seed(9)
    net = ApogeeBCNNNet(256, 3, pool_length=4).eval()
    x = torch.randn(4, 256)
    torch.manual_seed(0)
    apogee._BCNNRest.repeat_forward = spy
    try:
        res = mc_predict(net, x, n_samples=400)
    finally:
        apogee._BCNNRest.repeat_forward = original
    assert calls and all(n >= 1 and shape[0] <= 4 for shape, n in calls)  # unrepeated prefix outputs
    torch.manual_seed(1)
    mean_loop, var_loop = mc_loop_predict(net, x, n_samples=400)
    sd = var_loop.sqrt()
    # standard error of a 400-sample mean is sd / 20; of the variance ~ var * sqrt(2/400)
    assert torch.all((res.mean - mean_loop).abs() < 5 * sd / 20 + 1e-6)
    assert torch.all((res.model_var / var_loop - 1).abs() < 0.5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_training_pool_equals_max_pool2d(dtype: torch.dtype) -> None:
    """bf16/fp16 training pools through a float32 index search: same values, gradients and dtype."""
    from astrotorch.models.arch.conv_trunk import _max_pool_blocks

    torch.manual_seed(2)
    base = torch.randn(3, 57, 4, 4).to(dtype)  # (N, blocks, s, C) pixel-major
    base[:, :5] = 0.25  # ties: the first maximum takes the gradient, as in max_pool2d
    o_fast, o_ref = base.clone().requires_grad_(), base.clone().requires_grad_()
    fast = _max_pool_blocks(o_fast.permute(0, 3, 1, 2), 4)
    ref = torch.nn.functional.max_pool2d(o_ref.permute(0, 3, 1, 2), (1, 4))
    assert fast.dtype == dtype and torch.equal(fast, ref)
    g = torch.randn(ref.shape).to(dtype)
    fast.backward(g)
    ref.backward(g)
    assert o_fast.grad.dtype == dtype and torch.equal(o_fast.grad, o_ref.grad)


def test_bf16_trunk_inference_matches_float32_closely() -> None:
    torch.manual_seed(3)
    trunk = ConvTrunk(500, (2, 4), 8, 4, "relu", dropout_after_first=None)
    x = torch.randn(3, 500)
    with torch.inference_mode():
        ref = trunk(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = trunk(x)
    assert half.dtype == torch.bfloat16
    assert torch.allclose(half.float(), ref, atol=0.05 * float(ref.abs().max()))


@pytest.mark.slow  # compiles a network: ~30-60 s on 2 cores
def test_compiled_bcnn_trains_on_cpu() -> None:
    """``compile=True`` models wrap the network in torch.compile: the blocked trunk and its masks trace."""
    torch.manual_seed(10)
    net = ApogeeBCNNNet(64, 2, pool_length=4)
    compiled = torch.compile(net)
    x, y = torch.randn(8, 64), torch.randn(8, 2)
    mean, lv = compiled(x)
    ((mean - y) ** 2 * torch.exp(-lv) + lv).mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.inference_mode():
        eager = net(x)[0]
    assert eager.shape == mean.shape


def test_training_forward_zeroes_the_padding_in_the_dropout_mask() -> None:
    """forward() leaves the padding to the first dropout's mask (one pass fewer): the same numbers and
    gradients as the zero-padded first features followed by rest_features, with the same seed."""
    torch.manual_seed(12)
    trunk = ConvTrunk(203, (2, 4), 8, 3, "relu", dropout_after_first=0.3)
    x = torch.randn(4, 203)
    torch.manual_seed(5)
    fast = trunk(x)
    g_fast = torch.autograd.grad(fast.square().sum(), list(trunk.parameters()))
    torch.manual_seed(5)
    ref = trunk.rest_features(trunk.first_features(x))
    g_ref = torch.autograd.grad(ref.square().sum(), list(trunk.parameters()))
    assert torch.allclose(fast, ref, atol=1e-6)
    for a, b in zip(g_fast, g_ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    # without dropout the unzeroed features are zeroed on the way
    plain = ConvTrunk(203, (2, 4), 8, 3, "relu", dropout_after_first=None)
    h = plain.first_features(x, zero_padding=False)
    assert torch.allclose(plain.rest_features(h, padding_zeroed=False), plain(x), atol=1e-6)
