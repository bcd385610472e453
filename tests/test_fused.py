"""astrotorch.nn.fused: the eager dropout masks, and the opt-in compiled kernels with their fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astrotorch.nn import fused


class FailOnRecompileLimitHit(RuntimeError):
    """Stands in for torch._dynamo's exception of that name (matched by name across versions)."""


@pytest.fixture(autouse=True)
def _clean_kernels():
    fused.reset()
    yield
    fused.reset()


def test_recompile_limit_disables_only_that_kernel(monkeypatch) -> None:
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "1")
    def fake_compile(fn, **kw):
        if fn.__name__ == "limited":
            def raising(*a):
                raise FailOnRecompileLimitHit("recompile_limit reached")
            return raising
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)

    def limited(x):
        return x + 1

    def fine(x):
        return x * 2

    x = torch.ones(3)
    with pytest.warns(RuntimeWarning, match="recompile limit"):
        assert fused.run("limited", limited, x) is None
    assert fused.run("limited", limited, x) is None  # stays eager, no second warning needed
    assert fused.enabled()  # the compiler itself still works
    assert torch.equal(fused.run("fine", fine, x), x * 2)


def test_other_compiler_failure_disables_all_kernels(monkeypatch) -> None:
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "1")
    def broken_compile(fn, **kw):
        def raising(*a):
            raise RuntimeError("no C++ compiler found")
        return raising

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="unavailable"):
        assert fused.run("a", lambda t: t, torch.ones(2)) is None
    assert not fused.enabled()
    assert fused.run("b", lambda t: t, torch.ones(2)) is None


def test_compiled_kernels_are_opt_in(monkeypatch) -> None:
    monkeypatch.delenv("ASTROTORCH_COMPILE_KERNELS", raising=False)
    assert not fused.enabled()  # default: nothing is compiled
    assert fused.run("a", lambda t: t + 1, torch.ones(2)) is None
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "0")
    assert not fused.enabled()
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "1")
    assert fused.enabled()


