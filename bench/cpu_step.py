"""ApogeeBCNN's CPU costs in CPU seconds, side by side for several source trees (old vs new code).

Each measurement runs in a fresh process (its own empty ``TORCHINDUCTOR_CACHE_DIR`` unless
``--inductor-cache`` names one), alternating the trees from repeat to repeat, and reports process CPU
seconds (``time.process_time``: all threads, page faults included; on a shared machine far steadier
than wall time, which is printed beside it):

* ``step``: one float32 (or ``--bf16``) training step of ``ApogeeBCNNNet(7514, 22)`` on a batch of 64
  (forward, Gaussian NLL, backward, fused Adam), median of 20 after 3 warm-up steps;
* ``mc``: ``mc_predict`` of 128 spectra × 100 samples, the process's first call and the median of
  three later ones;
* ``epoch``: ``create_model("apogee_bcnn", max_epochs=4)``'s ``fit`` on the benchmark's 1,280 cached
  spectra (``bench/vs_astronn.py`` writes them): CPU seconds of every epoch.

Usage::

    python -m bench.cpu_step --trees src                       # this tree
    git archive c3590d0 src | tar -x -C /tmp/old               # an older tree to compare with
    python -m bench.cpu_step --trees src,/tmp/old/src --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, os, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch
what, threads, bf16, data = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
torch.set_num_threads(threads)
from astrotorch.models.arch.apogee import ApogeeBCNNNet
res = {}
if what == "step":
    from astrotorch.train.lightning_module import make_adam
    torch.manual_seed(0)
    net = ApogeeBCNNNet(7514, 22).train()
    opt = make_adam(net.parameters(), 1e-3)
    x, y = torch.randn(64, 7514), torch.randn(64, 22)
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            mean, lv = net(x)
        mean, lv = mean.float(), lv.float()
        loss = (0.5 * (mean - y) ** 2 * torch.exp(-lv) + 0.5 * lv).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for _ in range(3):
        step()
    cpu, wall = [], []
    for _ in range(20):
        c, w = time.process_time(), time.perf_counter()
        step()
        cpu.append(time.process_time() - c); wall.append(time.perf_counter() - w)
    res = {"cpu_ms": 1e3 * float(np.median(cpu)), "wall_ms": 1e3 * float(np.median(wall))}
elif what == "mc":
    from astrotorch.uncertainty import mc_predict
    torch.manual_seed(0)
    net = ApogeeBCNNNet(7514, 22).eval()
    x = torch.randn(128, 7514)
    def call():
        c, w = time.process_time(), time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            mc_predict(net, x, 100)
        return time.process_time() - c, time.perf_counter() - w
    first = call()
    later = sorted(call() for _ in range(3))[1]
    res = {"first_cpu_s": first[0], "first_wall_s": first[1], "later_cpu_s": later[0], "later_wall_s": later[1]}
elif what == "epoch":
    from astrotorch.models import create_model
    from astrotorch.nn import callbacks
    cpu = []
    rec = callbacks.HistoryRecorder
    start, end = rec.on_train_epoch_start, rec.on_train_epoch_end
    def on_start(self, trainer, module):
        self._c0 = time.process_time()
        return start(self, trainer, module)
    def on_end(self, trainer, module):
        out = end(self, trainer, module)
        cpu.append(time.process_time() - self._c0)
        return out
    rec.on_train_epoch_start, rec.on_train_epoch_end = on_start, on_end
    d = np.load(data)
    m = create_model("apogee_bcnn", max_epochs=4, batch_size=64, val_size=0.1, accelerator="cpu", seed=0,
                     early_stopping_patience=None, precision="bf16-mixed" if bf16 else "32-true")
    m.fit(d["x_train"], d["y_train"])
    res = {"epoch_cpu_s": cpu, "epoch_wall_s": [float(v) for v in m.history["epoch_time_s"]]}
print("RESULT " + json.dumps(res))
"""


def measure(tree: str, what: str, threads: int, bf16: bool, data: str, cache: str | None) -> dict:
    """One measurement in a fresh process importing astrotorch from ``tree``."""
    with tempfile.TemporaryDirectory(prefix="inductor-") as empty:
        env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), TORCHINDUCTOR_CACHE_DIR=cache or empty,
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
                   CUDA_VISIBLE_DEVICES="")
        proc = subprocess.run([sys.executable, "-c", _CHILD, what, str(threads), "1" if bf16 else "0", data],
                              env=env, capture_output=True, text=True, timeout=1800)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
    return json.loads(line[len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu_step", description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", default="src", help="comma list of source folders (each holding astrotorch/)")
    ap.add_argument("--what", default="step,mc,epoch", help="comma list of: step, mc, epoch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast / precision='bf16-mixed'")
    ap.add_argument("--inductor-cache", default=None, help="a (warm) TORCHINDUCTOR_CACHE_DIR for every process")
    ap.add_argument("--data", default=None, help="the benchmark's spectra .npz (default: newest in .bench_cache)")
    a = ap.parse_args(argv)
    trees = [t.strip() for t in a.trees.split(",") if t.strip()]
    whats = [w.strip() for w in a.what.split(",") if w.strip()]
    data = a.data or str(max((REPO_ROOT / ".bench_cache").glob("spectra_*.npz"), key=os.path.getmtime, default=""))
    if "epoch" in whats and not Path(data).is_file():
        ap.error("epoch needs the benchmark's spectra: run python -m bench.vs_astronn once, or pass --data")
    print(f"[cpu_step] load average {os.getloadavg()}, threads {a.threads}, bf16 {a.bf16}", flush=True)
    for rep in range(a.repeats):
        order = trees if rep % 2 == 0 else trees[::-1]
        for what in whats:
            for tree in order:
                res = measure(tree, what, a.threads, a.bf16, data, a.inductor_cache)
                print(f"[cpu_step] r{rep} {what:5s} {tree}: {json.dumps(res)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
