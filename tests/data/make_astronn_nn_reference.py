"""Reference numbers from the real astroNN 1.1.0 for tests/test_astronn_nn.py (run once; not run by the tests).

Run with the astroNN environment's python (see /work/shared/peers/astronn/setup.sh)::

    python tests/data/make_astronn_nn_reference.py tests/data/astronn_nn_reference.json

The inputs are drawn here with a fixed seed and stored beside astroNN's outputs, so the test feeds
astrotorch exactly the same numbers. NaN is written as the JSON token ``NaN``.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if not hasattr(tf.keras, "__version__"):  # astroNN 1.1.0 reads it
    import keras as _k

    tf.keras.__version__ = getattr(_k, "__version__", "unknown")

import astroNN  # noqa: E402
from astroNN.nn import losses as L  # noqa: E402
from astroNN.nn import numpy as N  # noqa: E402

MAGIC = -9999.0


def arr(x):
    return np.asarray(x).tolist()


def run(fn, *args, **kw):
    out = fn(*[tf.constant(a, dtype=tf.float32) if isinstance(a, np.ndarray) else a for a in args], **kw)
    return np.asarray(out, dtype=np.float64)


def main(out_path: str) -> None:
    rng = np.random.default_rng(20260101)
    y = rng.uniform(0.5, 3.0, (6, 4)).astype(np.float32)
    p = (y + rng.normal(0, 0.4, y.shape)).astype(np.float32)
    y[0, 1] = MAGIC
    y[2, 3] = np.nan
    y[3, :2] = MAGIC
    y[5, :] = MAGIC  # a sample without any label: astroNN returns NaN there
    w = rng.uniform(0.5, 2.0, 6).astype(np.float32)
    var = rng.normal(-1.0, 0.5, y.shape).astype(np.float32)
    err = np.abs(rng.normal(0.0, 0.3, y.shape)).astype(np.float32)
    err[1, 2] = 0.0
    ref = {"astroNN": astroNN.__version__, "tf": tf.__version__, "inputs": {}, "outputs": {}}
    ref["inputs"].update(y=arr(y), p=arr(p), w=arr(w), var=arr(var), err=arr(err))
    o = ref["outputs"]
    for name in ("mean_squared_error", "mean_absolute_error", "mean_error", "mean_absolute_percentage_error",
                 "mean_squared_logarithmic_error", "mean_percentage_error", "median_absolute_percentage_error",
                 "median_percentage_error", "zeros_loss"):
        o[name] = arr(run(getattr(L, name), y, p))
        o[name + "_weighted"] = arr(run(getattr(L, name), y, p, w))
    o["robust_mse"] = arr(run(L.robust_mse, y, p, var, err))
    o["robust_mse_weighted"] = arr(run(L.robust_mse, y, p, var, err, w))
    o["mse_lin_wrapper"] = arr(np.asarray(L.mse_lin_wrapper(tf.constant(var), tf.constant(err))(tf.constant(y), tf.constant(p))))
    o["mse_var_wrapper"] = arr(np.asarray(L.mse_var_wrapper(tf.constant(p), tf.constant(err))(tf.constant(y), tf.constant(var))))
    o["mean_squared_reconstruction_error"] = arr(run(L.mean_squared_reconstruction_error, y, p))
    yc, pc = np.nan_to_num(y[:5], nan=1.0), p[:5]  # median metrics do not mask: feed complete rows
    yc[yc == MAGIC] = 1.0
    ref["inputs"]["y_complete"] = arr(yc)
    for name in ("median_error", "median_absolute_deviation", "mad_std"):
        o[name] = arr(run(getattr(L, name), yc, pc))
        o[name + "_axis0"] = arr(run(getattr(L, name), yc, pc, None, 0))

    # classification: 5 samples, 3 classes; row 3 missing (magic), row 4 soft labels
    logits = rng.normal(0, 1.5, (5, 3)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    onehot = np.eye(3, dtype=np.float32)[[0, 2, 1, 0, 1]]
    onehot[3] = MAGIC
    onehot[4] = [0.2, 0.5, 0.3]
    wc = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    ref["inputs"].update(logits=arr(logits), probs=arr(probs), onehot=arr(onehot), wc=arr(wc))
    o["cce_probs"] = arr(run(L.categorical_crossentropy, onehot, probs))
    o["cce_logits"] = arr(run(L.categorical_crossentropy, onehot, logits, None, True))
    o["cce_probs_weighted"] = arr(run(L.categorical_crossentropy, onehot, probs, wc))
    o["categorical_accuracy"] = arr(run(L.categorical_accuracy, onehot, logits))
    yb = (rng.uniform(0, 1, (5, 4)) > 0.5).astype(np.float32)
    yb[1, 2] = MAGIC
    yb[4, 0] = MAGIC
    blog = rng.normal(0, 2.0, (5, 4)).astype(np.float32)
    bprob = 1 / (1 + np.exp(-blog))
    ref["inputs"].update(yb=arr(yb), blogits=arr(blog), bprobs=arr(bprob))
    o["bce_probs"] = arr(run(L.binary_crossentropy, yb, bprob))
    o["bce_logits"] = arr(run(L.binary_crossentropy, yb, blog, None, True))
    o["bce_probs_weighted"] = arr(run(L.binary_crossentropy, yb, bprob, wc))
    o["binary_accuracy"] = arr(run(L.binary_accuracy, yb, bprob))
    o["binary_accuracy_from_logits"] = arr(run(L.binary_accuracy_from_logits, yb, blog))
    o["nll"] = arr(run(L.nll, yb, bprob))
    # robust cross-entropies: exact with zero "variance"; Monte Carlo mean of 400 calls otherwise
    zeros = np.zeros_like(logits)
    o["robust_cce_zero_var"] = arr(run(L.robust_categorical_crossentropy, onehot[:3], logits[:3], zeros[:3], None))
    o["robust_bce_zero_var"] = arr(run(L.robust_binary_crossentropy, yb, blog, np.zeros_like(blog), None))
    lv = rng.uniform(0.3, 1.2, logits.shape).astype(np.float32)
    blv = rng.uniform(0.3, 1.2, blog.shape).astype(np.float32)
    ref["inputs"].update(logit_var=arr(lv), blogit_var=arr(blv))
    tf.random.set_seed(1)
    draws = np.stack([run(L.robust_categorical_crossentropy, onehot[:3], logits[:3], lv[:3], None) for _ in range(400)])
    o["robust_cce_mc_mean"], o["robust_cce_mc_sem"] = arr(draws.mean(0)), arr(draws.std(0) / np.sqrt(len(draws)))
    draws = np.stack([run(L.robust_binary_crossentropy, yb[:4], blog[:4], blv[:4], None) for _ in range(400)])
    o["robust_bce_mc_mean"], o["robust_bce_mc_sem"] = arr(draws.mean(0)), arr(draws.std(0) / np.sqrt(len(draws)))

    # numpy tools, astroNN's (x = prediction, y = truth) order
    xn = np.nan_to_num(y + 0.1, nan=2.5).astype(np.float64)
    xn[1, 1] = MAGIC
    yn = np.nan_to_num(y.astype(np.float64), nan=2.0)
    ref["inputs"].update(xn=arr(xn), yn=arr(yn))
    for name in ("mean_absolute_error", "median_absolute_error", "mean_absolute_percentage_error",
                 "median_absolute_percentage_error"):
        o["np_" + name] = float(getattr(N, name)(xn, yn))
        o["np_" + name + "_axis0"] = arr(np.ma.filled(getattr(N, name)(xn, yn, axis=0), np.nan))
    pk, qk = probs, np.roll(probs, 1, axis=1)
    o["np_kl_divergence"] = arr(N.kl_divergence(pk, qk))
    o["np_l1"] = float(N.l1(xn[0], 0.3))
    o["np_l2"] = float(N.l2(xn[0], 0.3))
    sx = np.array([-2.0, 0.0, 1.5, MAGIC])
    o["np_sigmoid"] = arr(np.ma.filled(N.sigmoid(sx), np.nan))
    o["np_sigmoid_inv"] = arr(np.ma.filled(N.sigmoid_inv(np.array([0.2, 0.5, 0.9, MAGIC])), np.nan))
    o["np_relu"] = arr(N.relu(np.array([-1.0, 0.0, 2.0])))
    with open(out_path, "w") as fh:
        json.dump(ref, fh, indent=1)
    print("wrote", out_path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "astronn_nn_reference.json")
