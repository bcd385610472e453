"""MC-dropout inference throughput of an ApogeeBCNN-shaped network (astroNN's GPU figure).

astroNN quotes about 65 s on a GTX 1060 for 98,000 APOGEE spectra × 7,514 pixels × 25 Monte Carlo
dropout samples. This script times the same workload through astrotorch's vectorised MC inference
(``astrotorch.uncertainty.mc_predict``: one forward pass over batch × samples, the deterministic
prefix computed once when the network offers ``mc_split``) on the astroNN ``ApogeeBCNN``
architecture (22 outputs + log-variances, dropout 0.3).

The spectra live in (optionally pinned) host memory and are copied batch by batch with
``non_blocking=True``, as a real prediction job streaming from disk would do. Options: bf16 autocast,
``torch.compile``, batch size. It also runs on CPU (default N is then small).

Usage::

    python -m bench.gpu_mc_throughput                      # CUDA if available: N=98000, 25 MC samples
    python -m bench.gpu_mc_throughput --bf16 --compile
    python -m bench.gpu_mc_throughput --device cpu --n 256 # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext

import numpy as np
import torch

N_PIXELS = 7514
N_LABELS = 22
ASTRONN_GTX1060_SECONDS = 65.0


def build_network(device: torch.device) -> torch.nn.Module:
    from astrotorch.models.arch.apogee import ApogeeBCNNNet

    torch.manual_seed(0)
    net = ApogeeBCNNNet(N_PIXELS, N_LABELS, num_filters=(2, 4), filter_len=8, pool_length=4,
                        num_hidden=(196, 96), dropout_rate=0.3)
    return net.to(device).eval()


class CompiledMC(torch.nn.Module):
    """``torch.compile`` both halves of the network's ``mc_split``.

    ``mc_predict`` runs ``mc_split()``'s prefix once and the stochastic rest on batch × samples rows;
    compiling only the outer module would leave those two (the actual work) uncompiled.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        prefix, rest = net.mc_split()
        self.prefix, self.rest = torch.compile(prefix), torch.compile(rest)

    def mc_split(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        return self.prefix, self.rest

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rest(self.prefix(x))


def make_spectra(n: int, pin: bool) -> torch.Tensor:
    """Continuum-normalised-looking random spectra (values around 1), float32, in host memory."""
    g = torch.Generator().manual_seed(1)
    x = torch.empty((n, N_PIXELS), dtype=torch.float32)
    step = 8192
    for s in range(0, n, step):  # fill in pieces: no second full-size temporary
        e = min(s + step, n)
        x[s:e] = 1.0 - 0.1 * torch.rand((e - s, N_PIXELS), generator=g)
    return x.pin_memory() if pin else x


def run(n: int, mc: int, batch_size: int, device: torch.device, bf16: bool, compile_net: bool, pin: bool,
        warmup_batches: int = 2) -> dict[str, float | int | str | bool]:
    from astrotorch.uncertainty import mc_predict

    net = build_network(device)
    if compile_net:
        net = CompiledMC(net)
    x_host = make_spectra(n, pin and device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def predict_all(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        means, stds = [], []
        stop = n if limit is None else min(n, limit * batch_size)
        with torch.inference_mode(), autocast:
            for s in range(0, stop, batch_size):
                xb = x_host[s : s + batch_size].to(device, non_blocking=True)
                res = mc_predict(net, xb, n_samples=mc, task="regression")
                means.append(res.mean.float().cpu())
                stds.append(res.total_std.float().cpu())
        return torch.cat(means).numpy(), torch.cat(stds).numpy()

    t0 = time.perf_counter()
    predict_all(limit=warmup_batches)  # cuDNN autotuning, compile, allocator warm-up
    sync()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mean, std = predict_all()
    sync()
    seconds = time.perf_counter() - t0
    assert mean.shape == (n, N_LABELS) and np.isfinite(mean).all() and np.isfinite(std).all()
    out: dict[str, float | int | str | bool] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "n_spectra": n, "n_pixels": N_PIXELS, "mc_samples": mc, "batch_size": batch_size, "bf16": bf16,
        "compile": compile_net, "pinned": pin and device.type == "cuda", "warmup_seconds": round(warm_s, 2),
        "seconds": round(seconds, 3), "spectra_per_second": round(n / seconds, 1),
        "forward_rows_per_second": round(n * mc / seconds, 1),
    }
    if device.type == "cuda":
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=None, help="spectra (default 98000 on CUDA, 256 on CPU)")
    ap.add_argument("--mc", type=int, default=25, help="Monte Carlo dropout samples")
    ap.add_argument("--batch-size", type=int, default=None, help="spectra per batch (default 2048 CUDA, 64 CPU)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network")
    ap.add_argument("--no-pin", action="store_true", help="do not pin host memory")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (CPU runs)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    n = args.n or (98_000 if cuda else 256)
    bs = args.batch_size or (2048 if cuda else 64)
    res = run(n, args.mc, bs, device, args.bf16, args.compile, not args.no_pin)
    print(f"{res['device']}: {n} spectra x {N_PIXELS} px x {args.mc} MC samples in {res['seconds']} s "
          f"-> {res['spectra_per_second']} spectra/s (bf16={args.bf16}, compile={args.compile}, "
          f"pinned={res['pinned']}, batch={bs})")
    if n == 98_000 and args.mc == 25:
        print(f"astroNN reference: ~{ASTRONN_GTX1060_SECONDS:.0f} s on a GTX 1060 "
              f"(speed-up x{ASTRONN_GTX1060_SECONDS / float(res['seconds']):.1f})")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
