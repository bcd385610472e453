"""Training run used by tests/test_crash_recovery.py (run as a subprocess, so it can be SIGKILLed).

Trains a small MLP with dropout (so the RNG state matters) through the AstroModel API, checkpointing
every optimiser step, in deterministic mode. ``--slow`` sleeps after every step and writes the global
step to ``--progress`` so the test can kill the process mid-epoch. ``--resume`` continues from
``<ckpt-dir>/last.ckpt``. At the end the network weights go to ``--out`` (safetensors), the training
history (epoch, loss) to ``--out`` + ``.history.json``, and a run
folder is written with RunFolder (``--run-dir``; ``--slow-save`` sleeps inside it so the test can
kill the process while the run folder is being written).

The two pieces that make a mid-epoch resume exact live in the model base class:
``ResumableDataLoader`` (epoch-seeded order, position saved in checkpoints) and the RNG-state
callback (dropout masks continue where they stopped); this script only adds progress reporting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

torch.set_num_threads(1)

import lightning as L  # noqa: E402

from astrotorch.models.baselines import MLP  # noqa: E402


class _Progress(L.Callback):
    """Writes the global step after every batch (and optionally sleeps) so a test can time a kill."""

    def __init__(self, path: Path | None, sleep: float) -> None:
        self.path, self.sleep = path, sleep

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(f"{trainer.global_step} {trainer.current_epoch} {batch_idx}\n")
            tmp.replace(self.path)
        if self.sleep:
            time.sleep(self.sleep)


class ProgressMLP(MLP):
    """The base MLP (whose training loader and RNG-state callback make a resume exact) plus progress."""

    progress_path: Path | None = None
    sleep: float = 0.0

    def _trainer_callbacks(self) -> list[Any]:
        return super()._trainer_callbacks() + [_Progress(self.progress_path, self.sleep)]


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    x = rng.normal(size=(480, 16)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1], x[:, 2] * x[:, 3]], axis=1).astype(np.float32)
    return x, y


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--slow", type=float, default=0.0)
    ap.add_argument("--slow-save", type=float, default=0.0)
    ap.add_argument("--progress", default=None)
    args = ap.parse_args()

    from safetensors.torch import save_file

    ProgressMLP.progress_path = Path(args.progress) if args.progress else None
    ProgressMLP.sleep = args.slow
    model = ProgressMLP(num_hidden=(32, 32), dropout_rate=0.1, max_epochs=3, batch_size=32, lr=3e-3,
                         accelerator="cpu", deterministic=True, seed=7, checkpoint_dir=args.ckpt_dir,
                         checkpoint_every_n_steps=1, early_stopping_patience=None)
    x, y = data()
    model.fit(x, y, ckpt_path="last" if args.resume else None)
    save_file({k: v.contiguous() for k, v in model.network.state_dict().items()}, args.out)
    rows = model.history[["epoch", "loss"]].to_dict("records")
    Path(args.out + ".history.json").write_text(json.dumps([{"epoch": int(r["epoch"]), "loss": float(r["loss"])} for r in rows]))
    if args.run_dir:
        from astrotorch.train.runs import RunFolder

        with RunFolder(args.run_dir) as run:
            model.save(run.path / "model")
            time.sleep(args.slow_save)  # the test kills the process here
            run.write_metrics({"steps": int(model.trainer.global_step)})


if __name__ == "__main__":
    main()
