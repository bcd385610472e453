"""Build the astroNN model-folder fixtures of tests/test_astronn_folder.py (run once; not run by the tests).

Run with the python of the astroNN 1.1.0 environment (/work/shared/peers/astronn/setup.sh)::

    python tests/data/make_astronn_fixtures.py tests/data [MODEL ...]

For every model it trains a small-width astroNN network for one epoch on random data, saves it with
astroNN's own ``save()`` as ``astronn_<model>/`` (model_weights.h5 without the optimizer's moments,
astroNN_model_parameter.json, hyperparameter.txt, training_history.csv), loads it back with astroNN's ``load_folder`` and stores
fixed inputs and astroNN's predictions beside it as ``astronn_<model>.npz``:

* ``x``: the test inputs (raw, un-normalised);
* ``pred``: astroNN's prediction in label units with dropout off (for the Bayesian models the MC
  dropout layers are switched off and the prediction network is evaluated once, then denormalised
  with astroNN's own normaliser; for the others astroNN's ``predict``/``test``);
* ``pred_std`` (Bayesian): the predictive standard deviation ``sqrt(exp(s)) · labels_std``;
* VAEs: ``z_mean``, ``z_std`` (astroNN's ``predict_encoder``), ``z`` fixed latent points and
  ``decoded`` (astroNN's ``predict_decoder(z)``; for ApogeeCVAE, where astroNN 1.1.0's
  ``predict_decoder`` raises on its per-pixel label normalisation, the decoder output denormalised
  by hand), ``pred`` = decoder(z_mean) denormalised.
"""

import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if not hasattr(tf.keras, "__version__"):  # astroNN 1.1.0 reads it
    import keras as _k

    tf.keras.__version__ = getattr(_k, "__version__", "unknown")

import astroNN.models as M  # noqa: E402
from astroNN.models import load_folder  # noqa: E402
from astroNN.nn.layers import MCDropout  # noqa: E402

RNG = np.random.default_rng(7514)


def spectra(n, length):
    return (1.0 + 0.05 * RNG.standard_normal((n, length))).astype(np.float32)


def labels(x, d):
    w = RNG.standard_normal((x.shape[1], d)).astype(np.float32) / np.sqrt(x.shape[1])
    return (x @ w * 20.0 + RNG.normal(0, 0.1, (x.shape[0], d))).astype(np.float32)


def train_and_save(net, x, y, folder, **fit_kw):
    net.max_epochs = 1
    net.autosave = False
    net.fit(x, y, **fit_kw)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    net.save(folder)
    return load_folder(folder)


def deterministic_bayesian(net, x):
    """Dropout-off prediction of a loaded astroNN Bayesian model (prediction, predictive std)."""
    for layer in net.keras_model_predict.layers:
        if isinstance(layer, MCDropout):
            layer.disable_layer = True
    xn = net.input_normalizer.normalize({"input": x}, calc=False)["input"]
    xn = xn.reshape((len(x),) + tuple(net._input_shape["input"]))
    out = np.asarray(net.keras_model_predict(tf.constant(xn, tf.float32), training=False))
    d = out.shape[1] // 2
    pred = net.labels_normalizer.denormalize({"output": out[:, :d]})["output"]
    std = np.sqrt(np.exp(out[:, d:])) * np.asarray(net.labels_std["output"])
    return np.asarray(pred), std


def apogee_cnn(out):
    x, = [spectra(300, 64)]
    y = labels(x, 3)
    net = M.ApogeeCNN()
    net.num_hidden = [8, 4]
    net.targetname = ["teff", "logg", "Fe_H"]
    net = train_and_save(net, x, y, out)
    xt = spectra(9, 64)
    return {"x": xt, "pred": np.asarray(net.predict(xt))}


def starnet2017(out):
    x = spectra(300, 64)
    y = labels(x, 3)
    net = M.StarNet2017()
    net.num_filters = [2, 4]
    net.num_hidden = [8, 4]
    net = train_and_save(net, x, y, out)
    xt = spectra(9, 64)
    return {"x": xt, "pred": np.asarray(net.predict(xt))}


def apogee_bcnn(out):
    x = spectra(300, 64)
    y = labels(x, 3)
    net = M.ApogeeBCNN()
    net.num_hidden = [8, 4]
    net.targetname = ["teff", "logg", "Fe_H"]
    net = train_and_save(net, x, y, out, labels_err=np.full_like(y, 0.05))
    xt = spectra(9, 64)
    pred, std = deterministic_bayesian(net, xt)
    return {"x": xt, "pred": pred, "pred_std": std}


def apogee_bcnn_censored(out):
    x = spectra(200, 7514)
    y = labels(x, 22)
    net = M.ApogeeBCNNCensored()
    net.num_hidden = [4, 4, 1, 1, 2]
    net = train_and_save(net, x, y, out)
    xt = spectra(4, 7514)
    pred, std = deterministic_bayesian(net, xt)
    return {"x": xt, "pred": pred, "pred_std": std}


