"""astrotorch vs astroNN, side by side on identical data: training and MC-prediction throughput,
peak memory and accuracy, each as an astrotorch / astroNN ratio.

What it does
------------
1. Generates one data set per kind with astrotorch's own generators and writes it once as ``.npz``
   into ``--cache-dir`` (default ``.bench_cache/``, git-ignored):
   synthetic APOGEE-like spectra (``astrotorch.datasets.spectra.synthetic_spectra``, 7,514 pixels,
   22 labels; catalogue labels with their noise for training, noise-free labels for the test MAE)
   for ApogeeBCNN / ApogeeCNN / StarNet2017, and synthetic Galaxy10 images
   (``astrotorch.datasets.synthetic_galaxies.make_synthetic_galaxies``, uint8 g/r/z stamps) for
   Galaxy10CNN.
2. For every model and repeat, runs astroNN's model (the shared ``run_peer.py`` in the astroNN
   environment) and astrotorch's same-architecture model, each in its own subprocess, with the same
   epochs, batch size (astroNN's 64), validation fraction (astroNN's 10%), MC samples (100) and
   thread budget (``--threads``: OMP/MKL/TF intra- and inter-op threads; ``torch.set_num_threads``),
   alternating which side runs first from repeat to repeat and model to model.
3. Prints (and writes as JSON / markdown) a table of medians over the repeats:
   training samples/s after the first epoch (``n_train·0.9 / median epoch time``, validation
   included, the formula ``run_peer.py`` uses), prediction samples/s (Bayesian models: ``mc_num``
   MC samples), peak RSS of the child (``os.wait4``), and MAE per label (mean over repeats) or
   accuracy, each as astrotorch / astroNN. CPU seconds per epoch (process time, both threads
   summed) are reported too: on a shared machine they are less noisy than wall seconds.

Usage::

    python -m bench.vs_astronn                               # the default run (BENCHMARKS.md)
    python -m bench.vs_astronn --models apogee_bcnn --repeats 3
    python -m bench.vs_astronn --device cuda --astrotorch-only --n-train 20000   # GPU rows

When the astroNN environment cannot be found or built, the astroNN columns are left empty and the
reason is printed (exit status 0): CI never depends on the peer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

try:  # python -m bench.vs_astronn
    from bench import _peer
except ImportError:  # python bench/vs_astronn.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import _peer

REPO_ROOT = Path(__file__).resolve().parents[1]

#: astrotorch registry name → (astroNN class name, data kind, bayesian)
MODELS: dict[str, tuple[str, str, bool]] = {
    "apogee_bcnn": ("ApogeeBCNN", "spectra", True),
    "apogee_cnn": ("ApogeeCNN", "spectra", False),
    "starnet2017": ("StarNet2017", "spectra", False),
    "galaxy10_cnn": ("Galaxy10CNN", "galaxy", False),
}
#: astroNN's default validation fraction (run_peer.py keeps astroNN's defaults)
VAL_SIZE = 0.1

TARGETS = {
    "apogee_bcnn": {"train": 2.0, "predict": 5.0, "rss": 1.0},
    "galaxy10_cnn": {"train": 1.5},
}


# --------------------------------------------------------------------------------------- data
def _key(**kw: Any) -> str:
    return hashlib.sha1(json.dumps(kw, sort_keys=True).encode()).hexdigest()[:10]


def spectra_npz(cache: Path, n_train: int, n_test: int, snr: float, seed: int) -> Path:
    """Synthetic spectra as ``x_train, y_train, x_test, y_test, label_names`` (written once, then reused).

    ``y_train`` are the catalogue labels (truth + label noise, no missing entries, so both toolkits
    see exactly the same targets); ``y_test`` the noise-free labels the spectra were made from.
    """
    path = cache / f"spectra_{_key(n_train=n_train, n_test=n_test, snr=snr, seed=seed, v=1)}.npz"
    if path.is_file():
        return path
    from astrotorch.datasets.spectra import synthetic_spectra

    d = synthetic_spectra(n_train + n_test, snr=snr, seed=seed, missing_label_frac=0.0)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=d.flux[:n_train], y_train=d.labels[:n_train], x_test=d.flux[n_train:],
             y_test=d.labels_true[n_train:], label_names=np.array(d.label_names))
    os.replace(tmp, path)
    return path


def galaxy_npz(cache: Path, n_train: int, n_test: int, size: int, seed: int) -> Path:
    """Synthetic Galaxy10 images (uint8, (N, H, W, 3)) with one-hot labels (astroNN's format)."""
    path = cache / f"galaxy_{_key(n_train=n_train, n_test=n_test, size=size, seed=seed, v=1)}.npz"
    if path.is_file():
        return path
    from astrotorch.datasets.synthetic_galaxies import CLASS_NAMES, make_synthetic_galaxies

    g = make_synthetic_galaxies(n_train + n_test, size=size, seed=seed)
    onehot = np.eye(len(CLASS_NAMES), dtype=np.float32)[g.labels]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=g.images[:n_train], y_train=onehot[:n_train], x_test=g.images[n_train:],
             y_test=onehot[n_train:], label_names=np.array(CLASS_NAMES))
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------- metrics
def train_rate(n_train: int, epoch_s: list[float], val_size: float = VAL_SIZE) -> float:
    """Training samples/s after the first epoch (``run_peer.py``'s formula, for both sides)."""
    times = epoch_s[1:] or epoch_s
    if not times:
        return float("nan")
    return n_train * (1.0 - val_size) / float(np.median(times))


