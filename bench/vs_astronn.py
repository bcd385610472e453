"""astrotorch vs astroNN, side by side on identical data: training and MC-prediction throughput,
peak memory and accuracy, each as an astrotorch / astroNN ratio, from a cold and a warm start.

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
   environment) and astrotorch's same-architecture model through the public API only, each in its
   own subprocesses, with the same epochs, batch size (astroNN's 64), validation fraction
   (astroNN's 10%), MC samples (100) and thread budget (``--threads``), rotating the order from
   repeat to repeat. An astrotorch run is two fresh processes: one calls ``create_model``, ``fit``,
   ``predict`` and ``save``; the next calls ``load_folder`` and ``predict`` (the first call of a user
   who loads a trained model). Each astrotorch run is made per ``--precision`` and per start:
   **cold** — both processes see an empty ``TORCHINDUCTOR_CACHE_DIR`` of their own (a fresh machine,
   container or CI runner); **warm** — they share an inductor cache filled by an unmeasured run
   beforehand. astroNN keeps no compilation cache between processes (TensorFlow traces its
   functions in every process), so its runs are the reference for both.
3. Prints (and writes as JSON / markdown) a table of medians over the repeats: the first epoch's
   seconds on their own; training samples/s over all epochs (first included) and after the first
   epoch (``n_train·0.9 / median epoch time``, validation included, ``run_peer.py``'s formula);
   prediction samples/s of the first ``predict`` call in the fresh process (Bayesian models:
   ``mc_num`` MC samples; astroNN: its first call after ``fit``) and of astrotorch's call after
   ``fit``; peak RSS of the fitting process (``os.wait4``); MAE per label (mean over repeats) or
   accuracy. CPU seconds per epoch (process time, all threads) are reported too: on a shared
   machine they are less noisy than wall seconds. Cold runs also report how many files the
   compiler left in their inductor cache (0: nothing was compiled).

Usage::

    python -m bench.vs_astronn                               # the default run (BENCHMARKS.md)
    python -m bench.vs_astronn --models apogee_bcnn --threads 2 --repeats 3 --epochs 5 \
        --precision 32-true,bf16-mixed                       # the cold/warm table of BENCHMARKS.md
    python -m bench.vs_astronn --device cuda --astrotorch-only --n-train 20000   # GPU rows

When the astroNN environment cannot be found or built, the astroNN columns are left empty and the
reason is printed (exit status 0): CI never depends on the peer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python bench/vs_astronn.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _peer  # noqa: E402
from bench._vs_report import (  # noqa: E402
    MODELS,
    TARGETS,
    VAL_SIZE,
    accuracy_metrics,
    format_mae_table,
    format_table,
    summarise,
    target_lines,
    train_rate,
    train_rate_all,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
_T_START = time.perf_counter()


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


# --------------------------------------------------------------------------------------- astrotorch workers
def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass


def _predict_outputs(model: Any, x: np.ndarray) -> Any:
    """What astroNN's ``predict`` returns: class probabilities for classifiers (``predict_proba``;
    astrotorch's ``predict`` gives labels), the prediction (and uncertainties) for regressors."""
    if getattr(model, "task", None) == "classification":
        return model.predict_proba(x)
    return model.predict(x)