def apogee_dr14_gaiadr2_bcnn(out):
    n = 200
    x = np.concatenate([spectra(n, 7514), RNG.uniform(8, 12, (n, 1)), RNG.normal(0, 1, (n, 3))], axis=1)
    x = x.astype(np.float32)
    y = RNG.uniform(0.2, 2.0, (n, 1)).astype(np.float32)
    net = M.ApogeeDR14GaiaDR2BCNN()
    net.num_hidden = [4, 4, 4, 2]
    net.labels_norm_mode = 0  # parallax in mas (astrotorch predicts in label units)
    net = train_and_save(net, x, y, out, labels_err=np.full_like(y, 0.02))
    xt = np.concatenate([spectra(4, 7514), RNG.uniform(8, 12, (4, 1)), RNG.normal(0, 1, (4, 3))], axis=1)
    xt = xt.astype(np.float32)
    pred, std = deterministic_bayesian(net, xt)  # astroNN's test(): the fakemag and its σ
    return {"x": xt, "pred": pred, "pred_std": std}


def _images(n, size):
    return RNG.integers(0, 256, (n, size, size, 3)).astype(np.float32)


def galaxy10_cnn(out):
    x = _images(300, 16)
    y = np.eye(10, dtype=np.float32)[RNG.integers(0, 10, 300)]
    net = M.Galaxy10CNN()
    net.num_filters = [2, 4]
    net.num_hidden = [8, 4]
    net = train_and_save(net, x, y, out)
    xt = _images(7, 16)
    return {"x": xt, "pred": np.asarray(net.predict(xt))}


def cifar10_cnn(out):
    x = _images(300, 12)
    y = np.eye(10, dtype=np.float32)[RNG.integers(0, 10, 300)]
    net = M.Cifar10CNN()
    net.num_filters = [3, 4]
    net.num_hidden = [8, 6]
    net = train_and_save(net, x, y, out)
    xt = _images(7, 12)
    return {"x": xt, "pred": np.asarray(net.predict(xt))}


def _vae_outputs(net, xt):
    z_mean, z_std, _ = net.predict_encoder(xt)
    zt = RNG.normal(0, 1, (5, net.latent_dim)).astype(np.float32)
    try:
        decoded = np.asarray(net.predict_decoder(zt))
    except ValueError:
        # astroNN 1.1.0's predict_decoder fails for per-pixel (mode 2) label normalisation: its decoder
        # output has a trailing channel axis that does not broadcast; do its denormalisation by hand
        raw = np.asarray(net.keras_decoder(tf.constant(zt), training=False))[..., 0]
        decoded = net.labels_normalizer.denormalize({"output": raw})["output"]
    xn = net.input_normalizer.normalize({"input": xt}, calc=False)["input"]
    xn = xn.reshape((len(xt),) + tuple(net._input_shape["input"]))
    zm = np.asarray(net.keras_encoder(tf.constant(xn, tf.float32), training=False)[0])
    recon = np.asarray(net.keras_decoder(tf.constant(zm), training=False))[..., 0]
    pred = net.labels_normalizer.denormalize({"output": recon})["output"]
    return {"x": xt, "z_mean": z_mean, "z_std": z_std, "z": zt, "decoded": decoded, "pred": np.asarray(pred)}


def apogee_cvae(out):
    x = spectra(300, 32)
    net = M.ApogeeCVAE()
    net.num_hidden = [8, 4]
    net = train_and_save(net, x, x, out)
    return _vae_outputs(net, spectra(7, 32))


def apokasc_encoder_decoder(out):
    x = spectra(300, 64)
    psd = np.abs(labels(x, 32)).astype(np.float32)
    net = M.ApokascEncoderDecoder()
    net.num_filters = [2, 4, 2, 2]
    net.filter_len = [8, 8]
    net.num_hidden = [4, 4]
    net.latent_dim = 2
    net = train_and_save(net, x, psd, out)
    return _vae_outputs(net, spectra(7, 64))


BUILDERS = {f.__name__: f for f in (apogee_cnn, starnet2017, apogee_bcnn, apogee_bcnn_censored,
                                    apogee_dr14_gaiadr2_bcnn, galaxy10_cnn, cifar10_cnn, apogee_cvae,
                                    apokasc_encoder_decoder)}


def drop_optimizer_state(folder):
    """Remove Keras' saved Adam moments from ``folder/model_weights.h5`` (two thirds of the file; neither
    astroNN's ``load_folder`` for prediction nor astrotorch reads them), keeping the fixtures small."""
    import h5py

    path = os.path.join(folder, "model_weights.h5")
    tmp = path + ".tmp"
    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            if name != "optimizer_weights":
                src.copy(src[name], dst, name=name)
    os.replace(tmp, path)


def main(out_dir, names):
    os.makedirs(out_dir, exist_ok=True)
    here = os.getcwd()
    os.chdir(out_dir)  # astroNN writes relative to the working directory
    try:
        for name in names or BUILDERS:
            tf.keras.utils.set_random_seed(1)
            ref = BUILDERS[name](f"astronn_{name}")
            drop_optimizer_state(f"astronn_{name}")
            np.savez(f"astronn_{name}.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in ref.items()})
            print("built", name, {k: np.shape(v) for k, v in ref.items()})
    finally:
        os.chdir(here)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".", sys.argv[2:])
