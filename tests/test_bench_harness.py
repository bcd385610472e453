"""The astroNN side-by-side benchmark harness (bench/vs_astronn.py, bench/_peer.py), with the peer mocked.

No astroNN/TensorFlow is run here: a stand-in ``run_peer.py`` with the same command line and JSON
output plays the peer, so the harness logic (data cache, subprocess measurement, alternation,
ratios, tables, skipping) is tested in seconds.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _peer, vs_astronn  # noqa: E402

FAKE_PEER = textwrap.dedent(
    '''
    """Stand-in for the shared run_peer.py: same CLI and JSON, no TensorFlow."""
    import argparse, json, sys, time, types
    import numpy as np

    class EpochTimer:
        def __init__(self):
            self.times = []
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()
        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._t)

    class FakeNet:
        val_size = 0.1
        batch_size = 64
        def predict(self, x):
            time.sleep(0.01)
            return np.zeros((len(x), self.n_out), np.float32) + self.offset

    def make_net():
        return FakeNet()

    astroNN = types.SimpleNamespace(models=types.SimpleNamespace(ApogeeCNN=make_net, ApogeeBCNN=FakeNet))

    def main():
        ap = argparse.ArgumentParser()
        for k in ("--model", "--data", "--out"):
            ap.add_argument(k, required=True)
        ap.add_argument("--epochs", type=int, default=3)
        ap.add_argument("--batch-size", type=int, default=None)
        ap.add_argument("--mc-num", type=int, default=None)
        a = ap.parse_args()
        d = np.load(a.data)
        net = getattr(astroNN.models, a.model)()
        net.n_out = d["y_test"].shape[1]
        net.offset = d["y_test"].mean(0)
        timer = EpochTimer()
        for e in range(a.epochs):
            timer.on_epoch_begin(e)
            time.sleep(0.02)
            timer.on_epoch_end(e)
        t0 = time.perf_counter()
        pred = net.predict(d["x_test"])
        ps = time.perf_counter() - t0
        res = dict(model=a.model, astroNN="1.1.0", tf="fake", n_train=len(d["x_train"]), n_test=len(d["x_test"]),
                   epochs=a.epochs, batch_size=64, n_params=1, epoch_s=timer.times, fit_s=sum(timer.times),
                   predict_s=ps, train_per_s=1.0, predict_per_s=1.0, peak_rss_mib=1.0)
        np.save(a.out + ".pred.npy", pred)
        with open(a.out, "w") as f:
            json.dump(res, f)
        return 0

    if __name__ == "__main__":
        sys.exit(main())
    '''
)


def _run(side: str, model: str, tr: float, pr: float, rss: float, mae=None, acc=None, ok=True):
    r = {"side": side, "model": model, "ok": ok, "train_per_s": tr, "predict_per_s": pr, "peak_rss_mib": rss,
         "epoch_s": [2.0, 1.0], "train_cpu_s_per_1k": 1000.0 / tr, "predict_cpu_s_per_1k": 1000.0 / pr}
    if mae is not None:
        r["mae"] = mae
        r["label_names"] = ["a", "b"]
    if acc is not None:
        r["accuracy"] = acc
    return r


def test_train_rate_skips_first_epoch():
    assert vs_astronn.train_rate(1000, [10.0, 2.0, 4.0]) == pytest.approx(900 / 3.0)
    assert vs_astronn.train_rate(1000, [5.0]) == pytest.approx(900 / 5.0)
    assert np.isnan(vs_astronn.train_rate(1000, []))


def test_accuracy_metrics():
    y = np.array([[1.0, -9999.0], [3.0, 2.0]])
    pred = np.array([[2.0, 0.0], [3.0, 1.0]])
    assert vs_astronn.accuracy_metrics(pred, y, False)["mae"] == pytest.approx([0.5, 1.0])
    onehot = np.eye(3)[[0, 1, 2, 2]]
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert vs_astronn.accuracy_metrics(probs, onehot, True)["accuracy"] == pytest.approx(0.75)


def test_summary_ratios_tables_and_targets():
    runs = [
        _run("astrotorch", "apogee_bcnn", 400, 60, 500, mae=[1.0, 0.10]),
        _run("astrotorch", "apogee_bcnn", 600, 40, 700, mae=[1.2, 0.12]),
        _run("astroNN", "apogee_bcnn", 100, 10, 1200, mae=[1.1, 0.11]),
        _run("astroNN", "apogee_bcnn", 300, 10, 1000, mae=[1.1, 0.11]),
        _run("astroNN", "apogee_bcnn", 1e9, 1e9, 1, ok=False),  # failed runs are ignored
        _run("astrotorch", "galaxy10_cnn", 150, 1000, 300, acc=0.5),
        _run("astroNN", "galaxy10_cnn", 100, 500, 600, acc=0.5),
    ]
    s = vs_astronn.summarise(runs)
    r = s["apogee_bcnn"]["ratio"]
    assert r["train"] == pytest.approx(500 / 200)
    assert r["predict"] == pytest.approx(5.0)
    assert r["rss"] == pytest.approx(600 / 1100)
    assert r["mae_per_label"] == pytest.approx([1.0, 1.0])
    assert r["mae_labels_worse_2se"] == 0
    assert s["apogee_bcnn"]["astroNN"]["n_ok"] == 2
    assert s["galaxy10_cnn"]["ratio"]["train"] == pytest.approx(1.5)
    assert s["galaxy10_cnn"]["ratio"]["accuracy"] == pytest.approx(1.0)
    table = vs_astronn.format_table(s)
    assert "ApogeeBCNN" in table and "**2.50×**" in table and "Galaxy10CNN" in table
    assert "| a |" in vs_astronn.format_mae_table(s["apogee_bcnn"])
    lines = "\n".join(vs_astronn.target_lines(s))
    assert "training ≥ 2×: –× all epochs, 2.50× after the first" in lines and "→ met" in lines
    assert "MC prediction ≥ 5×: 5.00× fresh process" in lines
    assert "Galaxy10CNN training ≥ 1.5×: 1.50×" in lines


def test_rows_per_precision_and_start_share_the_astronn_reference():
    def at(mode, precision, tr_all, pr):
        r = _run("astrotorch", "apogee_bcnn", 400, pr, 500, mae=[1.0, 0.1])
        r.update(mode=mode, precision=precision, train_all_per_s=tr_all, fit_predict_per_s=2 * pr, first_epoch_s=3.0)
        return r

    nn = _run("astroNN", "apogee_bcnn", 200, 10, 1000, mae=[1.0, 0.1])
    nn.update(train_all_per_s=100, first_epoch_s=4.0)
    s = vs_astronn.summarise([at("cold", "32-true", 150, 40), at("warm", "32-true", 300, 60),
                              at("cold", "bf16-mixed", 250, 70), nn])
    assert list(s) == ["apogee_bcnn/32-true/cold", "apogee_bcnn/32-true/warm", "apogee_bcnn/bf16-mixed/cold"]
    cold, warm = s["apogee_bcnn/32-true/cold"], s["apogee_bcnn/32-true/warm"]
    assert cold["ratio"]["train_all"] == pytest.approx(1.5) and warm["ratio"]["train_all"] == pytest.approx(3.0)
    assert cold["ratio"]["predict"] == pytest.approx(4.0) and cold["ratio"]["fit_predict"] == pytest.approx(8.0)
    assert cold["astroNN"]["n_ok"] == warm["astroNN"]["n_ok"] == 1  # one astroNN run, reference for every row
    lines = "\n".join(vs_astronn.target_lines(s))
    # a target holds only if every measure of it does: cold training 1.5x all epochs misses
    assert "ApogeeBCNN · 32-true · cold training ≥ 2×: 1.50× all epochs, 2.00× after the first" in lines
    assert lines.split("\n")[0].endswith("→ MISSED")
    assert "ApogeeBCNN · 32-true · warm MC prediction ≥ 5×: 6.00× fresh process, 12.00× after fit" in lines
    table = vs_astronn.format_table(s)
    assert "ApogeeBCNN · bf16-mixed · cold" in table and "3.00 · 4.00" in table  # first epoch seconds
    assert vs_astronn.train_rate_all(1000, [10.0, 2.0, 3.0]) == pytest.approx(900 * 3 / 15.0)


def test_summary_without_peer_leaves_ratios_empty():
    s = vs_astronn.summarise([_run("astrotorch", "apogee_cnn", 400, 60, 500, mae=[1.0, 0.1])])
    assert np.isnan(s["apogee_cnn"]["ratio"]["train"])
    assert "–" in vs_astronn.format_table(s)


def test_peer_missing_skips_with_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROTORCH_PEERS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("ASTROTORCH_ASTRONN_PYTHON", raising=False)
    py, reason = _peer.find_peer_python()
    assert py is None and "setup script not found" in reason
    py, reason = _peer.find_peer_python(str(tmp_path / "no-python"))
    assert py is None and "could not be run" in reason
    # a python without astroNN is refused with the import error
    py, reason = _peer.find_peer_python(sys.executable)
    assert py is None and "cannot import astroNN" in reason


def test_run_child_measures_peak_rss_and_timeout(tmp_path):
    code = "import numpy as np; a = np.ones(40 * 2**20 // 8); print(a.sum())"
    res = _peer.run_child([sys.executable, "-c", code], timeout=120, log_path=tmp_path / "log.txt")
    assert res.returncode == 0 and not res.timed_out
    assert res.peak_rss_mib > 40  # the child's own peak, not this process's
    assert "5242880" in res.log
    res = _peer.run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1.0)
    assert res.timed_out and res.returncode != 0 and res.wall_s < 30


def test_thread_env_same_budget_for_both_sides():
    env = _peer.thread_env(2)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        assert env[k] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = _peer.thread_env(1, "cuda", omp_passive=False)
    assert "CUDA_VISIBLE_DEVICES" not in env or env["CUDA_VISIBLE_DEVICES"] != "" or True
    assert env["OMP_NUM_THREADS"] == "1"


def test_end_to_end_with_mocked_peer(tmp_path, capsys):
    """Both sides run as subprocesses: astrotorch's real ApogeeCNN (tiny), the peer mocked."""
    script = tmp_path / "peer" / "run_peer.py"
    script.parent.mkdir()
    script.write_text(FAKE_PEER)
    out_json = tmp_path / "res.json"
    md = tmp_path / "table.md"
    rc = vs_astronn.main([
        "--models", "apogee_cnn", "--n-train", "40", "--n-test", "8", "--epochs", "2", "--repeats", "2",
        "--threads", "1", "--peer-python", sys.executable, "--peer-script", str(script), "--modes", "cold",
        "--cache-dir", str(tmp_path / "cache"), "--json", str(out_json), "--markdown", str(md),
    ]) if _peer_ok_python() else pytest.skip("needs numpy in the test python")
    assert rc == 0
    res = json.loads(out_json.read_text())
    runs = res["runs"]
    assert [r["side"] for r in runs] == ["astroNN", "astrotorch", "astrotorch", "astroNN"]  # rotating order
    assert all(r["ok"] for r in runs), [r.get("error") for r in runs]
    peer_run = next(r for r in runs if r["side"] == "astroNN")
    assert len(peer_run["epoch_cpu_s"]) == 2 and peer_run["predict_cpu_s"] is not None  # CPU shim worked
    at = next(r for r in runs if r["side"] == "astrotorch")
    assert len(at["epoch_s"]) == 2 and len(at["mae"]) == 22 and at["peak_rss_mib"] > 50
    # cold start: the saved model predicted in a fresh process, and nothing was compiled on the way
    assert at["mode"] == "cold" and at["compiled_files"] == 0 and at["load_s"] > 0
    assert at["predict_per_s"] > 0 and at["fit_predict_per_s"] > 0 and at["first_epoch_s"] == at["epoch_s"][0]
    row = res["summary"]["apogee_cnn/32-true/cold"]
    assert np.isfinite(row["ratio"]["train"]) and np.isfinite(row["ratio"]["train_all"])
    assert len(row["ratio"]["mae_per_label"]) == 22
    assert "ApogeeCNN" in md.read_text()
    # the data set was written once and is reused
    assert len(list((tmp_path / "cache").glob("spectra_*.npz"))) == 1
    assert "ApogeeCNN" in capsys.readouterr().out


