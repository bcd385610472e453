"""The channels-last fast path of the APOGEE convolutional trunk against its plain reference, and
prediction in bfloat16 for models trained with ``precision="bf16-mixed"``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotorch.models.arch.apogee import ApogeeBCNNNet, ApogeeCNNNet, ConvTrunk


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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("length,pool", [(7514, 4), (203, 3)])
def test_half_precision_training_pool_equals_max_pool1d(dtype: torch.dtype, length: int, pool: int) -> None:
    # bf16/fp16 training pools through a float32 index search: same values, same gradients, same dtype
    torch.manual_seed(2)
    base = torch.randn(3, length, 4).to(dtype)
    o_fast = base.clone().requires_grad_()
    o_ref = base.clone().requires_grad_()
    fast = ConvTrunk._max_pool(o_fast, pool)
    ref = torch.nn.functional.max_pool1d(o_ref.transpose(1, 2), pool).transpose(1, 2)
    assert fast.dtype == dtype and fast.shape == ref.shape == (3, length // pool, 4)
    assert torch.equal(fast, ref)
    g = torch.randn(ref.shape).to(dtype)
    fast.backward(g)
    ref.backward(g)
    assert o_fast.grad.dtype == dtype and torch.equal(o_fast.grad, o_ref.grad)
    # the dropped remainder (length % pool) gets no gradient
    assert not o_fast.grad[:, (length // pool) * pool:].any()


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_conv_with_input_gradient_as_convolution_matches_autograd(dtype: torch.dtype) -> None:
    from astrotorch.models.arch.apogee import _conv_cl, _ConvInputGradAsConv

    torch.manual_seed(4)
    x = torch.randn(3, 57 + 7, 2, dtype=dtype)
    w = torch.randn(4, 2, 8, dtype=dtype)
    b = torch.randn(4, dtype=dtype)
    g = torch.randn(3, 57, 4, dtype=dtype)
    grads = []
    for fn in (_conv_cl, _ConvInputGradAsConv.apply):
        xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))
        out = fn(xs, ws, bs)
        assert out.shape == (3, 57, 4) and out.dtype == dtype
        out.backward(g)
        grads.append((out.detach(), xs.grad, ws.grad, bs.grad))
    tol = 1e-10 if dtype == torch.float64 else 2e-2
    for a, r in zip(*grads):
        assert float((a.double() - r.double()).abs().max()) <= tol * float(r.double().abs().max())
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(_ConvInputGradAsConv.apply, tuple(t.clone().requires_grad_() for t in (x[:, :12], w, b)))
    # no bias; only the input's gradient wanted
    xs = x.clone().requires_grad_()
    _ConvInputGradAsConv.apply(xs, w, None).backward(g)
    assert xs.grad is not None and xs.grad.shape == x.shape


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


def test_trunk_inference_without_compiled_kernels_gives_the_same_features(monkeypatch) -> None:
    """The compiled CPU pooling kernel and the eager fallback agree (ASTROTORCH_COMPILE_KERNELS=0)."""
    torch.manual_seed(2)
    trunk = ConvTrunk(500, (2, 4), 8, 4, "relu", dropout_after_first=None)
    x = torch.randn(3, 500)
    with torch.inference_mode():
        compiled = trunk(x)
        monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "0")
        eager = trunk(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            eager16 = trunk(x)
        monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "1")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            compiled16 = trunk(x)
    assert torch.allclose(compiled, eager, atol=1e-6)
    assert torch.allclose(compiled16.float(), eager16.float(), atol=1e-2)  # dtypes may differ (bf16 vs fp32)
