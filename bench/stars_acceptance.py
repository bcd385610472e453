"""Acceptance figures for the physics-informed stellar model on the real Gaia DR3 "Fusion" set.

Fixed-seed 80/20 split of the labelled stars that are available (about a fifth of the full set is
held back by others). Trains ``StellarPhysicsModel`` on the training part and compares on the test
part with (a) gradient-boosted trees on log(Teff, L, R) (one per output, sklearn
HistGradientBoosting, trained on the same split) and (b) the formula g = G M / R² with the data set's
mass relation for log g. Prints per-output MAE, RMSE, median relative error, share within 1 %, the
seed's own "accuracy" (within 0.05×–1.05× of the truth), class accuracy/macro-F1, z-score std of
the uncertainties and the physics-violation rates.

Usage::

    nice .venv/bin/python bench/stars_acceptance.py [--epochs 100] [--seed 0] [--hidden 128] [--layers 3] [--json out.json]

Defaults are those of ``astrotorch train stars --data fusion`` (100 epochs, the model's likelihood). The
model's own validation split (10 % of the training stars, never trained on) is scored too, beside
trees fitted on the rest of the training stars: compare variants there, not on the test stars.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from astrotorch.datasets.stars import STAR_CLASS_TARGETS, load_gaia_dr3_stars, split_indices
from astrotorch.models.stars import (
    DERIVED_TARGETS,
    REGRESSION_TARGETS,
    StellarPhysicsModel,
    physics_violation,
    stellar_metrics,
)
from astrotorch.physics import stellar as ph
from astrotorch.train.baselines import stars_baseline, which_wins_table
from astrotorch.train.runs import to_jsonable


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--consistency-weight", type=float, default=0.01)
    ap.add_argument("--likelihood", default=None, choices=["gaussian", "laplace"], help="default: the model's")
    ap.add_argument("--json", default=None, help="also write all figures to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(1)

    inp, tgt = load_gaia_dr3_stars()
    tr, te = split_indices(len(inp), args.test_fraction, seed=args.seed)
    x_tr, y_tr, x_te, y_te = inp.iloc[tr], tgt.iloc[tr], inp.iloc[te], tgt.iloc[te]
    print(f"Fusion set: {len(inp)} stars, train {len(tr)}, test {len(te)} (split seed {args.seed})")

    t0 = time.time()
    model = StellarPhysicsModel(max_epochs=args.epochs, seed=args.seed, hidden=args.hidden, n_layers=args.layers,
                                consistency_weight=args.consistency_weight, accelerator="cpu",
                                **({"likelihood": args.likelihood} if args.likelihood else {})).fit(x_tr, y_tr)
    fit_s = time.time() - t0
    frame = model.predict_frame(x_te)
    ref = y_te.copy()
    for c in ("teff", "luminosity", "radius"):
        ref[f"{c}_completed"] = x_te[c].to_numpy()
    m_model = stellar_metrics(frame, y_te)
    v_model = physics_violation(frame, reference=ref)

    base = stars_baseline(x_tr, y_tr, x_te, y_te, seed=args.seed)
    m_gbt = base.metrics
    v_gbt = m_gbt["physics_violation"]
    m_gbt_mae = stars_baseline(x_tr, y_tr, x_te, y_te, seed=args.seed, loss="absolute_error").metrics

    # development figures: the model's own validation split (AstroModel._split's permutation of the
    # training rows), trees fitted on the remaining training stars
    n_val = int(round(len(tr) * model.val_size))
    perm = np.random.default_rng(model.seed).permutation(len(tr))
    va, fit_rows = perm[:n_val], perm[n_val:]
    m_dev = stellar_metrics(model.predict_frame(x_tr.iloc[va]), y_tr.iloc[va])
    dev_trees = {loss: stars_baseline(x_tr.iloc[fit_rows], y_tr.iloc[fit_rows], x_tr.iloc[va], y_tr.iloc[va], seed=args.seed,
                                      loss=loss).metrics for loss in ("squared_error", "absolute_error")}

    # log g from g = G M / R² with the data set's mass column relation (M = L^(2/7))
    logg_formula = ph.surface_gravity(x_te.luminosity ** (2 / 7), x_te.radius)
    formula_mae = float(np.mean(np.abs(logg_formula - y_te.logg)))

    # inputs with one of (Teff, L, R) removed: same predictions?
    partial = {}
    for drop in ("teff", "luminosity", "radius"):
        xp = x_te.copy()
        xp[drop] = np.nan
        fp = model.predict_frame(xp)
        partial[drop] = float(np.max(np.abs(fp["logg"] - frame["logg"])))

    print(f"\nStellarPhysicsModel: {len(model.history)} epochs, {fit_s:.0f} s; fitted relations:")
    for k, v in model.relation_parameters().items():
        print(f"  {k:28s} {v:.6g}")
    print("\n| output | model MAE | model RMSE | model med.rel.err | model within 1% | model seed-acc | GBT MAE | GBT RMSE | GBT within 1% | GBT seed-acc |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for t in REGRESSION_TARGETS:
        a, b = m_model[t], m_gbt[t]
        print(f"| {t} | {a['mae']:.4g} | {a['rmse']:.4g} | {a['median_rel_err']:.3g} | {a['frac_within_1pct']:.4f} | "
              f"{a['seed_accuracy']:.4f} | {b['mae']:.4g} | {b['rmse']:.4g} | {b['frac_within_1pct']:.4f} | {b['seed_accuracy']:.4f} |")
    print("\n| class | model accuracy | model macro-F1 | GBT accuracy | GBT macro-F1 |")
    print("|---|---|---|---|---|")
    for c in STAR_CLASS_TARGETS:
        print(f"| {c} | {m_model[c]['accuracy']:.4f} | {m_model[c]['macro_f1']:.4f} | {m_gbt[c]['accuracy']:.4f} | {m_gbt[c]['macro_f1']:.4f} |")
    print("\nUncertainty calibration (test z-score std, 68% coverage):")
    for t in ("logg", "mv", "mh"):
        print(f"  {t}: z_std {m_model[t]['z_std']:.3f}, coverage {m_model[t]['coverage_68']:.3f}")
    derived_ok = min(m_model[t]["frac_within_1pct"] for t in DERIVED_TARGETS)
    seed_avg = float(np.mean([m_model[t]["seed_accuracy"] for t in REGRESSION_TARGETS]))
    seed_avg_gbt = float(np.mean([m_gbt[t]["seed_accuracy"] for t in REGRESSION_TARGETS]))
    print(f"\nworst share of stars within 1 % over the {len(DERIVED_TARGETS)} formula-derived outputs: {derived_ok:.4f}")
    print(f"seed-style average 'accuracy' over the {len(REGRESSION_TARGETS)} regression outputs: model {seed_avg:.4f}, GBT {seed_avg_gbt:.4f}")
    print(f"log g from g = G M/R² with M = L^(2/7): MAE {formula_mae:.4f}")
    print(f"physics violation (share of stars breaking any exact relation by > 0.1 %): model {v_model['any_violation_rate']:.4f}, GBT {v_gbt['any_violation_rate']:.4f}")
    print(f"max |Δ log g| when one input is removed and completed by Stefan–Boltzmann: {partial}")
    print("\nWhich wins (test MAE, measured outputs):")
    print(which_wins_table(m_model, {"GBT": m_gbt, "GBT (absolute error)": m_gbt_mae}, outputs=["logg", "mv", "mh"],
                           model_name="model"))
    print(f"\nWhich wins on the model's validation split ({n_val} stars; development figures):")
    print(which_wins_table(m_dev, {"GBT": dev_trees["squared_error"], "GBT (absolute error)": dev_trees["absolute_error"]},
                           outputs=["logg", "mv", "mh"], model_name="model"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(to_jsonable({
                "split": {"seed": args.seed, "n_train": len(tr), "n_test": len(te)},
                "epochs": len(model.history), "fit_seconds": fit_s,
                "relations": model.relation_parameters(),
                "model": m_model, "model_physics_violation": v_model,
                "gbt": m_gbt, "gbt_physics_violation": v_gbt, "gbt_absolute_error": m_gbt_mae,
                "dev": {"n": n_val, "model": m_dev, "gbt": dev_trees["squared_error"],
                        "gbt_absolute_error": dev_trees["absolute_error"]},
                "likelihood": model.likelihood,
                "logg_formula_mae": formula_mae, "seed_accuracy_avg": {"model": seed_avg, "gbt": seed_avg_gbt},
                "missing_input_max_dlogg": partial,
            }), fh, indent=2)


if __name__ == "__main__":
    main()
