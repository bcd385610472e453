"""Multi-process data-parallel training (Lightning DDP, gloo on CPU) matches single-process training.

Both runs use the same seed, deterministic mode and the same *global* batch (1 process × 64 vs
2 processes × 32) and Lightning's ``DistributedSampler`` order (world size 1 vs 2: the union of the
ranks' k-th batches is the k-th block of the same permutation). DDP averages the two ranks' mean
gradients, which equals the single-process mean gradient, so the final weights agree up to float
summation order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("ddp_train_script.py")
ROOT = Path(__file__).resolve().parents[1]


def _launch(devices: int, batch: int, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for var in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "RANK"):
        env.pop(var, None)  # never inherit a launcher's rank variables
    return subprocess.Popen([sys.executable, str(SCRIPT), "--devices", str(devices), "--batch-size", str(batch),
                             "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_single_process(tmp_path):
    single = _launch(1, 64, tmp_path / "single")
    double = _launch(2, 32, tmp_path / "ddp2")
    for proc in (single, double):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-4000:]
    assert (tmp_path / "ddp2.info").read_text().startswith("world_size=2")
    assert (tmp_path / "single.info").read_text().startswith("world_size=1")
    a, b = load_file(tmp_path / "single.safetensors"), load_file(tmp_path / "ddp2.safetensors")
    assert a.keys() == b.keys()
    print("max |w_ddp2 - w_single| =", max(float((a[k] - b[k]).abs().max()) for k in a))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=f"DDP weights differ in {k}")
    pa, pb = np.load(tmp_path / "single.pred.npy"), np.load(tmp_path / "ddp2.pred.npy")
    np.testing.assert_allclose(pb, pa, rtol=1e-4, atol=1e-4)
    # and training did something: predictions are not constant
    assert pa.std(axis=0).min() > 0.05
