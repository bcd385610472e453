"""Peer-environment helper for the astroNN side-by-side benchmark (``bench/vs_astronn.py``).

Finds (or builds, through the shared ``setup.sh``) a Python environment holding astroNN 1.1.0 and
runs the shared ``run_peer.py`` in it as an external program. Nothing of astroNN is imported into
this process and none of its code is copied here: astroNN runs in its own subprocess, the same way
the astrotorch side does, and both are measured identically (wall time inside the child, peak RSS of
the child from ``os.wait4``'s resource usage).

When the peer environment cannot be found or built, :func:`find_peer_python` returns ``None`` with a
reason, and the benchmark prints it and carries on with astrotorch alone — CI never depends on it.

Environment variables:

* ``ASTROTORCH_ASTRONN_PYTHON`` — python of an existing astroNN environment (skips the lookup);
* ``ASTROTORCH_PEERS_DIR`` — folder holding ``setup.sh`` and ``run_peer.py`` (default
  ``<repo>/../shared/peers/astronn``).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def peers_dir() -> Path:
    """Folder holding the shared ``setup.sh`` and ``run_peer.py``."""
    env = os.environ.get("ASTROTORCH_PEERS_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "peers" / "astronn"


def run_peer_script(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``run_peer.py`` (``explicit`` overrides, for tests)."""
    return Path(explicit) if explicit else peers_dir() / "run_peer.py"