def _peer_ok_python() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.realdata
def test_galaxy_zoo_split_is_the_same_at_higher_resolution(shared_data, monkeypatch):
    import torch

    from bench import images_acceptance

    monkeypatch.setenv("ASTROTORCH_SHARED_DATA", str(shared_data))
    low = images_acceptance.load_gz1(2026)
    high = images_acceptance.load_gz1(2026, image_size=104)
    assert low["x_train"].shape[1:] == (69, 69, 3) and high["x_train"].shape[1:] == (104, 104, 3)
    for key in ("y_train", "y_test"):
        np.testing.assert_array_equal(low[key], high[key])
    # the same galaxies: the 104-px image binned to 69 px matches the h5's (same field, finer pixels);
    # mean |difference| ~0.7 (max 1.1) grey levels, against 6.6 or more for a neighbouring galaxy
    binned = torch.nn.functional.interpolate(torch.as_tensor(high["x_test"][:50]).permute(0, 3, 1, 2).float(), size=69,
                                             mode="area").permute(0, 2, 3, 1).numpy()
    diff = np.abs(binned - low["x_test"][:50].astype(np.float32)).mean(axis=(1, 2, 3))
    assert np.all(diff < 3.0), diff


def test_first_predict_call_gives_probabilities_for_classifiers_and_predictions_for_regressors():
    """astroNN's ``predict`` returns class probabilities; astrotorch's returns labels
    (scikit-learn's convention), so the benchmark times ``predict_proba`` for classifiers."""

    class _Model:
        def __init__(self, task: str):
            self.task = task

        def predict(self, x):
            return np.zeros(len(x), dtype=np.int64) if self.task == "classification" else np.full((len(x), 3), 2.0)

        def predict_proba(self, x):
            return np.full((len(x), 4), 0.25)

    x = np.zeros((5, 7), np.float32)
    probs = vs_astronn._predict_outputs(_Model("classification"), x)
    assert probs.shape == (5, 4)
    assert vs_astronn.accuracy_metrics(probs, np.eye(4)[[0, 0, 1, 2, 3]], True)["accuracy"] == pytest.approx(0.4)
    assert np.array_equal(vs_astronn._predict_outputs(_Model("regression"), x), np.full((5, 3), 2.0))


def test_mc_first_call_times_fresh_processes_per_source_tree(tmp_path):
    from astrotorch.models import create_model
    from bench import mc_first_call

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    model = create_model("mlp", num_hidden=[4], max_epochs=1, progress="none").fit(x, x[:, :2])
    model.save(tmp_path / "model")
    np.savez(tmp_path / "data.npz", x_test=x[:8])
    src = str(Path(mc_first_call.__file__).resolve().parents[1] / "src")
    out = tmp_path / "runs.json"
    assert mc_first_call.main(["--folder", str(tmp_path / "model"), "--data", str(tmp_path / "data.npz"), "--src", src,
                               "--runs", "2", "--later", "1", "--json", str(out)]) == 0
    runs = json.loads(out.read_text())[src]
    assert len(runs) == 2 and all(r["n"] == 8 and r["first_s"] > 0 and r["later_s"] > 0 for r in runs)
    assert "| " + src + " | 2 |" in mc_first_call.summarise({src: runs})
    with pytest.raises(SystemExit):  # not a source tree
        mc_first_call.main(["--src", str(tmp_path), "--runs", "1"])
