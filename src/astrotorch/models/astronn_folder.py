"""Load a model folder saved by astroNN 1.1.0 as the equivalent astrotorch model (no TensorFlow needed).

An astroNN folder holds ``astroNN_model_parameter.json`` (model identifier, hyper-parameters,
normalisation statistics, target names), ``model_weights.h5`` (a Keras HDF5 model file),
``hyperparameter.txt`` and ``training_history.csv``. :func:`load_astronn_folder` reads them as data
only — JSON, numeric HDF5 datasets and a CSV; nothing from the folder is imported or executed (its
``Lambda`` layers' code is never read) — checks that the saved layer graph is the published astroNN
architecture of that identifier (unknown layers are refused by name), transposes the Keras weights
to PyTorch layouts and returns the astrotorch model with astroNN's normalisation statistics.

Supported identifiers: ApogeeCNN, ApogeeBCNN, ApogeeBCNNCensored, ApogeeDR14GaiaDR2BCNN,
StarNet2017, Galaxy10CNN, Cifar10CNN, ApogeeCVAE, ApokascEncoderDecoder. Notes:

* ``ApogeeBCNNCensored`` needs ASPCAP's element windows (astroNN's ``aspcap_l31c_masks.npy``; see
  :func:`astrotorch.apogee.aspcap_mask`, or pass ``aspcap_masks=``): the Keras file does not store them.
* ``ApogeeDR14GaiaDR2BCNN`` takes one array per star in astroNN (spectrum, apparent magnitude,
  auxiliary data); astrotorch's model takes a dict, see :func:`astronn_dr14_input`. astroNN adds
  ``log 73.85`` once to the fakemag log-variance where the scaling of a standard deviation needs
  ``2 log 73.85``: the converted model's predictive σ of the fakemag is astroNN's × √73.85.
* The VAEs convert to ``architecture="astronn"`` models.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astrotorch.errors import ModelFolderError
from astrotorch.models.keras_h5 import (
    KerasH5,
    conv1d_to_torch,
    conv1d_transpose_to_torch,
    conv2d_to_torch,
    dense_to_torch,
    hwc_dense_to_chw,
)
from astrotorch.nn.normalizer import Normalizer

PARAMETER_FILE = "astroNN_model_parameter.json"
WEIGHTS_FILE = "model_weights.h5"
HYPERPARAMETER_FILE = "hyperparameter.txt"
HISTORY_FILE = "training_history.csv"

_BASE = {"InputLayer", "Activation", "Dropout", "Flatten", "Dense"}
_ALLOWED = {
    "ApogeeCNN": _BASE | {"Conv1D", "MaxPooling1D"},
    "StarNet2017": _BASE | {"Conv1D", "MaxPooling1D"},
    "ApogeeBCNN": _BASE | {"Conv1D", "MaxPooling1D", "MCDropout"},
    "ApogeeBCNNCensored": _BASE | {"Conv1D", "MaxPooling1D", "MCDropout", "BoolMask", "StopGrad", "Concatenate"},
    "ApogeeDR14GaiaDR2BCNN": _BASE | {"Conv1D", "MaxPooling1D", "MCDropout", "BoolMask", "Lambda", "DeNormAdd",
                                      "Multiply", "Add"},
    "Galaxy10CNN": _BASE | {"Conv2D", "MaxPooling2D"},
    "Cifar10CNN": _BASE | {"Conv2D", "MaxPooling2D"},
    "ApogeeCVAE": _BASE | {"Conv1D", "MaxPooling1D", "VAESampling", "Reshape", "Sequential", "Functional"},
    "ApokascEncoderDecoder": _BASE | {"Conv1D", "MaxPooling1D", "VAESampling", "Reshape", "Conv1DTranspose",
                                      "Functional", "Sequential"},
}
#: astroNN's output order of ApogeeBCNNCensored: label index → layer-name prefix of its element branch
#: (indices 0, 1 and 19 — Teff, log g, Fe — come from the full-spectrum trunk)
_CENSORED_BRANCHES = {2: "c", 3: "c1", 4: "n", 5: "o", 6: "na", 7: "mg", 8: "al", 9: "si", 10: "p", 11: "s",
                      12: "k", 13: "ca", 14: "ti", 15: "ti2", 16: "v", 17: "cr", 18: "mn", 20: "co", 21: "ni"}
_CENSORED_MASKS = {"c": "C", "c1": "C1", "n": "N", "o": "O", "na": "Na", "mg": "Mg", "al": "Al", "si": "Si", "p": "P",
                   "s": "S", "k": "K", "ca": "Ca", "ti": "Ti", "ti2": "Ti2", "v": "V", "cr": "Cr", "mn": "Mn",
                   "co": "Co", "ni": "Ni"}
_CENSORED_TARGETS = ["teff", "logg", "C", "C1", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti", "Ti2",
                     "V", "Cr", "Mn", "Fe", "Co", "Ni"]
#: ApogeeDR14GaiaDR2BCNN's fixed input layout: 7514 spectral pixels, the apparent magnitude, auxiliary data
DR14_SPECTRUM_PIXELS = 7514


# ----------------------------------------------------------------------------------------- reading
def is_astronn_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder written by astroNN's ``save()`` (its parameter JSON and Keras weights)."""
    p = Path(path)
    return p.is_dir() and (p / PARAMETER_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


def read_astronn_parameters(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``astroNN_model_parameter.json`` as a dict (checked to hold what a conversion needs)."""
    path = Path(folder) / PARAMETER_FILE
    try:
        params = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFolderError(f"{folder} has no {PARAMETER_FILE}: not an astroNN model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ModelFolderError(f"{path} must hold a JSON object")
    missing = [k for k in ("id", "input", "labels", "input_mean", "input_std", "labels_mean", "labels_std",
                           "input_norm_mode", "labels_norm_mode") if k not in params]
    if missing:
        raise ModelFolderError(f"{path} lacks {missing}")
    return params


def _hyperparameters(folder: Path) -> dict[str, str]:
    """``key: value`` lines of hyperparameter.txt (plain text, optional)."""
    path = folder / HYPERPARAMETER_FILE
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                out.setdefault(key.strip(), value.strip())
    return out


def _first(d: Any, key: str = "input") -> Any:
    """astroNN stores per-input values as ``{"input": ...}`` (dict) or, in old folders, plainly."""
    if isinstance(d, dict):
        if key in d:
            return d[key]
        return next(iter(d.values()))
    return d


def _mode(value: Any, where: str) -> int | str:
    mode = str(_first(value, "input" if "input" in where else "output")).strip().lower()
    if mode not in ("0", "1", "2", "3", "3s", "255"):
        raise ModelFolderError(f"{where}: normalisation mode {mode!r} has no astrotorch equivalent")
    return mode if mode == "3s" else int(mode)


def astronn_normalizer(mode: int | str, mean: Any, std: Any, feature_shape: tuple[int, ...]) -> Normalizer:
    """An astrotorch :class:`~astrotorch.nn.Normalizer` applying astroNN's saved ``(x - mean) / std``.

    astroNN's mode ``"3s"`` applies the sigmoid without centring (its code, unlike its manual): the
    statistics are then ``mean = 0``.
    """
    norm = Normalizer(mode=mode)
    featurewise = mode in (2, 3, "3s")
    stat_shape = feature_shape if featurewise else ()
    m = np.asarray(mean, dtype=np.float64).reshape(-1)
    s = np.asarray(std, dtype=np.float64).reshape(-1)
    size = int(np.prod(stat_shape)) if stat_shape else 1
    if mode in (0, 255, "3s"):
        m = np.zeros(size)
    if mode in (0, 3, "3s", 255):
        s = np.ones(size)
    if m.size == 1 and size > 1:
        m = np.full(size, m[0])
    if s.size == 1 and size > 1:
        s = np.full(size, s[0])
    if m.size != size or s.size != size:
        raise ModelFolderError(f"normalisation statistics have {m.size}/{s.size} values, expected {size} (mode {mode})")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
        raise ModelFolderError("normalisation statistics hold NaN or inf")
    return Normalizer.from_dict({
        "mode": mode, "magic_number": norm.magic_number, "feature_shape": list(feature_shape),
        "count": np.ones(stat_shape).tolist(), "mean": m.reshape(stat_shape).tolist(),
        "m2": np.square(s).reshape(stat_shape).tolist(),
    })


# ----------------------------------------------------------------------------------------- weights
class _Weights:
    """Collects torch parameter values from Keras layers and loads them into a network (all or nothing)."""

    def __init__(self, keras: KerasH5) -> None:
        self.keras = keras
        self.values: dict[str, np.ndarray] = {}
        self.source: dict[str, str] = {}

    def put(self, prefix: str, layer: str, convert: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
            kernel: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        w = dict(self.keras.weights(layer))
        if "kernel" not in w or "bias" not in w:
            raise ModelFolderError(f"{self.keras.path}: layer {layer!r} lacks a kernel or bias")
        if kernel is not None:
            w["kernel"] = kernel(w["kernel"])
        for key, value in convert(w).items():
            self.values[f"{prefix}.{key}"] = value
            self.source[f"{prefix}.{key}"] = layer

    def load_into(self, network: torch.nn.Module) -> None:
        state = network.state_dict()
        for key, value in self.values.items():
            if key not in state:
                raise ModelFolderError(f"internal: astrotorch network has no parameter {key!r}")
            if tuple(state[key].shape) != value.shape:
                raise ModelFolderError(
                    f"{self.keras.path}: layer {self.source[key]!r} has weights of shape {value.shape}, the "
                    f"astrotorch layer {key!r} expects {tuple(state[key].shape)} (hyper-parameters and weights disagree)"
                )
            state[key] = torch.as_tensor(value, dtype=state[key].dtype)
        unset = [n for n, _ in network.named_parameters() if n not in self.values]
        if unset:
            raise ModelFolderError(f"internal: no astroNN weights for astrotorch parameters {unset}")
        network.load_state_dict(state)


def _classes(keras: KerasH5, chain: list[Any], expected: list[str], what: str) -> None:
    got = [l.class_name for l in chain if l.class_name != "InputLayer"]
    if got != expected:
        raise ModelFolderError(
            f"{keras.path}: the {what} has layers {got}; astroNN's architecture has {expected}"
        )


def _check_config(keras: KerasH5, layer: Any, **expected: Any) -> None:
    for key, want in expected.items():
        got = layer.config.get(key)
        if isinstance(got, list):
            got = tuple(got)
        if got != want:
            raise ModelFolderError(f"{keras.path}: layer {layer.name!r} has {key}={got!r}, expected {want!r}")


def _install(model: Any, network: torch.nn.Module, input_shape: Any, output_dim: int, input_norm: Any,
             label_norm: Normalizer, targetname: list[str] | None) -> Any:
    """Give a fresh astrotorch model its network, shapes and normalisers (as ``load_folder`` does)."""
    model.input_shape = input_shape
    model.output_dim = int(output_dim)
    model.targetname = targetname
    model._input_norm = input_norm
    model._label_norm = label_norm
    model.network = network.eval()
    return model


def _targetname(params: dict[str, Any], n: int) -> list[str] | None:
    names = params.get("targetname")
    if isinstance(names, str):
        names = [names]
    if isinstance(names, list) and len(names) == n and all(isinstance(v, str) for v in names):
        return list(names)
    return None  # astroNN keeps its 25 default APOGEE names whatever the number of outputs


def _ints(value: Any, n: int | None = None, what: str = "") -> tuple[int, ...]:
    vals = tuple(int(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    if n is not None and len(vals) != n:
        raise ModelFolderError(f"{what} must have {n} entries, got {value!r}")
    return vals


# ----------------------------------------------------------------------------------------- converters
def _spectral_common(params: dict[str, Any], hyper: dict[str, str]) -> dict[str, Any]:
    kw: dict[str, Any] = dict(
        num_filters=_ints(params.get("filternum"), 2, "filternum"), filter_len=int(_ints(params.get("filterlen"))[0]),
        pool_length=int(_ints(params.get("pool_length"))[0]), activation=str(params.get("activation", "relu")),
        batch_size=int(params.get("batch_size", 64)), val_size=float(params.get("valsize", 0.1)),
    )
    if params.get("l2") is not None:
        kw["l2"] = float(params["l2"])
    if "Learning Rate" in hyper:
        try:
            kw["lr"] = float(hyper["Learning Rate"])
        except ValueError:
            pass
    return kw


def _spectra_shapes(params: dict[str, Any]) -> tuple[int, int]:
    shape = _ints(_first(params["input"]))
    n_out = int(_first(params["labels"], "output"))
    return shape[0], n_out


def _conv_trunk_checks(keras: KerasH5, convs: list[Any], kw: dict[str, Any]) -> None:
    for conv in convs:
        _check_config(keras, conv, padding="same", kernel_size=(kw["filter_len"],), strides=(1,))
    for pool in keras.of_class("MaxPooling1D"):
        _check_config(keras, pool, pool_size=(kw["pool_length"],))


def _convert_cnn(params: dict[str, Any], keras: KerasH5, hyper: dict[str, str], bayesian: bool) -> Any:
    from astrotorch.models.spectra import ApogeeBCNN, ApogeeCNN

    n_pix, n_out = _spectra_shapes(params)
    kw = _spectral_common(params, hyper)
    kw["num_hidden"] = _ints(params.get("hidden"), 2, "hidden")
    chain = keras.chain_back("output")
    if bayesian:
        _classes(keras, chain, ["Conv1D", "Activation", "MCDropout", "Conv1D", "Activation", "MaxPooling1D",
                                "Flatten", "MCDropout", "Dense", "Activation", "MCDropout", "Dense", "Activation",
                                "Dense"], "ApogeeBCNN prediction head")
        if keras.layer("variance_output").inbound != keras.layer("output").inbound:
            raise ModelFolderError(f"{keras.path}: variance_output does not share the output's input")
        model = ApogeeBCNN(dropout_rate=float(params.get("dropout_rate", 0.3)), **kw)
    else:
        _classes(keras, chain, ["Conv1D", "Activation", "Conv1D", "Activation", "MaxPooling1D", "Flatten", "Dropout",
                                "Dense", "Activation", "Dropout", "Dense", "Activation", "Dense", "Activation"],
                 "ApogeeCNN")
        model = ApogeeCNN(dropout_rate=float(params.get("dropout_rate", 0.1)), **kw)
    for act in keras.of_class("Activation"):
        if act.name != "output":
            _check_config(keras, act, activation=kw["activation"])
    wl = [l.name for l in chain if l.class_name in ("Conv1D", "Dense")]
    _conv_trunk_checks(keras, [keras.layer(n) for n in wl[:2]], kw)
    w = _Weights(keras)
    w.put("trunk.first.0", wl[0], conv1d_to_torch)
    w.put("trunk.rest.1" if bayesian else "trunk.rest.0", wl[1], conv1d_to_torch)
    w.put("dense.1", wl[2], dense_to_torch)
    w.put("dense.4", wl[3], dense_to_torch)
    w.put("output", wl[4], dense_to_torch)
    if bayesian:
        w.put("log_variance", "variance_output", dense_to_torch)
    return _finish(model, params, w, (n_pix,), n_out)


def _convert_starnet(params: dict[str, Any], keras: KerasH5, hyper: dict[str, str]) -> Any:
    from astrotorch.models.spectra import StarNet2017

    n_pix, n_out = _spectra_shapes(params)
    kw = _spectral_common(params, hyper)
    kw["num_hidden"] = _ints(params.get("hidden"), 2, "hidden")
    chain = keras.chain_back("output")
    _classes(keras, chain, ["Conv1D", "Conv1D", "MaxPooling1D", "Flatten", "Dense", "Dense", "Dense"], "StarNet2017")
    wl = [l.name for l in chain if l.class_name in ("Conv1D", "Dense")]
    for name in wl[:-1]:
        _check_config(keras, keras.layer(name), activation=kw["activation"])
    _conv_trunk_checks(keras, [keras.layer(n) for n in wl[:2]], kw)
    model = StarNet2017(**kw)
    w = _Weights(keras)
    for prefix, name, conv in zip(("trunk.first.0", "trunk.rest.0", "dense.0", "dense.2", "output"), wl,
                                  (conv1d_to_torch, conv1d_to_torch, dense_to_torch, dense_to_torch, dense_to_torch)):
        w.put(prefix, name, conv)
    return _finish(model, params, w, (n_pix,), n_out)


def _convert_censored(params: dict[str, Any], keras: KerasH5, hyper: dict[str, str], aspcap_masks: Any) -> Any:
    from astrotorch.apogee import aspcap_mask
    from astrotorch.models.spectra import ApogeeBCNNCensored

    n_pix, n_out = _spectra_shapes(params)
    if n_pix != DR14_SPECTRUM_PIXELS or n_out != 22:
        raise ModelFolderError(f"ApogeeBCNNCensored works on 7514-pixel spectra with 22 labels, got {n_pix} / {n_out}")
    kw = _spectral_common(params, hyper)
    kw["num_hidden"] = _ints(params.get("hidden"), 5, "hidden")
    names = _targetname(params, n_out) or list(_CENSORED_TARGETS)
    if len(set(names)) != n_out:
        names = list(_CENSORED_TARGETS)
    windows: dict[str, list[int]] = {}
    for idx, prefix in _CENSORED_BRANCHES.items():
        mask = aspcap_mask(_CENSORED_MASKS[prefix], dr=14, path=aspcap_masks)
        n_in = keras.weights(f"{prefix}_dense")["kernel"].shape[0]
        if int(mask.sum()) != n_in:
            raise ModelFolderError(
                f"{keras.path}: branch {prefix}_dense takes {n_in} pixels but the ASPCAP window of "
                f"{_CENSORED_MASKS[prefix]} has {int(mask.sum())}: not the DR14 windows astroNN used"
            )
        keras.layer(f"{_CENSORED_MASKS[prefix]}_Mask")
        windows[names[idx]] = np.flatnonzero(mask).tolist()
    model = ApogeeBCNNCensored(element_windows=windows, trunk_labels=(names[0], names[1], names[19]),
                               wide_labels=(names[2], names[4]), maxnorm=float(params.get("maxnorm") or 0.5),
                               dropout_rate=float(params.get("dropout_rate", 0.3)), targetname=names, **kw)
    trunk = keras.chain_back("aux_fullspec")
    _classes(keras, trunk, ["Conv1D", "Activation", "MCDropout", "Conv1D", "Activation", "MaxPooling1D", "Flatten",
                            "MCDropout", "Dense", "Activation", "MCDropout", "Dense", "Activation", "Dense"],
             "ApogeeBCNNCensored trunk")
    wl = [l.name for l in trunk if l.class_name in ("Conv1D", "Dense")]
    _conv_trunk_checks(keras, [keras.layer(n) for n in wl[:2]], kw)
    w = _Weights(keras)
    w.put("trunk.first.0", wl[0], conv1d_to_torch)
    w.put("trunk.rest.1", wl[1], conv1d_to_torch)
    w.put("dense.1", wl[2], dense_to_torch)
    w.put("dense.4", wl[3], dense_to_torch)
    w.put("aux_fullspec", "aux_fullspec", dense_to_torch)
    for out_name, prefix in (("output", "main_out"), ("variance_output", "main_logvar")):
        heads = keras.layer(out_name).inbound
        if len(heads) != 22:
            raise ModelFolderError(f"{keras.path}: {out_name} concatenates {len(heads)} outputs, astroNN's has 22")
        trio = [keras.weights(heads[i]) for i in (0, 1, 19)]  # Teff, log g, Fe: Dense(1) heads on the trunk
        stacked = {"kernel": np.concatenate([t["kernel"] for t in trio], axis=1),
                   "bias": np.concatenate([t["bias"] for t in trio])}
        for k, v in dense_to_torch(stacked).items():
            w.values[f"{prefix}.{k}"], w.source[f"{prefix}.{k}"] = v, f"{heads[0]}, {heads[1]}, {heads[19]}"
    for k, idx in enumerate(sorted(_CENSORED_BRANCHES)):
        prefix = _CENSORED_BRANCHES[idx]
        w.put(f"branches.{k}.0", f"{prefix}_dense", dense_to_torch)
        w.put(f"branches.{k}.3", f"{prefix}_dense_2", dense_to_torch)
        w.put(f"heads.{k}", f"{prefix}_concat", dense_to_torch)
        w.put(f"head_vars.{k}", f"{prefix}_concat_var", dense_to_torch)
    return _finish(model, params, w, (n_pix,), n_out)


def _convert_dr14(params: dict[str, Any], keras: KerasH5, hyper: dict[str, str]) -> Any:
    from astrotorch.models.spectra import ApogeeDR14GaiaDR2BCNN

    n_in, n_out = _spectra_shapes(params)
    n_aux = n_in - DR14_SPECTRUM_PIXELS - 1
    if n_aux < 1 or n_out != 1:
        raise ModelFolderError(f"ApogeeDR14GaiaDR2BCNN takes 7514 pixels + magnitude + auxiliary data and predicts "
                               f"one value; this folder has {n_in} inputs and {n_out} outputs")
    if _mode(params["labels_norm_mode"], "labels_norm_mode") != 0:
        raise ModelFolderError(
            "this ApogeeDR14GaiaDR2BCNN was trained with normalised parallaxes (labels_norm_mode != 0): astroNN then "
            "de-normalises the fakemag with the parallax statistics, which astrotorch's model (parallax in mas) does not"
        )
    kw = _spectral_common(params, hyper)
    kw["num_hidden"] = _ints(params.get("hidden"), 4, "hidden")
    spec = keras.chain_back("fakemag_output")
    _classes(keras, spec, ["Flatten", "BoolMask", "Lambda", "Conv1D", "Activation", "MCDropout", "Conv1D",
                           "Activation", "MaxPooling1D", "Flatten", "MCDropout", "Dense", "Activation", "MCDropout",
                           "Dense", "Activation", "Dense"], "ApogeeDR14GaiaDR2BCNN fakemag model")
    offset = keras.chain_back("offset_output")
    _classes(keras, offset, ["Flatten", "BoolMask", "Dense", "MCDropout", "Dense", "MCDropout", "Dense"],
             "ApogeeDR14GaiaDR2BCNN offset model")
    _check_config(keras, keras.layer("fakemag_output"), activation="softplus")
    wl = [l.name for l in spec if l.class_name in ("Conv1D", "Dense")]
    ol = [l.name for l in offset if l.class_name == "Dense"]
    for name in ol:
        _check_config(keras, keras.layer(name), activation="tanh")
    _conv_trunk_checks(keras, [keras.layer(n) for n in wl[:2]], kw)
    model = ApogeeDR14GaiaDR2BCNN(dropout_rate=float(params.get("dropout_rate", 0.3)),
                                  input_norm_mode={"spectra": 3, "mag": 0, "aux": 3}, **kw)
    w = _Weights(keras)
    for prefix, name, conv in zip(("trunk.first.0", "trunk.rest.1", "dense.1", "dense.4", "fakemag"), wl,
                                  (conv1d_to_torch, conv1d_to_torch, dense_to_torch, dense_to_torch, dense_to_torch)):
        w.put(prefix, name, conv)
    w.put("fakemag_logvar", "fakemag_variance_output", dense_to_torch)
    for prefix, name in zip(("offset_net.0", "offset_net.3", "offset_net.6"), ol):
        w.put(prefix, name, dense_to_torch)
    if _mode(params["input_norm_mode"], "input_norm_mode") != 3:
        raise ModelFolderError("ApogeeDR14GaiaDR2BCNN folders are expected with astroNN's input_norm_mode 3")
    mean = np.asarray(_first(params["input_mean"]), dtype=np.float64).reshape(-1)
    if mean.size != n_in:
        raise ModelFolderError(f"input_mean has {mean.size} values for {n_in} inputs")
    norms = {
        "spectra": astronn_normalizer(3, mean[:DR14_SPECTRUM_PIXELS], 1.0, (DR14_SPECTRUM_PIXELS,)),
        "mag": astronn_normalizer(0, 0.0, 1.0, (1,)),
        "aux": astronn_normalizer(3, mean[DR14_SPECTRUM_PIXELS + 1:], 1.0, (n_aux,)),
    }
    shapes = {"spectra": (DR14_SPECTRUM_PIXELS,), "mag": (1,), "aux": (n_aux,)}
    network = model.build_network(shapes, 1)
    w.load_into(network)
    label_norm = astronn_normalizer(0, 0.0, 1.0, (1,))
    return _install(model, network, shapes, 1, norms, label_norm, ["parallax"])


def _convert_image(params: dict[str, Any], keras: KerasH5, hyper: dict[str, str], galaxy10: bool) -> Any:
    from astrotorch.models.galaxy import Cifar10CNN, Galaxy10CNN

    h, wd, c = _ints(_first(params["input"]), 3, "input shape")
    n_out = int(_first(params["labels"], "output"))
    pool = _ints(params.get("pool_length"), 2, "pool_length")
    if pool[0] != pool[1]:
        raise ModelFolderError(f"non-square pooling {pool} is not supported")
    chain = keras.chain_back("output")
    _classes(keras, chain, ["Conv2D", "Activation", "Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dropout",
                            "Dense", "Activation", "Dropout", "Dense", "Activation", "Dense", "Activation"],
             "Cifar10CNN/Galaxy10CNN")
    wl = [l.name for l in chain if l.class_name in ("Conv2D", "Dense")]
    for conv in wl[:2]:
        _check_config(keras, keras.layer(conv), padding="same", kernel_size=(3, 3), strides=(1, 1))
    _check_config(keras, keras.layer(wl[3]), kernel_constraint={"class_name": "MaxNorm",
                                                                "config": {"max_value": 2, "axis": 0}})
    filters = _ints(params.get("filternum"), 2, "filternum")
    cls = Galaxy10CNN if galaxy10 else Cifar10CNN
    model = cls(num_filters=filters, num_hidden=_ints(params.get("hidden"), 2, "hidden"), pool_length=pool[0],
                dropout_rate=float(params.get("dropout_rate", 0.1)), batch_size=int(params.get("batch_size", 64)),
                targetname=_targetname(params, n_out))
    w = _Weights(keras)
    w.put("conv1", wl[0], conv2d_to_torch)
    w.put("conv2", wl[1], conv2d_to_torch)
    w.put("fc1", wl[2], dense_to_torch, kernel=lambda k: hwc_dense_to_chw(k, (h // pool[0], wd // pool[0], filters[1])))
    w.put("fc2", wl[3], dense_to_torch)
    w.put("out", wl[4], dense_to_torch)
    if _mode(params["input_norm_mode"], "input_norm_mode") != 255:
        raise ModelFolderError("image models are expected with astroNN's input_norm_mode 255")
    network = model.build_network((c, h, wd), n_out)
    w.load_into(network)
    input_norm = astronn_normalizer(255, 0.0, 255.0, (c, h, wd))
    label_norm = astronn_normalizer(0, 0.0, 1.0, (n_out,))
    return _install(model, network, (c, h, wd), n_out, input_norm, label_norm, model.targetname
                    if model.targetname and len(model.targetname) == n_out else None)


def _convert_vae(params: dict[str, Any], keras: KerasH5, hyper: dict[str, str], kind: str) -> Any:
    from astrotorch.models.generative import ApogeeCVAE, ApokascEncoderDecoder

    n_pix = _ints(_first(params["input"]))[0]
    n_out = int(_first(params["labels"], "output"))
    latent = int(params.get("latent", 0))
    common = dict(latent_dim=latent, architecture="astronn", num_filters=_ints(params.get("filternum")),
                  pool_length=int(_ints(params.get("pool_length"))[0]), num_hidden=_ints(params.get("hidden"), 2, "hidden"),
                  dropout_rate=float(params.get("dropout_rate") or 0.0), batch_size=int(params.get("batch_size", 64)),
                  input_norm_mode=_mode(params["input_norm_mode"], "input_norm_mode"),
                  labels_norm_mode=_mode(params["labels_norm_mode"], "labels_norm_mode"))
    decoder = next((l.name for l in keras.layers.values() if l.parent is None and l.class_name in ("Sequential", "Functional")), None)
    if decoder is None:
        raise ModelFolderError(f"{keras.path}: no decoder sub-model found")
    dec = [l for l in keras.layers.values() if l.parent == decoder and l.class_name in ("Dense", "Conv1D", "Conv1DTranspose")]
    w = _Weights(keras)
    if kind == "ApogeeCVAE":
        if n_out != n_pix:
            raise ModelFolderError(f"ApogeeCVAE reconstructs its input: {n_pix} inputs but {n_out} outputs")
        mean_layer, var_layer = "mean_output", "sigma_output"
        enc = keras.weight_chain(mean_layer)
        if [l.class_name for l in enc] != ["Conv1D", "Conv1D", "Dense", "Dense", "Dense"] or \
                [l.class_name for l in dec] != ["Dense", "Dense", "Conv1D", "Conv1D", "Conv1D"]:
            raise ModelFolderError(f"{keras.path}: layer layout differs from astroNN's ApogeeCVAE")
        model = ApogeeCVAE(filter_len=int(_ints(params.get("filterlen"))[0]), **common)
        for prefix, layer in zip(("encoder.0", "encoder.3"), enc[:2]):
            w.put(prefix, layer.name, conv1d_to_torch)
        for prefix, layer in zip(("encoder.8", "encoder.11"), enc[2:4]):
            w.put(prefix, layer.name, dense_to_torch)
        targets = ("decoder_dense.0", "decoder_dense.3", "decoder_conv.0", "decoder_conv.3", "decoder_conv.5")
        convs = (dense_to_torch, dense_to_torch, conv1d_to_torch, conv1d_to_torch, conv1d_to_torch)
    else:
        mean_layer, var_layer = "z_mean", "z_log_var"
        enc = keras.weight_chain(mean_layer)
        if [l.class_name for l in enc] != ["Conv1D", "Conv1D", "Dense", "Dense"] or \
                [l.class_name for l in dec] != ["Dense", "Conv1DTranspose", "Conv1DTranspose", "Conv1DTranspose"]:
            raise ModelFolderError(f"{keras.path}: layer layout differs from astroNN's ApokascEncoderDecoder")
        model = ApokascEncoderDecoder(filter_len=_ints(params.get("filterlen"), 2, "filterlen"), **common)
        for prefix, layer in zip(("encoder.0", "encoder.3"), enc[:2]):
            _check_config(keras, layer, strides=(2,), padding="same")
            w.put(prefix, layer.name, conv1d_to_torch)
        w.put("encoder.8", enc[2].name, dense_to_torch)
        targets = ("decoder_dense.0", "decoder_conv.0", "decoder_conv.3", "decoder_conv.6")
        convs = (dense_to_torch, conv1d_transpose_to_torch, conv1d_transpose_to_torch, conv1d_transpose_to_torch)
    w.put("mean", mean_layer, dense_to_torch)
    w.put("log_var", var_layer, dense_to_torch)
    for prefix, layer, conv in zip(targets, dec, convs):
        w.put(prefix, layer.name, conv)
    return _finish(model, params, w, (n_pix,), n_out)


def _finish(model: Any, params: dict[str, Any], w: _Weights, input_shape: tuple[int, ...], n_out: int) -> Any:
    in_mode = _mode(params["input_norm_mode"], "input_norm_mode")
    out_mode = _mode(params["labels_norm_mode"], "labels_norm_mode")
    model.input_norm_mode, model.labels_norm_mode = in_mode, out_mode
    network = model.build_network(input_shape, n_out)
    w.load_into(network)
    input_norm = astronn_normalizer(in_mode, _first(params["input_mean"]), _first(params["input_std"]), input_shape)
    label_norm = astronn_normalizer(out_mode, _first(params["labels_mean"], "output"),
                                    _first(params["labels_std"], "output"), (n_out,))
    names = model.targetname if getattr(model, "targetname", None) and len(model.targetname) == n_out else _targetname(params, n_out)
    return _install(model, network, input_shape, n_out, input_norm, label_norm, names)


# ----------------------------------------------------------------------------------------- public
def load_astronn_folder(path: str | os.PathLike[str] | None = None,
                        aspcap_masks: str | os.PathLike[str] | None = None) -> Any:
    """The astrotorch model equivalent to the astroNN model saved in ``path`` (default: current folder).

    ``aspcap_masks``: astroNN's ``aspcap_l31c_masks.npy`` for ``ApogeeBCNNCensored`` folders (default:
    where :func:`astrotorch.apogee.aspcap_mask` looks). Raises
    :class:`~astrotorch.errors.ModelFolderError` for a folder that is not astroNN's, an unsupported
    model identifier, layers that are not the published architecture, or weights that do not fit.
    """
    folder = Path(path) if path is not None else Path.cwd()
    if not folder.is_dir():
        raise ModelFolderError(f"astroNN model folder {folder} does not exist or is not a folder")
    params = read_astronn_parameters(folder)
    ident = str(params["id"])
    if ident not in _ALLOWED:
        raise ModelFolderError(
            f"{folder}: astroNN model {ident!r} cannot be converted; supported: {sorted(_ALLOWED)}"
        )
    keras = KerasH5(folder / WEIGHTS_FILE)
    keras.check_classes(_ALLOWED[ident], ident)
    hyper = _hyperparameters(folder)
    if ident in ("ApogeeCNN", "ApogeeBCNN"):
        model = _convert_cnn(params, keras, hyper, bayesian=ident == "ApogeeBCNN")
    elif ident == "StarNet2017":
        model = _convert_starnet(params, keras, hyper)
    elif ident == "ApogeeBCNNCensored":
        model = _convert_censored(params, keras, hyper, aspcap_masks)
    elif ident == "ApogeeDR14GaiaDR2BCNN":
        model = _convert_dr14(params, keras, hyper)
    elif ident in ("Galaxy10CNN", "Cifar10CNN"):
        model = _convert_image(params, keras, hyper, galaxy10=ident == "Galaxy10CNN")
    else:
        model = _convert_vae(params, keras, hyper, ident)
    model.history = _read_history(folder)
    return model


def _read_history(folder: Path) -> Any:
    import pandas as pd

    path = folder / HISTORY_FILE
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ModelFolderError(f"{path} is not a readable CSV: {exc}") from exc


def astronn_dr14_input(x: Any) -> dict[str, np.ndarray]:
    """astroNN's ApogeeDR14GaiaDR2BCNN input rows ``[spectrum (7514), magnitude, aux ...]`` → the dict
    astrotorch's model takes (``spectra``, ``mag``, ``aux``)."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] < DR14_SPECTRUM_PIXELS + 2:
        raise ModelFolderError(f"expected rows of 7514 pixels, a magnitude and auxiliary data, got shape {arr.shape}")
    return {"spectra": arr[:, :DR14_SPECTRUM_PIXELS], "mag": arr[:, DR14_SPECTRUM_PIXELS:DR14_SPECTRUM_PIXELS + 1],
            "aux": arr[:, DR14_SPECTRUM_PIXELS + 1:]}



__all__ = [
    "DR14_SPECTRUM_PIXELS",
    "astronn_dr14_input",
    "astronn_normalizer",
    "is_astronn_folder",
    "load_astronn_folder",
    "read_astronn_parameters",
]
