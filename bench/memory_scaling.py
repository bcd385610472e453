"""Peak memory of streaming training: N vs 10·N synthetic APOGEE spectra read from HDF5 on disk.

For each size the synthetic spectra (``astrotorch.datasets.spectra``, 7,514 pixels, 22 labels with
missing entries) are generated block by block and written to a chunked, compressed HDF5 file
(``write_hdf5_dataset``: never more than one block in memory). Then a fresh Python process trains
``apogee_cnn`` for one epoch through the AstroModel API on an ``HDF5Dataset`` (normaliser statistics
in one streaming pass, DataLoader workers reading their own HDF5 handles) and reports its peak
resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``; DataLoader workers are separate processes
and reported separately, ``RUSAGE_CHILDREN``).

Usage::

    nice python -m bench.memory_scaling                   # N = 2000 and 20000
    python -m bench.memory_scaling --n 500 --factor 10 --workers 0
    python -m bench.memory_scaling --in-memory            # also the in-memory (numpy) baseline

Target: peak RSS(10·N) / peak RSS(N) <= 1.2 for streaming.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 500  # spectra generated per block (about 15 MB of float32 flux)


def _blocks(n: int, seed: int) -> Iterator[dict[str, Any]]:
    from astrotorch.datasets.spectra import synthetic_spectra

    for i, start in enumerate(range(0, n, BLOCK)):
        s = synthetic_spectra(min(BLOCK, n - start), seed=seed + i)
        yield {"x": s.flux, "y": s.labels, "y_err": s.label_err}


def generate(path: Path, n: int, seed: int = 0) -> Path:
    """Write ``n`` synthetic spectra to ``path`` in blocks (memory: one block)."""
    from astrotorch.datasets.streaming import write_hdf5_dataset

    if path.exists():
        return path
    return write_hdf5_dataset(path, _blocks(n, seed), attrs={"n": n, "seed": seed})


def _peak_mib() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024.0, child_kb / 1024.0


def child(path: str, workers: int, in_memory: bool, batch_size: int) -> None:
    """Train one epoch on ``path`` in this (fresh) process and print a JSON line with the figures."""
    import gc

    import torch

    torch.set_num_threads(1)
    from astrotorch.datasets.streaming import HDF5Dataset
    from astrotorch.models import create_model

    base_mib, _ = _peak_mib()  # after imports, before touching the data
    t0 = time.perf_counter()
    model = create_model("apogee_cnn", max_epochs=1, batch_size=batch_size, accelerator="cpu",
                         num_workers=workers, val_size=0.0, seed=0)
    if in_memory:
        from astrotorch.io import read_hdf5

        d = read_hdf5(path, keys=["x", "y"])
        model.fit(d["x"], d["y"])
        n = len(d["x"])
        del d
    else:
        ds = HDF5Dataset(path, y_err_key="y_err")
        n = len(ds)
        model.fit(ds)
    seconds = time.perf_counter() - t0
    model.trainer = None  # drop the loaders so worker processes exit and get reaped
    gc.collect()
    peak, workers_peak = _peak_mib()
    print(json.dumps({"n": n, "peak_rss_mib": round(peak, 1), "after_import_mib": round(base_mib, 1),
                      "worker_peak_rss_mib": round(workers_peak, 1), "fit_seconds": round(seconds, 1),
                      "in_memory": in_memory, "workers": workers}))


def run_child(path: Path, workers: int, in_memory: bool, batch_size: int) -> dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "bench.memory_scaling", "--child", str(path), "--workers", str(workers),
           "--batch-size", str(batch_size)] + (["--in-memory-child"] if in_memory else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="small set size N")
    ap.add_argument("--factor", type=int, default=10, help="the large set has factor*N spectra")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workdir", default=None, help="where the HDF5 files go (default: a temporary folder)")
    ap.add_argument("--in-memory", action="store_true", help="also measure in-memory (numpy) training")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--in-memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.workers, args.in_memory_child, args.batch_size)
        return

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="astrotorch-mem-")
        workdir = Path(tmp.name)
    else:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        sizes = [args.n, args.n * args.factor]
        results: dict[str, dict[str, Any]] = {}
        for n in sizes:
            t0 = time.perf_counter()
            path = generate(workdir / f"spectra_{n}.h5", n)
            gen_s = time.perf_counter() - t0
            r = run_child(path, args.workers, False, args.batch_size)
            r["generate_seconds"] = round(gen_s, 1)
            r["file_mib"] = round(path.stat().st_size / 2**20, 1)
            results[f"stream_{n}"] = r
            print(f"streaming N={n:>7}: peak RSS {r['peak_rss_mib']:8.1f} MiB (after imports {r['after_import_mib']:.1f}, "
                  f"workers {r['worker_peak_rss_mib']:.1f}), file {r['file_mib']} MiB, fit {r['fit_seconds']} s",
                  flush=True)
            if args.in_memory:
                m = run_child(path, 0, True, args.batch_size)
                results[f"memory_{n}"] = m
                print(f"in-memory N={n:>7}: peak RSS {m['peak_rss_mib']:8.1f} MiB, fit {m['fit_seconds']} s", flush=True)
        small, large = results[f"stream_{sizes[0]}"], results[f"stream_{sizes[1]}"]
        ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
        wratio = (large["worker_peak_rss_mib"] / small["worker_peak_rss_mib"]) if small["worker_peak_rss_mib"] else float("nan")
        print(f"peak RSS ratio (streaming, {args.factor}x data): main process {ratio:.3f}, workers {wratio:.3f} "
              f"(target <= 1.2)")
        if args.in_memory:
            mr = results[f"memory_{sizes[1]}"]["peak_rss_mib"] / results[f"memory_{sizes[0]}"]["peak_rss_mib"]
            print(f"peak RSS ratio (in-memory, {args.factor}x data): {mr:.3f}")
        print(json.dumps(results))
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
