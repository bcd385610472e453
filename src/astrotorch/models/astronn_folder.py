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

The folder's data files are read by :mod:`astrotorch.models.astronn_params`, the weights converted per
architecture by :mod:`astrotorch.models.astronn_converters`; their names are re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from astrotorch.errors import ModelFolderError
from astrotorch.models.astronn_converters import (  # noqa: F401
    _CENSORED_BRANCHES,
    _CENSORED_MASKS,
    _CENSORED_TARGETS,
    DR14_SPECTRUM_PIXELS,
    _check_config,
    _classes,
    _conv_trunk_checks,
    _convert_censored,
    _convert_cnn,
    _convert_dr14,
    _convert_image,
    _convert_starnet,
    _convert_vae,
    _finish,
    _install,
    _ints,
    _spectra_shapes,
    _spectral_common,
    _targetname,
    _Weights,
)
from astrotorch.models.astronn_params import (  # noqa: F401
    HISTORY_FILE,
    HYPERPARAMETER_FILE,
    PARAMETER_FILE,
    WEIGHTS_FILE,
    _first,
    _hyperparameters,
    _mode,
    _read_history,
    astronn_normalizer,
    is_astronn_folder,
    read_astronn_parameters,
)
from astrotorch.models.keras_h5 import KerasH5

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
