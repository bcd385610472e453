"""odeint: astroNN's sine example, batching, gradients (direct and adjoint), a neural ODE fit to an orbit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from astrotorch.errors import InputValidationError, ShapeMismatchError
from astrotorch.neuralode import odeint


def sine_rhs(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    # astroNN's example: d/dt [x, v] = [cos t, sin t] from [0, 5] gives x = sin t
    return torch.stack([torch.cos(t), torch.sin(t)]).expand_as(y) if y.ndim == 1 else torch.stack(
        [torch.cos(t).expand(y.shape[0]), torch.sin(t).expand(y.shape[0])], dim=1
    )


@pytest.mark.parametrize(
    "method,rtol,tol",
    # default tolerances reproduce astroNN's plot; tight ones bound the solver error further (torchdiffeq's
    # dopri8 reports between-step times through a lower-order interpolant, hence its looser figure)
    [("dop853", 1e-6, 2e-3), ("dop853", 1e-10, 1e-5), ("dopri5", 1e-6, 1e-4), ("rk4", 1e-6, 1e-8)],
)
def test_astronn_sine_example(method, rtol, tol):
    t = torch.linspace(0, 20, 2001, dtype=torch.float64)
    y = odeint(sine_rhs, torch.tensor([0.0, 5.0]), t, method=method, precision=torch.float64, rtol=rtol, atol=rtol)
    assert y.shape == (2001, 2)
    assert torch.max(torch.abs(y[:, 0] - torch.sin(t))) < tol
    # float32 (astroNN's default precision) agrees at plotting accuracy
    y32 = odeint(sine_rhs, torch.tensor([0.0, 5.0]), t.float(), method=method)
    assert y32.dtype == torch.float32 and torch.max(torch.abs(y32[:, 0].double() - torch.sin(t))) < 5e-3


def test_harmonic_oscillator_batch_matches_analytic():
    # y'' = -y: [y, v]' = [v, -y]; y = y0 cos t + v0 sin t
    def rhs(s, t):
        return torch.stack([s[..., 1], -s[..., 0]], dim=-1)

    y0 = torch.randn(50, 2, dtype=torch.float64)
    t = torch.linspace(0, 10, 101, dtype=torch.float64)
    sol = odeint(rhs, y0, t, precision=torch.float64, rtol=1e-9, atol=1e-12)
    exact = y0[None, :, 0] * torch.cos(t)[:, None] + y0[None, :, 1] * torch.sin(t)[:, None]
    assert sol.shape == (101, 50, 2)
    assert torch.max(torch.abs(sol[..., 0] - exact)) < 2e-5  # dopri8 dense-output interpolation bound
    # float32 runs too and returns float32
    assert odeint(rhs, y0.float(), t).dtype == torch.float32


@pytest.mark.parametrize("adjoint", [False, True])
def test_gradients_through_solver(adjoint):
    # dy/dt = -k y → y(T) = y0 exp(-k T); d y(T) / dk = -T y0 exp(-k T)
    class Decay(nn.Module):
        def __init__(self):
            super().__init__()
            self.k = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

        def forward(self, y, t):
            return -self.k * y

    f = Decay()
    y0 = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 1.5], dtype=torch.float64)
    yT = odeint(f, y0, t, precision=torch.float64, rtol=1e-10, atol=1e-12, adjoint=adjoint)[-1, 0]
    yT.backward()
    expected = -1.5 * 2.0 * np.exp(-0.7 * 1.5)
    assert f.k.grad.item() == pytest.approx(expected, rel=1e-5)
    assert y0.grad.item() == pytest.approx(np.exp(-0.7 * 1.5), rel=1e-5)


def kepler_orbit(n: int = 30, e: float = 0.3, t_end: float = 3.0):
    """A bound two-body orbit (GM = 1, period 2π) sampled over half a period: times and [x, y, vx, vy]."""

    def rhs(s, t):
        r3 = (s[..., 0] ** 2 + s[..., 1] ** 2) ** 1.5
        return torch.stack([s[..., 2], s[..., 3], -s[..., 0] / r3, -s[..., 1] / r3], dim=-1)

    # start at pericentre of an orbit with semi-major axis 1
    s0 = torch.tensor([1 - e, 0.0, 0.0, np.sqrt((1 + e) / (1 - e))], dtype=torch.float64)
    t = torch.linspace(0, t_end, n, dtype=torch.float64)
    return t, odeint(rhs, s0, t, precision=torch.float64, rtol=1e-10, atol=1e-12)


def test_neural_ode_learns_kepler_orbit():
    torch.manual_seed(0)
    t, truth = kepler_orbit()
    truth = truth.float()
    t = t.float()

    class Field(nn.Module):
        # physics-shaped: position' = velocity exactly, velocity' = learned acceleration of position
        def __init__(self):
            super().__init__()
            self.acc = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 2))

        def forward(self, s, t):
            r = torch.sqrt(s[..., :1] ** 2 + s[..., 1:2] ** 2)
            feats = torch.cat([s[..., :2], s[..., :2] / r**3, r], dim=-1)
            return torch.cat([s[..., 2:], self.acc(feats)], dim=-1)

    field = Field()
    opt = torch.optim.Adam(field.parameters(), lr=2e-2)

    def loss_fn():
        pred = odeint(field, truth[0], t, method="rk4", step_size=0.1)
        return torch.mean((pred[:, :2] - truth[:, :2]) ** 2)

    with torch.no_grad():
        start = loss_fn().item()
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    final = loss.item()
    assert final < start / 100
    with torch.no_grad():
        pred = odeint(field, truth[0], t, method="rk4", step_size=0.1)
    # positions within ~15 % of the semi-major axis everywhere on the fitted arc (typically 0.1)
    assert torch.max(torch.linalg.norm(pred[:, :2] - truth[:, :2], dim=1)) < 0.15


def test_bad_inputs():
    with pytest.raises(InputValidationError, match="unknown method"):
        odeint(sine_rhs, [0.0, 1.0], [0.0, 1.0], method="euler4")
    with pytest.raises(InputValidationError, match="monotonic"):
        odeint(sine_rhs, [0.0, 1.0], [0.0, 1.0, 0.5])
    with pytest.raises(InputValidationError, match="at least two"):
        odeint(sine_rhs, [0.0, 1.0], [0.0])
    with pytest.raises(ShapeMismatchError):
        odeint(lambda y, t: torch.zeros(3), [0.0, 1.0], [0.0, 1.0])
    with pytest.raises(InputValidationError, match="precision"):
        odeint(sine_rhs, [0.0, 1.0], [0.0, 1.0], precision=torch.int32)
