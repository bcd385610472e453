"""The command line: list-models, info, train tabular → run folder, predict, evaluate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from astrotorch.cli.main import app, run_cli
from astrotorch.train.runs import RunFolder

runner = CliRunner()


def test_list_models_and_info():
    res = runner.invoke(app, ["list-models"])
    assert res.exit_code == 0, res.output
    assert "bayesian_mlp" in res.output and "knn" in res.output
    res = runner.invoke(app, ["info"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["config"]["magic_number"] == -9999.0 and "torch" in info


def test_train_tabular_writes_run_folder_then_predict_and_evaluate(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "tabular", "--epochs", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("metrics.json", "report.md", "plots/loss_curves.png", "model/model.safetensors"):
        assert (out / f).is_file(), f
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_test"] == 600 and "label_0" in metrics["test"]
    assert "Test metrics" in (out / "report.md").read_text()
    x = np.linspace(0, 10, 30, dtype=np.float32)[:, None]
    y = (x * np.sin(x)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    res = runner.invoke(app, ["predict", "file", str(out / "model"), str(tmp_path / "d.npz"), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    # the prediction-table contract: the id (here the row) first, then the value and its sigmas
    header = list(pd.read_csv(tmp_path / "p.csv", comment="#").columns)
    assert header == ["row", "label_0", "label_0_sigma", "label_0_sigma_model", "label_0_sigma_predictive",
                      "outside_training_range"]
    res = runner.invoke(app, ["evaluate", str(out / "model"), str(tmp_path / "d.npz"), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["label_0"]["n"] == 30
    assert json.loads((tmp_path / "m.json").read_text())["label_0"]["n"] == 30
    # an existing run folder is not overwritten without --overwrite
    res = runner.invoke(app, ["train", "tabular", "--epochs", "1", "--out", str(out)])
    assert res.exit_code != 0


def test_cli_bad_input_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    res = runner.invoke(app, ["train", "tabular", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "bad.npz is not an .npz archive" in str(res.exception)
    # through the console entry's code path: exit code 2 and one line on stderr
    assert run_cli(["train", "tabular", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'bad.npz'} is not an .npz archive (it does not start with the zip signature)\n"
    assert not (tmp_path / "r").exists()


def test_global_debug_option_and_help(capsys):
    assert run_cli(["--help"]) == 0
    assert "--debug" in capsys.readouterr().out
    assert run_cli(["train", "tabular", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--overwrite" in out and "--epochs" in out


def test_run_folder_is_atomic(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with RunFolder(target) as run:
            run.write_metrics({"a": 1.0})
            raise RuntimeError("crash mid-run")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with RunFolder(target) as run:
        run.write_metrics({"a": np.float32(2.5), "b": float("nan")})
    assert json.loads((target / "metrics.json").read_text()) == {"a": 2.5, "b": None}


@pytest.mark.parametrize("command", [["train", "spectra"], ["train", "images"], ["train", "stars"],
                                     ["train", "lightcurves"], ["train", "tabular"], ["predict", "file"],
                                     ["predict", "images"], ["predict", "stars"], ["predict", "lightcurves"],
                                     ["predict", "spectra"], ["fit", "spectra"], ["convert-astronn"]])
def test_every_documented_command_is_registered(command):
    res = CliRunner().invoke(app, [*command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage" in res.output


def test_fit_spectra_missing_file_is_exit_code_2(tmp_path, capsys):
    rc = run_cli(["fit", "spectra", "binspec_plus", str(tmp_path / "missing.fits"), "--out", str(tmp_path / "fit.csv")])
    assert rc == 2
    assert not (tmp_path / "fit.csv").exists()


def test_warnings_print_as_one_line_without_the_source_location(capsys):
    import warnings

    import typer

    from astrotorch.cli.exit_codes import run, state

    demo = typer.Typer()

    @demo.command()
    def go(debug: bool = False) -> None:
        state.debug = debug
        warnings.warn("the 40 calibration stars pin σ only loosely,\nsee sigma_precision_", stacklevel=1)

    assert run(demo, []) == 0
    err = capsys.readouterr().err
    assert err == "warning: the 40 calibration stars pin σ only loosely, see sigma_precision_\n"
    assert run(demo, ["--debug"]) == 0  # --debug keeps Python's format, with the file and line
    err = capsys.readouterr().err
    assert "UserWarning" in err and "test_cli.py" in err
    assert warnings.showwarning.__module__ == "warnings"  # Python's display is restored afterwards
