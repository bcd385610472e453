"""Physics-informed stellar-parameter model (``"stellar_physics"``) and its metrics.

From any two (or all three) of Teff, L and R it predicts the sixteen columns of
:data:`astrotorch.datasets.stars.STAR_TARGETS`: exact relations are computed inside the network
(:mod:`astrotorch.models.arch.stars`), so outputs are physically consistent by construction; mass
deviations from the mass–luminosity relation, the gravity mass, the bolometric correction and [M/H]
are learned, with heteroscedastic uncertainties for log g, M_V and [M/H]; classes come from threshold
rules on the model's own (Teff, L).

Fitting has two stages: (1) closed-form: the Stefan–Boltzmann and exact-relation zero points
(least squares; they absorb the data set's own constants and unit slips), the mass–luminosity
exponent and zero point (least squares on log M vs log L), robust input scaling (median/IQR), and the
class rules (a decision tree per class on log Teff, log L, turned into thresholds + a cell table);
(2) Lightning training of the MLP trunk on a heteroscedastic likelihood (Laplace by default, Gaussian
on request) plus a consistency
penalty ``consistency_weight * mean((Δ_M/0.1)² + (Δ_g/0.1)²)`` on how far the approximate relations
(M–L, g = G M / R² with the mass output) are bent. After training, σ is rescaled so validation
z-scores have unit standard deviation.

Input/target encoding is in :mod:`astrotorch.models.stars_inputs`, the metrics in
:mod:`astrotorch.models.stars_metrics`; their names are re-exported here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from astrotorch.config import magic_number
from astrotorch.datasets.stars import N_CLASSES, STAR_CLASS_TARGETS, STAR_TARGETS
from astrotorch.errors import InputValidationError, NotFittedError, ShapeMismatchError
from astrotorch.models.arch.stars import (
    HETERO_TARGETS,
    LOG_T_SUN,
    OUT,
    ZERO_POINT_INIT,
    ZERO_POINT_NAMES,
    StellarPhysicsNet,
)
from astrotorch.models.base import AstroModel
from astrotorch.models.hyperparams import check_choice, check_float, check_int
from astrotorch.models.registry import register_model
from astrotorch.models.stars_inputs import (
    DERIVED_TARGETS,
    LINEAR_POSITIVE,
    REGRESSION_TARGETS,
    _complete_logs,
    _inputs_array,
    _log_form,
    _missing,
    _targets_array,
    encode_inputs,
)
from astrotorch.models.stars_metrics import _INVARIANTS, physics_violation, seed_accuracy, stellar_metrics  # noqa: F401
from astrotorch.physics import stellar as ph

# per-output loss scale floor (dex or mag) so exactly-fitted outputs do not dominate
_MIN_SCALE = 1e-2
# the consistency penalty measures deviations in units of 0.1 dex
_DELTA_UNIT = 0.1


def _robust_scale(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 1.0
    q75, q25 = np.percentile(v, [75, 25])
    s = (q75 - q25) / 1.349
    return float(s if s > 1e-6 else max(np.std(v), 1e-3))


def _tree_rules(lt: np.ndarray, ll: np.ndarray, labels: np.ndarray, max_leaves: int, seed: int):
    """Thresholds on each axis and a cell → class table from a decision tree on (log T, log L)."""
    from sklearn.tree import DecisionTreeClassifier

    feats = np.stack([lt, ll], 1)
    tree = DecisionTreeClassifier(max_leaf_nodes=max_leaves, random_state=seed).fit(feats, labels)
    t = tree.tree_
    internal = t.children_left >= 0
    thr_t = np.unique(t.threshold[internal & (t.feature == 0)])
    thr_l = np.unique(t.threshold[internal & (t.feature == 1)])

    def centres(thr: np.ndarray) -> np.ndarray:
        edges = np.concatenate([[thr[0] - 1.0] if thr.size else [0.0], thr, [thr[-1] + 1.0] if thr.size else []])
        if thr.size == 0:
            return np.array([0.0])
        return 0.5 * (edges[:-1] + edges[1:])

    ct, cl = centres(thr_t), centres(thr_l)
    grid = np.stack(np.meshgrid(ct, cl, indexing="ij"), -1).reshape(-1, 2)
    # cells never straddle a split, so the tree's class at a cell centre is the class of the whole cell
    table = tree.predict(grid).reshape(ct.size, cl.size)
    return thr_t, thr_l, table


@register_model
class StellarPhysicsModel(AstroModel):
    """Physics-informed multi-task stellar model (regression + classification with uncertainties).

    Parameters beyond :class:`AstroModel`'s: ``hidden``, ``n_layers`` (MLP trunk), ``consistency_weight``
    (penalty on bending the approximate relations; 0 = free, large = log g follows g = G M / R² with the
    mass–luminosity mass), ``class_softness`` (dex; width of the soft class probabilities),
    ``max_rule_leaves`` (leaves of each class-rule tree), ``n_members`` (an ensemble of independently
    initialised trunks and heads, averaged before the exact relations are applied),
    ``likelihood`` (``"laplace"`` or ``"gaussian"``
    for the heteroscedastic heads; σ is the standard deviation either way). The Laplace default is the
    median regressor: on the Fusion split it beats boosted trees on the MAE of log g, M_V and [M/H]
    where the Gaussian one loses on log g and [M/H] (docs/results/stars.md).
    """

    name = "stellar_physics"
    bayesian = True
    _prefit: dict[str, Any] | None = None
    _loss_scale: np.ndarray | None = None
    _mc_var: np.ndarray | None = None

    def __init__(
        self,
        *,
        hidden: int = 128,
        n_layers: int = 3,
        consistency_weight: float = 0.01,
        class_softness: float = 1e-3,
        max_rule_leaves: int = 32,
        likelihood: str = "laplace",
        n_members: int = 1,
        max_epochs: int = 300,
        batch_size: int = 128,
        lr: float = 2e-3,
        val_size: float = 0.1,
        reduce_lr_patience: int = 8,
        early_stopping_patience: int | None = 25,
        input_norm_mode: int | str = 0,
        labels_norm_mode: int | str = 0,
        mc_num: int = 50,
        targetname: list[str] | tuple[str, ...] | None = tuple(STAR_TARGETS),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            val_size=val_size,
            reduce_lr_patience=reduce_lr_patience,
            early_stopping_patience=early_stopping_patience,
            input_norm_mode=input_norm_mode,
            labels_norm_mode=labels_norm_mode,
            mc_num=mc_num,
            targetname=targetname,
            **kwargs,
        )
        check_float("consistency_weight", consistency_weight, 0.0)
        check_choice("likelihood", likelihood, ("gaussian", "laplace"))
        check_int("hidden", hidden, 1)
        check_int("n_layers", n_layers, 1)
        check_float("class_softness", class_softness, 0.0)
        check_int("max_rule_leaves", max_rule_leaves, 2)
        check_int("n_members", n_members, 1)
        if input_norm_mode != 0 or labels_norm_mode != 0:
            raise InputValidationError("the stellar model scales its own inputs/labels: keep input_norm_mode=labels_norm_mode=0")
        if targetname is not None and list(targetname) != list(STAR_TARGETS):
            raise InputValidationError(f"targetname of the stellar model is fixed to {list(STAR_TARGETS)}, got {targetname!r}")
        self.hidden = hidden
        self.n_layers = n_layers
        self.consistency_weight = consistency_weight
        self.class_softness = class_softness
        self.max_rule_leaves = max_rule_leaves
        self.likelihood = likelihood
        self.n_members = n_members

    # ------------------------------------------------------------------ data layout
    def prepare_x(self, x: Any) -> np.ndarray:
        return encode_inputs(x)

    # ------------------------------------------------------------------ closed-form stage
    def _closed_form(self, enc: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        complete = enc[:, 3:].min(axis=1) > 0.5
        sb = 0.0
        if complete.any():
            lt, ll, lr = (enc[complete, i].astype(np.float64) for i in range(3))
            sb = float(np.median(ll - 2 * lr - 4 * (lt - LOG_T_SUN)))
        lt, ll, lr = _complete_logs(enc, sb)
        yl = {t: _log_form(t, y[:, i]) for i, t in enumerate(STAR_TARGETS)}
        for t in yl:
            yl[t] = np.where(_missing(y[:, STAR_TARGETS.index(t)]), np.nan, yl[t])
        lm_true = yl["mass"]
        ok = np.isfinite(lm_true)
        if ok.sum() >= 2:
            a, b = np.polyfit(ll[ok], lm_true[ok], 1)
        else:
            a, b = ph.ML_EXPONENT, 0.0
        lm = np.where(ok, lm_true, a * ll + b)
        structure = {
            "mbol": -2.5 * ll,
            "log_lbol_w": ll,
            "log_flux": 4 * lt,
            "peak_wavelength": -lt,
            "density": lm - 3 * lr,
            "log_central_pressure": 2 * lm - 4 * lr,
            "log_central_temperature": lm - lr,
            "log_binding_energy": 2 * lm - lr,
            "lifespan": lm - ll,
        }
        zps = {"sb": sb}
        for name, s in structure.items():
            r = yl[name] - s
            zps[name] = float(np.median(r[np.isfinite(r)])) if np.isfinite(r).any() else ZERO_POINT_INIT[name]
        mbol = zps["mbol"] - 2.5 * ll

        def centre_scale(v: np.ndarray) -> tuple[float, float]:
            v = v[np.isfinite(v)]
            return (float(np.median(v)), _robust_scale(v)) if v.size else (0.0, 1.0)

        d_m = lm_true - (a * ll + b)
        d_g = yl["logg"] - (ph.LOGG_SUN + lm - 2 * lr)
        bc = mbol - yl["mv"]
        heads = [centre_scale(d_m), centre_scale(d_g), centre_scale(bc), centre_scale(yl["mh"])]
        # mass deviation starts at zero (on the relation), only its scale is taken from data
        heads[0] = (0.0, max(heads[0][1], 1e-3))
        loss_scale = np.array([max(_robust_scale(yl[t]) if t not in HETERO_TARGETS else np.nanstd(yl[t]), _MIN_SCALE)
                               if np.isfinite(yl[t]).sum() > 1 else 1.0 for t in REGRESSION_TARGETS])
        rules = {}
        for c in STAR_CLASS_TARGETS:
            lab = y[:, STAR_TARGETS.index(c)]
            good = ~_missing(lab)
            if good.sum() >= 2 and np.unique(lab[good]).size >= 1:
                rules[c] = _tree_rules(lt[good], ll[good], lab[good].astype(int), self.max_rule_leaves, self.seed)
        return {
            "zero_points": zps,
            "ml": (float(a), float(b)),
            "in_center": [float(np.median(v)) for v in (lt, ll, lr)],
            "in_scale": [_robust_scale(v) for v in (lt, ll, lr)],
            "heads": heads,
            "loss_scale": loss_scale,
            "rules": rules,
        }

    def build_network(self, input_shape: Any, output_dim: int) -> nn.Module:
        net = StellarPhysicsNet(hidden=self.hidden, n_layers=self.n_layers, dropout_rate=self.dropout_rate,
                                n_members=self.n_members)
        for rule in net.rules.values():
            rule.softness.fill_(float(self.class_softness))
        pf = self._prefit
        if pf is not None:
            with torch.no_grad():
                net.zero_points.copy_(torch.tensor([pf["zero_points"].get(k, ZERO_POINT_INIT[k]) for k in ZERO_POINT_NAMES]))
                net.ml_exponent.fill_(pf["ml"][0])
                net.ml_zero.fill_(pf["ml"][1])
                net.in_center.copy_(torch.tensor(pf["in_center"]))
                net.in_scale.copy_(torch.tensor(pf["in_scale"]))
                net.head_center.copy_(torch.tensor([h[0] for h in pf["heads"]]))
                net.head_scale.copy_(torch.tensor([h[1] for h in pf["heads"]]))
            for c, (thr_t, thr_l, table) in pf["rules"].items():
                net.rules[c].set_rules(thr_t, thr_l, table)
        # closed-form parameters are fitted, not trained: SGD noise would only blur exact relations
        for p in (net.zero_points, net.ml_exponent, net.ml_zero):
            p.requires_grad_(False)
        return net

    def fit(self, x: Any, y: Any = None, x_err: Any = None, y_err: Any = None, sample_weight: Any = None, **kw: Any):
        """Fit on stars ``x`` (DataFrame with teff/luminosity/radius, or (N, 3)) and targets ``y``
        (DataFrame with :data:`STAR_TARGETS` columns, or (N, 16)); missing targets NaN/magic number."""
        if y is None:
            raise InputValidationError("fit needs targets y")
        enc = self.prepare_x(x)
        ya = _targets_array(y)
        if ya.shape[0] != enc.shape[0]:
            raise ShapeMismatchError(f"x has {enc.shape[0]} stars but y has {ya.shape[0]}")
        self._prefit = self._closed_form(enc, ya)
        self._loss_scale = self._prefit["loss_scale"]
        super().fit(x, ya.astype(np.float32), y_err=None, sample_weight=sample_weight, **kw)
        self._calibrate(enc, ya)
        return self

    def _calibrate_sigma(self, val_ds: Any) -> None:
        # the base class's calibration assumes a (mean, log_var) output tuple; this model calibrates
        # its three heteroscedastic heads itself in _calibrate (always on)
        return None

    def _calibrate(self, enc: np.ndarray, ya: np.ndarray) -> None:
        """σ factors so validation z-scores of log g, M_V, [M/H] have unit standard deviation."""
        n = enc.shape[0]
        n_val = int(round(n * self.val_size)) if self.val_size > 0 else 0
        if n_val < 3:
            return
        val = np.random.default_rng(self.seed).permutation(n)[:n_val]  # the base class's split
        raw = self._raw(enc[val])
        factors = []
        for t in HETERO_TARGETS:
            truth = ya[val, STAR_TARGETS.index(t)]
            ok = ~_missing(truth)
            sd = np.sqrt(np.exp(raw[:, OUT[f"logvar_{t}"]])) * self._loss_scale[REGRESSION_TARGETS.index(t)]
            z = (raw[ok, OUT[t]] - truth[ok]) / sd[ok]
            factors.append(float(np.std(z)) if ok.sum() > 2 and np.std(z) > 0 else 1.0)
        self.sigma_scale_ = np.asarray(factors, np.float32)

    # ------------------------------------------------------------------ training loss
    def compute_loss(self, batch: dict[str, Any], output: torch.Tensor) -> torch.Tensor:
        y = batch["y"].to(torch.float64)
        out = output.to(torch.float64)
        scale = torch.as_tensor(self._loss_scale, dtype=torch.float64, device=out.device)
        total = out.new_zeros(())
        w = batch.get("weight")
        if out.shape[0] != y.shape[0]:  # an ensemble in training mode: every member's rows, member-major
            k = out.shape[0] // y.shape[0]
            y = y.repeat(k, 1)
            w = None if w is None else w.reshape(-1).repeat(k)
        for j, t in enumerate(REGRESSION_TARGETS):
            k = STAR_TARGETS.index(t)
            truth = y[:, k]
            pred = out[:, OUT[t]]
            if t in LINEAR_POSITIVE:
                valid = torch.isfinite(truth) & (truth > 0) & (truth != magic_number())
                truth = torch.log10(torch.where(valid, truth, torch.ones_like(truth)))
                pred = torch.log10(pred.clamp_min(1e-300))
            else:
                valid = torch.isfinite(truth) & (truth != magic_number())
            if not valid.any():
                continue
            r = torch.where(valid, (pred - truth) / scale[j], torch.zeros_like(pred))
            if t in HETERO_TARGETS:
                s = out[:, OUT[f"logvar_{t}"]].clamp(-12.0, 12.0)
                if self.likelihood == "laplace":
                    # Laplace with variance exp(s) = 2 b²: the median regressor, matched to MAE and
                    # robust to the heavy tails of survey labels
                    log_b = 0.5 * (s - math.log(2.0))
                    term = torch.abs(r) * torch.exp(-log_b) + log_b
                else:
                    term = 0.5 * torch.exp(-s) * r**2 + 0.5 * s
            else:
                term = r**2
            ww = valid.to(term.dtype) * (w.to(term.dtype).reshape(-1) if w is not None else 1.0)
            total = total + (term * ww).sum() / ww.sum().clamp_min(1e-12)
        if self.consistency_weight > 0:
            dev = (out[:, OUT["delta_logm"]] / _DELTA_UNIT) ** 2 + (out[:, OUT["delta_logg"]] / _DELTA_UNIT) ** 2
            total = total + self.consistency_weight * dev.mean()
        return (total + self.regularization_loss()).to(output.dtype)

    # ------------------------------------------------------------------ inference
    def _raw(self, enc: np.ndarray, mc: bool | None = None) -> np.ndarray:
        """Network output (N, D) for encoded inputs; MC-averaged when dropout is on."""
        if self.network is None:
            raise NotFittedError("StellarPhysicsModel is not fitted: call fit() or load_folder() first")
        net = self.network.cpu()
        net.eval()
        xt = torch.as_tensor(enc)
        with torch.inference_mode():
            if self.dropout_rate > 0 and (mc is None or mc):
                reps = torch.stack([net(xt) for _ in range(self.mc_num)])
                self._mc_var = reps.var(dim=0).numpy().astype(np.float64)
                return reps.mean(dim=0).numpy().astype(np.float64)
            self._mc_var = None
            return net(xt).numpy().astype(np.float64)

    def predict(self, x: Any, x_err: Any = None, batch_size: int | None = None):
        """Predictions (N, 16) in :data:`STAR_TARGETS` order and a dict of standard deviations.

        ``{"predictive"}``: heteroscedastic σ of log g, M_V, [M/H] (calibrated); ``"model"``: MC-dropout
        spread (0 without dropout); ``"propagated"`` (when ``x_err`` (N, 3) σ of Teff, L, R is given):
        spread of every output over Gaussian input draws; ``"total"``: in quadrature. Exact-relation
        outputs have σ 0 unless inputs carry errors. Class columns hold codes; their σ is NaN (use
        :meth:`predict_frame` for class probabilities).
        """
        frame = self.predict_frame(x, x_err)
        pred = frame[STAR_TARGETS].to_numpy(np.float64)
        std = {k: frame[[f"{t}_{k}_err" for t in STAR_TARGETS]].to_numpy(np.float64) for k in ("predictive", "model")}
        total = std["predictive"] ** 2 + std["model"] ** 2
        if x_err is not None:
            std["propagated"] = frame[[f"{t}_propagated_err" for t in STAR_TARGETS]].to_numpy(np.float64)
            total = total + std["propagated"] ** 2
        std["total"] = np.sqrt(total)
        return pred, std

    def predict_frame(self, x: Any, x_err: Any = None, n_draws: int = 64) -> pd.DataFrame:
        """Every output, its uncertainty (``<name>_err`` = total σ) and class probabilities, as a DataFrame."""
        self._check_fitted()
        enc = self.prepare_x(x)
        raw = self._raw(enc)
        mc_var = self._mc_var
        n = enc.shape[0]
        cols: dict[str, np.ndarray] = {}
        factors = self.sigma_scale_ if self.sigma_scale_ is not None else np.ones(len(HETERO_TARGETS))
        prop = None
        if x_err is not None:
            err = _inputs_array(x_err)
            if err.shape != (n, 3):
                raise ShapeMismatchError(f"x_err must be (N, 3) σ of Teff, L, R; got {err.shape}")
            err = np.where(np.isnan(err), 0.0, err)
            base = _inputs_array(x)
            rng = np.random.default_rng(self.seed)
            draws = []
            for _ in range(n_draws):
                xs = base + rng.normal(size=base.shape) * err
                xs = np.where(np.isnan(base), np.nan, np.clip(xs, 1e-6 * np.nan_to_num(base, nan=1.0), None))
                draws.append(self._raw(encode_inputs(xs), mc=False))
            prop = np.std(np.stack(draws), axis=0)
        for t in STAR_TARGETS:
            cols[t] = raw[:, OUT[t]]
        for t in ("teff", "luminosity", "radius"):
            key = {"teff": "log_teff", "luminosity": "log_lum", "radius": "log_radius"}[t]
            cols[f"{t}_completed"] = 10.0 ** raw[:, OUT[key]]
        for t in STAR_TARGETS:
            if t in STAR_CLASS_TARGETS:
                continue
            pred_sd = np.zeros(n)
            if t in HETERO_TARGETS:
                i = HETERO_TARGETS.index(t)
                pred_sd = np.sqrt(np.exp(raw[:, OUT[f"logvar_{t}"]])) * self._loss_scale[REGRESSION_TARGETS.index(t)] * factors[i]
            model_sd = np.sqrt(mc_var[:, OUT[t]]) if mc_var is not None else np.zeros(n)
            cols[f"{t}_predictive_err"] = pred_sd
            cols[f"{t}_model_err"] = model_sd
            tot = pred_sd**2 + model_sd**2
            if prop is not None:
                cols[f"{t}_propagated_err"] = prop[:, OUT[t]]
                tot = tot + prop[:, OUT[t]] ** 2
            cols[f"{t}_err"] = np.sqrt(tot)
        for c in STAR_CLASS_TARGETS:
            probs = raw[:, [OUT[f"p_{c}_{k}"] for k in range(N_CLASSES[c])]]
            for k in range(N_CLASSES[c]):
                cols[f"{c}_p{k}"] = probs[:, k]
            cols[f"{c}_prob"] = probs[np.arange(n), raw[:, OUT[c]].astype(int)]
            for kind in ("predictive", "model", "propagated"):
                cols[f"{c}_{kind}_err"] = np.full(n, np.nan)
            cols[f"{c}_err"] = np.full(n, np.nan)
        frame = pd.DataFrame(cols, index=x.index if isinstance(x, pd.DataFrame) else None)
        for c in STAR_CLASS_TARGETS:
            frame[c] = frame[c].round().astype(np.int64)
        return frame

    def evaluate(self, x: Any, y: Any, x_err: Any = None, y_err: Any = None, batch_size: int | None = None) -> dict[str, Any]:
        """Per-output metrics (see :func:`stellar_metrics`) and the physics-violation report."""
        frame = self.predict_frame(x)
        truth = pd.DataFrame(_targets_array(y), columns=STAR_TARGETS)
        return stellar_metrics(frame, truth) | {"physics_violation": physics_violation(frame)}

    def relation_parameters(self) -> dict[str, float]:
        """The fitted closed-form parameters (zero points, mass–luminosity exponent)."""
        self._check_fitted()
        net = self.network
        out = {f"zp_{k}": float(net.zero_points[i]) for i, k in enumerate(ZERO_POINT_NAMES)}
        out["ml_exponent"] = float(net.ml_exponent)
        out["ml_zero"] = float(net.ml_zero)
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"loss_scale": None if self._loss_scale is None else [float(v) for v in self._loss_scale]}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("loss_scale") is not None:
            self._loss_scale = np.asarray(state["loss_scale"], np.float64)


__all__ = [
    "StellarPhysicsModel",
    "encode_inputs",
    "stellar_metrics",
    "physics_violation",
    "seed_accuracy",
    "DERIVED_TARGETS",
    "REGRESSION_TARGETS",
]
