"""Summaries, tables and target lines of ``bench/vs_astronn.py`` (astrotorch vs astroNN).

Runs are dicts (one per child process pair): ``side`` ("astrotorch" / "astroNN"), ``model`` and, for
astrotorch, ``precision`` and ``mode`` ("cold": fresh processes with an empty inductor cache;
"warm": the inductor cache already filled by an earlier run). astroNN keeps no compilation cache
between processes, so its runs serve as the reference for every astrotorch row of their model.
Ratios are astrotorch / astroNN for throughputs and peak memory, astroNN / astrotorch for CPU
seconds (so > 1 means astrotorch is faster).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: astrotorch registry name → (astroNN class name, data kind, bayesian)
MODELS: dict[str, tuple[str, str, bool]] = {
    "apogee_bcnn": ("ApogeeBCNN", "spectra", True),
    "apogee_cnn": ("ApogeeCNN", "spectra", False),
    "starnet2017": ("StarNet2017", "spectra", False),
    "galaxy10_cnn": ("Galaxy10CNN", "galaxy", False),
}
#: astroNN's default validation fraction (run_peer.py keeps astroNN's defaults)
VAL_SIZE = 0.1

TARGETS = {
    "apogee_bcnn": {"train": 2.0, "predict": 5.0, "rss": 1.0},
    "galaxy10_cnn": {"train": 1.5},
}

#: per-side quantities summarised as medians over the repeats
_MEDIANS = ("train_per_s", "train_all_per_s", "first_epoch_s", "train_cpu_s_per_1k", "predict_per_s",
            "fit_predict_per_s", "predict_cpu_s_per_1k", "peak_rss_mib", "load_s")


def train_rate(n_train: int, epoch_s: list[float], val_size: float = VAL_SIZE) -> float:
    """Training samples/s after the first epoch (``run_peer.py``'s formula, for both sides)."""
    times = epoch_s[1:] or epoch_s
    if not times:
        return float("nan")
    return n_train * (1.0 - val_size) / float(np.median(times))


def train_rate_all(n_train: int, epoch_s: list[float], val_size: float = VAL_SIZE) -> float:
    """Training samples/s over all epochs, the first (start-up, tracing, compilation) included."""
    if not epoch_s:
        return float("nan")
    return n_train * (1.0 - val_size) * len(epoch_s) / float(np.sum(epoch_s))


def accuracy_metrics(pred: np.ndarray, y_test: np.ndarray, classification: bool) -> dict[str, Any]:
    """MAE per label (regression; NaN/magic entries skipped) or accuracy (classification, one-hot truth)."""
    pred = np.asarray(pred, dtype=np.float64)
    if classification:
        return {"accuracy": float(np.mean(np.argmax(pred, 1) == np.argmax(y_test, 1)))}
    y = np.asarray(y_test, dtype=np.float64)
    r = np.abs(pred - y)
    r[~np.isfinite(r) | (y == -9999.0)] = np.nan
    return {"mae": np.nanmean(r, axis=0).tolist()}


def _median(vals: list[float]) -> float:
    vals = [v for v in vals if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if (np.isfinite(a) and np.isfinite(b) and b != 0) else float("nan")


def row_key(run: dict[str, Any]) -> str:
    """Row of a run: ``model`` alone, or ``model/precision/mode`` for astrotorch runs that carry them."""
    if run.get("side") == "astrotorch" and run.get("mode"):
        return f"{run['model']}/{run.get('precision') or '32-true'}/{run['mode']}"
    return run["model"]


def _side_summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
    s: dict[str, Any] = {"n_ok": len(rs)}
    for k in _MEDIANS:
        s[k] = _median([r.get(k, float("nan")) for r in rs])
    s["epoch_s"] = [r["epoch_s"] for r in rs]
    if rs and "mae" in rs[0]:
        m = np.array([r["mae"] for r in rs], dtype=np.float64)
        s["mae_mean"] = m.mean(0).tolist()
        s["mae_std"] = (m.std(0, ddof=1) if len(rs) > 1 else np.full(m.shape[1], np.nan)).tolist()
    if rs and "accuracy" in rs[0]:
        a = np.array([r["accuracy"] for r in rs])
        s["accuracy_mean"] = float(a.mean())
        s["accuracy_std"] = float(a.std(ddof=1)) if len(a) > 1 else float("nan")
    return s


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Medians over repeats per row (model, or model/precision/mode) and side, and the ratios."""
    out: dict[str, dict[str, Any]] = {}
    ok = [r for r in runs if r.get("ok")]
    for key in dict.fromkeys(row_key(r) for r in runs if r["side"] == "astrotorch"):
        model = key.split("/")[0]
        at_runs = [r for r in ok if r["side"] == "astrotorch" and row_key(r) == key]
        nn_runs = [r for r in ok if r["side"] == "astroNN" and r["model"] == model]
        row: dict[str, Any] = {"model": model}
        if "/" in key:
            row["precision"], row["mode"] = key.split("/")[1:]
        labelled = next((r for r in at_runs + nn_runs if r.get("label_names")), None)
        if labelled:
            row["label_names"] = labelled["label_names"]
        at, nn = row["astrotorch"], row["astroNN"] = _side_summary(at_runs), _side_summary(nn_runs)
        row["ratio"] = {
            "train": _ratio(at["train_per_s"], nn["train_per_s"]),
            "train_all": _ratio(at["train_all_per_s"], nn["train_all_per_s"]),
            "train_cpu": _ratio(nn["train_cpu_s_per_1k"], at["train_cpu_s_per_1k"]),
            "predict": _ratio(at["predict_per_s"], nn["predict_per_s"]),
            "fit_predict": _ratio(at["fit_predict_per_s"], nn["predict_per_s"]),
            "predict_cpu": _ratio(nn["predict_cpu_s_per_1k"], at["predict_cpu_s_per_1k"]),
            "rss": _ratio(at["peak_rss_mib"], nn["peak_rss_mib"]),
        }
        if "mae_mean" in at and "mae_mean" in nn:
            ma, mn = np.array(at["mae_mean"]), np.array(nn["mae_mean"])
            sa, sn = np.array(at["mae_std"]), np.array(nn["mae_std"])
            k = max(at["n_ok"], 1), max(nn["n_ok"], 1)
            # noise of the difference of the two means over repeats (standard errors in quadrature)
            se = np.sqrt(np.nan_to_num(sa) ** 2 / k[0] + np.nan_to_num(sn) ** 2 / k[1])
            ratios = ma / mn
            row["ratio"]["mae_per_label"] = ratios.tolist()
            row["ratio"]["mae_median"] = float(np.median(ratios))
            row["ratio"]["mae_worst"] = float(np.max(ratios))
            worse = (ma - mn) > 2.0 * se
            row["ratio"]["mae_labels_worse_2se"] = int(worse.sum()) if np.isfinite(se).all() and (se > 0).all() else None
        if "accuracy_mean" in at and "accuracy_mean" in nn:
            row["ratio"]["accuracy"] = _ratio(at["accuracy_mean"], nn["accuracy_mean"])
        out[key] = row
    return out


# --------------------------------------------------------------------------------------- formatting
def _f(v: Any, fmt: str = "{:.3g}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


def _accuracy_cell(at: dict[str, Any], nn: dict[str, Any], r: dict[str, Any]) -> str:
    if "mae_median" in r:
        acc = f"MAE ratio median {_f(r['mae_median'])}, worst {_f(r['mae_worst'])}"
        if r.get("mae_labels_worse_2se") is not None:
            acc += f"; {r['mae_labels_worse_2se']}/{len(r['mae_per_label'])} labels worse by > 2σ"
        return acc
    if "accuracy" in r:
        return f"{_f(at['accuracy_mean'], '{:.3f}')} / {_f(nn['accuracy_mean'], '{:.3f}')} (ratio {_f(r['accuracy'])})"
    if "accuracy_mean" in at:
        return f"{_f(at['accuracy_mean'], '{:.3f}')} / –"
    return "MAE astrotorch only" if "mae_mean" in at else "–"


def _row_label(row: dict[str, Any]) -> str:
    label = MODELS.get(row["model"], (row["model"],))[0]
    if row.get("mode"):
        label += f" · {row['precision']} · {row['mode']}"
    return label


def format_table(summary: dict[str, dict[str, Any]]) -> str:
    """Markdown table, one row per model (and precision, cold/warm start): astrotorch · astroNN ·
    ratio for each quantity. Prediction: first ``predict`` call in a fresh process that loads the
    saved model (astroNN: its first call after ``fit``)."""
    head = ("| model | first epoch s (at · nn) | train /s, all epochs (at · nn · ratio) "
            "| train /s after the first epoch (at · nn · ratio) | train CPU-s per 1k (speed-up) "
            "| predict /s, fresh process (at · nn · ratio) | predict /s after fit (at · ratio) "
            "| predict CPU-s per 1k (speed-up) | peak RSS MiB (at · nn · ratio) | accuracy (at / nn) | repeats |")
    lines = [head, "|" + "---|" * 11]
    for row in summary.values():
        at, nn, r = row["astrotorch"], row["astroNN"], row["ratio"]
        lines.append(
            f"| {_row_label(row)} "
            f"| {_f(at['first_epoch_s'], '{:.2f}')} · {_f(nn['first_epoch_s'], '{:.2f}')} "
            f"| {_f(at['train_all_per_s'], '{:.0f}')} · {_f(nn['train_all_per_s'], '{:.0f}')} · **{_f(r['train_all'], '{:.2f}')}×** "
            f"| {_f(at['train_per_s'], '{:.0f}')} · {_f(nn['train_per_s'], '{:.0f}')} · **{_f(r['train'], '{:.2f}')}×** "
            f"| {_f(at['train_cpu_s_per_1k'], '{:.1f}')} · {_f(nn['train_cpu_s_per_1k'], '{:.1f}')} ({_f(r['train_cpu'], '{:.2f}')}×) "
            f"| {_f(at['predict_per_s'])} · {_f(nn['predict_per_s'])} · **{_f(r['predict'], '{:.2f}')}×** "
            f"| {_f(at['fit_predict_per_s'])} · {_f(r['fit_predict'], '{:.2f}')}× "
            f"| {_f(at['predict_cpu_s_per_1k'], '{:.1f}')} · {_f(nn['predict_cpu_s_per_1k'], '{:.1f}')} ({_f(r['predict_cpu'], '{:.2f}')}×) "
            f"| {_f(at['peak_rss_mib'], '{:.0f}')} · {_f(nn['peak_rss_mib'], '{:.0f}')} · **{_f(r['rss'], '{:.2f}')}** "
            f"| {_accuracy_cell(at, nn, r)} | {at['n_ok']} · {nn['n_ok']} |"
        )
    return "\n".join(lines)


def format_mae_table(row: dict[str, Any]) -> str:
    """Per-label MAE (mean ± std over repeats) for one regression row."""
    at, nn = row["astrotorch"], row["astroNN"]
    if "mae_mean" not in at:
        return ""
    names = row.get("label_names") or [f"label_{i}" for i in range(len(at["mae_mean"]))]
    has_nn = "mae_mean" in nn
    lines = ["| label | MAE astrotorch | MAE astroNN | ratio |", "|---|---|---|---|"]
    for j, name in enumerate(names):
        a = f"{at['mae_mean'][j]:.4g} ± {_f(at['mae_std'][j], '{:.2g}')}"
        b = f"{nn['mae_mean'][j]:.4g} ± {_f(nn['mae_std'][j], '{:.2g}')}" if has_nn else "–"
        r = _f(row["ratio"]["mae_per_label"][j], "{:.3f}") if has_nn else "–"
        lines.append(f"| {name} | {a} | {b} | {r} |")
    return "\n".join(lines)


def _worst(*vals: float) -> float:
    """The smallest of the finite values (NaN if none): a target must hold for every measure."""
    finite = [v for v in vals if v is not None and np.isfinite(v)]
    return min(finite) if finite else float("nan")


def _met(v: float, target: float, higher: bool = True) -> str:
    if not np.isfinite(v):
        return "?"
    return "met" if (v >= target if higher else v <= target) else "MISSED"


def target_lines(summary: dict[str, dict[str, Any]]) -> list[str]:
    """The issue's targets, met or missed, with the measured ratios (every row of the model)."""
    out = []
    for row in summary.values():
        r, label = row["ratio"], _row_label(row)
        if row["model"] == "apogee_bcnn":
            out.append(f"{label} training ≥ 2×: {_f(r['train_all'], '{:.2f}')}× all epochs, {_f(r['train'], '{:.2f}')}× "
                       f"after the first (CPU time {_f(r['train_cpu'], '{:.2f}')}×) → "
                       f"{_met(_worst(r['train_all'], r['train']), 2.0)}")
            out.append(f"{label} MC prediction ≥ 5×: {_f(r['predict'], '{:.2f}')}× fresh process, "
                       f"{_f(r['fit_predict'], '{:.2f}')}× after fit (CPU time {_f(r['predict_cpu'], '{:.2f}')}×) → "
                       f"{_met(_worst(r['predict'], r['fit_predict']), 5.0)}")
            out.append(f"{label} peak RSS ≤ astroNN: {_f(r['rss'], '{:.2f}')} → {_met(r['rss'], 1.0, higher=False)}")
            if "mae_median" in r:
                w = r.get("mae_labels_worse_2se")
                out.append(f"{label} MAE no worse: median ratio {_f(r['mae_median'], '{:.3f}')}, "
                           f"{w if w is not None else '?'} labels worse by > 2σ of the repeat scatter")
        elif row["model"] == "galaxy10_cnn":
            out.append(f"{label} training ≥ 1.5×: {_f(r['train'], '{:.2f}')}× (CPU time {_f(r['train_cpu'], '{:.2f}')}×) "
                       f"→ {_met(r['train'], 1.5)}; accuracy ratio {_f(r.get('accuracy'), '{:.3f}')}")
    return out


__all__ = ["MODELS", "TARGETS", "VAL_SIZE", "accuracy_metrics", "format_mae_table", "format_table", "row_key",
           "summarise", "target_lines", "train_rate", "train_rate_all"]
