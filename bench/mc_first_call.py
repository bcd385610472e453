"""First MC prediction call in fresh processes, side by side for two (or more) source trees.

Each measurement is a new Python process that imports astrotorch from one source tree (its
``PYTHONPATH``), ``load_folder``s a saved model and times its first ``predict`` call (what a user who
loads a model to predict a few hundred spectra waits for), then the best of ``--later`` further calls,
with the process CPU seconds of the first. Processes alternate between the trees, so drift of the
machine's speed hits every tree alike; the summary gives medians over ``--runs`` processes per tree.

Without ``--folder`` it first fits an ApogeeBCNN (5 epochs on ``bench.vs_astronn``'s 1,280 synthetic
spectra, seed 0) with the first tree and predicts that data's 128 test spectra.

Usage::

    python -m bench.mc_first_call --src /path/to/old/checkout/src --src src --runs 6
    python -m bench.mc_first_call --folder runs/bcnn/model --data spectra.npz --src src --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_T_START = time.perf_counter()

if __package__ in (None, ""):  # run as `python bench/mc_first_call.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _peer  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def worker(a: argparse.Namespace) -> int:
    """Child process: load the folder, time the first ``predict`` and the best of the later ones (JSON on stdout)."""
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    import astrotorch
    from astrotorch.models import load_folder

    x = np.load(a.data)["x_test"]
    model = load_folder(a.folder)
    c0, t0 = time.process_time(), time.perf_counter()
    model.predict(x)
    first_s, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    later = []
    for _ in range(a.later):
        t0 = time.perf_counter()
        model.predict(x)
        later.append(time.perf_counter() - t0)
    print(json.dumps(dict(astrotorch=str(Path(astrotorch.__file__).parent), n=len(x), first_s=first_s,
                          first_cpu_s=first_cpu, later_s=min(later) if later else None)))
    return 0


def fit_folder(src: str, cache: Path, threads: int) -> tuple[Path, Path]:
    """An ApogeeBCNN folder fitted with the tree ``src`` on ``bench.vs_astronn``'s default data."""
    from bench.vs_astronn import spectra_npz

    data = spectra_npz(cache, 1280, 128, 100.0, 0)
    folder = cache / "mc_first_call_bcnn"
    if not (folder / "config.json").is_file():
        code = (f"import numpy as np, torch; torch.set_num_threads({threads}); "
                "from astrotorch.models import create_model; "
                f"d = np.load({str(data)!r}); m = create_model('apogee_bcnn', max_epochs=5, batch_size=64, seed=0, "
                "early_stopping_patience=None, progress='none'); m.fit(d['x_train'], d['y_train']); "
                f"m.save({str(folder)!r}, overwrite=True)")
        subprocess.run([sys.executable, "-c", code], env=_env(src, threads, True), check=True)
    return folder, data


def _env(src: str, threads: int, passive: bool) -> dict[str, str]:
    env = _peer.thread_env(threads, "cpu", omp_passive=passive)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), str(REPO_ROOT)])
    return env


def summarise(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown table: per tree, median first-call and later-call spectra/s and first-call CPU seconds."""
    lines = ["| source tree | processes | first call, spectra/s (median; min–max) | later calls, spectra/s (median) "
             "| first call CPU s (median) |", "|---|---|---|---|---|"]
    for src, rs in runs.items():
        first = [r["n"] / r["first_s"] for r in rs]
        later = [r["n"] / r["later_s"] for r in rs if r.get("later_s")]
        lines.append(f"| {src} | {len(rs)} | {statistics.median(first):.1f} ({min(first):.1f}–{max(first):.1f}) | "
                     f"{statistics.median(later):.1f} | {statistics.median(r['first_cpu_s'] for r in rs):.3f} |"
                     if later else
                     f"| {src} | {len(rs)} | {statistics.median(first):.1f} ({min(first):.1f}–{max(first):.1f}) | – | "
                     f"{statistics.median(r['first_cpu_s'] for r in rs):.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.mc_first_call", description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", action="append", default=None,
                    help="a source tree holding the astrotorch package (repeat for an A/B; default: src)")
    ap.add_argument("--folder", default=None, help="saved model folder (default: fit an ApogeeBCNN)")
    ap.add_argument("--data", default=None, help=".npz with x_test (default: bench.vs_astronn's spectra)")
    ap.add_argument("--runs", type=int, default=6, help="fresh processes per source tree")
    ap.add_argument("--later", type=int, default=3, help="further predict calls per process (best one kept)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--omp-active", action="store_true", help="keep OpenMP's spin-wait (default: PASSIVE)")
    ap.add_argument("--cache", default=str(REPO_ROOT / ".bench_cache"))
    ap.add_argument("--json", default=None, help="write every process's figures here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker(a)
    srcs = a.src or [str(REPO_ROOT / "src")]
    for s in srcs:
        if not (Path(s) / "astrotorch" / "__init__.py").is_file():
            ap.error(f"--src {s}: no astrotorch package there")
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    if a.folder is None:
        folder, data = fit_folder(srcs[0], Path(a.cache), a.threads)
    elif a.data is None:
        ap.error("--folder needs --data (an .npz with x_test)")
    else:
        folder, data = Path(a.folder), Path(a.data)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in srcs}
    for i in range(a.runs):
        for s in srcs:
            cmd = [sys.executable, "-m", "bench.mc_first_call", "--worker", "--folder", str(folder), "--data", str(data),
                   "--threads", str(a.threads), "--later", str(a.later)]
            out = subprocess.run(cmd, env=_env(s, a.threads, not a.omp_active), cwd=REPO_ROOT, check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            if Path(r["astrotorch"]).resolve() != (Path(s) / "astrotorch").resolve():
                raise RuntimeError(f"the child imported astrotorch from {r['astrotorch']}, not from {s}")
            runs[s].append(r)
            print(f"[mc_first_call] {i} {s}: first {r['n'] / r['first_s']:.1f}/s", flush=True)
    print(summarise(runs))
    if a.json:
        Path(a.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
