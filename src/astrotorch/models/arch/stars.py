"""Physics-informed stellar-parameter network (``StellarPhysicsNet``).

Input ``(N, 6)``: ``log10 Teff [K], log10 L [L_sun], log10 R [R_sun]`` (0 where missing) and three
presence flags. The network

1. completes the missing one of (Teff, L, R) by Stefan–Boltzmann, ``log L = c_SB + 2 log R + 4 log(T/T_sun)``
   (``c_SB`` a parameter, 0 for the IAU 2015 Sun);
2. computes every *exact* relation from its own quantities — nothing here is learned free-form:
   ``M_bol = zp - 2.5 log L``, ``log L_bol[W] = zp + log L``, ``log F = zp + 4 log T`` (σT⁴),
   ``log λ_peak = zp - log T`` (Wien), ``log ρ = zp + log M - 3 log R``, ``log P_c = zp + 2 log M - 4 log R``,
   ``log T_c = zp + log M - log R``, ``log E_bind = zp + 2 log M - log R``, ``log t = zp + log M - log L``,
   ``log g = log g_sun + log M_g - 2 log R`` (g = G M / R²);
   the zero points start at their astropy values and are fitted to data (unit slips included);
3. learns what physics does not fix, from a robust-scaled MLP trunk: the mass
   ``log M = a log L + b + Δ_M`` (mass–luminosity relation with fitted exponent ``a`` and a learned
   deviation Δ_M), the gravity mass ``log M_g = log M + Δ_g``, the V bolometric correction
   ``BC`` (``M_V = M_bol - BC``) and [M/H], with heteroscedastic log-variances for log g, M_V and [M/H];
   Δ_M and Δ_g measure how far the approximate relations are bent and are penalised by the model;
4. classifies with threshold rules on its own (log Teff, log L): per class head a grid of thresholds
   and a cell → class table, fitted from data (:class:`RuleHead`); soft class probabilities come
   from sigmoids of the distance to each threshold.

With ``n_members`` > 1 the learned part (trunk and heads) is an ensemble of independently initialised
members. In training mode ``forward`` returns every member's rows stacked (``(K·N, D)``, member-major)
so that each member is fitted on its own; in eval mode the members' heads are averaged *before* the
physics is applied (so the exact relations still hold) and their variances averaged.

``forward`` returns one ``(N, D)`` tensor laid out as :data:`OUTPUT_LAYOUT`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from astrotorch.datasets.stars import N_CLASSES, STAR_CLASS_TARGETS, STAR_TARGETS
from astrotorch.physics import stellar as ph

#: thresholds per axis a rule head can hold (unused ones are +inf)
MAX_THRESHOLDS = 31

#: exact-relation zero points: name -> initial value from astropy constants
ZERO_POINT_INIT: dict[str, float] = {
    "sb": 0.0,
    "mbol": ph.MBOL_SUN,
    "log_lbol_w": ph.LOG_LSUN_W,
    "log_flux": ph.LOG_SIGMA_SB,
    "peak_wavelength": ph.LOG_WIEN_B_NM_K,
    "density": 0.0,
    "log_central_pressure": ph.LOG_PC_SCALE,
    "log_central_temperature": ph.LOG_TC_SCALE,
    "log_binding_energy": ph.LOG_EB_SCALE + math.log10(0.6),
    "lifespan": 0.0,
}
ZERO_POINT_NAMES = list(ZERO_POINT_INIT)

#: learned quantities with a heteroscedastic variance
HETERO_TARGETS = ["logg", "mv", "mh"]

# columns of the output tensor
_EXTRA = ["log_teff", "log_lum", "log_radius", "delta_logm", "delta_logg", "bc"] + [f"logvar_{t}" for t in HETERO_TARGETS]
OUTPUT_LAYOUT: list[str] = (
    list(STAR_TARGETS)
    + _EXTRA
    + [f"p_{c}_{k}" for c in STAR_CLASS_TARGETS for k in range(N_CLASSES[c])]
)
OUT = {name: i for i, name in enumerate(OUTPUT_LAYOUT)}
LOG_T_SUN = math.log10(ph.T_SUN)


class RuleHead(nn.Module):
    """Axis-aligned threshold rules on (log Teff, log L) → class, held as buffers.

    ``thr_t``/``thr_l`` (sorted, +inf padded) cut the plane into cells; ``table[i, j]`` is the class
    of cell (i, j). :meth:`set_rules` loads them (e.g. from a decision tree fitted to training stars).
    Probabilities: per-axis soft bin memberships from ``sigmoid((x - thr) / softness)``, combined as an
    outer product and summed per class.
    """

    def __init__(self, n_classes: int, softness: float = 1e-3) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("thr_t", torch.full((MAX_THRESHOLDS,), math.inf))
        self.register_buffer("thr_l", torch.full((MAX_THRESHOLDS,), math.inf))
        self.register_buffer("table", torch.zeros(MAX_THRESHOLDS + 1, MAX_THRESHOLDS + 1))
        self.register_buffer("softness", torch.tensor(float(softness)))

    def set_rules(self, thr_t: np.ndarray, thr_l: np.ndarray, table: np.ndarray) -> None:
        kt, kl = len(thr_t), len(thr_l)
        if kt > MAX_THRESHOLDS or kl > MAX_THRESHOLDS:
            raise ValueError(f"at most {MAX_THRESHOLDS} thresholds per axis, got {kt} and {kl}")
        self.thr_t.fill_(math.inf)
        self.thr_l.fill_(math.inf)
        self.thr_t[:kt] = torch.as_tensor(np.sort(thr_t), dtype=self.thr_t.dtype)
        self.thr_l[:kl] = torch.as_tensor(np.sort(thr_l), dtype=self.thr_l.dtype)
        full = np.zeros((MAX_THRESHOLDS + 1, MAX_THRESHOLDS + 1))
        full[: kt + 1, : kl + 1] = table
        # padded cells (beyond +inf thresholds) repeat the last real row/column
        full[kt + 1 :, :] = full[kt : kt + 1, :]
        full[:, kl + 1 :] = full[:, kl : kl + 1]
        self.table.copy_(torch.as_tensor(full, dtype=self.table.dtype))

    def _soft_bins(self, x: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
        # P(x > thr_k), 0 for padded +inf thresholds; bin probs are successive differences
        finite = torch.isfinite(thr)
        above = torch.sigmoid((x[:, None] - torch.where(finite, thr, torch.zeros_like(thr))) / self.softness)
        above = torch.where(finite, above, torch.zeros_like(above))
        ones = torch.ones_like(x)[:, None]
        zeros = torch.zeros_like(x)[:, None]
        cum = torch.cat([ones, above, zeros], dim=1)  # P(x > thr_{k-1}) with thr_{-1} = -inf
        return (cum[:, :-1] - cum[:, 1:]).clamp_min(0.0)

    def forward(self, log_t: torch.Tensor, log_l: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hard class codes (N,) and class probabilities (N, C)."""
        # right=False puts x == thr in the lower cell, as scikit-learn's "x <= threshold" splits do
        it = torch.bucketize(log_t.contiguous(), self.thr_t, right=False)
        il = torch.bucketize(log_l.contiguous(), self.thr_l, right=False)
        hard = self.table[it, il]
        pt = self._soft_bins(log_t, self.thr_t)
        pl = self._soft_bins(log_l, self.thr_l)
        cells = pt[:, :, None] * pl[:, None, :]
        onehot = nn.functional.one_hot(self.table.long(), self.n_classes).to(cells.dtype)
        probs = torch.einsum("nij,ijc->nc", cells, onehot)
        probs = probs / probs.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return hard, probs


