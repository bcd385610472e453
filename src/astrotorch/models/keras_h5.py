"""Read a Keras 2 HDF5 model file (``model.save("x.h5")``) without TensorFlow: layer graph and weights.

Only data are read: the ``model_config`` attribute is parsed as JSON (never deserialised into
objects, never ``Lambda`` code) and the weights as numeric HDF5 datasets. :class:`KerasH5` gives
the layers (class, configuration, inbound layers, enclosing sub-model), each layer's weights by
kind (``kernel``, ``bias`` ...) and graph walks; :func:`conv1d_to_torch` and friends transpose
Keras' channels-last kernels to PyTorch's layouts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.errors import ModelFolderError

#: Keras layers that hold trainable weights
WEIGHT_LAYERS = frozenset({"Conv1D", "Conv2D", "Conv1DTranspose", "Dense"})
#: nested models
MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


@dataclasses.dataclass
class KerasLayer:
    """One layer of the saved graph."""

    name: str
    class_name: str
    config: dict[str, Any]
    inbound: list[str]
    parent: str | None


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class KerasH5:
    """A Keras HDF5 model file opened read-only; ``path`` names it in every error message."""

    def __init__(self, path: str | Path) -> None:
        from astrotorch.io import open_hdf5

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFolderError(f"{self.path} does not exist")
        try:
            with open_hdf5(self.path) as f:  # its DataFormatError is a ValueError, caught below
                if "model_config" not in f.attrs:
                    raise ModelFolderError(f"{self.path} has no 'model_config' attribute: not a Keras model file")
                config = json.loads(_text(f.attrs["model_config"]))
                self.keras_version = _text(f.attrs.get("keras_version", "unknown"))
                self.backend = _text(f.attrs.get("backend", "unknown"))
                self.layers: dict[str, KerasLayer] = {}
                self.order: list[str] = []
                try:
                    self.model_class = str(config["class_name"])
                    self._add_model(config, parent=None)
                except (KeyError, TypeError, IndexError) as exc:
                    raise ModelFolderError(f"{self.path}: malformed model_config ({exc!r})") from exc
                group = f["model_weights"] if "model_weights" in f else f
                self._weights = self._read_weights(group)
        except ModelFolderError:
            raise
        except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ModelFolderError(f"{self.path} is not a readable Keras HDF5 model file: {exc}") from exc

    # ------------------------------------------------------------------------------ parsing
    def _read_weights(self, group: Any) -> dict[str, dict[str, np.ndarray]]:
        import h5py

        out: dict[str, dict[str, np.ndarray]] = {}
        for lname in group.attrs.get("layer_names", []):
            lgroup = group[_text(lname)]
            for wname in lgroup.attrs.get("weight_names", []):
                wname = _text(wname)
                ds = lgroup[wname]
                if not isinstance(ds, h5py.Dataset) or ds.dtype.kind != "f":
                    raise ModelFolderError(f"{self.path}: weight {wname!r} is not a floating-point array")
                arr = np.asarray(ds[()], dtype=np.float32)
                parts = wname.split("/")
                top = _text(lname)
                inner = parts[-2] if len(parts) >= 2 else top
                # weights of a layer inside a nested model are keyed "<model>/<layer>", as the layers
                nested = top in self.layers and self.layers[top].class_name in MODEL_CLASSES
                owner = f"{top}/{inner}" if nested else inner
                kind = parts[-1].split(":")[0]
                if not np.all(np.isfinite(arr)):
                    raise ModelFolderError(f"{self.path}: weight {wname!r} of layer {owner!r} holds NaN or inf")
                out.setdefault(owner, {})[kind] = arr
        return out

    def _add_model(self, cfg: dict[str, Any], parent: str | None) -> None:
        """Register the layers of a (possibly nested) model; a nested model's layers are named
        ``"<model>/<layer>"`` (Keras allows a sub-model and one of its layers to share a name)."""
        inner = cfg["config"]
        sequential = cfg["class_name"] == "Sequential"

        def qualified(n: str) -> str:
            return n if parent is None else f"{parent}/{n}"

        previous: str | None = None
        for entry in inner["layers"]:
            cls = str(entry["class_name"])
            lcfg = entry.get("config", {})
            name = qualified(str(entry.get("name") or lcfg.get("name")))
            if sequential:
                inbound = [previous] if previous is not None else []
            else:
                nodes = entry.get("inbound_nodes") or []
                inbound = [qualified(str(t[0])) for t in nodes[0]] if nodes else []
            if name in self.layers:
                raise ModelFolderError(f"{self.path}: layer name {name!r} appears twice in model_config")
            self.layers[name] = KerasLayer(name, cls, lcfg, inbound, parent)
            self.order.append(name)
            if cls in MODEL_CLASSES:
                self._add_model(entry, parent=name)
            previous = name

    # ------------------------------------------------------------------------------ queries
    def layer(self, name: str) -> KerasLayer:
        try:
            return self.layers[name]
        except KeyError:
            raise ModelFolderError(f"{self.path}: expected a layer named {name!r}, none in the saved model") from None

    def of_class(self, class_name: str, parent: str | None | type = ...) -> list[KerasLayer]:
        """Layers of ``class_name`` in saved order (optionally only inside sub-model ``parent``)."""
        return [l for n in self.order if (l := self.layers[n]).class_name == class_name
                and (parent is ... or l.parent == parent)]

    def check_classes(self, allowed: Iterable[str], model_id: str) -> None:
        """Refuse layers whose class is not ``allowed`` (naming them): nothing unknown is interpreted."""
        allowed = set(allowed)
        unknown = [f"{l.name} ({l.class_name})" for l in self.layers.values() if l.class_name not in allowed]
        if unknown:
            raise ModelFolderError(
                f"{self.path}: layers {unknown} are not part of astroNN's {model_id}; astrotorch converts only "
                f"the published architectures (layer classes {sorted(allowed)})"
            )

    def weights(self, name: str) -> dict[str, np.ndarray]:
        """``{"kernel": ..., "bias": ...}`` of layer ``name`` (Keras layout)."""
        try:
            return self._weights[name]
        except KeyError:
            raise ModelFolderError(f"{self.path}: no weights saved for layer {name!r}") from None

    def chain_back(self, name: str, stop: Iterable[str] = ("InputLayer",)) -> list[KerasLayer]:
        """Layers from ``name`` back along single inbound links to an ``InputLayer``, input first.

        A layer with several inbound tensors ends the walk with an error (the caller expected a chain).
        """
        stop = set(stop)
        out: list[KerasLayer] = []
        cur = self.layer(name)
        while True:
            out.append(cur)
            if cur.class_name in stop or not cur.inbound:
                break
            if len(cur.inbound) != 1:
                raise ModelFolderError(f"{self.path}: layer {cur.name!r} merges {cur.inbound}; expected a chain")
            cur = self.layer(cur.inbound[0])
        return out[::-1]

    def weight_chain(self, name: str) -> list[KerasLayer]:
        """The layers with weights on :meth:`chain_back` (input first)."""
        return [l for l in self.chain_back(name) if l.class_name in WEIGHT_LAYERS]


# ----------------------------------------------------------------------------------- layouts
def dense_to_torch(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras Dense kernel ``(in, out)`` → ``nn.Linear`` weight ``(out, in)``."""
    return {"weight": np.ascontiguousarray(w["kernel"].T), "bias": w["bias"]}


