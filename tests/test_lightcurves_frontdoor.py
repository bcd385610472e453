"""The front door on real light curves (issue 14): README-level calls only — ``create_model(name)``
with default hyper-parameters, ``fit(train)``, ``predict``/``score`` — on the fixed-seed 80/20 split
``LightCurveSet.split(0.2, seed=0)`` of the shared sets. The networks compute their own period and
Fourier-shape inputs; nothing is attached by hand.

Runtime: the period search over the 386 RR Lyrae dominates the data preparation (~0.2–0.3 s a
curve) and is cached per curve for the whole session; each network fit is ~20–90 s on 2 cores, so
those tests are marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from astrotorch.lightcurves import LightCurveSet, load_rrlyrae_stripe82, load_snia_ztf_bts
from astrotorch.lightcurves.metrics import redshift_metrics
from astrotorch.models import create_model

pytestmark = [pytest.mark.realdata, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def rrlyrae(shared_data):
    return load_rrlyrae_stripe82(shared_data / "light_curves")


@pytest.fixture(scope="module")
def snia(shared_data):
    return load_snia_ztf_bts(shared_data / "light_curves")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lc_transformer", "lc_gru"])
def test_networks_tell_rrab_from_rrc(rrlyrae, name):
    train, test = rrlyrae.split(0.2, seed=0)
    model = create_model(name).fit(train)
    acc = model.score(test)
    print(f"{name} RRab/RRc accuracy {acc:.4f} ({len(train)} train / {len(test)} test)")  # the figure (pytest -rP)
    assert acc >= 0.95
    assert set(model.predict(test).tolist()) <= {"RRab", "RRc"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lc_transformer", "lc_gru"])
def test_networks_rrab_rrc_snia_across_surveys(rrlyrae, snia, name):
    from sklearn.metrics import f1_score

    train, test = LightCurveSet(list(rrlyrae) + list(snia)).split(0.2, seed=0)
    model = create_model(name).fit(train)
    pred = model.predict(test)
    assert model.classes_.tolist() == ["RRab", "RRc", "SNIa"]
    f1 = f1_score(test.labels(), pred, average="macro")
    print(f"{name} RRab/RRc/SNIa macro-F1 {f1:.4f}, accuracy {np.mean(pred == test.labels()):.4f}")
    assert f1 >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lc_features", "lc_transformer"])
def test_snia_redshift_nmad(snia, name):
    train, test = snia.split(0.2, seed=0)
    model = create_model(name, task="regression").fit(train, train.meta_array("redshift"))
    z = np.asarray(model.predict(test)).reshape(-1)
    scores = redshift_metrics(test.meta_array("redshift"), z)
    print(f"{name} SN Ia redshift: {scores}")
    assert scores["nmad"] <= 0.010, scores


@pytest.mark.slow
def test_features_model_on_ztf_bts_subtypes(snia):
    # one BTS object has a single i-band point: its i-band columns carry nothing in any training set
    # (scikit-learn's booster refuses an all-NaN column); lc_features drops them and says so
    by_subtype = LightCurveSet([lc.copy(label=lc.meta["subtype"]) for lc in snia])
    train, test = by_subtype.split(0.2, seed=0)
    model = create_model("lc_features").fit(train)
    assert any(n.startswith("i_") for n in model.dropped_features_)
    assert set(model.classes_.tolist()) == set(by_subtype.labels().tolist())
    assert model.predict_proba(test).shape == (len(test), len(model.classes_))
    acc = model.score(test)
    print(f"lc_features ZTF BTS subtypes accuracy {acc:.4f}; dropped {list(model.dropped_features_)}")
    assert acc >= 0.9  # the majority class (SN Ia) is 95 %
