"""Light-curve container, readers, normalisation, batching, synthetic generator and features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from astrotorch.datasets.synthetic_lightcurves import (
    DEFAULT_CLASSES,
    distance_modulus,
    make_synthetic_lightcurves,
)
from astrotorch.errors import DataFormatError, EmptyDatasetError, InputValidationError, ShapeMismatchError
from astrotorch.lightcurves import (
    EncodeOptions,
    LengthBucketBatchSampler,
    LightCurve,
    LightCurveDataset,
    LightCurveSet,
    encode,
    flux_to_mag,
    load_rrlyrae_stripe82,
    load_snia_ztf_bts,
    mag_to_flux,
    make_collate,
    pad_encoded,
    read_csv_folder,
    read_parquet,
    read_plasticc,
    write_parquet,
)
from astrotorch.lightcurves.features import bazin, fit_bazin, lomb_scargle_period


def _lc(n=20, bands=("g", "r"), seed=0, kind="flux"):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 100, n))
    b = rng.integers(0, len(bands), n)
    v = rng.uniform(10, 20, n)
    return LightCurve(time=t, value=v, error=np.full(n, 0.5), band=b, bands=bands, kind=kind, object_id=f"o{seed}")


# ------------------------------------------------------------------------------ container
def test_mag_flux_conversion_hand_values():
    f, fe = mag_to_flux(np.array([23.9, 21.4]), np.array([0.1, 0.0]))
    assert f == pytest.approx([1.0, 10.0])
    assert fe[0] == pytest.approx(0.4 * math.log(10) * 0.1)  # 0.0921 µJy
    m, me = flux_to_mag(f, fe)
    assert m == pytest.approx([23.9, 21.4])
    assert me[0] == pytest.approx(0.1)
    m, _ = flux_to_mag(np.array([-1.0, 0.0]), np.array([1.0, 1.0]))
    assert np.isnan(m).all()  # no magnitude for non-positive flux


def test_lightcurve_sorts_and_maps_band_names():
    lc = LightCurve(time=[3.0, 1.0, 2.0], value=[3, 1, 2], error=[0.1] * 3, band=["r", "g", "r"], bands=("g", "r"))
    assert lc.time.tolist() == [1.0, 2.0, 3.0]
    assert lc.value.tolist() == [1, 2, 3]
    assert lc.band.tolist() == [0, 1, 1]
    assert lc.band_name().tolist() == ["g", "r", "r"]


def test_lightcurve_bad_inputs_raise():
    with pytest.raises(ShapeMismatchError):
        LightCurve(time=[1, 2], value=[1], error=[1, 1], band=[0, 0], bands=("g",))
    with pytest.raises(InputValidationError):
        LightCurve(time=[1, 2], value=[1, 2], error=[1, 1], band=["g", "x"], bands=("g",))
    with pytest.raises(InputValidationError):
        LightCurve(time=[1, np.nan], value=[1, 2], error=[1, 1], band=[0, 0], bands=("g",))
    with pytest.raises(InputValidationError):
        LightCurve(time=[1], value=[1], error=[1], band=[0], bands=("g",), kind="counts")


def test_to_mag_drops_nonpositive_and_roundtrips():
    lc = LightCurve(time=[1, 2, 3], value=[10.0, -5.0, 1.0], error=[1.0, 1.0, 0.1], band=[0, 0, 0], bands=("g",))
    m = lc.to_mag()
    assert len(m) == 2 and m.kind == "mag"
    back = m.to_flux()
    assert back.value == pytest.approx([10.0, 1.0])
    assert back.error == pytest.approx([1.0, 0.1])


def test_first_days_since_detection():
    t = np.arange(0, 100, 1.0)
    f = np.where(t >= 50, 100.0, 0.0)
    lc = LightCurve(time=t, value=f, error=np.ones_like(t), band=np.zeros(t.size, int), bands=("g",))
    early = lc.first_days(10, since="detection")
    assert early.time.max() == 60.0  # first ≥5σ point at t=50, then 10 days
    assert lc.first_days(10).time.max() == 10.0


def test_set_union_bands_and_split_is_stratified_and_fixed():
    a = [_lc(bands=("g", "r"), seed=i) for i in range(10)]
    b = [_lc(bands=("R", "g"), seed=i + 10) for i in range(10)]
    for i, lc in enumerate(a + b):
        lc.label = "A" if i < 10 else "B"
    s = LightCurveSet(a + b)
    assert s.bands == ("g", "r", "R")  # wavelength order
    assert s[15].band_name().tolist() == b[5].band_name().tolist()  # names survive re-indexing
    tr, te = s.split(0.2, seed=3)
    tr2, te2 = s.split(0.2, seed=3)
    assert [lc.object_id for lc in te] == [lc.object_id for lc in te2]
    assert sorted(lc.label for lc in te) == ["A", "A", "B", "B"]


# ------------------------------------------------------------------------------ normalisation
def test_shared_normalisation_keeps_colour_minmax_erases_it():
    t = np.arange(10.0)
    band = np.array([0, 1] * 5)
    flux = np.where(band == 0, 100.0, 25.0) * (1 + 0.1 * t)  # g four times brighter than r
    lc = LightCurve(time=t, value=flux, error=np.ones(10), band=band, bands=("g", "r"))
    e = encode(lc, EncodeOptions(norm="shared"))
    v = e["obs"][:, 0]
    ratio = v / flux  # one shared scale: every band divided by the same number
    assert ratio == pytest.approx(np.full(10, ratio[0]), rel=1e-5)
    e2 = encode(lc, EncodeOptions(norm="minmax"))
    v2 = e2["obs"][:, 0]
    assert v2[band == 0].max() == pytest.approx(1.0) and v2[band == 1].max() == pytest.approx(1.0)
    # brightness survives as a static input: 10x brighter object → 2.5 mag smaller scale magnitude
    e3 = encode(lc.copy(value=flux * 10), EncodeOptions())
    assert e["static"][0] - e3["static"][0] == pytest.approx(2.5, abs=1e-4)


def test_encode_rest_frame_and_fold():
    lc = _lc()
    lc.meta.update(redshift=1.0, period=2.0)
    e = encode(lc, EncodeOptions(rest_frame=True, fold=True, meta_keys=("redshift",)))
    assert e["time"][-1] == pytest.approx((lc.time[-1] - lc.time[0]) / 2.0, rel=1e-5)
    assert e["obs"].shape[1] == 4 and e["static"][-1] == 1.0
    ph = 2 * np.pi * (lc.time - lc.time[0]) / 2.0
    assert e["obs"][:, 2] == pytest.approx(np.sin(ph), abs=1e-5)
    with pytest.raises(InputValidationError):
        EncodeOptions(norm="zscore")


def test_encode_max_length_thins_keeping_ends():
    lc = _lc(n=100)
    e = encode(lc, EncodeOptions(max_length=10))
    assert e["time"].shape[0] == 10
    assert e["time"][-1] == pytest.approx(lc.time[-1] - lc.time[0])


# ------------------------------------------------------------------------------ batching
def test_pad_collate_masks_and_pad_to():
    enc = [encode(_lc(n=n, seed=n), EncodeOptions()) for n in (3, 7, 5)]
    b = pad_encoded(enc)
    assert b["obs"].shape == (3, 7, 2)
    assert b["mask"].sum(1).tolist() == [3, 7, 5]
    assert (b["obs"][0, 3:] == 0).all()
    assert pad_encoded(enc, pad_to=20)["mask"].shape == (3, 20)
    with pytest.raises(InputValidationError):
        pad_encoded(enc, pad_to=4)
    ds = LightCurveDataset(enc, y=np.array([0, 1, 0]), y_dtype=torch.long)
    batch = make_collate()([ds[0], ds[2]])
    assert batch["y"].tolist() == [0, 0] and batch["x"]["mask"].shape == (2, 5)


def test_bucket_sampler_covers_all_and_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 1000, 997)
    s = LengthBucketBatchSampler(lengths, batch_size=32, shuffle=True, seed=1, bucket_batches=10)
    batches = list(s)
    assert len(batches) == len(s)
    flat = np.concatenate(batches)
    assert np.array_equal(np.sort(flat), np.arange(997))
    pad_bucketed = sum(lengths[b].max() * len(b) for b in batches)
    perm = rng.permutation(997)
    pad_random = sum(lengths[perm[i:i + 32]].max() * len(perm[i:i + 32]) for i in range(0, 997, 32))
    assert pad_bucketed < 0.7 * pad_random
    # a new epoch reshuffles, the same seed and epoch reproduce
    again = LengthBucketBatchSampler(lengths, 32, shuffle=True, seed=1, bucket_batches=10)
    assert [list(b) for b in again] == [list(b) for b in batches]
    assert [list(b) for b in s] != [list(b) for b in batches]
    ordered = list(LengthBucketBatchSampler(lengths, 32, shuffle=False))
    assert np.all(np.diff(lengths[np.concatenate(ordered)]) >= 0)


# ------------------------------------------------------------------------------ readers
def _write_folder(tmp_path):
    (tmp_path / "a.csv").write_text("time,mag,magerr,band\n1.0,20.0,0.1,g\n2.0,19.5,0.1,r\n3.0,19.0,0.2,g\n")
    (tmp_path / "b.csv").write_text("time,mag,magerr,band\n5.0,18.0,0.05,r\n4.0,18.2,0.05,g\n")
    (tmp_path / "labels.csv").write_text("\nid,type,redshift\na,SN Ia,0.05\nb,SN II,0.02\nmissing,SN Ia,0.1\n")


def test_csv_folder_reader_with_blank_first_line(tmp_path):
    _write_folder(tmp_path)
    s = read_csv_folder(tmp_path, label_column="type")
    assert len(s) == 2  # the labels row without a file is skipped
    assert s[0].label == "SN Ia" and s[1].meta["redshift"] == 0.02
    assert s[1].time.tolist() == [4.0, 5.0]
    assert s[0].kind == "mag"
    assert s[0].to_flux().value[0] == pytest.approx(10 ** (-0.4 * (20.0 - 23.9)))


def test_csv_reader_corrupt_and_missing_columns(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / "a.csv").write_text("time,mag,magerr,band\n1.0,twenty,0.1,g\n")
    with pytest.raises(DataFormatError):
        read_csv_folder(tmp_path, label_column="type")
    (tmp_path / "a.csv").write_text("t,m,e\n1,2,3\n")
    with pytest.raises(DataFormatError):
        read_csv_folder(tmp_path, label_column="type")
    (tmp_path / "a.csv").write_bytes(b"\x00\xff\xfe garbage \x00\n\x01")
    with pytest.raises(DataFormatError):
        read_csv_folder(tmp_path, label_column="type")
    with pytest.raises(FileNotFoundError):
        read_csv_folder(tmp_path / "nope")


def test_parquet_roundtrip(tmp_path):
    s = make_synthetic_lightcurves(5, seed=2)
    write_parquet(s, tmp_path / "lc.parquet", tmp_path / "meta.parquet")
    r = read_parquet(tmp_path / "lc.parquet", tmp_path / "meta.parquet", bands=s.bands)
    assert len(r) == 5
    for a, b in zip(s, r):
        assert np.allclose(a.time, b.time) and np.allclose(a.value, b.value) and np.array_equal(a.band, b.band)
        assert a.label == b.label and b.meta["redshift"] == pytest.approx(a.meta["redshift"])
    with pytest.raises(DataFormatError):
        (tmp_path / "bad.parquet").write_bytes(b"not parquet")
        read_parquet(tmp_path / "bad.parquet")


def test_plasticc_reader_synthetic(tmp_path):
    (tmp_path / "training_set.csv").write_text(
        "object_id,mjd,passband,flux,flux_err,detected\n1,100.0,0,5.0,1.0,1\n1,101.0,5,-2.0,1.0,0\n2,100.5,2,30,2,1\n")
    (tmp_path / "training_set_metadata.csv").write_text(
        "object_id,ra,decl,gal_l,gal_b,ddf,hostgal_specz,hostgal_photoz,hostgal_photoz_err,distmod,mwebv,target\n"
        "1,0,0,0,0,1,0.0,0.3,0.05,41.0,0.02,90\n2,0,0,0,0,0,0.1,0.12,0.01,38.3,0.03,42\n")
    s = read_plasticc(tmp_path)
    assert len(s) == 2 and s.bands == ("u", "g", "r", "i", "z", "y")
    assert s[0].band_name().tolist() == ["u", "y"] and s[0].zero_point == 27.5
    assert s[0].meta["redshift"] == 0.3 and s[1].meta["redshift"] == 0.1  # spec-z preferred when > 0
    assert s[0].label == 90
    (tmp_path / "training_set.csv").write_text("object_id,mjd,passband,flux\n1,1,0,1\n")
    with pytest.raises(DataFormatError):
        read_plasticc(tmp_path)


@pytest.mark.realdata
def test_plasticc_sample_real(shared_data):
    s = read_plasticc(shared_data / "plasticc_sample")
    assert len(s) == 10
    assert all(0 <= lc.band.max() <= 5 for lc in s)
    assert all(lc.label is not None for lc in s)


@pytest.mark.realdata
def test_real_light_curve_sets(shared_data):
    rr = load_rrlyrae_stripe82(shared_data / "light_curves", max_objects=20)
    assert set(rr.labels()) <= {"RRab", "RRc"} and rr.bands == ("u", "g", "r", "i", "z")
    assert all(0.2 < lc.meta["period_true"] < 1.0 for lc in rr)
    sn = load_snia_ztf_bts(shared_data / "light_curves", max_objects=20)
    assert set(sn.labels()) == {"SNIa"} and {"g", "R"} <= set(sn.bands)
    assert np.all(sn.meta_array("redshift") > 0)


# ------------------------------------------------------------------------------ synthetic
def test_synthetic_deterministic_and_complete():
    a = make_synthetic_lightcurves(40, seed=5, balanced=True)
    b = make_synthetic_lightcurves(40, seed=5, balanced=True)
    assert all(np.array_equal(x.value, y.value) and x.label == y.label for x, y in zip(a, b))
    assert set(a.labels()) == set(DEFAULT_CLASSES)
    c = make_synthetic_lightcurves(40, seed=6, balanced=True)
    assert not np.array_equal(a[0].time, c[0].time)
    d = make_synthetic_lightcurves(40, seed=5, balanced=True, drop_fraction=0.5)
    assert d.lengths.sum() < 0.6 * a.lengths.sum()
    for lc in a:
        assert np.all(lc.error > 0) and lc.bands == ("u", "g", "r", "i", "z", "y")


def test_synthetic_physics_distance_and_time_dilation():
    from astropy.cosmology import Planck18

    from astrotorch.datasets import synthetic_lightcurves as syn

    assert distance_modulus(0.5) == pytest.approx(Planck18.distmod(0.5).value, abs=1e-3)
    t = np.linspace(60000, 60400, 4000)
    b = np.full(t.size, 1)
    widths, peaks = [], []
    for z in (0.1, 0.6):
        f, meta = syn._transient("SNIa", np.random.default_rng(3), t, b, z)
        above = t[f > 0.5 * f.max()]
        widths.append(above.max() - above.min())
        peaks.append(f.max())
    assert widths[1] / widths[0] == pytest.approx(1.6 / 1.1, rel=0.05)  # (1+z) stretching
    assert peaks[1] < peaks[0] / 20  # distance dimming


# ------------------------------------------------------------------------------ features
def test_lomb_scargle_recovers_period():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 2000, 300))
    P = 0.5731
    b = rng.integers(0, 3, t.size)
    ph = (t / P) % 1
    y = 100 + np.array([20, 15, 10])[b] * (np.where(ph < 0.15, ph / 0.15, 1 - (ph - 0.15) / 0.85))
    lc = LightCurve(time=t, value=y + rng.normal(0, 0.5, t.size), error=np.full(t.size, 0.5), band=b,
                    bands=("g", "r", "i"))
    out = lomb_scargle_period(lc, min_period=0.2, max_period=2.0)
    assert abs(math.log10(out["period"] / P)) < 0.001


def test_bazin_fit_recovers_timescales():
    t = np.linspace(-30, 120, 60)
    f = bazin(t, 100.0, 0.0, 3.0, 25.0, 0.0)
    res = fit_bazin(t, f + np.random.default_rng(0).normal(0, 0.5, t.size), np.full(t.size, 0.5))
    assert res["tau_rise"] == pytest.approx(3.0, rel=0.1)
    assert res["tau_fall"] == pytest.approx(25.0, rel=0.05)
    assert np.isnan(fit_bazin(t[:3], f[:3], np.ones(3))["tau_fall"])


def test_empty_set_raises():
    from astrotorch.lightcurves.container import check_nonempty

    with pytest.raises(EmptyDatasetError):
        check_nonempty(LightCurveSet([]))


def test_fourier_shape_hand_values():
    from astrotorch.lightcurves.features import fourier_shape

    t = np.linspace(0, 10, 200)
    y = 3 * np.cos(2 * np.pi * t / 0.5 + 0.5) + np.cos(4 * np.pi * t / 0.5 + 0.2)
    fs = fourier_shape(t, y, np.ones_like(t), 0.5)
    assert fs["A1"] == pytest.approx(3.0) and fs["R21"] == pytest.approx(1 / 3)
    assert fs["phi21"] == pytest.approx((0.2 - 2 * 0.5) % (2 * np.pi))
    assert np.isnan(fourier_shape(t[:5], y[:5], np.ones(5), 0.5)["R21"])