def _mlp(hidden: int, n_layers: int, dropout_rate: float) -> nn.Sequential:
    """The trunk: ``n_layers`` × (Linear, SiLU[, MC dropout]) from the 3 scaled log inputs."""
    from astrotorch.nn.layers import MCDropout

    layers: list[nn.Module] = []
    width = 3
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        if dropout_rate > 0:
            layers.append(MCDropout(dropout_rate))
        width = hidden
    return nn.Sequential(*layers)


class StellarPhysicsNet(nn.Module):
    """See the module docstring. ``hidden``/``n_layers``: MLP trunk size; ``dropout_rate``: MC dropout;
    ``n_members``: ensemble members of the learned part."""

    def __init__(self, hidden: int = 128, n_layers: int = 3, dropout_rate: float = 0.0, n_members: int = 1) -> None:
        super().__init__()
        self.register_buffer("in_center", torch.zeros(3))
        self.register_buffer("in_scale", torch.ones(3))
        # learned-head output scales (so the MLP works in unit-variance numbers)
        self.register_buffer("head_center", torch.zeros(4))  # delta_logm, delta_logg, bc, mh
        self.register_buffer("head_scale", torch.ones(4))
        self.register_buffer("logg_sun", torch.tensor(ph.LOGG_SUN))
        self.zero_points = nn.Parameter(torch.tensor([ZERO_POINT_INIT[k] for k in ZERO_POINT_NAMES], dtype=torch.float64))
        self.ml_exponent = nn.Parameter(torch.tensor(ph.ML_EXPONENT, dtype=torch.float64))
        self.ml_zero = nn.Parameter(torch.tensor(0.0, dtype=torch.float64))
        width = hidden if n_layers > 0 else 3
        self.trunk = _mlp(hidden, n_layers, dropout_rate)
        self.head = nn.Linear(width, 4)  # delta_logm, delta_logg, bc, mh (standardised)
        self.logvar_head = nn.Linear(width, len(HETERO_TARGETS))
        # members 2..K (member 1 keeps the names above, so single networks load as before)
        self.extra_members = nn.ModuleList(
            nn.ModuleDict({"trunk": _mlp(hidden, n_layers, dropout_rate), "head": nn.Linear(width, 4),
                           "logvar_head": nn.Linear(width, len(HETERO_TARGETS))})
            for _ in range(max(int(n_members), 1) - 1)
        )
        # start exactly on the physical relations: deviations and log-variances begin at zero
        for lin in [self.head, self.logvar_head] + [m[k] for m in self.extra_members for k in ("head", "logvar_head")]:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.rules = nn.ModuleDict({c: RuleHead(N_CLASSES[c]) for c in STAR_CLASS_TARGETS})

    def zp(self, name: str) -> torch.Tensor:
        return self.zero_points[ZERO_POINT_NAMES.index(name)]

    def complete(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log T, log L, log R) with the missing one filled by Stefan–Boltzmann (float64)."""
        x = x.to(torch.float64)
        lt, ll, lr = x[:, 0], x[:, 1], x[:, 2]
        ht, hl, hr = x[:, 3] > 0.5, x[:, 4] > 0.5, x[:, 5] > 0.5
        c = self.zp("sb")
        ll_sb = c + 2 * lr + 4 * (lt - LOG_T_SUN)
        lt_sb = LOG_T_SUN + (ll - c - 2 * lr) / 4
        lr_sb = (ll - c - 4 * (lt - LOG_T_SUN)) / 2
        lt = torch.where(ht, lt, lt_sb)
        ll = torch.where(hl, ll, ll_sb)
        lr = torch.where(hr, lr, lr_sb)
        return lt, ll, lr

    @property
    def n_members(self) -> int:
        return 1 + len(self.extra_members)

    def _member_heads(self, z: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each member's (heads (N, 4) in physical units, log-variances (N, 3))."""
        parts = [(self.trunk, self.head, self.logvar_head)]
        parts += [(m["trunk"], m["head"], m["logvar_head"]) for m in self.extra_members]
        out = []
        for trunk, head, logvar_head in parts:
            h = trunk(z.to(head.weight.dtype))
            out.append((head(h).to(torch.float64) * self.head_scale + self.head_center, logvar_head(h).to(torch.float64)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lt, ll, lr = self.complete(x)
        z = (torch.stack([lt, ll, lr], dim=1) - self.in_center) / self.in_scale
        members = self._member_heads(z)
        if len(members) == 1:
            return self._outputs(lt, ll, lr, *members[0])
        if self.training:  # each member fitted on its own: rows of member k are [k·N, (k+1)·N)
            return torch.cat([self._outputs(lt, ll, lr, h, v) for h, v in members], dim=0)
        heads = torch.stack([h for h, _ in members]).mean(0)
        logvar = torch.logsumexp(torch.stack([v for _, v in members]), dim=0) - math.log(len(members))
        return self._outputs(lt, ll, lr, heads, logvar)

    def _outputs(self, lt: torch.Tensor, ll: torch.Tensor, lr: torch.Tensor, heads: torch.Tensor,
                 logvar: torch.Tensor) -> torch.Tensor:
        """The output layout from the completed inputs and the learned heads: exact relations applied."""
        d_m, d_g, bc, mh = heads.unbind(dim=1)
        lm = self.ml_exponent * ll + self.ml_zero + d_m
        mbol = self.zp("mbol") - 2.5 * ll
        out = {
            "mbol": mbol,
            "mv": mbol - bc,
            "log_lbol_w": self.zp("log_lbol_w") + ll,
            "mass": 10.0**lm,
            "density": 10.0 ** (self.zp("density") + lm - 3 * lr),
            "log_central_pressure": self.zp("log_central_pressure") + 2 * lm - 4 * lr,
            "log_central_temperature": self.zp("log_central_temperature") + lm - lr,
            "lifespan": 10.0 ** (self.zp("lifespan") + lm - ll),
            "logg": self.logg_sun + (lm + d_g) - 2 * lr,
            "log_binding_energy": self.zp("log_binding_energy") + 2 * lm - lr,
            "log_flux": self.zp("log_flux") + 4 * lt,
            "mh": mh,
            "peak_wavelength": 10.0 ** (self.zp("peak_wavelength") - lt),
            "log_teff": lt,
            "log_lum": ll,
            "log_radius": lr,
            "delta_logm": d_m,
            "delta_logg": d_g,
            "bc": bc,
        }
        for i, t in enumerate(HETERO_TARGETS):
            out[f"logvar_{t}"] = logvar[:, i]
        probs = []
        for c in STAR_CLASS_TARGETS:
            hard, p = self.rules[c](lt, ll)
            out[c] = hard.to(torch.float64)
            probs.append(p.to(torch.float64))
        cols = [out[name] for name in OUTPUT_LAYOUT[: len(STAR_TARGETS) + len(_EXTRA)]]
        return torch.cat([torch.stack(cols, dim=1)] + probs, dim=1).to(torch.float32)


__all__ = ["StellarPhysicsNet", "RuleHead", "OUTPUT_LAYOUT", "OUT", "HETERO_TARGETS", "ZERO_POINT_NAMES", "ZERO_POINT_INIT"]
