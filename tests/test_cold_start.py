"""A fresh process on a fresh machine (empty inductor cache) predicts correctly without compiling.

The default CPU path compiles nothing (astrotorch.nn.fused); compiled kernels are opt-in and fall back
to eager PyTorch where the compiler fails. Each case here loads a saved ApogeeBCNN in a new Python
process with its own empty ``TORCHINDUCTOR_CACHE_DIR`` and predicts with the same seed as this
process: the predictions must be the same numbers (same masks, same eager kernels).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # three fresh Python processes and one fit: ~30 s on 2 cores

CHILD = r"""
import json, sys, warnings
import numpy as np
import torch
torch.set_num_threads(1)
from astrotorch.models import load_folder
from astrotorch.nn.layers import MCDropout
from astrotorch.uncertainty import mc_predict

folder, data, out = sys.argv[1:4]
x = np.load(data)["x"]
model = load_folder(folder)
torch.manual_seed(0)
pred, sd = model.predict(x)
from torch._dynamo.utils import counters
res = {"dynamo_frames": sum(counters["frames"].values())}  # frames torch.compile traced in this process
# a large MC-dropout pass goes through the opt-in compiled kernel when ASTROTORCH_COMPILE_KERNELS=1
net = torch.nn.Sequential(torch.nn.Identity(), MCDropout(0.3))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    r = mc_predict(net, torch.full((64, 4096), 2.0), n_samples=20)
res["warnings"] = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
res["mc_mean"] = float(r.mean.mean())
res["mc_var"] = float(r.model_var.mean())
np.savez(out, pred=pred, total=sd["total"])
print(json.dumps(res))
"""


@pytest.fixture(scope="module")
def saved_bcnn(tmp_path_factory):
    from astrotorch.datasets.spectra import synthetic_spectra
    from astrotorch.models import create_model

    d = synthetic_spectra(200, seed=3, missing_label_frac=0.0)
    cols = [d.label_names.index(n) for n in ("teff", "logg", "Fe_H")]
    model = create_model("apogee_bcnn", max_epochs=1, batch_size=64, accelerator="cpu", mc_num=20, seed=0,
                         targetname=["teff", "logg", "Fe_H"])
    model.fit(d.flux[:168], d.labels[:168][:, cols])
    root = tmp_path_factory.mktemp("cold")
    folder = model.save(root / "model")
    x = d.flux[168:].astype(np.float32)
    np.savez(root / "x.npz", x=x)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the child's thread count: same summation order in every kernel
    try:
        torch.manual_seed(0)
        pred, sd = model.predict(x)
    finally:
        torch.set_num_threads(threads)
    return folder, root / "x.npz", pred, sd["total"]


def _predict_in_fresh_process(saved, tmp_path: Path, **env: str) -> tuple[dict, np.ndarray, np.ndarray]:
    folder, data, _, _ = saved
    cache = tmp_path / "inductor"
    cache.mkdir()
    child_env = {k: v for k, v in os.environ.items() if k != "ASTROTORCH_COMPILE_KERNELS"}  # default: not requested
    child_env.update(TORCHINDUCTOR_CACHE_DIR=str(cache), OMP_NUM_THREADS="1", **env)
    out = tmp_path / "pred.npz"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(data), str(out)], env=child_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["cache_files"] = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
    got = np.load(out)
    return res, got["pred"], got["total"]


def _check_predictions(saved, pred: np.ndarray, total: np.ndarray) -> None:
    _, _, ref_pred, ref_total = saved
    assert np.all(np.isfinite(pred)) and np.all(total > 0)
    # same seed, same eager kernels: the same numbers up to float rounding
    assert np.allclose(pred, ref_pred, rtol=1e-4, atol=1e-4 * np.abs(ref_pred).max(0))
    assert np.allclose(total, ref_total, rtol=1e-3)


@pytest.mark.parametrize("switch", [None, "0"])  # compiled kernels not requested / switched off
def test_fresh_process_predicts_without_compiling(saved_bcnn, tmp_path, switch) -> None:
    env = {} if switch is None else {"ASTROTORCH_COMPILE_KERNELS": switch}
    res, pred, total = _predict_in_fresh_process(saved_bcnn, tmp_path, **env)
    _check_predictions(saved_bcnn, pred, total)
    assert res["cache_files"] == [] and res["dynamo_frames"] == 0  # nothing traced, nothing compiled
    assert res["warnings"] == []
    assert abs(res["mc_mean"] - 2.0) < 0.02 and abs(res["mc_var"] - 4 * 0.3 / 0.7) < 0.1


def test_fresh_process_whose_compiler_fails_falls_back_to_eager(saved_bcnn, tmp_path) -> None:
    """Compiled kernels requested, but no working C++ compiler (CXX points at a failing program)."""
    res, pred, total = _predict_in_fresh_process(saved_bcnn, tmp_path, ASTROTORCH_COMPILE_KERNELS="1",
                                                 CXX="/bin/false")
    _check_predictions(saved_bcnn, pred, total)
    assert any("compiled CPU kernels unavailable" in w for w in res["warnings"]), res["warnings"]
    # the eager fallback keeps the MC statistics of a 0.3 dropout of 2.0: mean 2, variance 4p/(1-p)
    assert abs(res["mc_mean"] - 2.0) < 0.02 and abs(res["mc_var"] - 4 * 0.3 / 0.7) < 0.1
