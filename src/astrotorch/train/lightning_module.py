"""The LightningModule every astrotorch model trains through.

It only holds the step logic: the network comes from the model's ``build_network`` and the loss from
the model's ``compute_loss``. Loops, devices, precision, checkpoints and DDP are Lightning's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from astrotorch.models.base import AstroModel


def batch_size_of(batch: dict[str, Any]) -> int:
    y = batch.get("y")
    if isinstance(y, torch.Tensor):
        return int(y.shape[0])
    x = batch["x"]
    if isinstance(x, dict):
        x = next(iter(x.values()))
    return int(x.shape[0])


def is_kernel(param: torch.Tensor) -> bool:
    """Weight matrices and convolution kernels (``ndim > 1``): what Keras' ``kernel_regularizer``
    acts on. Biases and normalisation scales/shifts are 1-D and are not regularised."""
    return param.ndim > 1


def make_adam(params: Any, lr: float, l2: float = 0.0) -> torch.optim.Adam:
    """Adam as astroNN configures it: Keras' ``eps=1e-7``, and its L2 kernel regulariser
    (``l2·Σw²`` in the loss, i.e. a gradient ``2·l2·w``) as weight decay ``2·l2`` on the kernels only.

    Behaviour change (issue 19): until then the decay applied to every parameter, biases and
    normalisation parameters included, while the reported penalty counted kernels only; now both
    follow Keras (two parameter groups: kernels with decay, the rest without).

    Uses PyTorch's fused (single-kernel) implementation where every parameter is a floating tensor
    on CPU or CUDA: on CPU it is ~10x cheaper per step than the per-tensor loop (bench/vs_astronn.py),
    with the same update rule.
    """
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    if l2 > 0:
        kernels = [p for p in params if is_kernel(p)]
        others = [p for p in params if not is_kernel(p)]
        groups: Any = [g for g in ({"params": kernels, "weight_decay": 2.0 * l2},
                                   {"params": others, "weight_decay": 0.0}) if g["params"]]
    else:
        groups = params
    return torch.optim.Adam(groups, lr=lr, eps=1e-7, fused=True if fused else None)


def _plain(obj: Any) -> Any:
    """A value made of dicts, lists, str, int, float, bool and None (checkpoints load with
    ``weights_only=True``): numpy values become Python ones, other objects their ``repr``."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalar or array
        return _plain(obj.tolist())
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return repr(obj)


def model_hyperparameters(model: Any) -> dict[str, Any]:
    """What made a checkpoint: the model's registry name, class and every hyper-parameter."""
    return {"model": model.name, "model_class": type(model).__name__, **_plain(model.get_params(deep=False))}


