"""Crash recovery: SIGKILL a training run mid-epoch, resume from its last checkpoint, get the same weights.

The training script (tests/crash_train_script.py) runs in a subprocess so that it can really be
killed with SIGKILL (no cleanup handlers run). It trains a dropout MLP in deterministic mode with a
checkpoint after every optimiser step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("crash_train_script.py")
ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-3000:]
    return out


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 180) -> None:
    t0 = time.time()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"training ended before the kill point:\n{proc.stdout.read()[-3000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the kill point")
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    # uninterrupted reference, started first so both runs overlap in time (2 cores)
    ref = _run(["--ckpt-dir", str(tmp_path / "ref_ckpt"), "--out", str(tmp_path / "ref.safetensors")])

    progress = tmp_path / "progress.txt"
    victim = _run(["--ckpt-dir", str(tmp_path / "ckpt"), "--out", str(tmp_path / "killed.safetensors"),
                   "--run-dir", str(tmp_path / "run"), "--slow", "0.05", "--progress", str(progress)])

    def mid_epoch_with_checkpoint() -> bool:
        # 432 training rows / 32 = 14 batches per epoch; kill in epoch 1, batch >= 4 (global step >= 18)
        if not progress.exists() or not (tmp_path / "ckpt" / "last.ckpt").exists():
            return False
        step, epoch, batch = (int(v) for v in progress.read_text().split())
        return epoch == 1 and 4 <= batch <= 10

    _wait_for(mid_epoch_with_checkpoint, victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    step_at_kill = progress.read_text().split()
    assert not (tmp_path / "killed.safetensors").exists()
    assert not (tmp_path / "run").exists()  # the run folder never appears half-written

    # the checkpoint holds only weights_only-safe content (tensors, containers, primitives)
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert 0 < ckpt["global_step"] < 42 and ckpt["epoch"] == 1, (ckpt["global_step"], ckpt["epoch"], step_at_kill)

    resumed = _run(["--ckpt-dir", str(tmp_path / "ckpt"), "--out", str(tmp_path / "resumed.safetensors"),
                    "--run-dir", str(tmp_path / "run"), "--resume"])
    _finish(resumed)
    _finish(ref)

    a = load_file(tmp_path / "ref.safetensors")
    b = load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-6, atol=1e-7, msg=f"weights differ in {k}")
    # the interrupted epoch reports the same training loss: its batches before the kill count too
    ref_loss = {r["epoch"]: r["loss"] for r in json.loads((tmp_path / "ref.safetensors.history.json").read_text())}
    resumed_loss = {r["epoch"]: r["loss"] for r in json.loads((tmp_path / "resumed.safetensors.history.json").read_text())}
    assert sorted(resumed_loss) == sorted(ref_loss) == [0, 1, 2]
    for epoch, loss in resumed_loss.items():
        assert loss == pytest.approx(ref_loss[epoch], rel=1e-6), (epoch, loss, ref_loss[epoch])
    assert (tmp_path / "run" / "metrics.json").exists() and (tmp_path / "run" / "model" / "manifest.json").exists()


@pytest.mark.slow
def test_sigkill_while_writing_run_folder_leaves_nothing(tmp_path):
    proc = _run(["--ckpt-dir", str(tmp_path / "ckpt"), "--out", str(tmp_path / "w.safetensors"),
                 "--run-dir", str(tmp_path / "run"), "--slow-save", "60"])
    # the weights file is written just before the run folder block starts
    _wait_for(lambda: any(p.name.startswith(".run.tmp-") and (p / "model").exists() for p in tmp_path.iterdir()), proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "run").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.")]
    assert leftovers and all(".tmp-" in n for n in leftovers)  # only a hidden temporary, never the real name


def test_default_model_checkpoint_is_weights_only_loadable(tmp_path):
    """With the base class's default callbacks (early stopping, LR schedule, history), the checkpoint
    Lightning writes contains only what ``torch.load(weights_only=True)`` accepts, and resuming works."""
    import numpy as np

    from astrotorch.models import create_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)).astype(np.float32)
    y = x[:, :2].copy()
    kw = dict(num_hidden=(8,), batch_size=32, accelerator="cpu", checkpoint_dir=str(tmp_path / "ck"), seed=1)
    create_model("mlp", max_epochs=1, **kw).fit(x, y)
    ckpt = torch.load(tmp_path / "ck" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 0 and "state_dict" in ckpt and ckpt["callbacks"]
    resumed = create_model("mlp", max_epochs=2, **kw).fit(x, y, ckpt_path="last")
    assert resumed.trainer.current_epoch == 2
