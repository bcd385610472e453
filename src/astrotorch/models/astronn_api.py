"""astroNN's model methods and attributes on astrotorch models (``AstroNNModelMixin``).

astroNN tutorials call ``net.train(x, y)``, ``net.test(x)``, ``net.train_on_batch(...)``,
``net.get_layer(...)``, ``net.has_model``, ``net.save_weights()``, ``net.plot_model()`` and set
``net.autosave`` / ``net.callbacks``. This mixin provides them on top of the model's own API
(``fit``, ``predict``/``predict_proba``, ``fit_on_batch``, ``save``, ``network``): every method here is
a thin translation, so behaviour (validation, normalisation, Lightning training) is the model's.

The mixin is one of :class:`~astrotorch.models.base.AstroModel`'s bases; it only *adds* names, so it
never changes what astrotorch's own methods do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from astrotorch.errors import InputValidationError, NotFittedError


class AstroNNModelMixin:
    """astroNN's ``NeuralNetMaster`` methods for astrotorch models.

    Attributes (astroNN's): ``autosave`` (save after :meth:`train`), ``callbacks`` (extra Lightning
    callbacks, e.g. :class:`~astrotorch.nn.astronn_callbacks.VirutalCSVLogger`, used by
    :meth:`train`). ``folder_name`` is read when present (astroNN's folder name for ``save``).
    """

    autosave: bool = False
    callbacks: list[Any] | None = None

    # ------------------------------------------------------------------------------ training
    def train(self, input_data: Any, labels: Any = None, *args: Any, **kwargs: Any) -> Any:
        """astroNN's ``train`` (renamed ``fit`` in astroNN 1.1): ``fit`` with astroNN's positional order.

        Bayesian models: ``train(x, y, inputs_err, labels_err, sample_weight)``; other models:
        ``train(x, y, sample_weight)``; autoencoders: ``train(x[, reconstruction_target])``. Keyword
        names of either library are accepted (``inputs_err``/``x_err``, ``labels_err``/``y_err``).
        With ``autosave`` the model is saved afterwards (to ``folder_name`` when set).
        """
        kw = self._astronn_fit_kwargs(args, kwargs)
        extra = list(self.callbacks or [])
        if extra:
            # an instance attribute wraps the model's build_trainer for this fit only (whatever the MRO)
            build = self.build_trainer

            def build_with_callbacks(*a: Any, **k: Any) -> Any:
                trainer = build(*a, **k)
                trainer.callbacks.extend(extra)
                return trainer

            self.build_trainer = build_with_callbacks
        try:
            self.fit(input_data, labels, **kw)
        finally:
            self.__dict__.pop("build_trainer", None)
        if self.autosave:
            folder = getattr(self, "folder_name", None)
            self.save(folder) if folder is not None else self.save()
        return self

    def train_on_batch(self, input_data: Any, labels: Any = None, *args: Any, **kwargs: Any) -> Any:
        """astroNN's ``train_on_batch`` (``fit_on_batch``): one optimisation pass over the given data."""
        return self.fit_on_batch(input_data, labels, **self._astronn_fit_kwargs(args, kwargs))

    def _astronn_fit_kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = ("x_err", "y_err", "sample_weight") if getattr(self, "bayesian", False) else ("sample_weight",)
        if len(args) > len(names):
            raise InputValidationError(f"train takes at most {2 + len(names)} positional arguments ({', '.join(names)} after x, y)")
        out = dict(zip(names, args))
        aliases = {"inputs_err": "x_err", "labels_err": "y_err", "input_recon_target": None}
        for key, value in kwargs.items():
            key = aliases.get(key, key) or key
            if key in out:
                raise InputValidationError(f"train got {key} twice")
            out[key] = value
        return out

    # ------------------------------------------------------------------------------ inference
    def test(self, input_data: Any, inputs_err: Any = None, batch_size: int | None = None) -> Any:
        """astroNN's ``test`` (``predict`` in astroNN 1.1), with astroNN's return values.

        Regression: the prediction (and, for Bayesian models, the σ dict); classification: class
        *probabilities* (astroNN's test never returns labels); ApogeeDR14GaiaDR2BCNN: the fakemag and
        its σ, as astroNN's test returns; autoencoders: the reconstruction.
        """
        if hasattr(self, "predict_fakemag"):
            return self.predict_fakemag(input_data, batch_size=batch_size)
        if getattr(self, "task", "regression") == "classification" and hasattr(self, "predict_proba"):
            return self.predict_proba(input_data)
        kw: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
        if inputs_err is not None:
            kw["x_err"] = inputs_err
        return self.predict(input_data, **kw)

    def test_encoder(self, input_data: Any) -> np.ndarray:
        """astroNN's old VAE ``test_encoder``: the latent mean (see ``predict_encoder``)."""
        if not hasattr(self, "predict_encoder"):
            raise InputValidationError(f"{type(self).__name__} has no encoder")
        return self.predict_encoder(input_data)[0]

    # ------------------------------------------------------------------------------ inspection
    @property
    def has_model(self) -> bool:
        """Whether the model has a network (after ``fit``/``train`` or loading a folder)."""
        return getattr(self, "network", None) is not None

    def _need_network(self) -> nn.Module:
        if not self.has_model:
            raise NotFittedError(f"{type(self).__name__} has no network yet: call train()/fit() or load a folder first")
        return self.network

    def get_layer(self, name: str | None = None, index: int | None = None) -> nn.Module:
        """A sub-module by its name in ``network.named_modules()`` (e.g. ``"dense.1"``) or by ``index``
        in the list of leaf layers (astroNN's Keras ``get_layer(name=None, index=None)``)."""
        net = self._need_network()
        if (name is None) == (index is None):
            raise InputValidationError("get_layer needs exactly one of name= or index=")
        if name is not None:
            modules = dict(net.named_modules())
            if name not in modules:
                raise InputValidationError(f"no layer named {name!r}; layers: {[n for n in modules if n]}")
            return modules[name]
        leaves = [m for m in net.modules() if not list(m.children())]
        if not -len(leaves) <= int(index) < len(leaves):
            raise InputValidationError(f"layer index {index} out of range for {len(leaves)} layers")
        return leaves[int(index)]

    def get_weights(self) -> list[np.ndarray]:
        """Every parameter and buffer of the network as NumPy arrays (state-dict order)."""
        return [v.detach().cpu().numpy() for v in self._need_network().state_dict().values()]

    def get_config(self) -> dict[str, Any]:
        """Model configuration: the class, hyper-parameters, shapes and target names."""
        cfg = {"id": type(self).__name__, **self.get_params()}
        cfg.update(input_shape=getattr(self, "input_shape", None), output_shape=self.output_shape,
                   targetname=getattr(self, "targetname", None))
        return cfg

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        """Shape of one prediction, ``(output_dim,)`` (``None`` before training)."""
        dim = getattr(self, "output_dim", None)
        return None if dim is None else (int(dim),)

    @property
    def keras_model(self) -> nn.Module:
        """astroNN's ``keras_model``: here the ``torch.nn.Module`` (``network``)."""
        return self._need_network()

    @property
    def uses_learning_phase(self) -> bool:
        """Whether the network behaves differently in training (dropout, batch norm, MC layers)."""
        net = self._need_network()
        kinds = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
        return any(isinstance(m, kinds) or hasattr(m, "stochastic") for m in net.modules())

    def _norm_stat(self, which: str, attr: str) -> Any:
        norm = getattr(self, which, None)
        if norm is None:
            raise NotFittedError(f"{type(self).__name__} has no normalisation statistics yet (train or load first)")
        if isinstance(norm, dict):
            return {k: np.asarray(getattr(v, attr)) for k, v in norm.items()}
        return np.asarray(getattr(norm, attr))

    @property
    def input_mean(self) -> Any:
        """Value subtracted from the inputs (astroNN's ``input_mean``)."""
        return self._norm_stat("_input_norm", "center")

    @property
    def input_std(self) -> Any:
        """Divisor of the centred inputs (astroNN's ``input_std``)."""
        return self._norm_stat("_input_norm", "scale")

    @property
    def labels_mean(self) -> Any:
        """Value subtracted from the labels (astroNN's ``labels_mean``)."""
        return self._norm_stat("_label_norm", "center")

    @property
    def labels_std(self) -> Any:
        """Divisor of the centred labels (astroNN's ``labels_std``)."""
        return self._norm_stat("_label_norm", "scale")

    # ------------------------------------------------------------------------------ files
    def save_weights(self, filename: str | os.PathLike[str] = "model_weights.h5", overwrite: bool = True) -> Path:
        """Write the network's weights: HDF5 (``.h5``/``.hdf5``, one dataset per tensor) or safetensors.

        The file is written atomically; ``overwrite=False`` refuses an existing file.
        """
        from astrotorch.io import atomic_write

        path = Path(filename)
        if path.exists() and not overwrite:
            raise InputValidationError(f"{path} already exists and overwrite=False")
        if path.exists() and not path.is_file():
            raise InputValidationError(f"{path} exists and is not a regular file")
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._need_network().state_dict().items()}
        suffix = path.suffix.lower()
        if suffix in (".h5", ".hdf5"):
            import h5py

            with atomic_write(path, "wb") as fh:
                with h5py.File(fh, "w") as f:
                    f.attrs["format"] = "astrotorch-weights"
                    for k, v in tensors.items():
                        f.create_dataset(k, data=v.numpy())
        elif suffix == ".safetensors":
            from safetensors.torch import save

            with atomic_write(path, "wb") as fh:
                fh.write(save(tensors))
        else:
            raise InputValidationError(f"save_weights writes .h5/.hdf5 or .safetensors files, got {path.name!r}")
        return path

    def plot_model(self, name: str = "model.png", show_shapes: bool = True, show_layer_names: bool = True,
                   rankdir: str = "TB") -> Path:
        """Draw the layer list (names, types, parameter counts) into ``name`` (a PNG, no graphviz needed).

        Saved in ``folder_name`` when the model has one, else in the current folder. ``rankdir`` is
        accepted for astroNN's signature; the drawing is always a vertical list.
        """
        import matplotlib.pyplot as plt

        from astrotorch.io import atomic_write

        net = self._need_network()
        rows = []
        for lname, mod in net.named_modules():
            if list(mod.children()):
                continue
            n_par = sum(p.numel() for p in mod.parameters(recurse=False))
            label = f"{lname}: " if show_layer_names else ""
            extra = f" — {mod.extra_repr()}" if show_shapes and mod.extra_repr() else ""
            rows.append(f"{label}{type(mod).__name__}{extra}  [{n_par:,} parameters]")
        folder = getattr(self, "folder_name", None)
        path = Path(folder) / name if folder is not None else Path(name)
        fig = plt.figure(figsize=(9, 0.3 * len(rows) + 0.8))
        fig.text(0.01, 0.99, f"{type(self).__name__}\n" + "\n".join(rows), va="top", family="monospace", fontsize=8)
        try:
            with atomic_write(path, "wb") as fh:
                fig.savefig(fh, format=path.suffix.lstrip(".") or "png")
        finally:
            plt.close(fig)
        return path

    def plot_dense_stats(self) -> Any:
        """Histograms of the weights of every dense (``nn.Linear``) layer; returns the figure."""
        import matplotlib.pyplot as plt

        dense = [(n, m) for n, m in self._need_network().named_modules() if isinstance(m, nn.Linear)]
        if not dense:
            raise InputValidationError(f"{type(self).__name__}'s network has no dense layer")
        fig, axes = plt.subplots(len(dense), 1, figsize=(6, 2.2 * len(dense)), squeeze=False)
        for ax, (n, m) in zip(axes[:, 0], dense):
            w = m.weight.detach().cpu().numpy().ravel()
            ax.hist(w, bins=50)
            ax.set_title(f"{n}: mean {w.mean():.3g}, std {w.std():.3g}", fontsize=9)
        fig.tight_layout()
        return fig

    def flush(self) -> None:
        """Release cached GPU memory (``torch.cuda.empty_cache``); nothing to do on CPU."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


__all__ = ["AstroNNModelMixin"]