@pytest.mark.parametrize("n", [1000, 40_000, 2_500_000])  # torch's generator; numpy's; numpy's in parts
@pytest.mark.parametrize("rate", [0.3, 0.05])
def test_keep_mask_rate_seed_and_independence(n: int, rate: float) -> None:
    torch.set_num_threads(2)  # the largest size is drawn in two parts (two generator streams)
    reps = max(1, 2_000_000 // n)
    torch.manual_seed(0)
    masks = torch.stack([fused.keep_mask((n,), rate) for _ in range(reps)])
    assert masks.dtype == torch.float32 and set(torch.unique(masks).tolist()) <= {0.0, 1.0}
    drop = 1.0 - masks.double()
    total = drop.numel()
    # drop probability = rate rounded to 1/65536, within 5 binomial standard errors
    p = fused.drop_threshold(rate) / 65536
    assert abs(float(drop.mean()) - p) < 5 * (p * (1 - p) / total) ** 0.5
    assert abs(p - rate) <= 0.5 / 65536
    # neighbouring elements (same 64-bit word, next word) and the halves of a split mask are uncorrelated
    flat = drop.reshape(-1)
    for lag in (1, 3, 4, 5):
        r = np.corrcoef(flat[:-lag].numpy(), flat[lag:].numpy())[0, 1]
        assert abs(r) < 5 / total**0.5
    half = masks.shape[1] // 2
    r = np.corrcoef(drop[:, :half].reshape(-1).numpy(), drop[:, half: 2 * half].reshape(-1).numpy())[0, 1]
    assert abs(r) < 5 / (total / 2) ** 0.5
    # torch.manual_seed fixes the masks; the next call draws new ones
    torch.manual_seed(0)
    again = fused.keep_mask((n,), rate)
    assert torch.equal(again, masks[0])
    assert reps == 1 or not torch.equal(masks[0], masks[1])


def test_keep_mask_dtype_device_shape_and_empty() -> None:
    m = fused.keep_mask((3, 5, 7), 0.5, dtype=torch.bfloat16)
    assert m.shape == (3, 5, 7) and m.dtype == torch.bfloat16
    assert fused.keep_mask((0, 4), 0.3).shape == (0, 4)
    assert bool(fused.keep_mask((1000,), 0.0).all())  # rate 0 drops nothing
    assert fused.keep_scale(0.3) == 65536 / (65536 - fused.drop_threshold(0.3))
    assert fused.keep_scale(0.3, "cuda") == pytest.approx(1 / 0.7)  # torch's own masks elsewhere


@pytest.mark.parametrize("n", [5000, 300_000])
def test_dropout_keeps_the_expectation_and_carries_the_gradient(n: int) -> None:
    torch.manual_seed(1)
    x = torch.full((4, n), 2.0, requires_grad=True)
    y = fused.dropout(x, 0.25)
    assert abs(float(y.detach().mean()) - 2.0) < 0.02  # inverted dropout: E[y] = x
    y.sum().backward()
    # d(x·m·scale)/dx = m·scale, and y = 2·m·scale
    assert torch.allclose(x.grad, y.detach() / 2.0)
    assert torch.allclose(torch.unique(x.grad), torch.tensor([0.0, fused.keep_scale(0.25)]))
    with torch.inference_mode():
        z = fused.dropout(x.detach().bfloat16(), 0.25)
    assert z.dtype == torch.bfloat16
    assert fused.dropout(x, 0.0) is x


def test_generator_threads_are_recreated_after_a_fork() -> None:
    """Threads do not survive a fork (e.g. DataLoader workers): a forked child gets its own pool
    instead of queueing work for threads it does not have."""
    import multiprocessing as mp

    assert fused._executor(1).submit(fused._words, 1, 1, 10).result().shape == (10,)  # pool started here
    with mp.get_context("fork").Pool(1) as pool:
        n = pool.apply_async(_child_words).get(timeout=60)
    assert n == 1000


def _child_words() -> int:
    return int(fused._executor(1).submit(fused._words, 2, 1, 1000).result(timeout=30).shape[0])


def test_tune_allocator_once_and_opt_out(monkeypatch) -> None:
    import platform

    monkeypatch.setattr(fused, "_tuned", None)
    monkeypatch.setenv("ASTROTORCH_TUNE_MALLOC", "0")
    assert fused.tune_allocator() is False
    assert fused.tune_allocator() is False  # decided once per process
    monkeypatch.setattr(fused, "_tuned", None)
    monkeypatch.delenv("ASTROTORCH_TUNE_MALLOC")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own glibc settings win
    assert fused.tune_allocator() is False
    monkeypatch.setattr(fused, "_tuned", None)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt thresholds are glibc's")
    assert fused.tune_allocator() is True and fused._tuned is True


def test_keep_mask_inside_torch_compile_uses_torch_generator() -> None:
    """Under torch.compile (e.g. compile=True training on CPU) masks come from torch's generator,
    traceable without graph breaks, at the same 1/65536 resolution."""
    draw = torch.compile(lambda: fused.keep_mask((2000, 500), 0.3), fullgraph=True)
    torch.manual_seed(4)
    m = draw()
    assert m.dtype == torch.float32 and set(torch.unique(m).tolist()) <= {0.0, 1.0}
    p = fused.drop_threshold(0.3) / 65536
    assert abs(float(1 - m.mean()) - p) < 5 * (p * (1 - p) / m.numel()) ** 0.5


@pytest.mark.parametrize("cut", [0, 76 * 256 + 255, 19661, 65535])
def test_mask_keep_probability_is_exact_to_16_bits(cut: int) -> None:
    """P(keep) = 1 − cut / 65536 with cut = round(rate · 65536); keep_scale is its exact inverse."""
    n = 1 << 24
    torch.manual_seed(0)
    mask = fused.keep_mask((n,), cut / 65536)
    p = 1.0 - cut / 65536
    se = max(np.sqrt(p * (1 - p) / n), 1e-9)
    assert abs(mask.double().mean().item() - p) < 5 * se + 1e-12
    assert fused.keep_scale(cut / 65536) == pytest.approx(1.0 / p)


@pytest.mark.parametrize("rate", [0.3, 0.999])  # one random byte per element; 16 bits per element
def test_masks_in_every_dtype_are_the_same_draw(rate: float) -> None:
    shape = (300, 1000)  # above SMALL_ELEMENTS: the numpy generator
    assert (fused._byte_plan(fused.drop_threshold(rate)) is None) == (rate > 0.9)
    masks = []
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        torch.manual_seed(3)
        masks.append(fused.keep_mask(shape, rate, dtype).float())
    assert all(torch.equal(masks[0], m) for m in masks[1:])
    assert abs(masks[0].mean().item() - (1 - fused.drop_threshold(rate) / 65536)) < 0.005


@pytest.mark.parametrize("threshold", [1, 255, 256, 19661, 32768, 49151])
def test_byte_draw_plan_is_exact(threshold: int) -> None:
    """Dropped where a byte < k, or by an extra Bernoulli(q): exactly threshold / 65536 in all."""
    k, q = fused._byte_plan(threshold)
    assert k == threshold // 256 and 0.0 <= q <= 1.0 / 64.0
    assert 1.0 - (1.0 - k / 256) * (1.0 - q) == pytest.approx(threshold / 65536, rel=1e-12, abs=1e-15)
    n = 2_000_000
    extra = fused._extra_drops(7, 0, n, q)
    assert extra.dtype == np.int64 and np.all(np.diff(extra) > 0) and (extra.size == 0 or 0 <= extra[0] <= extra[-1] < n)
    assert abs(extra.size - n * q) < 6 * (n * q) ** 0.5 + 1
    assert np.array_equal(extra, fused._extra_drops(7, 0, n, q))  # deterministic in (seed, part)



def test_packed_weights_follow_every_weight_update() -> None:
    """MC prediction after an optimiser step uses the new weights. PyTorch's fused Adam updates
    parameters without bumping their version counters, so no packed copy may outlive one call."""
    import copy

    from astrotorch.models.arch.apogee import ApogeeBCNNNet
    from astrotorch.uncertainty.mc import mc_predict

    torch.manual_seed(0)
    net = ApogeeBCNNNet(n_pix=256, n_out=2)
    x = torch.randn(6, 256)

    def predict(model: torch.nn.Module) -> torch.Tensor:
        torch.manual_seed(1)
        return mc_predict(model, x, n_samples=8).mean

    before = predict(net)
    opt = torch.optim.Adam(net.parameters(), lr=0.05, fused=True)
    net(x)[0].pow(2).sum().backward()
    opt.step()
    after = predict(net)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, predict(copy.deepcopy(net)))
    # inside one block a weight is packed once and reused; outside, the plain weight is used
    w = net.dense[1].weight
    assert fused.packed_linear_weight(w, 4) is w
    with fused.packed_weights():
        p = fused.packed_linear_weight(w, 4)
        assert fused.packed_linear_weight(w, 4) is p