def conv1d_to_torch(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras Conv1D kernel ``(k, in, out)`` → ``nn.Conv1d`` weight ``(out, in, k)``."""
    return {"weight": np.ascontiguousarray(w["kernel"].transpose(2, 1, 0)), "bias": w["bias"]}


def conv2d_to_torch(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras Conv2D kernel ``(kh, kw, in, out)`` → ``nn.Conv2d`` weight ``(out, in, kh, kw)``."""
    return {"weight": np.ascontiguousarray(w["kernel"].transpose(3, 2, 0, 1)), "bias": w["bias"]}


def conv1d_transpose_to_torch(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras Conv1DTranspose kernel ``(k, out, in)`` → ``nn.ConvTranspose1d`` weight ``(in, out, k)``."""
    return {"weight": np.ascontiguousarray(w["kernel"].transpose(2, 1, 0)), "bias": w["bias"]}


def hwc_dense_to_chw(kernel: np.ndarray, hwc: tuple[int, int, int]) -> np.ndarray:
    """Reorder a Dense kernel's input rows from a Keras (H, W, C) flatten to PyTorch's (C, H, W) flatten."""
    h, w, c = hwc
    if kernel.shape[0] != h * w * c:
        raise ModelFolderError(f"dense kernel has {kernel.shape[0]} inputs, the flattened feature map {h}x{w}x{c}")
    return kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)


__all__ = [
    "KerasH5",
    "KerasLayer",
    "WEIGHT_LAYERS",
    "conv1d_to_torch",
    "conv1d_transpose_to_torch",
    "conv2d_to_torch",
    "dense_to_torch",
    "hwc_dense_to_chw",
]
