"""Training run used by tests/test_ddp.py: the AstroModel API with Lightning's DDP strategy on CPU (gloo).

Lightning's ``ddp`` strategy starts the other ranks by re-running this script with the same arguments
(its subprocess launcher), which is why this is a script and not a function inside the test. Rank 0
writes the final weights (safetensors) and predictions on a fixed input (``.npy``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

torch.set_num_threads(1)

from astrotorch.models import create_model  # noqa: E402


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1024, 16)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1], x[:, 2] * x[:, 3]], axis=1).astype(np.float32)
    return x, y


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--batch-size", type=int, required=True, help="per-process batch size")
    ap.add_argument("--strategy", default="ddp")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", required=True, help="prefix of the output files")
    ap.add_argument("--resumable-loader", action="store_true",
                    help="train through ResumableDataLoader (checks Lightning can re-create it under DDP)")
    args = ap.parse_args()

    from safetensors.torch import save_file

    model = create_model("mlp", num_hidden=(32, 32), max_epochs=args.epochs, batch_size=args.batch_size, lr=3e-3,
                         accelerator="cpu", devices=args.devices, strategy=args.strategy, deterministic=True,
                         seed=11)
    if args.resumable_loader:
        from astrotorch.datasets.streaming import ResumableDataLoader

        plain = type(model).make_dataloader

        def loader(self, ds, shuffle, batch_size=None):
            if not shuffle:
                return plain(self, ds, shuffle, batch_size)
            return ResumableDataLoader(ds, batch_size=batch_size or self.batch_size, seed=self.seed,
                                       collate_fn=self.collate_fn())

        type(model).make_dataloader = loader
    x, y = data()
    model.fit(x, y)
    if model.trainer.is_global_zero:
        save_file({k: v.detach().contiguous() for k, v in model.network.state_dict().items()}, args.out + ".safetensors")
        np.save(args.out + ".pred.npy", model.predict(x[:200]))
        with open(args.out + ".info", "w") as fh:
            loader = model.trainer.train_dataloader
            fh.write(f"world_size={model.trainer.world_size} global_step={model.trainer.global_step} "
                     f"loader={type(loader).__name__} sampler={type(loader.sampler).__name__}\n")


if __name__ == "__main__":
    main()
