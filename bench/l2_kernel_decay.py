"""L2 on kernels only vs on every parameter (issue 19): the same model, data and seed trained twice.

``before``: Adam weight decay 2·l2 on every parameter (biases too), the behaviour until issue 19;
``after``: on the kernels only (``train.lightning_module.make_adam``). Galaxy10CNN (astroNN's l2 = 1e-4,
lr 0.005) on synthetic Galaxy10-like images, and ApogeeCNN (l2 = 1e-5) on synthetic spectra.

    python -m bench.l2_kernel_decay [--epochs 15] [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import astrotorch.train.lightning_module as lm


def _all_params_adam(params, lr: float, l2: float = 0.0) -> torch.optim.Adam:
    params = list(params)
    return torch.optim.Adam(params, lr=lr, eps=1e-7, weight_decay=2.0 * l2)


def run(model_name: str, data: tuple, epochs: int, decay_all: bool, **kw) -> dict:
    from astrotorch.models import create_model

    x_tr, y_tr, x_te, y_te = data
    original = lm.make_adam
    if decay_all:
        lm.make_adam = _all_params_adam
    try:
        t0 = time.perf_counter()
        m = create_model(model_name, max_epochs=epochs, seed=0, accelerator="cpu", progress="none", **kw).fit(x_tr, y_tr)
        dt = time.perf_counter() - t0
    finally:
        lm.make_adam = original
    res = m.evaluate(x_te, y_te)
    bias = float(sum(p.detach().abs().sum() for n, p in m.network.named_parameters() if p.ndim == 1))
    return {"metrics": res, "epochs_run": int(len(m.history)), "sum_abs_1d_params": bias, "fit_s": round(dt, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.datasets.synthetic_galaxies import synthetic_galaxy10

    out = {}
    img, lab = synthetic_galaxy10(args.n + 500, size=32, seed=1)
    gal = (img[: args.n], lab[: args.n], img[args.n :], lab[args.n :])
    spec = synthetic_spectra(args.n + 500, seed=1)
    sp = (spec.flux[: args.n], spec.labels[: args.n], spec.flux[args.n :], spec.labels[args.n :])
    for name, data in (("galaxy10_cnn", gal), ("apogee_cnn", sp)):
        for label, decay_all in (("before_all_params", True), ("after_kernels_only", False)):
            out[f"{name}/{label}"] = run(name, data, args.epochs, decay_all)
            print(name, label, json.dumps(out[f"{name}/{label}"], default=float)[:400], flush=True)
    print(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
