"""How the light-curve models' defaults were chosen: variants scored on a *validation* split cut from
the training part of the fixed 80/20 split — the test 20 % is never touched here.

    train, test = curves.split(0.2, seed=0)        # the acceptance split (bench/lightcurves_acceptance.py)
    fit, val = train.split(0.25, seed=1)           # this script: fit on `fit`, score on `val`

Usage::

    nice .venv/bin/python bench/lightcurves_defaults.py rr three snz   # tasks; one JSON line per variant
    nice .venv/bin/python bench/lightcurves_defaults.py snz --variants "{}" "{'lr': 1e-3}"

Every variant of a task runs in one process, so the per-curve period search is computed once
(``astrotorch.lightcurves.cache``). Output lines are JSON: task, model, keywords, validation scores,
epochs, seconds. Results are in docs/results/lightcurves.md ("Choosing the defaults").
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from astrotorch.lightcurves import LightCurveSet, load_rrlyrae_stripe82, load_snia_ztf_bts
from astrotorch.lightcurves.labels import encode_classes
from astrotorch.lightcurves.metrics import classification_report, redshift_metrics
from astrotorch.models import create_model

#: (model, keywords) tried per task by default
VARIANTS: dict[str, list[tuple[str, dict]]] = {
    "rr": [("lc_features", {}), ("lc_transformer", {}), ("lc_gru", {}),
           ("lc_transformer", {"period_inputs": False}), ("lc_gru", {"period_inputs": False})],
    "three": [("lc_features", {}), ("lc_transformer", {}), ("lc_gru", {})],
    "snz": [("lc_features", {}), ("lc_features", {"loss": "absolute_error"}), ("lc_transformer", {}),
            ("lc_transformer", {"restore_best": False}), ("lc_transformer", {"lr": 1e-3}),
            ("lc_transformer", {"loss": "huber"}), ("lc_gru", {})],
}


def data_root() -> Path:
    env = os.environ.get("ASTROTORCH_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    return root / "light_curves"


def task_data(task: str) -> tuple[LightCurveSet, LightCurveSet]:
    """(fit, val) of a task: the validation split inside the training part of split(0.2, seed=0)."""
    root = data_root()
    if task == "rr":
        curves = load_rrlyrae_stripe82(root)
    elif task == "three":
        curves = LightCurveSet(list(load_rrlyrae_stripe82(root)) + list(load_snia_ztf_bts(root)))
    elif task == "snz":
        curves = load_snia_ztf_bts(root)
    else:
        raise SystemExit(f"unknown task {task!r}: rr, three or snz")
    train, _ = curves.split(0.2, seed=0)
    return train.split(0.25, seed=1)


def score(task: str, name: str, kw: dict, fit: LightCurveSet, val: LightCurveSet) -> dict:
    t = time.time()
    if task == "snz":
        m = create_model(name, task="regression", progress="none", **kw).fit(fit, fit.meta_array("redshift"))
        r = redshift_metrics(val.meta_array("redshift"), np.asarray(m.predict(val)).reshape(-1))
        out = {"nmad": r["nmad"], "bias": r["bias"], "outlier_frac": r["outlier_frac"]}
    else:
        m = create_model(name, progress="none", **kw).fit(fit)
        r = classification_report(encode_classes(val.labels(), m.classes_), m.predict_proba(val), m.targetname,
                                  class_weights=None)
        out = {k: r[k] for k in ("accuracy", "macro_f1", "weighted_log_loss", "confusion_matrix")}
    hist = getattr(m, "history", None)
    return {"task": task, "model": name, "kw": kw, **out, "epochs": None if hist is None else len(hist),
            "seconds": round(time.time() - t, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="+", choices=sorted(VARIANTS))
    ap.add_argument("--models", nargs="*", default=None, help="only these models")
    ap.add_argument("--variants", nargs="*", default=None, help="keyword dicts (Python literals) instead of the list")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0], help="model seeds (weights, shuffling)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LC_BENCH_THREADS", 1)))
    for task in args.tasks:
        fit, val = task_data(task)
        variants = VARIANTS[task]
        if args.variants is not None:
            models = args.models or ["lc_transformer"]
            variants = [(m, ast.literal_eval(v)) for m in models for v in args.variants]
        elif args.models:
            variants = [(m, kw) for m, kw in variants if m in args.models]
        for name, kw in variants:
            for seed in args.seeds:
                print(json.dumps(score(task, name, {**kw, "seed": seed}, fit, val)), flush=True)


if __name__ == "__main__":
    main()
