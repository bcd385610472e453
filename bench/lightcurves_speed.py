"""Speed of the light-curve transformer: bucketed per-batch padding vs padding to the dataset's longest.

Usage::

    nice .venv/bin/python bench/lightcurves_speed.py [--n 600] [--epochs 1] [--device cpu|cuda]

Both runs train the same ``lc_transformer`` (same weights init, same data: synthetic LSST-like light
curves whose lengths range from ~100 to ~1000 points because 10% sit in deep-drilling fields):

* ``bucketed``: ``bucket=True, padding="batch"`` — batches of similar-length curves, each padded only
  to its own longest curve (the library default);
* ``straightforward``: ``bucket=False, padding="dataset"`` — random batches, every curve padded to the
  longest light curve in the data set (what a fixed-shape implementation such as the Keras seed does).

Reports seconds per training epoch (Lightning's epoch time, no validation) and inference throughput
(light curves per second, ``predict`` in length-sorted batches). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from astrotorch.datasets.synthetic_lightcurves import make_synthetic_lightcurves
from astrotorch.models.lightcurves import LightCurveTransformer


def epoch_seconds(model: LightCurveTransformer) -> float:
    h = model.history
    return float(np.median(h["epoch_time_s"])) if h is not None and "epoch_time_s" in h else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inference-only", action="store_true", help="skip the straightforward training run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = make_synthetic_lightcurves(args.n, seed=0)
    lengths = data.lengths
    acc = "gpu" if args.device == "cuda" else "cpu"
    res: dict = {"n": args.n, "device": args.device, "torch_threads": args.threads,
                 "length_min_median_max": [int(lengths.min()), int(np.median(lengths)), int(lengths.max())],
                 "padding_fraction_dataset": float(1 - lengths.sum() / (lengths.size * lengths.max()))}
    runs = [("bucketed", dict(bucket=True, padding="batch"))]
    if not args.inference_only:
        runs.append(("straightforward", dict(bucket=False, padding="dataset")))
    for name, kw in runs:
        m = LightCurveTransformer(max_epochs=args.epochs, batch_size=args.batch_size, val_size=0.0, seed=0,
                                  early_stopping_patience=None, accelerator=acc, d_model=64, n_layers=2, **kw)
        t = time.perf_counter()
        m.fit(data)
        wall = time.perf_counter() - t
        res[f"{name}_epoch_s"] = epoch_seconds(m)
        res[f"{name}_fit_wall_s"] = wall
        if name == "bucketed":
            m.predict(data[:64])  # warm-up
            t = time.perf_counter()
            m.predict(data, batch_size=128)
            res["inference_lc_per_s"] = args.n / (time.perf_counter() - t)
    if not args.inference_only:
        res["speedup_epoch"] = res["straightforward_epoch_s"] / res["bucketed_epoch_s"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