def accuracy_metrics(pred: np.ndarray, y_test: np.ndarray, classification: bool) -> dict[str, Any]:
    """MAE per label (regression; NaN/magic entries skipped) or accuracy (classification, one-hot truth)."""
    pred = np.asarray(pred, dtype=np.float64)
    if classification:
        return {"accuracy": float(np.mean(np.argmax(pred, 1) == np.argmax(y_test, 1)))}
    y = np.asarray(y_test, dtype=np.float64)
    r = np.abs(pred - y)
    r[~np.isfinite(r) | (y == -9999.0)] = np.nan
    return {"mae": np.nanmean(r, axis=0).tolist()}


def _median(vals: list[float]) -> float:
    vals = [v for v in vals if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if (np.isfinite(a) and np.isfinite(b) and b != 0) else float("nan")


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Medians over repeats per model and side, and the astrotorch / astroNN ratios."""
    out: dict[str, dict[str, Any]] = {}
    for model in dict.fromkeys(r["model"] for r in runs):
        row: dict[str, Any] = {"model": model}
        for side in ("astrotorch", "astroNN"):
            rs = [r for r in runs if r["model"] == model and r["side"] == side and r.get("ok")]
            s: dict[str, Any] = {"n_ok": len(rs)}
            s["train_per_s"] = _median([r["train_per_s"] for r in rs])
            s["train_cpu_s_per_1k"] = _median([r.get("train_cpu_s_per_1k", float("nan")) for r in rs])
            s["predict_per_s"] = _median([r["predict_per_s"] for r in rs])
            s["predict_cpu_s_per_1k"] = _median([r.get("predict_cpu_s_per_1k", float("nan")) for r in rs])
            s["peak_rss_mib"] = _median([r["peak_rss_mib"] for r in rs])
            s["epoch_s"] = [r["epoch_s"] for r in rs]
            if rs and "mae" in rs[0]:
                m = np.array([r["mae"] for r in rs], dtype=np.float64)
                s["mae_mean"] = m.mean(0).tolist()
                s["mae_std"] = (m.std(0, ddof=1) if len(rs) > 1 else np.full(m.shape[1], np.nan)).tolist()
            if rs and "accuracy" in rs[0]:
                a = np.array([r["accuracy"] for r in rs])
                s["accuracy_mean"] = float(a.mean())
                s["accuracy_std"] = float(a.std(ddof=1)) if len(a) > 1 else float("nan")
            if rs and rs[0].get("label_names"):
                row["label_names"] = rs[0]["label_names"]
            row[side] = s
        at, nn = row["astrotorch"], row["astroNN"]
        row["ratio"] = {
            "train": _ratio(at["train_per_s"], nn["train_per_s"]),
            # CPU seconds per 1000 samples: astroNN / astrotorch, so that > 1 means astrotorch is faster
            "train_cpu": _ratio(nn["train_cpu_s_per_1k"], at["train_cpu_s_per_1k"]),
            "predict": _ratio(at["predict_per_s"], nn["predict_per_s"]),
            "predict_cpu": _ratio(nn["predict_cpu_s_per_1k"], at["predict_cpu_s_per_1k"]),
            "rss": _ratio(at["peak_rss_mib"], nn["peak_rss_mib"]),
        }
        if "mae_mean" in at and "mae_mean" in nn:
            ma, mn = np.array(at["mae_mean"]), np.array(nn["mae_mean"])
            sa, sn = np.array(at["mae_std"]), np.array(nn["mae_std"])
            k = max(at["n_ok"], 1), max(nn["n_ok"], 1)
            # noise of the difference of the two means over repeats (standard errors in quadrature)
            se = np.sqrt(np.nan_to_num(sa) ** 2 / k[0] + np.nan_to_num(sn) ** 2 / k[1])
            ratios = ma / mn
            row["ratio"]["mae_per_label"] = ratios.tolist()
            row["ratio"]["mae_median"] = float(np.median(ratios))
            row["ratio"]["mae_worst"] = float(np.max(ratios))
            worse = (ma - mn) > 2.0 * se
            row["ratio"]["mae_labels_worse_2se"] = int(worse.sum()) if np.isfinite(se).all() and (se > 0).all() else None
        if "accuracy_mean" in at and "accuracy_mean" in nn:
            row["ratio"]["accuracy"] = _ratio(at["accuracy_mean"], nn["accuracy_mean"])
        out[model] = row
    return out


# --------------------------------------------------------------------------------------- formatting
def _f(v: Any, fmt: str = "{:.3g}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


def format_table(summary: dict[str, dict[str, Any]]) -> str:
    """Markdown table: value astrotorch / value astroNN / ratio for each quantity."""
    head = ("| model | train /s (at · nn · ratio) | train CPU-s per 1k (at · nn · speed-up) | predict /s (at · nn · ratio) "
            "| predict CPU-s per 1k (at · nn · speed-up) | peak RSS MiB (at · nn · ratio) | accuracy (at / nn) | repeats |")
    lines = [head, "|" + "---|" * 8]
    for model, row in summary.items():
        at, nn, r = row["astrotorch"], row["astroNN"], row["ratio"]
        if "mae_median" in r:
            acc = f"MAE ratio median {_f(r['mae_median'])}, worst {_f(r['mae_worst'])}"
            if r.get("mae_labels_worse_2se") is not None:
                acc += f"; {r['mae_labels_worse_2se']}/{len(r['mae_per_label'])} labels worse by > 2σ"
        elif "accuracy" in r:
            acc = (f"{_f(at['accuracy_mean'], '{:.3f}')} / {_f(nn['accuracy_mean'], '{:.3f}')} "
                   f"(ratio {_f(r['accuracy'])})")
        elif "accuracy_mean" in at:
            acc = f"{_f(at['accuracy_mean'], '{:.3f}')} / –"
        elif "mae_mean" in at:
            acc = "MAE astrotorch only"
        else:
            acc = "–"
        lines.append(
            f"| {MODELS.get(model, (model,))[0]} "
            f"| {_f(at['train_per_s'], '{:.0f}')} · {_f(nn['train_per_s'], '{:.0f}')} · **{_f(r['train'], '{:.2f}')}×** "
            f"| {_f(at['train_cpu_s_per_1k'], '{:.1f}')} · {_f(nn['train_cpu_s_per_1k'], '{:.1f}')} · {_f(r['train_cpu'], '{:.2f}')}× "
            f"| {_f(at['predict_per_s'])} · {_f(nn['predict_per_s'])} · **{_f(r['predict'], '{:.2f}')}×** "
            f"| {_f(at['predict_cpu_s_per_1k'], '{:.1f}')} · {_f(nn['predict_cpu_s_per_1k'], '{:.1f}')} · {_f(r['predict_cpu'], '{:.2f}')}× "
            f"| {_f(at['peak_rss_mib'], '{:.0f}')} · {_f(nn['peak_rss_mib'], '{:.0f}')} · **{_f(r['rss'], '{:.2f}')}** "
            f"| {acc} | {at['n_ok']} · {nn['n_ok']} |"
        )
    return "\n".join(lines)


def format_mae_table(row: dict[str, Any]) -> str:
    """Per-label MAE (mean ± std over repeats) for one regression model."""
    at, nn = row["astrotorch"], row["astroNN"]
    if "mae_mean" not in at:
        return ""
    names = row.get("label_names") or [f"label_{i}" for i in range(len(at["mae_mean"]))]
    has_nn = "mae_mean" in nn
    lines = ["| label | MAE astrotorch | MAE astroNN | ratio |", "|---|---|---|---|"]
    for j, name in enumerate(names):
        a = f"{at['mae_mean'][j]:.4g} ± {_f(at['mae_std'][j], '{:.2g}')}"
        b = f"{nn['mae_mean'][j]:.4g} ± {_f(nn['mae_std'][j], '{:.2g}')}" if has_nn else "–"
        r = _f(row["ratio"]["mae_per_label"][j], "{:.3f}") if has_nn else "–"
        lines.append(f"| {name} | {a} | {b} | {r} |")
    return "\n".join(lines)


def target_lines(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's targets, met or missed, with the measured ratios."""
    out = []
    b = summary.get("apogee_bcnn")
    if b:
        r = b["ratio"]
        out.append(f"ApogeeBCNN training ≥ 2×: {_f(r['train'], '{:.2f}')}× (CPU time {_f(r['train_cpu'], '{:.2f}')}×) "
                   f"→ {'met' if r['train'] >= 2 else 'MISSED'}")
        out.append(f"ApogeeBCNN MC prediction ≥ 5×: {_f(r['predict'], '{:.2f}')}× (CPU time {_f(r['predict_cpu'], '{:.2f}')}×) "
                   f"→ {'met' if r['predict'] >= 5 else 'MISSED'}")
        out.append(f"ApogeeBCNN peak RSS ≤ astroNN: {_f(r['rss'], '{:.2f}')} → {'met' if r['rss'] <= 1 else 'MISSED'}")
        if "mae_median" in r:
            w = r.get("mae_labels_worse_2se")
            out.append(f"ApogeeBCNN MAE no worse: median ratio {_f(r['mae_median'], '{:.3f}')}, "
                       f"{w if w is not None else '?'} labels worse by > 2σ of the repeat scatter")
    g = summary.get("galaxy10_cnn")
    if g:
        r = g["ratio"]
        out.append(f"Galaxy10CNN training ≥ 1.5×: {_f(r['train'], '{:.2f}')}× (CPU time {_f(r['train_cpu'], '{:.2f}')}×) "
                   f"→ {'met' if r['train'] >= 1.5 else 'MISSED'}; accuracy ratio {_f(r.get('accuracy'), '{:.3f}')}")
    return out


# --------------------------------------------------------------------------------------- astrotorch worker
def astrotorch_worker(a: argparse.Namespace) -> int:
    """Child process: train and time one astrotorch model on the .npz (``run_peer.py``'s JSON schema)."""
    import resource

    import torch

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(a.threads)
    except RuntimeError:
        pass
    import lightning
    import warnings

    warnings.filterwarnings("ignore")
    import astrotorch
    from astrotorch.models import create_model

    _, kind, bayesian = MODELS[a.model]
    d = np.load(a.data)
    x_train, y_train, x_test = d["x_train"], d["y_train"], d["x_test"]
    accel = {"cpu": "cpu", "cuda": "gpu"}.get(a.device, a.device)
    kw: dict[str, Any] = dict(max_epochs=a.epochs, batch_size=a.batch_size, val_size=VAL_SIZE, accelerator=accel,
                              seed=a.seed, early_stopping_patience=None)
    if bayesian:
        kw["mc_num"] = a.mc_num
    if a.precision:
        kw["precision"] = a.precision
    if kind == "galaxy":
        y_fit = np.argmax(y_train, 1)
    else:
        y_fit = y_train
    model = create_model(a.model, **kw)
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model.fit(x_train, y_fit)
    fit_s = time.perf_counter() - t0
    epoch_s = [float(v) for v in model.history["epoch_time_s"]]
    # warm-up call on a few rows (allocations, first-call dispatch) is not part of the timing, as in
    # astroNN where the Keras predict function is traced on its first batch inside the timed call
    c0, t0 = time.process_time(), time.perf_counter()
    out = model.predict(x_test)
    predict_s = time.perf_counter() - t0
    predict_cpu = time.process_time() - c0
    pred = out[0] if isinstance(out, tuple) else out
    res: dict[str, Any] = dict(
        model=a.model, astrotorch=astrotorch.__version__, torch=torch.__version__, lightning=lightning.__version__,
        device=a.device, n_train=len(x_train), n_test=len(x_test), epochs=a.epochs, batch_size=a.batch_size,
        mc_num=a.mc_num if bayesian else None, n_params=int(model.n_parameters()), epoch_s=epoch_s,
        epoch_cpu_s=getattr(_EPOCH_CPU, "times", []), fit_s=fit_s, predict_s=predict_s, predict_cpu_s=predict_cpu,
        train_per_s=train_rate(len(x_train), epoch_s), predict_per_s=len(x_test) / predict_s,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if a.device == "cuda":
        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    np.save(a.out + ".pred.npy", np.asarray(pred, np.float32))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=float)
    return 0


class _EpochCPU:
    """Process CPU seconds per training epoch, through a HistoryRecorder-like hook (see _install_cpu_timer)."""

    times: list[float] = []


_EPOCH_CPU = _EpochCPU()


def _install_cpu_timer() -> None:
    """Record process CPU seconds per epoch next to the wall seconds astrotorch's HistoryRecorder keeps.

    Only the benchmark's own bookkeeping: wraps HistoryRecorder's epoch hooks in this child process.
    """
    from astrotorch.nn import callbacks

    rec = callbacks.HistoryRecorder
    start, end = rec.on_train_epoch_start, rec.on_train_epoch_end

    def on_start(self, trainer, pl_module):  # type: ignore[no-untyped-def]
        self._cpu0 = time.process_time()
        return start(self, trainer, pl_module)

    def on_end(self, trainer, pl_module):  # type: ignore[no-untyped-def]
        out = end(self, trainer, pl_module)
        if getattr(self, "_cpu0", None) is not None:
            _EPOCH_CPU.times.append(time.process_time() - self._cpu0)
        return out

    rec.on_train_epoch_start, rec.on_train_epoch_end = on_start, on_end


# --------------------------------------------------------------------------------------- driver
def _versions() -> dict[str, str]:
    import lightning
    import torch

    import astrotorch

    return {"astrotorch": astrotorch.__version__, "torch": torch.__version__, "lightning": lightning.__version__,
            "python": platform.python_version(), "numpy": np.__version__, "cpu_count": str(os.cpu_count())}


def run_one(side: str, model: str, data: Path, a: argparse.Namespace, repeat: int, work: Path,
            peer_python: str | None) -> dict[str, Any]:
    """Run one side on one model in a subprocess; returns the parsed result plus child measurements."""
    astronn_name, kind, bayesian = MODELS[model]
    epochs = a.galaxy_epochs if (kind == "galaxy" and a.galaxy_epochs) else a.epochs
    out = work / f"{model}_{side}_r{repeat}.json"
    log = work / f"{model}_{side}_r{repeat}.log"
    for p in (out, Path(str(out) + ".pred.npy")):
        p.unlink(missing_ok=True)
    if side == "astrotorch":
        cmd = [sys.executable, "-m", "bench.vs_astronn", "--worker", "--model", model, "--data", str(data),
               "--epochs", str(epochs), "--batch-size", str(a.batch_size), "--mc-num", str(a.mc_num),
               "--threads", str(a.threads), "--device", a.device, "--seed", str(a.seed + repeat), "--out", str(out)]
        if a.precision:
            cmd += ["--precision", a.precision]
        env = _peer.thread_env(a.threads, a.device, omp_passive=not a.omp_active)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        cwd = REPO_ROOT
    else:
        assert peer_python is not None
        cmd = _peer.peer_command(peer_python, astronn_name, data, epochs, out, a.batch_size,
                                 a.mc_num if bayesian else None, script=a.peer_script, cpu_shim=not a.no_cpu_shim)
        env = _peer.thread_env(a.threads, "cpu", omp_passive=not a.omp_active)
        cwd = work
    if a.nice:
        cmd = ["nice", "-n", str(a.nice), *cmd]
    child = _peer.run_child(cmd, env=env, timeout=a.timeout, log_path=log, cwd=cwd)
    res: dict[str, Any] = {"side": side, "model": model, "repeat": repeat, "ok": False,
                           "child_wall_s": child.wall_s, "child_user_s": child.user_s, "child_sys_s": child.sys_s,
                           "peak_rss_mib": child.peak_rss_mib, "returncode": child.returncode,
                           "timed_out": child.timed_out}
    if child.returncode != 0 or not out.is_file():
        tail = "\n".join(child.log.strip().splitlines()[-8:])
        res["error"] = f"exit {child.returncode}{' (timed out)' if child.timed_out else ''}: {tail}"
        return res
    rep = json.loads(out.read_text())
    d = np.load(data)
    pred = np.load(str(out) + ".pred.npy")
    metrics = accuracy_metrics(pred, d["y_test"], kind == "galaxy")
    n_train_eff = rep["n_train"] * (1 - VAL_SIZE)
    res.update(
        ok=True, epoch_s=rep["epoch_s"], epoch_cpu_s=rep.get("epoch_cpu_s") or [], fit_s=rep.get("fit_s"),
        predict_s=rep["predict_s"], predict_cpu_s=rep.get("predict_cpu_s"),
        train_per_s=train_rate(rep["n_train"], rep["epoch_s"]), predict_per_s=rep["n_test"] / rep["predict_s"],
        self_peak_rss_mib=rep.get("peak_rss_mib"), n_params=rep.get("n_params"), n_train=rep["n_train"],
        n_test=rep["n_test"], versions={k: rep[k] for k in ("astroNN", "tf", "astrotorch", "torch", "lightning") if k in rep},
        label_names=[str(s) for s in d["label_names"]] if "label_names" in d else None,
        **metrics,
    )
    if "peak_gpu_mib" in rep:
        res["peak_gpu_mib"] = rep["peak_gpu_mib"]
    cpu = res["epoch_cpu_s"][1:] or res["epoch_cpu_s"]
    res["train_cpu_s_per_1k"] = float(np.median(cpu)) / n_train_eff * 1000 if cpu else float("nan")
    pc = res["predict_cpu_s"]
    res["predict_cpu_s_per_1k"] = pc / rep["n_test"] * 1000 if pc else float("nan")
    return res


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.vs_astronn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of: " + ", ".join(MODELS))
    ap.add_argument("--n-train", type=int, default=1280, help="training spectra (10%% of them validate)")
    ap.add_argument("--n-test", type=int, default=128, help="test spectra (MAE, prediction throughput)")
    ap.add_argument("--n-train-galaxy", type=int, default=1280)
    ap.add_argument("--n-test-galaxy", type=int, default=256)
    ap.add_argument("--galaxy-size", type=int, default=69, help="image side (Galaxy10 SDSS: 69)")
    ap.add_argument("--snr", type=float, default=100.0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--galaxy-epochs", type=int, default=None, help="epochs for Galaxy10CNN (default: --epochs)")
    ap.add_argument("--batch-size", type=int, default=64, help="astroNN's default 64")
    ap.add_argument("--mc-num", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="threads for both sides (torch / TF intra+inter op)")
    ap.add_argument("--omp-active", action="store_true",
                    help="keep OpenMP's default spin-wait (default: OMP_WAIT_POLICY=PASSIVE for both sides)")
    ap.add_argument("--nice", type=int, default=0, help="nice level applied equally to both sides")
    ap.add_argument("--device", default="cpu", help="astrotorch device: cpu or cuda")
    ap.add_argument("--precision", default=None, help="astrotorch precision, e.g. bf16-mixed (GPU rows)")
    ap.add_argument("--astrotorch-only", action="store_true", help="skip astroNN (GPU rows)")
    ap.add_argument("--peer-python", default=None, help="python of the astroNN environment (default: setup.sh)")
    ap.add_argument("--peer-script", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--no-build-peer", action="store_true", help="do not build the astroNN environment")
    ap.add_argument("--no-cpu-shim", action="store_true", help="run run_peer.py bare (no CPU-seconds columns)")
    ap.add_argument("--cache-dir", default=str(REPO_ROOT / ".bench_cache"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per child run")
    ap.add_argument("--json", default=None, help="write all runs + summary here (default: <cache>/vs_astronn.json)")
    ap.add_argument("--markdown", default=None, help="also write the tables to this markdown file")
    # worker mode (one astrotorch run in this process)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {list(MODELS)}")
    a.model_list = models
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.worker:
        _install_cpu_timer()
        return astrotorch_worker(a)
    cache = Path(a.cache_dir)
    work = cache / "runs"
    work.mkdir(parents=True, exist_ok=True)
    peer_python, peer_msg = None, "skipped (--astrotorch-only)"
    if not a.astrotorch_only:
        if a.peer_python and a.peer_script:  # a stand-in peer script (tests): take the python as given
            peer_python, peer_msg = a.peer_python, f"stand-in {a.peer_script}"
        else:
            peer_python, peer_msg = _peer.find_peer_python(a.peer_python, build=not a.no_build_peer)
        if peer_python is None:
            print(f"[vs_astronn] astroNN side skipped: {peer_msg}", flush=True)
        else:
            print(f"[vs_astronn] astroNN peer: {peer_python} ({peer_msg})", flush=True)
    sides = ["astrotorch"] + (["astroNN"] if peer_python else [])
    data: dict[str, Path] = {}
    t0 = time.perf_counter()
    for m in a.model_list:
        kind = MODELS[m][1]
        if kind == "spectra" and "spectra" not in data:
            data["spectra"] = spectra_npz(cache, a.n_train, a.n_test, a.snr, a.seed)
        if kind == "galaxy" and "galaxy" not in data:
            data["galaxy"] = galaxy_npz(cache, a.n_train_galaxy, a.n_test_galaxy, a.galaxy_size, a.seed)
    print(f"[vs_astronn] data ready in {time.perf_counter() - t0:.0f}s: {', '.join(str(p) for p in data.values())}", flush=True)
    runs: list[dict[str, Any]] = []
    for rep in range(a.repeats):
        for i, m in enumerate(a.model_list):
            order = sides if (rep + i) % 2 == 0 else sides[::-1]
            for side in order:
                r = run_one(side, m, data[MODELS[m][1]], a, rep, work, peer_python)
                r["order"] = order.index(side)
                runs.append(r)
                if r["ok"]:
                    extra = f"acc {r['accuracy']:.3f}" if "accuracy" in r else f"MAE[teff] {r['mae'][0]:.4g}"
                    print(f"[vs_astronn] r{rep} {m:13s} {side:10s} train {r['train_per_s']:8.1f}/s  "
                          f"predict {r['predict_per_s']:8.2f}/s  RSS {r['peak_rss_mib']:6.0f} MiB  {extra}  "
                          f"(epochs {', '.join(f'{t:.1f}' for t in r['epoch_s'])} s)", flush=True)
                else:
                    print(f"[vs_astronn] r{rep} {m} {side} FAILED: {r['error']}", flush=True)
    summary = summarise(runs)
    table = format_table(summary)
    parts = [table, ""]
    for m, row in summary.items():
        if MODELS[m][2]:
            parts += [f"Per-label MAE, {MODELS[m][0]} (mean ± std over repeats):", "", format_mae_table(row), ""]
    targets = target_lines(summary) if peer_python else []
    text = "\n".join(parts + (["Targets:"] + [f"- {t}" for t in targets] if targets else []))
    print("\n" + text)
    versions = _versions()
    for r in runs:
        versions.update({k: v for k, v in (r.get("versions") or {}).items() if k in ("astroNN", "tf")})
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(["python", "-m", "bench.vs_astronn", *(argv if argv is not None else sys.argv[1:])]),
            "versions": versions, "peer": peer_msg, "args": {k: v for k, v in vars(a).items() if k != "model_list"}}
    out_json = Path(a.json) if a.json else cache / "vs_astronn.json"
    out_json.write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1, default=float))
    print(f"\n[vs_astronn] {json.dumps(meta['versions'])}\n[vs_astronn] results: {out_json}")
    if a.markdown:
        Path(a.markdown).write_text(f"<!-- {meta['date']} · {meta['command']} -->\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
