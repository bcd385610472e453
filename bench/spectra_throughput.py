"""Throughput of the APOGEE spectral models: training spectra/s and MC-dropout prediction spectra/s.

Measures, on synthetic 7,514-pixel spectra:

* training throughput of ApogeeBCNN (and ApogeeCNN, StarNet2017): optimiser steps (forward, robust_mse
  or MSE, backward, Adam) over ``--n-train`` spectra in mini-batches of ``--batch-size``, after one
  warm-up epoch; spectra per second;
* MC-dropout prediction throughput of ApogeeBCNN at ``--mc-num`` (default 100) samples per spectrum,
  vectorised (``astrotorch.uncertainty.mc_predict``, with the network's ``mc_split`` so the first
  convolution runs once per spectrum), spectra per second.

The network step loop is timed directly (no Lightning logging) so the number is the model's cost.
On a GPU machine it runs on CUDA (``--device cuda``) with optional bf16 autocast (``--bf16``).

Usage::

    nice python -m bench.spectra_throughput --threads 1
    python -m bench.spectra_throughput --device cuda --n-train 20000 --batch-size 256 --n-predict 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_throughput(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, bayesian: bool,
                     device: torch.device, bf16: bool, epochs: int = 1) -> float:
    """Spectra per second of training steps (after a one-batch-per-shape warm-up)."""
    from astrotorch.nn import losses

    net.train().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = x.shape[0]

    def step(xb: torch.Tensor, yb: torch.Tensor) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = net(xb)
        if bayesian:
            loss = losses.robust_mse(yb, out[0].float(), out[1].float())
        else:
            loss = losses.mean_squared_error(yb, out.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(x[:batch_size].to(device), y[:batch_size].to(device))  # warm-up (allocations, cuDNN autotune)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            step(x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True))
    _sync(device)
    return epochs * n / (time.perf_counter() - t0)


def mc_throughput(net: torch.nn.Module, x: torch.Tensor, mc_num: int, batch: int, device: torch.device,
                  bf16: bool) -> float:
    """Spectra per second of vectorised MC-dropout prediction with ``mc_num`` samples each."""
    from astrotorch.uncertainty import mc_predict

    net.eval().to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        mc_predict(net, x[: min(4, len(x))].to(device), n_samples=mc_num)
        _sync(device)
        t0 = time.perf_counter()
        for s in range(0, x.shape[0], batch):
            mc_predict(net, x[s:s + batch].to(device), n_samples=mc_num)
        _sync(device)
    return x.shape[0] / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--n-train", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n-predict", type=int, default=256)
    p.add_argument("--predict-batch", type=int, default=32, help="spectra per MC call (rows = this × mc-num)")
    p.add_argument("--mc-num", type=int, default=100)
    p.add_argument("--models", default="apogee_bcnn,apogee_cnn,starnet2017")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.models.arch.apogee import ApogeeBCNNNet, ApogeeCNNNet
    from astrotorch.models.arch.starnet import StarNet2017Net

    n = max(args.n_train, args.n_predict)
    ds = synthetic_spectra(n, seed=0)
    x = torch.as_tensor(ds.flux - ds.flux.mean(0, keepdims=True))  # input norm mode 3 (centred)
    lab = ds.labels_true[:, :3]
    y = torch.as_tensor(((lab - lab.mean(0)) / lab.std(0)).astype(np.float32))
    nets = {"apogee_bcnn": (ApogeeBCNNNet, True), "apogee_cnn": (ApogeeCNNNet, False), "starnet2017": (StarNet2017Net, False)}
    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "bf16": args.bf16,
        "batch_size": args.batch_size, "mc_num": args.mc_num,
    }
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        cls, bayes = nets[name]
        torch.manual_seed(0)
        net = cls(x.shape[1], 3)
        sps = train_throughput(net, x[: args.n_train], y[: args.n_train], args.batch_size, bayes, device, args.bf16)
        results[f"{name}_train_spectra_per_s"] = sps
        print(f"{name}: training {sps:.1f} spectra/s", flush=True)
        if bayes:
            mps = mc_throughput(net, x[: args.n_predict], args.mc_num, args.predict_batch, device, args.bf16)
            results[f"{name}_mc{args.mc_num}_predict_spectra_per_s"] = mps
            print(f"{name}: MC-dropout prediction ({args.mc_num} samples) {mps:.1f} spectra/s", flush=True)
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
