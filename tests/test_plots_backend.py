"""Importing and using astrotorch.plots leaves matplotlib's backend choice to the user."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

_SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # no backend chosen for us
    env["PYTHONPATH"] = _SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_importing_plots_selects_no_backend_and_imports_no_pyplot():
    out = _run("""
        import sys, matplotlib
        before = matplotlib.rcParams._get_backend_or_none()
        import astrotorch.plots, astrotorch.plots.training, astrotorch.plots.images
        assert matplotlib.rcParams._get_backend_or_none() == before, matplotlib.rcParams._get_backend_or_none()
        assert "matplotlib.pyplot" not in sys.modules
        print("ok", before)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_plots_keep_a_user_backend_and_save_headless(tmp_path):
    out = _run(f"""
        import matplotlib, pandas as pd, numpy as np
        matplotlib.use("svg")  # the user's choice, made before importing astrotorch
        from astrotorch.plots.training import loss_curves
        from astrotorch.plots.images import confusion_matrix_plot
        fig = loss_curves(pd.DataFrame({{"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.5], "val_loss": [3.1, 2.2, 1.9]}}))
        fig.savefig(r"{tmp_path / 'loss.png'}")
        confusion_matrix_plot(np.array([[5, 1], [2, 7]])).savefig(r"{tmp_path / 'conf.png'}")
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        print("ok")
    """)
    assert out.returncode == 0, out.stderr
    for name in ("loss.png", "conf.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
