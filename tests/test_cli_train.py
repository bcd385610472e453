"""The train commands: one vocabulary, run folders with held-out predictions (ids), baselines beside the
network, the training log, progress, --resume, --select-class; real Fusion CSVs as published.

Every run is tiny (a few hundred rows, one or two epochs): the point is the plumbing, not the science.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from astrotorch.cli.main import run_cli

COMMON = ["--accelerator", "--devices", "--precision", "--batch-size", "--epochs", "--seed", "--test-fraction",
          "--checkpoint-dir", "--resume", "--out", "--overwrite", "--quiet", "--logger", "--no-baseline"]
OWNED_KINDS = ["tabular", "stars", "images", "lightcurves"]


def _run(*args: object) -> tuple[int, str]:
    """run_cli with stdout and stderr captured together (not a terminal: the non-interactive case)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = run_cli([str(a) for a in args])
    return rc, buf.getvalue()


def _table(path: Path, n: int = 240) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3))
    pd.DataFrame({"objid": [f"obj-{i:04d}" for i in range(n)], "a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                  "y": 2 * x[:, 0] - x[:, 1] + 0.1 * rng.normal(size=n)}).to_csv(path, index=False)
    return path


def _ecsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", dtype={"objid": str, "object_id": str})


# ----------------------------------------------------------------------------------- vocabulary
@pytest.mark.parametrize("kind", OWNED_KINDS)
def test_every_train_command_speaks_one_vocabulary(kind, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rc, out = _run("train", kind, "--help")
    assert rc == 0
    missing = [opt for opt in COMMON if opt not in out]
    assert not missing, f"train {kind} lacks {missing}"
    assert "--test-size" not in out and "--n-test" not in out  # the old spellings are gone from the help


def test_version():
    import astrotorch

    rc, out = _run("--version")
    assert rc == 0 and out.strip() == f"astrotorch {astrotorch.__version__}"


def test_options_turn_into_model_keywords(tmp_path):
    from astrotorch.cli.options import TrainOptions, parse_devices
    from astrotorch.errors import InputValidationError
    from astrotorch.models import get_model_class

    opts = TrainOptions(out=tmp_path / "run", epochs=3, seed=7, batch_size=16, devices="0,1", precision="bf16-mixed",
                        checkpoint_dir=tmp_path / "ck", quiet=True)
    kw = opts.model_kwargs(get_model_class("mlp"))
    assert kw["max_epochs"] == 3 and kw["seed"] == 7 and kw["batch_size"] == 16 and kw["devices"] == [0, 1]
    assert kw["precision"] == "bf16-mixed" and kw["checkpoint_dir"] == str(tmp_path / "ck")
    assert kw.get("progress", "none") == "none" and kw.get("verbose", False) is False  # --quiet
    assert parse_devices("auto") == "auto" and parse_devices("2") == 2
    for bad in ("two", "0"):
        with pytest.raises(InputValidationError, match="--devices"):
            parse_devices(bad)
    with pytest.raises(InputValidationError, match="--resume needs --checkpoint-dir"):
        TrainOptions(out=tmp_path / "r", epochs=1, resume=True).check()
    with pytest.raises(InputValidationError, match="last.ckpt does not exist"):
        TrainOptions(out=tmp_path / "r", epochs=1, resume=True, checkpoint_dir=tmp_path).check()
    with pytest.raises(InputValidationError, match="inside --out"):
        TrainOptions(out=tmp_path / "r", epochs=1, checkpoint_dir=tmp_path / "r" / "ck").check()
    with pytest.raises(InputValidationError, match="--test-size must be in"):
        TrainOptions(out=tmp_path / "r", epochs=1, test_size=1.5).check()
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------ tabular
@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    """train tabular on a CSV with an id column, with a checkpoint folder; then a resumed run."""
    root = tmp_path_factory.mktemp("tabular")
    data = _table(root / "t.csv")
    args = ["train", "tabular", "--data", data, "--target", "y", "--model", "mlp", "--batch-size", "32",
            "--checkpoint-dir", root / "ck", "--out", root / "run"]
    rc, out = _run(*args, "--epochs", "2")
    assert rc == 0, out
    ckpt = (root / "ck" / "last.ckpt").stat().st_mtime_ns
    rc2, out2 = _run(*args, "--epochs", "3", "--resume", "--overwrite")
    assert rc2 == 0, out2
    return {"root": root, "data": data, "out": out, "resumed": out2, "ckpt_before": ckpt}


def test_tabular_run_folder_has_test_predictions_with_ids_and_a_baseline(tabular_run):
    run = tabular_run["root"] / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    pred = _ecsv(run / "predictions_test.csv")
    assert list(pred.columns) == ["objid", "y", "outside_training_range"]  # the id first; a deterministic model has no sigma
    assert len(pred) == metrics["n_test"] == 48
    source = pd.read_csv(tabular_run["data"]).set_index("objid")
    assert pred["objid"].isin(source.index).all() and pred["objid"].is_unique
    assert set(metrics["baselines"]) == {"boosted trees"} and metrics["which_wins"]["mae"][0]["output"] == "y"
    report = (run / "report.md").read_text()
    assert "## Classical baselines on the same split" in report and re.search(r"- y: \*\*(network|boosted trees)\*\* wins", report)
    from astrotorch.models import load_folder

    assert load_folder(run / "model").input_shape == (3,)  # the id column is not an input


def test_non_interactive_training_prints_a_progress_line_per_epoch(tabular_run):
    lines = tabular_run["out"].splitlines()
    for epoch in (1, 2):
        assert any(re.search(rf"\b{epoch}/2\b", ln) and "loss" in ln for ln in lines), tabular_run["out"]
    assert any(ln.startswith("[") and "training mlp on 192 rows" in ln for ln in lines)


def test_quiet_prints_no_progress(tmp_path):
    rc, out = _run("train", "tabular", "--data", _table(tmp_path / "t.csv", 60), "--target", "y", "--model", "linear",
                   "--epochs", "1", "--no-baseline", "--quiet", "--out", tmp_path / "run")
    assert rc == 0 and out.strip() == f"run folder: {tmp_path / 'run'}", out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "baselines" not in metrics and "Classical baselines" not in (tmp_path / "run" / "report.md").read_text()


def test_csv_training_log_in_the_run_folder(tabular_run):
    log = tabular_run["root"] / "run" / "logs" / "metrics.csv"
    assert log.is_file()
    assert "epoch" in pd.read_csv(log).columns


def test_resume_continues_from_the_checkpoint(tabular_run):
    import torch

    ck = tabular_run["root"] / "ck" / "last.ckpt"
    assert ck.stat().st_mtime_ns > tabular_run["ckpt_before"]
    # the checkpoints astrotorch writes load with weights_only=True (no code runs from the file)
    state = torch.load(ck, map_location="cpu", weights_only=True)
    assert state["epoch"] == 2  # 0-based: the third epoch ran after resuming from two
    assert "from the last checkpoint" in tabular_run["resumed"]


@pytest.mark.skipif(__import__("importlib").util.find_spec("tensorboard") is not None, reason="tensorboard installed")
def test_tensorboard_logger_without_tensorboard_is_a_clear_error(tmp_path):
    rc, out = _run("train", "tabular", "--logger", "tensorboard", "--data", "missing.csv", "--out", tmp_path / "run")
    assert rc == 2 and "--logger tensorboard needs the tensorboard package" in out
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------- stars
def test_train_stars_then_predict_stars_as_a_table(tmp_path):
    rc, out = _run("train", "stars", "--n-synthetic", "300", "--epochs", "1", "--out", tmp_path / "run")
    assert rc == 0, out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {r["output"] for r in metrics["which_wins"]["mae"]} >= {"logg", "mv", "mh"}
    assert {r["output"] for r in metrics["which_wins"]["accuracy"]} == {"spectral_class", "luminosity_class", "star_type"}
    pred = _ecsv(tmp_path / "run" / "predictions_test.csv")
    assert list(pred.columns[:4]) == ["row", "mbol", "mbol_sigma", "mbol_sigma_predictive"]
    assert {"logg_sigma", "p_spectral_class_G", "spectral_class", "spectral_class_code", "teff_completed"} <= set(pred.columns)
    assert len(pred) == metrics["n_test"] == 60
    stars = pd.DataFrame({"id": ["sun", "giant"], "teff": [5772.0, 4500.0], "luminosity": [1.0, 100.0],
                          "radius": [1.0, None]})
    stars.to_csv(tmp_path / "stars.csv", index=False)
    rc, out = _run("predict", "stars", tmp_path / "run", tmp_path / "stars.csv", "--out", tmp_path / "p.parquet")
    assert rc == 0, out
    import pyarrow.parquet as pq

    tb = pq.read_table(tmp_path / "p.parquet")
    assert tb.column_names[0] == "id" and tb.column("id").to_pylist() == ["sun", "giant"]
    assert tb.schema.field("teff_completed").metadata[b"unit"] == b"K"
    assert tb.column("spectral_class").to_pylist()[0] == "G"


@pytest.mark.realdata
def test_train_stars_reads_the_published_fusion_csvs(shared_data, tmp_path):
    folder = shared_data / "gaia_dr3_stars"
    rc, out = _run("train", "stars", "--data", folder / "inputs.csv", "--targets", folder / "targets.csv",
                   "--epochs", "1", "--no-baseline", "--out", tmp_path / "run")
    assert rc == 0, out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_test"] == 3999 and metrics["n_test"] == 800
    assert metrics["physics_violation"]["any_violation_rate"] == 0.0
    pred = _ecsv(tmp_path / "run" / "predictions_test.csv")
    ids = pd.read_csv(folder / "inputs.csv", index_col=0).index
    assert pred.columns[0] == "id" and pred["id"].astype(int).isin(ids).all() and len(pred) == 800


# ------------------------------------------------------------------------------------- images
@pytest.fixture(scope="module")
def galaxy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("galaxy") / "run"
    rc, log = _run("train", "images", "--data", "synthetic", "--n-train", "90", "--size", "32", "--epochs", "1",
                   "--select-class", "Disturbed", "--purity", "0.5", "--selection-fraction", "0.2", "--out", out)
    assert rc == 0, log
    return out


def test_galaxy_run_reports_pr_curves_selection_and_baselines(galaxy_run):
    metrics = json.loads((galaxy_run / "metrics.json").read_text())
    assert set(metrics["baselines"]) == {"majority class", "trees on image statistics"}
    assert set(metrics["which_wins"]) == {"accuracy", "balanced_accuracy", "log_loss", "ece"}
    sel = metrics["selection"]
    assert sel["fitted_on_selection_split"]["class_name"] == "Disturbed" and "recall" in sel["test"]
    assert set(metrics["test"]["average_precision"]) == set(metrics["classes"])
    assert (galaxy_run / "plots" / "precision_recall.png").is_file()
    report = (galaxy_run / "report.md").read_text()
    assert "## Selecting Disturbed at purity 0.5" in report and "average_precision" in report
    pred = _ecsv(galaxy_run / "predictions_test.csv")
    names = metrics["classes"]
    assert pred.columns[0] == "row" and len(pred) == metrics["n_test"]
    assert "p_Disturbed" in pred and "p_Disturbed_sigma" in pred  # galaxy_resnet is Bayesian
    p = pred[[f"p_{n.replace(' ', '_').replace('-', '_')}" for n in names]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-4)
    assert (pred["predicted_class"] == np.asarray(names)[p.argmax(1)]).all()


def test_cluster_run_reports_binned_bias_and_a_baseline(tmp_path):
    rc, log = _run("train", "images", "--task", "cluster-mass", "--n-train", "60", "--epochs", "1", "--out", tmp_path / "run")
    assert rc == 0, log
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(metrics["binned_bias"]) == 7 and "slope" in metrics["test"]
    assert metrics["which_wins"]["mae"][0]["output"] == "log10_m500"
    pred = _ecsv(tmp_path / "run" / "predictions_test.csv")
    assert list(pred.columns) == ["row", "log10_m500", "log10_m500_sigma", "log10_m500_sigma_model",
                                  "log10_m500_sigma_predictive", "outside_training_range"]
    assert "## Bias per bin of true mass" in (tmp_path / "run" / "report.md").read_text()


# -------------------------------------------------------------------------------- light curves
def test_lightcurve_run_has_object_ids_and_the_features_baseline(tmp_path):
    rc, log = _run("train", "lightcurves", "--n-synthetic", "48", "--epochs", "1", "--out", tmp_path / "run")
    assert rc == 0, log
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "lc_features trees" in metrics["baselines"] and metrics["which_wins"]["macro_f1"][0]["output"] == "all"
    pred = _ecsv(tmp_path / "run" / "predictions_test.csv")
    assert pred.columns[0] == "object_id" and pred["object_id"].is_unique and len(pred) == metrics["n_test"]
    assert "predicted_class" in pred


def _sn_folder(root: Path, n: int = 36) -> Path:
    """Toy SN Ia light curves (g, R) whose peak magnitude follows the distance modulus of their redshift."""
    from astropy.cosmology import Planck18

    rng = np.random.default_rng(3)
    folder = root / "sne"
    folder.mkdir()
    z = rng.uniform(0.02, 0.12, n)
    peak = -19.3 + Planck18.distmod(z).value
    rows = []
    for i in range(n):
        t = np.sort(rng.uniform(-20, 60, 40))
        band = np.where(np.arange(40) % 2, "g", "R")
        mag = peak[i] + 2.5 * np.log10(1 + np.exp(-t / 3)) + 0.03 * np.maximum(t, 0) + rng.normal(0, 0.05, 40)
        pd.DataFrame({"time": 59000 + t, "mag": mag, "magerr": 0.05, "band": band}).to_csv(folder / f"SN{i:03d}.csv", index=False)
        rows.append({"ZTFID": f"SN{i:03d}", "type": "SN Ia", "redshift": z[i] if i != 5 else np.nan})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder


def test_lightcurve_redshift_regression_with_the_standard_candle_baseline(tmp_path):
    folder = _sn_folder(tmp_path)
    rc, log = _run("train", "lightcurves", "--data", f"csv:{folder}", "--task", "regression", "--label-column",
                   "redshift", "--model", "lc_gru", "--epochs", "1", "--out", tmp_path / "run")
    assert rc == 0, log
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_test"] == 35  # the object without a redshift is left out
    assert {"nmad", "bias", "outlier_frac"} <= set(metrics["redshift"]) and "mae" in metrics["test"]["redshift"]
    assert set(metrics["baselines"]) == {"lc_features trees", "standard candle"}
    assert [r["output"] for r in metrics["which_wins"]["nmad"]] == ["all"]
    assert metrics["baselines"]["standard candle"]["metrics"]["nmad"] < 0.5  # the toy peaks are distance moduli
    pred = _ecsv(tmp_path / "run" / "predictions_test.csv")
    assert list(pred.columns) == ["object_id", "redshift", "outside_training_range"] and pred["object_id"].str.startswith("SN").all()