def astrotorch_worker(a: argparse.Namespace) -> int:
    """Child process: ``create_model``, ``fit``, ``predict`` (timed), ``save`` (``run_peer.py``'s JSON schema)."""
    import resource
    import warnings

    import torch

    _set_threads(a.threads)
    import lightning

    warnings.filterwarnings("ignore")
    import astrotorch
    from astrotorch.models import create_model

    import_s = time.perf_counter() - _T_START
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
    y_fit = np.argmax(y_train, 1) if kind == "galaxy" else y_train
    model = create_model(a.model, **kw)
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model.fit(x_train, y_fit)
    fit_s = time.perf_counter() - t0
    epoch_s = [float(v) for v in model.history["epoch_time_s"]]
    # the first predict call of this process (as astroNN's, whose Keras function is traced inside it)
    c0, t0 = time.process_time(), time.perf_counter()
    out = _predict_outputs(model, x_test)
    predict_s = time.perf_counter() - t0
    predict_cpu = time.process_time() - c0
    pred = out[0] if isinstance(out, tuple) else out
    res: dict[str, Any] = dict(
        model=a.model, astrotorch=astrotorch.__version__, torch=torch.__version__, lightning=lightning.__version__,
        device=a.device, precision=a.precision or "32-true", n_train=len(x_train), n_test=len(x_test),
        epochs=a.epochs, batch_size=a.batch_size, mc_num=a.mc_num if bayesian else None,
        n_params=int(model.n_parameters()), import_s=import_s, epoch_s=epoch_s,
        epoch_cpu_s=getattr(_EPOCH_CPU, "times", []), fit_s=fit_s, predict_s=predict_s, predict_cpu_s=predict_cpu,
        train_per_s=train_rate(len(x_train), epoch_s), predict_per_s=len(x_test) / predict_s,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    if a.device == "cuda":
        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if a.save_folder:
        model.save(a.save_folder, overwrite=True)
    np.save(a.out + ".pred.npy", np.asarray(pred, np.float32))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=float)
    return 0