class AstroLightningModule(L.LightningModule):
    """Step logic for an :class:`~astrotorch.models.base.AstroModel`.

    Parameters
    ----------
    network:
        The ``torch.nn.Module`` built by the model (registered as ``self.network`` so checkpoints and
        DDP see it).
    model:
        The owning AstroModel; supplies ``compute_loss`` and the optimiser hyper-parameters.
    """

    def __init__(self, network: nn.Module, model: AstroModel) -> None:
        super().__init__()
        self.network = network
        # kept out of the module tree on purpose: the AstroModel is not an nn.Module
        object.__setattr__(self, "_astro_model", model)
        # Lightning's mechanism: the hyper-parameters go into every checkpoint and to the loggers
        self.save_hyperparameters(model_hyperparameters(model))
        # the training loss of the epoch so far: Σ batch loss × batch size, and the number of samples
        self._loss_sum: torch.Tensor | None = None
        self._loss_count = 0

    def forward(self, x: Any) -> Any:
        return self.network(x)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # a batch of CPU tensors for a CPU run is already where it goes: Lightning's generic move walks
        # the collection (~0.4 ms a step, ~2 % of an ApogeeBCNN step on 2 cores)
        if device.type == "cpu" and isinstance(batch, dict) and all(
                isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in batch.values()):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _l2_penalty(self) -> torch.Tensor | float:
        """Keras' L2 regularisation term ``l2 · Σ w²`` over the weight matrices and kernels (not biases)."""
        l2 = float(getattr(self._astro_model, "l2", 0.0) or 0.0)
        if l2 <= 0.0:
            return 0.0
        with torch.no_grad():  # Σw² as a dot product: no temporary the size of the weights (it ran every step)
            flat = (p.detach().reshape(-1) for p in self.network.parameters() if is_kernel(p))
            return l2 * sum(torch.dot(v, v) if v.dtype == torch.float32 else v.float().square().sum() for v in flat)

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        output = self.network(batch["x"])
        loss = self._astro_model.compute_loss(batch, output)
        # The optimiser applies the L2 term as weight decay, so it is not in the backpropagated loss;
        # the *reported* loss includes it, as Keras reports (and astroNN's ReduceLROnPlateau and early
        # stopping watch) it. This matters when training stalls: shrinking weights still count as
        # progress and the learning rate is not cut, which lets astroNN's Galaxy10CNN recover from its
        # first-step blow-up at lr 0.005 (docs/results/vs_astronn.md).
        reported = loss.detach() + self._l2_penalty()
        n = batch_size_of(batch)
        if stage == "train":
            # summed here and handed to self.log once, at the epoch's last batch (_flush_epoch_loss):
            # self.log costs ~0.8 ms a call on CPU (Lightning's result bookkeeping), ~4 % of an
            # ApogeeBCNN step; a weighted mean logged once with the summed batch size gives the same
            # epoch value as one call per batch
            total = reported * n
            self._loss_sum = total if self._loss_sum is None else self._loss_sum + total
            self._loss_count += n
        else:
            self.log("val_loss", reported, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        return loss

    def _flush_epoch_loss(self) -> None:
        """Log the summed training loss as ``loss`` (epoch mean over samples)."""
        if self._loss_sum is None or not self._loss_count:
            return
        mean = self._loss_sum / self._loss_count
        self.log(
            "loss",
            mean,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=self._loss_count,
            # synced in training too: without a validation split the LR schedule and early stopping watch
            # this value, and every DDP rank must take the same decision
            sync_dist=True,
        )
        self._loss_sum, self._loss_count = None, 0

    def _epoch_ends_here(self, batch_idx: int) -> bool:
        """Whether Lightning ends the training epoch after this batch (last batch, a batch limit,
        ``max_steps``, or a stop request from a callback such as EarlyStopping or a Timer)."""
        trainer = self.trainer
        return bool(trainer.is_last_batch or trainer.should_stop or batch_idx + 1 >= trainer.num_training_batches
                    or 0 <= trainer.max_steps <= trainer.global_step)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # before the epoch-end hooks of the callbacks (history, progress, user callbacks), which read
        # trainer.callback_metrics["loss"]
        if self._epoch_ends_here(batch_idx):
            self._flush_epoch_loss()

    def on_train_epoch_end(self) -> None:
        # a loss still unlogged here (an epoch ended in a way _epoch_ends_here did not foresee) still
        # reaches early stopping, checkpoints and the LR schedule
        self._flush_epoch_loss()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # a mid-epoch checkpoint carries the epoch's loss so far: after a resume the epoch's reported
        # loss is the same as without the interruption (on rank 0's share under DDP)
        if self._loss_sum is not None and self._loss_count:
            checkpoint["astrotorch_epoch_loss"] = {"sum": self._loss_sum.detach().cpu(), "count": self._loss_count}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("astrotorch_epoch_loss")
        if state:
            self._loss_sum, self._loss_count = state["sum"].to(self.device), int(state["count"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        m = self._astro_model
        # Keras' l2 kernel regulariser adds l2·Σw² to the loss, i.e. a gradient 2·l2·w: weight decay 2·l2 on
        # the kernels; eps=1e-7 as Keras (astroNN's optimiser), so equal hyper-parameters mean equal training
        optimizer = make_adam(self.network.parameters(), lr=m.lr, l2=m.l2)
        has_val = bool(getattr(m, "_has_val", True))
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=m.reduce_lr_factor,
            patience=m.reduce_lr_patience,
            min_lr=m.reduce_lr_min,
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "monitor": "val_loss" if has_val else "loss",
                "interval": "epoch",
            },
        }
