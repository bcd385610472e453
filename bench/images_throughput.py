"""Training throughput (images/s) of the image networks: forward + loss + backward + Adam step.

    nice .venv/bin/python bench/images_throughput.py --threads 1            # CPU
    python bench/images_throughput.py --device cuda --batch-size 256        # GPU (also --bf16)

Measures the optimisation step alone on synthetic tensors of the real input sizes (Galaxy10 SDSS
69×69×3, cluster images 50×50×10), after warm-up steps, so the figure is the network's cost, not
data loading. Prints one JSON line per model and writes ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch


def _models(n_classes: int = 5) -> dict[str, tuple[Any, Any]]:
    from astrotorch.models.arch.cluster import ClusterMassNet
    from astrotorch.models.arch.galaxy import Cifar10CNNNet, GalaxyResNetNet, RightAngleShiftAugment
    from astrotorch.models.galaxy import GalaxyResNet

    gz1 = ["Elliptical", "Spiral clockwise", "Spiral anticlockwise", "Edge-on", "Merger"][:n_classes]
    return {
        "galaxy10_cnn (69x69x3)": (lambda: Cifar10CNNNet((3, 69, 69), n_classes), "galaxy"),
        # the model's current defaults (crop 49, stride-1 stem, spiral-winding features ...)
        "galaxy_resnet (69x69x3, model defaults)": (
            lambda: GalaxyResNet(targetname=gz1).build_network((3, 69, 69), n_classes), "galaxy"),
        # the network's own defaults: the model default before 2026-11-24
        "galaxy_resnet (69x69x3, stride-2 stem, no crop)": (
            lambda: GalaxyResNetNet((3, 69, 69), n_classes, augment=RightAngleShiftAugment(3)), "galaxy"),
        "galaxy_resnet wide (32,64,128)x2, stride-1 stem": (
            lambda: GalaxyResNetNet((3, 69, 69), n_classes, widths=(32, 64, 128), blocks_per_stage=2, stem_stride=1,
                                    augment=RightAngleShiftAugment(3)), "galaxy"),
        "cluster_mass_cnn gaussian_nll (50x50x10)": (lambda: ClusterMassNet(10, widths=(16, 32, 64), heteroscedastic=True), "cluster"),
    }


def measure(name: str, build: Any, kind: str, device: str, batch: int, steps: int, bf16: bool) -> dict[str, Any]:
    from astrotorch.nn import losses

    torch.manual_seed(0)
    net = build().to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    if kind == "galaxy":
        x: Any = torch.rand(batch, 3, 69, 69, device=device)
        y = torch.randint(0, 5, (batch,), device=device)
    else:
        x = {"image": torch.rand(batch, 10, 50, 50, device=device), "redshift": torch.rand(batch, 1, device=device)}
        y = torch.rand(batch, 1, device=device)

    def step() -> None:
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        if kind == "galaxy":
            loss = (losses.robust_categorical_crossentropy(y, out[0].float(), out[1].float()) if isinstance(out, tuple)
                    else losses.categorical_crossentropy(y, out.float(), from_logits=True))
        else:
            loss = losses.gaussian_nll(y, out[0].float(), out[1].float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"model": name, "device": device, "bf16": bf16, "batch_size": batch, "steps": steps,
            "images_per_s": round(batch * steps / dt, 1), "threads": torch.get_num_threads(),
            "parameters": sum(p.numel() for p in net.parameters())}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--only", default=None, help="substring of the model names to run")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name, (build, kind) in _models().items():
        if args.only and args.only not in name:
            continue
        row = measure(name, build, kind, args.device, args.batch_size, args.steps, args.bf16)
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