def predict_worker(a: argparse.Namespace) -> int:
    """Child process: ``load_folder`` a saved model and time its first ``predict`` call."""
    import resource
    import warnings

    import torch

    _set_threads(a.threads)
    warnings.filterwarnings("ignore")
    from astrotorch.models import load_folder

    import_s = time.perf_counter() - _T_START
    x_test = np.load(a.data)["x_test"]
    t0 = time.perf_counter()
    model = load_folder(a.folder)
    load_s = time.perf_counter() - t0
    c0, t0 = time.process_time(), time.perf_counter()
    out = _predict_outputs(model, x_test)
    predict_s = time.perf_counter() - t0
    predict_cpu = time.process_time() - c0
    pred = out[0] if isinstance(out, tuple) else out
    res = dict(import_s=import_s, load_s=load_s, predict_s=predict_s, predict_cpu_s=predict_cpu,
               n_test=len(x_test), predict_per_s=len(x_test) / predict_s, torch=torch.__version__,
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
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


def _files_in(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _child(cmd: list[str], env: dict[str, str], a: argparse.Namespace, log: Path, cwd: Path) -> _peer.ChildResult:
    if a.nice:
        cmd = ["nice", "-n", str(a.nice), *cmd]
    return _peer.run_child(cmd, env=env, timeout=a.timeout, log_path=log, cwd=cwd)


def _failed(res: dict[str, Any], child: _peer.ChildResult, out: Path) -> bool:
    if child.returncode == 0 and out.is_file():
        return False
    tail = "\n".join(child.log.strip().splitlines()[-8:])
    res["error"] = f"exit {child.returncode}{' (timed out)' if child.timed_out else ''}: {tail}"
    return True


def run_astrotorch(model: str, data: Path, a: argparse.Namespace, repeat: int, work: Path, precision: str,
                   mode: str, epochs: int, warm_cache: Path | None = None) -> dict[str, Any]:
    """One astrotorch run: a fit process (fit, predict, save) and a fresh predict process (load, predict).

    ``mode="cold"``: each process gets a new empty inductor cache; ``"warm"``: both use ``warm_cache``.
    ``repeat`` −1 is the unmeasured warm-up run.
    """
    tag = f"{model}_astrotorch_{precision}_{mode}_r{repeat}"
    out, out_p = work / f"{tag}.json", work / f"{tag}.predict.json"
    folder = work / f"{tag}_model"
    for p in (out, out_p, Path(str(out) + ".pred.npy"), Path(str(out_p) + ".pred.npy")):
        p.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    res: dict[str, Any] = {"side": "astrotorch", "model": model, "precision": precision, "mode": mode,
                           "repeat": repeat, "ok": False}
    env = _peer.thread_env(a.threads, a.device, omp_passive=not a.omp_active)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    common = ["--data", str(data), "--threads", str(a.threads), "--device", a.device]
    fit_cmd = [sys.executable, "-m", "bench.vs_astronn", "--worker", "--model", model, *common, "--epochs", str(epochs),
               "--batch-size", str(a.batch_size), "--mc-num", str(a.mc_num), "--seed", str(a.seed + max(repeat, 0)),
               "--out", str(out), "--save-folder", str(folder), "--precision", precision]
    pred_cmd = [sys.executable, "-m", "bench.vs_astronn", "--worker-predict", "--folder", str(folder), *common,
                "--out", str(out_p)]
    with tempfile.TemporaryDirectory(prefix="inductor-cold-", dir=work) as cold:
        caches = [Path(cold) / "fit", Path(cold) / "predict"] if mode == "cold" else [warm_cache, warm_cache]
        env["TORCHINDUCTOR_CACHE_DIR"] = str(caches[0])
        child = _child(fit_cmd, env, a, work / f"{tag}.log", REPO_ROOT)
        res.update(child_wall_s=child.wall_s, child_user_s=child.user_s, child_sys_s=child.sys_s,
                   peak_rss_mib=child.peak_rss_mib, returncode=child.returncode, timed_out=child.timed_out)
        if _failed(res, child, out):
            return res
        env["TORCHINDUCTOR_CACHE_DIR"] = str(caches[1])
        child_p = _child(pred_cmd, env, a, work / f"{tag}.predict.log", REPO_ROOT)
        if _failed(res, child_p, out_p):
            return res
        if mode == "cold":
            res["compiled_files"] = _files_in(Path(cold))
    rep, rep_p = json.loads(out.read_text()), json.loads(out_p.read_text())
    d = np.load(data)
    n_fit = rep["n_train"] * (1 - VAL_SIZE)
    res.update(
        ok=True, epoch_s=rep["epoch_s"], epoch_cpu_s=rep.get("epoch_cpu_s") or [], fit_s=rep.get("fit_s"),
        first_epoch_s=rep["epoch_s"][0] if rep["epoch_s"] else float("nan"),
        train_per_s=train_rate(rep["n_train"], rep["epoch_s"]), train_all_per_s=train_rate_all(rep["n_train"], rep["epoch_s"]),
        fit_predict_s=rep["predict_s"], fit_predict_per_s=rep["n_test"] / rep["predict_s"],
        predict_s=rep_p["predict_s"], predict_per_s=rep_p["n_test"] / rep_p["predict_s"], predict_cpu_s=rep_p["predict_cpu_s"],
        load_s=rep_p["load_s"], import_s=rep.get("import_s"), predict_peak_rss_mib=child_p.peak_rss_mib,
        self_peak_rss_mib=rep.get("peak_rss_mib"), n_params=rep.get("n_params"), n_train=rep["n_train"], n_test=rep["n_test"],
        versions={k: rep[k] for k in ("astrotorch", "torch", "lightning") if k in rep},
        label_names=[str(s) for s in d["label_names"]] if "label_names" in d else None,
        **accuracy_metrics(np.load(str(out) + ".pred.npy"), d["y_test"], MODELS[model][1] == "galaxy"),
    )
    # the saved model predicts the same as the fitted one (MC noise aside)
    res["fresh_vs_fit_pred_max_abs"] = float(np.nanmax(np.abs(np.load(str(out_p) + ".pred.npy") - np.load(str(out) + ".pred.npy"))))
    if "peak_gpu_mib" in rep:
        res["peak_gpu_mib"] = rep["peak_gpu_mib"]
    cpu = res["epoch_cpu_s"][1:] or res["epoch_cpu_s"]
    res["train_cpu_s_per_1k"] = float(np.median(cpu)) / n_fit * 1000 if cpu else float("nan")
    res["predict_cpu_s_per_1k"] = rep_p["predict_cpu_s"] / rep_p["n_test"] * 1000
    return res


def run_peer(model: str, data: Path, a: argparse.Namespace, repeat: int, work: Path, peer_python: str,
             epochs: int) -> dict[str, Any]:
    """One astroNN run (``run_peer.py`` in the peer environment)."""
    astronn_name, kind, bayesian = MODELS[model]
    out, log = work / f"{model}_astroNN_r{repeat}.json", work / f"{model}_astroNN_r{repeat}.log"
    for p in (out, Path(str(out) + ".pred.npy")):
        p.unlink(missing_ok=True)
    cmd = _peer.peer_command(peer_python, astronn_name, data, epochs, out, a.batch_size,
                             a.mc_num if bayesian else None, script=a.peer_script, cpu_shim=not a.no_cpu_shim)
    child = _child(cmd, _peer.thread_env(a.threads, "cpu", omp_passive=not a.omp_active), a, log, work)
    res: dict[str, Any] = {"side": "astroNN", "model": model, "repeat": repeat, "ok": False,
                           "child_wall_s": child.wall_s, "child_user_s": child.user_s, "child_sys_s": child.sys_s,
                           "peak_rss_mib": child.peak_rss_mib, "returncode": child.returncode, "timed_out": child.timed_out}
    if _failed(res, child, out):
        return res
    rep = json.loads(out.read_text())
    d = np.load(data)
    n_fit = rep["n_train"] * (1 - VAL_SIZE)
    res.update(
        ok=True, epoch_s=rep["epoch_s"], epoch_cpu_s=rep.get("epoch_cpu_s") or [], fit_s=rep.get("fit_s"),
        first_epoch_s=rep["epoch_s"][0] if rep["epoch_s"] else float("nan"),
        train_per_s=train_rate(rep["n_train"], rep["epoch_s"]), train_all_per_s=train_rate_all(rep["n_train"], rep["epoch_s"]),
        predict_s=rep["predict_s"], predict_cpu_s=rep.get("predict_cpu_s"), predict_per_s=rep["n_test"] / rep["predict_s"],
        self_peak_rss_mib=rep.get("peak_rss_mib"), n_params=rep.get("n_params"), n_train=rep["n_train"],
        n_test=rep["n_test"], versions={k: rep[k] for k in ("astroNN", "tf") if k in rep},
        label_names=[str(s) for s in d["label_names"]] if "label_names" in d else None,
        **accuracy_metrics(np.load(str(out) + ".pred.npy"), d["y_test"], kind == "galaxy"),
    )
    cpu = res["epoch_cpu_s"][1:] or res["epoch_cpu_s"]
    res["train_cpu_s_per_1k"] = float(np.median(cpu)) / n_fit * 1000 if cpu else float("nan")
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
    ap.add_argument("--precision", default="32-true",
                    help="astrotorch precision(s), comma list, e.g. 32-true,bf16-mixed (one row each)")
    ap.add_argument("--modes", default="cold,warm",
                    help="astrotorch starts: cold (empty inductor cache per process), warm (a filled one)")
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
    # worker modes (one astrotorch process)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-predict", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--save-folder", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {list(MODELS)}")
    a.model_list = models
    a.precision_list = [p.strip() for p in str(a.precision).split(",") if p.strip()] or ["32-true"]
    a.mode_list = [m.strip() for m in a.modes.split(",") if m.strip()]
    if not a.mode_list or any(m not in ("cold", "warm") for m in a.mode_list):
        ap.error(f"--modes takes cold and/or warm, got {a.modes!r}")
    if a.worker:
        a.precision = a.precision_list[0]
    return a


def _jobs(a: argparse.Namespace, model: str, has_peer: bool) -> list[tuple[str, str | None, str | None]]:
    """(side, precision, mode) of one repeat of one model."""
    jobs: list[tuple[str, str | None, str | None]] = [("astroNN", None, None)] if has_peer else []
    jobs += [("astrotorch", p, m) for p in a.precision_list for m in a.mode_list]
    return jobs


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.worker:
        _install_cpu_timer()
        return astrotorch_worker(a)
    if a.worker_predict:
        return predict_worker(a)
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
    data: dict[str, Path] = {}
    t0 = time.perf_counter()
    for m in a.model_list:
        kind = MODELS[m][1]
        if kind == "spectra" and "spectra" not in data:
            data["spectra"] = spectra_npz(cache, a.n_train, a.n_test, a.snr, a.seed)
        if kind == "galaxy" and "galaxy" not in data:
            data["galaxy"] = galaxy_npz(cache, a.n_train_galaxy, a.n_test_galaxy, a.galaxy_size, a.seed)
    print(f"[vs_astronn] data ready in {time.perf_counter() - t0:.0f}s: {', '.join(str(p) for p in data.values())}", flush=True)
    warm_cache = cache / "inductor-warm"
    runs: list[dict[str, Any]] = []
    for m in a.model_list:
        kind = MODELS[m][1]
        epochs = a.galaxy_epochs if (kind == "galaxy" and a.galaxy_epochs) else a.epochs
        if "warm" in a.mode_list:
            # fill the warm cache with one unmeasured run per precision (what an earlier session leaves)
            for p in a.precision_list:
                r = run_astrotorch(m, data[kind], a, -1, work, p, "warm", epochs, warm_cache)
                print(f"[vs_astronn] warm-up {m} {p}: {'ok' if r['ok'] else r['error']}", flush=True)
        jobs = _jobs(a, m, peer_python is not None)
        for rep in range(a.repeats):
            k = rep % len(jobs)
            for side, precision, mode in jobs[k:] + jobs[:k]:  # rotate the order from repeat to repeat
                if side == "astroNN":
                    assert peer_python is not None
                    r = run_peer(m, data[kind], a, rep, work, peer_python, epochs)
                else:
                    r = run_astrotorch(m, data[kind], a, rep, work, precision, mode, epochs, warm_cache)
                runs.append(r)
                what = f"{side:10s}" + (f" {precision} {mode}" if side == "astrotorch" else "")
                if r["ok"]:
                    extra = f"acc {r['accuracy']:.3f}" if "accuracy" in r else f"MAE[0] {r['mae'][0]:.4g}"
                    print(f"[vs_astronn] r{rep} {m:13s} {what}: train {r['train_per_s']:7.1f}/s "
                          f"(all epochs {r['train_all_per_s']:7.1f}/s) predict {r['predict_per_s']:7.2f}/s "
                          f"RSS {r['peak_rss_mib']:5.0f} MiB {extra} (epochs {', '.join(f'{t:.2f}' for t in r['epoch_s'])} s)",
                          flush=True)
                else:
                    print(f"[vs_astronn] r{rep} {m} {what} FAILED: {r['error']}", flush=True)
    summary = summarise(runs)
    parts = [format_table(summary), ""]
    for key, row in summary.items():
        if MODELS[row["model"]][2]:
            parts += [f"Per-label MAE, {key} (mean ± std over repeats):", "", format_mae_table(row), ""]
    targets = target_lines(summary) if peer_python else []
    text = "\n".join(parts + (["Targets:"] + [f"- {t}" for t in targets] if targets else []))
    print("\n" + text)
    versions = _versions()
    for r in runs:
        versions.update({k: v for k, v in (r.get("versions") or {}).items() if k in ("astroNN", "tf")})
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": " ".join(["python", "-m", "bench.vs_astronn", *(argv if argv is not None else sys.argv[1:])]),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "versions": versions, "peer": peer_msg,
            "args": {k: v for k, v in vars(a).items() if k not in ("model_list", "precision_list", "mode_list")}}
    out_json = Path(a.json) if a.json else cache / "vs_astronn.json"
    out_json.write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs}, indent=1, default=float))
    print(f"\n[vs_astronn] {json.dumps(meta['versions'])}\n[vs_astronn] results: {out_json}")
    if a.markdown:
        Path(a.markdown).write_text(f"<!-- {meta['date']} · {meta['command']} -->\n\n{text}\n")
    return 0


__all__ = ["TARGETS", "accuracy_metrics", "format_mae_table", "format_table", "main", "summarise", "target_lines",
           "train_rate", "train_rate_all"]


if __name__ == "__main__":
    sys.exit(main())
