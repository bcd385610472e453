"""astrotorch.nn.fused: compiled kernels and their eager fallbacks."""

from __future__ import annotations

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
    def broken_compile(fn, **kw):
        def raising(*a):
            raise RuntimeError("no C++ compiler found")
        return raising

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="unavailable"):
        assert fused.run("a", lambda t: t, torch.ones(2)) is None
    assert not fused.enabled()
    assert fused.run("b", lambda t: t, torch.ones(2)) is None


def test_environment_switch_turns_kernels_off(monkeypatch) -> None:
    monkeypatch.setenv("ASTROTORCH_COMPILE_KERNELS", "0")
    assert not fused.enabled()
    assert fused.run("a", lambda t: t + 1, torch.ones(2)) is None