def _imports_astronn(python: str, timeout: float = 300.0) -> tuple[bool, str]:
    try:
        res = subprocess.run(
            [python, "-c", "import astroNN, tensorflow as tf; print(astroNN.__version__, tf.__version__)"],
            capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{python} could not be run: {exc}"
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return False, f"{python} cannot import astroNN: {tail[0]}"
    return True, res.stdout.strip().splitlines()[-1]


def find_peer_python(explicit: str | None = None, build: bool = True,
                     build_timeout: float = 3600.0) -> tuple[str | None, str]:
    """Python of the astroNN peer environment, or ``(None, reason)``.

    Order: ``explicit`` → ``$ASTROTORCH_ASTRONN_PYTHON`` → ``setup.sh`` in :func:`peers_dir` (which
    returns an existing environment at once and builds one from the package registry otherwise;
    ``build=False`` only accepts an environment that already imports astroNN).
    Returns ``(python, "astroNN <version>, TF <version>")`` on success.
    """
    cand = explicit or os.environ.get("ASTROTORCH_ASTRONN_PYTHON")
    if cand:
        ok, msg = _imports_astronn(cand)
        return (cand, msg) if ok else (None, msg)
    setup = peers_dir() / "setup.sh"
    if not setup.is_file():
        return None, f"peer setup script not found at {setup} (set ASTROTORCH_PEERS_DIR or ASTROTORCH_ASTRONN_PYTHON)"
    if not run_peer_script().is_file():
        return None, f"run_peer.py not found beside {setup}"
    if not build:
        default = Path(os.environ.get("ASTRONN_VENV", Path.home() / ".cache/astrotorch-peers/astronn-venv"))
        py = default / "bin" / "python"
        if not py.exists():
            return None, f"no astroNN environment at {default} and building is disabled (--no-build-peer)"
        ok, msg = _imports_astronn(str(py))
        return (str(py), msg) if ok else (None, msg)
    try:
        res = subprocess.run(["bash", str(setup)], capture_output=True, text=True, timeout=build_timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"building the astroNN environment failed: {exc}"
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return None, f"building the astroNN environment failed (setup.sh exit {res.returncode}): {' | '.join(tail)}"
    lines = res.stdout.strip().splitlines()
    if not lines:
        return None, "setup.sh printed no python path"
    py = lines[-1].strip()
    ok, msg = _imports_astronn(py)
    return (py, msg) if ok else (None, msg)


def thread_env(threads: int, device: str = "cpu", omp_passive: bool = True) -> dict[str, str]:
    """Environment for a child process: the same thread budget for TensorFlow and PyTorch."""
    t = str(int(threads))
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, NUMEXPR_NUM_THREADS=t,
        TF_NUM_INTRAOP_THREADS=t, TF_NUM_INTEROP_THREADS=t, TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1", MPLBACKEND="Agg",
    )
    if omp_passive:
        # idle OpenMP threads sleep instead of spinning: on a machine shared with other jobs, libgomp's
        # spin-wait makes multi-threaded PyTorch several times slower (TensorFlow's Eigen pool does
        # not use OpenMP, so this only removes a handicap of the PyTorch side); applied to both sides
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@dataclasses.dataclass
class ChildResult:
    """Outcome of one measured child process."""

    returncode: int
    wall_s: float
    peak_rss_mib: float  # ru_maxrss of the child (os.wait4), MiB
    user_s: float
    sys_s: float
    timed_out: bool = False
    log: str = ""


def run_child(cmd: Sequence[str], env: dict[str, str] | None = None, timeout: float = 600.0,
              log_path: str | os.PathLike[str] | None = None, cwd: str | os.PathLike[str] | None = None) -> ChildResult:
    """Run ``cmd`` and return its exit code, wall time, peak RSS and CPU times (from ``os.wait4``).

    stdout/stderr go to ``log_path`` (or are discarded). A child running past ``timeout`` seconds is
    killed (its own process group only) and reported with ``timed_out=True``.
    """
    log_f = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(list(cmd), env=env, stdout=log_f, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log_path:
            log_f.close()  # type: ignore[union-attr]
    # Linux reports ru_maxrss in KiB, macOS in bytes
    rss = usage.ru_maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else usage.ru_maxrss / 1024.0
    text = Path(log_path).read_text(errors="replace") if log_path else ""
    return ChildResult(proc.returncode, wall, rss, usage.ru_utime, usage.ru_stime, timed_out, text)


# A thin launcher for run_peer.py: runs it unmodified (runpy-free import of the module, then main()),
# only swapping its epoch timer for a subclass that also records process CPU seconds per epoch and
# wrapping the model's predict to record its CPU seconds. CPU seconds are less sensitive than wall
# seconds to other jobs on a shared machine; they are reported beside the wall-clock numbers.
_SHIM = r"""
import json, os, sys, time
script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
import run_peer
_cpu = {"epoch": [], "predict": None}
class _Timer(run_peer.EpochTimer):
    def on_epoch_begin(self, epoch, logs=None):
        self._c = time.process_time()
        super().on_epoch_begin(epoch, logs)
    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        _cpu["epoch"].append(time.process_time() - self._c)
run_peer.EpochTimer = _Timer
_name = sys.argv[sys.argv.index("--model") + 1]
_factory = getattr(run_peer.astroNN.models, _name)  # a class, or a function returning a model
def _make(*a, **k):
    net = _factory(*a, **k)
    orig = net.predict
    def predict(*pa, **pk):
        c = time.process_time()
        try:
            return orig(*pa, **pk)
        finally:
            _cpu["predict"] = time.process_time() - c
    net.predict = predict
    return net
setattr(run_peer.astroNN.models, _name, _make)
rc = run_peer.main()
out = sys.argv[sys.argv.index("--out") + 1]
if rc == 0 and os.path.exists(out):
    with open(out) as f:
        res = json.load(f)
    res["epoch_cpu_s"] = _cpu["epoch"]
    res["predict_cpu_s"] = _cpu["predict"]
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
sys.exit(rc)
"""


def peer_command(python: str, model: str, data: str | os.PathLike[str], epochs: int, out: str | os.PathLike[str],
                 batch_size: int | None = None, mc_num: int | None = None, script: str | os.PathLike[str] | None = None,
                 cpu_shim: bool = True) -> list[str]:
    """Command line that trains/times one astroNN model with ``run_peer.py``."""
    script = str(run_peer_script(script))
    args = ["--model", model, "--data", str(data), "--epochs", str(epochs), "--out", str(out)]
    if batch_size:
        args += ["--batch-size", str(batch_size)]
    if mc_num:
        args += ["--mc-num", str(mc_num)]
    if cpu_shim:
        return [python, "-c", _SHIM, script, *args]
    return [python, script, *args]


__all__ = ["ChildResult", "find_peer_python", "peer_command", "peers_dir", "run_child", "run_peer_script", "thread_env"]
