"""Tests of astrotorch.uncertainty.mc: vectorised Monte Carlo inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from astrotorch.errors import ConfigError, EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.nn.layers import MCDropout
from astrotorch.uncertainty.mc import (
    MCResult,
    find_first_stochastic,
    mc_loop_predict,
    mc_predict,
    split_at_first_stochastic,
)


class HeteroNet(nn.Module):
    """Small Bayesian regressor: (mean, log_var) heads after MC dropout, with an mc_split."""

    def __init__(self, d_in: int = 4, d_out: int = 2, rate: float = 0.3) -> None:
        super().__init__()
        self.prefix = nn.Sequential(nn.Linear(d_in, 32), nn.ReLU())
        self.rest = nn.Sequential(MCDropout(rate), nn.Linear(32, 32), nn.ReLU(), MCDropout(rate))
        self.mean = nn.Linear(32, d_out)
        self.log_var = nn.Linear(32, d_out)
        self.calls = 0

    def _tail(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.rest(h)
        return self.mean(h), self.log_var(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        return self._tail(self.prefix(x))

    def mc_split(self) -> tuple[nn.Module, nn.Module]:
        net = self

        class Tail(nn.Module):
            def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return net._tail(h)

        return self.prefix, Tail()


class CountingPrefix(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.rows = 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.inner(x)


def _mlp(rate: float = 0.2) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 16), nn.ReLU(), MCDropout(rate), nn.Linear(16, 2))


def test_vectorised_matches_python_loop():
    torch.manual_seed(0)
    net = _mlp(0.3)
    x = torch.randn(5, 3)
    n = 4000
    res = mc_predict(net, x, n_samples=n)
    loop_mean, loop_var = mc_loop_predict(net, x, n_samples=n)
    assert isinstance(res, MCResult) and res.n_samples == n
    # statistical agreement: compare with the Monte Carlo standard error of the mean
    se = (loop_var / n).sqrt() * 2 + 1e-6
    assert torch.all((res.mean - loop_mean).abs() < 3 * se)
    np.testing.assert_allclose(res.model_var.numpy(), loop_var.numpy(), rtol=0.15, atol=1e-6)
    assert torch.all(res.model_var > 0)
    # no variance head -> zero predictive variance
    assert torch.all(res.predictive_var == 0)


def test_samples_are_independent_per_row():
    # if the repeated rows shared one mask, all samples would be equal and the variance zero
    net = _mlp(0.5)
    res = mc_predict(net, torch.randn(2, 3), n_samples=50, return_samples=True)
    assert res.samples is not None and res.samples.shape == (50, 2, 2)
    assert res.samples[:, 0].std(0).min() > 0


def test_deterministic_network_has_zero_model_variance():
    net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))  # plain dropout: off in eval
    x = torch.randn(7, 3)
    res = mc_predict(net, x, n_samples=20)
    assert torch.all(res.model_var == 0)
    net.eval()
    torch.testing.assert_close(res.mean, net(x).detach())


def test_disabled_mc_dropout_is_deterministic():
    net = nn.Sequential(nn.Linear(3, 8), MCDropout(0.5, disable=True), nn.Linear(8, 1))
    res = mc_predict(net, torch.randn(4, 3), n_samples=10)
    assert torch.all(res.model_var == 0)


def test_heteroscedastic_output_gives_predictive_variance():
    torch.manual_seed(1)
    net = HeteroNet()
    x = torch.randn(6, 4)
    res = mc_predict(net, x, n_samples=1000, return_samples=True)
    assert res.mean.shape == (6, 2)
    assert torch.all(res.predictive_var > 0)
    torch.testing.assert_close(res.total_var, res.model_var + res.predictive_var)
    # predictive_var is the mean of exp(log_var) over samples; check against a loop estimate
    net.eval()
    with torch.no_grad():
        lv = torch.stack([net(x)[1] for _ in range(400)]).exp().mean(0)
    np.testing.assert_allclose(res.predictive_var.numpy(), lv.numpy(), rtol=0.15)


def test_mc_split_computes_prefix_once_and_matches_full_path():
    torch.manual_seed(2)
    net = HeteroNet()
    counting = CountingPrefix(net.prefix)
    net.prefix = counting
    x = torch.randn(8, 4)
    n = 3000
    split = mc_predict(net, x, n_samples=n)
    assert counting.rows == 8  # the deterministic prefix saw each input once, not n times
    assert net.calls == 0  # forward() itself was never called

    class NoSplit(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)

    full = mc_predict(NoSplit(net), x, n_samples=n)
    assert counting.rows == 8 + 8 * n
    torch.testing.assert_close(split.mean, full.mean, atol=0.05, rtol=0.05)
    np.testing.assert_allclose(split.model_var.numpy(), full.model_var.numpy(), rtol=0.2, atol=1e-5)
    np.testing.assert_allclose(split.predictive_var.numpy(), full.predictive_var.numpy(), rtol=0.1)


def test_x_err_bypasses_split_and_adds_variance():
    torch.manual_seed(3)
    net = HeteroNet(rate=0.0)  # no dropout: all model variance comes from the input noise
    x = torch.randn(5, 4)
    res0 = mc_predict(net, x, n_samples=200)
    assert torch.all(res0.model_var == 0)
    err = torch.full_like(x, 0.5)
    res = mc_predict(net, x, n_samples=200, x_err=err)
    assert torch.all(res.model_var > 0)
    assert net.calls == 1  # the full network ran (once, vectorised)
    # NaN errors count as zero error
    res_nan = mc_predict(net, x, n_samples=50, x_err=torch.full_like(x, float("nan")))
    assert torch.all(res_nan.model_var == 0)


def test_x_err_linear_network_propagates_exactly():
    # y = a·x: propagated variance must be sum(a² σ²)
    torch.manual_seed(4)
    lin = nn.Linear(3, 1, bias=False)
    x = torch.zeros(2, 3)
    err = torch.tensor([[0.1, 0.2, 0.3], [1.0, 0.0, 0.0]])
    res = mc_predict(lin, x, n_samples=20000, x_err=err)
    expected = (lin.weight.detach() ** 2 * err**2).sum(1, keepdim=True)
    np.testing.assert_allclose(res.model_var.numpy(), expected.numpy(), rtol=0.05)


def test_chunking_gives_same_statistics():
    torch.manual_seed(5)
    net = _mlp(0.3)
    x = torch.randn(10, 3)
    n = 3000
    whole = mc_predict(net, x, n_samples=n)
    # smaller than n: chunks over inputs *and* samples
    chunked = mc_predict(net, x, n_samples=n, max_rows=700)
    torch.testing.assert_close(chunked.mean, whole.mean, atol=0.03, rtol=0.05)
    np.testing.assert_allclose(chunked.model_var.numpy(), whole.model_var.numpy(), rtol=0.15, atol=1e-6)
    # chunking must be exact for a deterministic network
    det = nn.Linear(3, 2)
    a = mc_predict(det, x, n_samples=7)
    b = mc_predict(det, x, n_samples=7, max_rows=3)
    torch.testing.assert_close(a.mean, b.mean)


def test_chunking_respects_max_rows():
    seen: list[int] = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            seen.append(x.shape[0])
            return self.lin(x)

    mc_predict(Spy(), torch.randn(9, 3), n_samples=10, max_rows=25)
    assert max(seen) <= 25
    assert sum(seen) == 90
    # without a bound: exactly one forward pass over batch x n_samples rows, no Python loop
    seen.clear()
    mc_predict(Spy(), torch.randn(9, 3), n_samples=10)
    assert seen == [90]
    seen.clear()
    mc_predict(Spy(), torch.randn(9, 3), n_samples=10, max_rows=None)
    assert seen == [90]


def test_auto_max_rows_bounds_elements_per_pass(monkeypatch):
    import astrotorch.uncertainty.mc as mc

    seen: list[int] = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(50, 1)

        def forward(self, x):
            seen.append(x.shape[0])
            return self.lin(x)

    monkeypatch.setattr(mc, "AUTO_ELEMENTS_CPU", 50 * 40)  # at most 40 rows of 50 features
    res = mc_predict(Spy(), torch.randn(6, 50), n_samples=30)
    assert max(seen) <= 40 and sum(seen) == 180
    assert res.mean.shape == (6, 1)


def test_dict_inputs():
    class TwoInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 8)
            self.b = nn.Linear(2, 8)
            self.drop = MCDropout(0.3)
            self.out = nn.Linear(8, 1)

        def forward(self, x):
            return self.out(self.drop(torch.relu(self.a(x["spec"]) + self.b(x["aux"]))))

    torch.manual_seed(6)
    net = TwoInput()
    x = {"spec": torch.randn(4, 3), "aux": torch.randn(4, 2)}
    res = mc_predict(net, x, n_samples=2000)
    assert res.mean.shape == (4, 1)
    assert torch.all(res.model_var > 0)
    loop_mean, loop_var = mc_loop_predict(net, x, n_samples=2000)
    torch.testing.assert_close(res.mean, loop_mean, atol=0.05, rtol=0.05)
    # x_err for one key of the dict only
    res_err = mc_predict(net, x, n_samples=10, x_err={"aux": torch.ones(4, 2)})
    assert res_err.mean.shape == (4, 1)
    with pytest.raises(ShapeMismatchError):
        mc_predict(net, {"spec": torch.randn(4, 3), "aux": torch.randn(5, 2)})
    with pytest.raises(ShapeMismatchError):
        mc_predict(net, x, x_err={"other": torch.ones(4, 2)})


def test_numpy_input_and_dtype_cast():
    net = _mlp()
    res = mc_predict(net, np.random.default_rng(0).normal(size=(3, 3)), n_samples=5)
    assert res.mean.dtype == torch.float32 and res.mean.shape == (3, 2)
    res64 = mc_predict(net, torch.randn(3, 3, dtype=torch.float64), n_samples=5)
    assert res64.mean.dtype == torch.float32


def test_classification_probabilities():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), MCDropout(0.4), nn.Linear(16, 4))
    x = torch.randn(6, 3)
    res = mc_predict(net, x, n_samples=3000, task="classification")
    assert res.probs is not None and res.entropy is not None and res.mutual_information is not None
    torch.testing.assert_close(res.probs.sum(-1), torch.ones(6))
    # mean of softmax over samples, compared with a loop
    net.eval()
    with torch.no_grad():
        loop = torch.stack([torch.softmax(net(x), -1) for _ in range(600)]).mean(0)
    torch.testing.assert_close(res.probs, loop, atol=0.03, rtol=0.05)
    # law of total variance: model + predictive = p (1 - p)
    torch.testing.assert_close(res.total_var, res.probs * (1 - res.probs), atol=1e-5, rtol=1e-4)
    assert torch.all(res.mutual_information >= 0)
    assert torch.all(res.entropy <= np.log(4) + 1e-6)


def test_classification_with_logit_variance():
    class BayesClf(nn.Module):
        def __init__(self, log_var: float):
            super().__init__()
            self.log_var = log_var

        def forward(self, x):
            logits = torch.stack([x[:, 0], -x[:, 0]], dim=-1)
            return logits, torch.full_like(logits, self.log_var)

    x = torch.tensor([[2.0]])
    sharp = mc_predict(BayesClf(-20.0), x, n_samples=4000, task="classification")
    noisy = mc_predict(BayesClf(2.0), x, n_samples=4000, task="classification")
    # large logit noise pulls the probability towards 0.5
    assert sharp.probs[0, 0] > 0.97
    assert 0.5 < noisy.probs[0, 0] < sharp.probs[0, 0] - 0.05


def test_find_first_stochastic_and_split():
    net = _mlp()
    name, mod = find_first_stochastic(net)
    assert name == "2" and isinstance(mod, MCDropout)
    assert find_first_stochastic(nn.Sequential(nn.Linear(2, 2))) is None
    prefix, rest = split_at_first_stochastic(net)
    assert len(prefix) == 2 and len(rest) == 2
    x = torch.randn(3, 3)
    torch.manual_seed(0)
    a = net(x)
    torch.manual_seed(0)
    b = rest(prefix(x))
    torch.testing.assert_close(a, b)


def test_training_mode_restored_and_no_grad():
    net = _mlp()
    net.train()
    res = mc_predict(net, torch.randn(2, 3), n_samples=3)
    assert net.training
    assert not res.mean.requires_grad
    net.eval()
    mc_predict(net, torch.randn(2, 3), n_samples=3)
    assert not net.training


def test_bad_arguments():
    net = _mlp()
    x = torch.randn(2, 3)
    with pytest.raises(ConfigError):
        mc_predict(net, x, n_samples=0)
    with pytest.raises(ConfigError):
        mc_predict(net, x, task="ranking")
    with pytest.raises(ConfigError):
        mc_predict(net, x, max_rows=0)
    with pytest.raises(ConfigError):
        mc_predict(net, x, max_rows="big")
    with pytest.raises(EmptyDatasetError):
        mc_predict(net, torch.randn(0, 3))
    with pytest.raises(ShapeMismatchError):
        mc_predict(net, x, x_err=torch.ones(2, 4))
    with pytest.raises(InputValidationError):
        mc_predict(net, x, x_err=-torch.ones(2, 3))
    with pytest.raises(InputValidationError):
        mc_predict(net, [1, 2, 3])
    with pytest.raises(InputValidationError):
        mc_predict(lambda t: t, x)  # type: ignore[arg-type]

    class BadOut(nn.Module):
        def forward(self, x):
            return {"y": x}

    with pytest.raises(InputValidationError, match="tuple"):
        mc_predict(BadOut(), x)


def test_sequential_is_split_automatically():
    torch.manual_seed(8)
    first = CountingPrefix(nn.Linear(3, 16))
    net = nn.Sequential(first, nn.ReLU(), MCDropout(0.3), nn.Linear(16, 2))
    x = torch.randn(5, 3)
    res = mc_predict(net, x, n_samples=2000)
    assert first.rows == 5  # the deterministic head ran once per input
    loop_mean, loop_var = mc_loop_predict(net, x, n_samples=2000)
    torch.testing.assert_close(res.mean, loop_mean, atol=0.05, rtol=0.05)
    np.testing.assert_allclose(res.model_var.numpy(), loop_var.numpy(), rtol=0.2, atol=1e-6)


def test_mixed_bayesian_layers_network():
    from astrotorch.nn.layers import MCBatchNorm, MCConcreteDropout, MCGaussianDropout, MCSpatialDropout1D

    torch.manual_seed(9)
    net = nn.Sequential(
        nn.Conv1d(1, 4, 3, padding=1),
        MCSpatialDropout1D(0.2),
        nn.Flatten(),
        MCConcreteDropout(nn.Linear(4 * 12, 16), init_min=0.2, init_max=0.2),
        nn.ReLU(),
        MCGaussianDropout(0.1),
        MCBatchNorm(16),
        nn.Linear(16, 1),
    )
    x = torch.randn(7, 1, 12)
    res = mc_predict(net, x, n_samples=64)
    assert res.mean.shape == (7, 1) and torch.all(res.model_var > 0)
    assert torch.all(torch.isfinite(res.mean))


def test_mc_predict_large_cpu_pass_uses_fused_masks_with_the_right_moments(monkeypatch):
    """Large CPU passes take their masks from the eager kernels (default) or, when requested with
    ASTROTORCH_COMPILE_KERNELS=1, the compiled hash kernel: either way the MC mean and variance of a
    dropout layer match p and 1/(1-p)."""
    from astrotorch.nn import layers
    from astrotorch.uncertainty import mc as mc_mod

    p = 0.3
    net = nn.Sequential(nn.Identity(), layers.MCDropout(p))
    x = torch.full((64, 512), 2.0)
    for switch in ("1", "0"):  # compiled kernels, then eager masks
        monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", switch)
        torch.manual_seed(0)
        res = mc_mod.mc_predict(net, x, n_samples=100)
        assert abs(float(res.mean.mean()) - 2.0) < 0.01
        # per-element variance of 2·Bernoulli(1-p)/(1-p): 4 p / (1 - p)
        assert abs(float(res.model_var.mean()) - 4 * p / (1 - p)) < 0.03


def test_repeat_forward_protocol_is_used_and_matches_explicit_repetition():
    """A stochastic part with ``repeat_forward(h, n)`` gets the unrepeated prefix output (looked up on
    its class, so wrappers that only forward attributes keep their own ``forward``)."""

    class Rest(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = []

        def forward(self, h):
            return h * torch.rand_like(h)

        def repeat_forward(self, h, n):
            self.calls.append((h.shape[0], n))
            return self(h.unsqueeze(0).expand(n, *h.shape).reshape(-1, *h.shape[1:]))

    rest = Rest()

    class Net(nn.Module):
        def forward(self, x):
            return rest(x)

        def mc_split(self):
            return nn.Identity(), rest

    x = torch.full((6, 3), 2.0)
    torch.manual_seed(0)
    a = mc_predict(Net(), x, n_samples=50, max_rows=120)
    assert rest.calls and all(b <= 6 and n <= 50 for b, n in rest.calls)
    assert torch.allclose(a.mean, torch.ones(6, 3), atol=0.25)  # E[2·U(0,1)] = 1
    assert torch.allclose(a.model_var, torch.full((6, 3), 4 / 12), atol=0.15)  # Var[2·U] = 1/3

    class Wrapper(nn.Module):  # forwards attribute access, like torch.compile's OptimizedModule
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, h):
            return self.inner(h)

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.inner, name)

    rest.calls.clear()
    wrapped = Wrapper(rest)

    class Net2(Net):
        def mc_split(self):
            return nn.Identity(), wrapped

    mc_predict(Net2(), x, n_samples=10)
    assert rest.calls == []  # the wrapper's forward ran on the repeated input
