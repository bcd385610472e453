"""astroNN's catalogue loaders and dataset names: APOGEE red clumps / distances / APOKASC, Gaia TGAS,
gaia_source and Anderson 2017, LAMOST DR5, Galaxy10 unpacking and ``ans`` validation.

Downloads are served from 127.0.0.1 (tests/http_server.py) with small fixture files in each
catalogue's layout, written here with astropy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from http_server import serve_folder

from astrotorch.apogee import downloaders as dl
from astrotorch.config import override
from astrotorch.errors import ConfigError, DataFormatError, InputValidationError

MAGIC = -9999.0


@pytest.fixture()
def sas(tmp_path, monkeypatch):
    """A fake SAS (and Gaia archive, VizieR) tree on 127.0.0.1, an empty data home, no mirror."""
    www, home = tmp_path / "www", tmp_path / "home"
    www.mkdir()
    for var in ("SDSS_LOCAL_SAS_MIRROR", "ASTROTORCH_CONFIG", "GAIA_TOOLS_DATA", "LAMOST_DR5_DATA", "LASMOT_DR5_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASTROTORCH_HOME", str(home))
    with serve_folder(www) as server, override(sdss_sas_url=server.base_url, gaia_archive_url=server.base_url,
                                               vizier_url=server.url("asu-tsv"), data_home=str(home)):
        yield server, www, home


def _put_fits(root: Path, rel: str, table: Table, monkeypatch=None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(table)]).writeto(path)
    if monkeypatch is not None:
        monkeypatch.setitem(dl._KNOWN_SHA1, rel, hashlib.sha1(path.read_bytes()).hexdigest())
    return path


# ------------------------------------------------------------------------------------------ APOGEE
def _rc_table() -> Table:
    return Table({"APOGEE_ID": ["2M001", "2M002", "2M003"], "RA": [10.0, 20.0, 30.0], "DEC": [-5.0, 0.0, 5.0],
                  "RC_DIST": np.array([2.0, 4.0, 1.0], dtype=np.float32), "RC_DM": [11.5, 13.0, 10.0],
                  "K": np.array([10.0, 11.0, MAGIC], dtype=np.float32),
                  "AK_TARG": np.array([0.1, MAGIC, 0.05], dtype=np.float32), "TEFF": [4800.0, 4700.0, 4900.0]})


def test_load_apogee_rc_units(sas, monkeypatch):
    from astrotorch.datasets import load_apogee_rc

    server, www, home = sas
    _put_fits(www, dl.sas_path("apogee_rc", 17), _rc_table(), monkeypatch)
    ra, dec, dist = load_apogee_rc(dr=17, unit="distance")
    np.testing.assert_allclose(ra, [10, 20, 30]) and np.testing.assert_allclose(dec, [-5, 0, 5])
    np.testing.assert_allclose(dist, [2000.0, 4000.0, 1000.0])
    _, _, absmag = load_apogee_rc(dr=17, unit="absmag", extinction=True)
    # K - A_K - 5 log10(d / 10 pc); a missing extinction means no correction; a missing K stays missing
    np.testing.assert_allclose(absmag[:2], [10.0 - 0.1 - 5 * np.log10(200), 11.0 - 5 * np.log10(400)], rtol=1e-6)
    assert absmag[2] == MAGIC
    _, _, fakemag = load_apogee_rc(dr=17, unit="fakemag", extinction=False)
    np.testing.assert_allclose(fakemag[0], 0.5 * 10 ** (0.2 * 10.0), rtol=1e-6)  # parallax (mas) · 10^(m/5)
    assert [r.path for r in server.requests] == ["/" + dl.sas_path("apogee_rc", 17)]  # downloaded once
    with pytest.raises(InputValidationError, match="unit"):
        load_apogee_rc(dr=17, unit="parsec")


def test_load_apogee_rc_bad_file(tmp_path):
    from astrotorch.apogee.catalogs import load_apogee_rc

    t = _rc_table()
    del t["RC_DIST"]
    path = _put_fits(tmp_path, "rc.fits", t)
    with pytest.raises(DataFormatError, match=r"rc.fits lacks column\(s\) \['RC_DIST'\]"):
        load_apogee_rc(path=path)


def _distances(www: Path, monkeypatch) -> None:
    d = Table({"APOGEE_ID": ["a", "b", "c", "d"],
               "BPG_dist16": np.array([0.95, 1.8, np.nan, 0.5]), "BPG_dist50": np.array([1.0, 2.0, np.nan, 1.0]),
               "BPG_dist84": np.array([1.05, 2.6, np.nan, 1.5])})
    _put_fits(www, dl.sas_path("apogee_distances", 14), d, monkeypatch)
    star = Table({"APOGEE_ID": ["a", "b", "c", "d"], "RA": [1.0, 2.0, 3.0, 4.0], "DEC": [0.0, 1.0, 2.0, 3.0],
                  "K": [9.0, 10.0, 11.0, 12.0], "AK_TARG": [0.0, 0.1, 0.0, 0.0]})
    _put_fits(www, dl.sas_path("allstar", 14), star, monkeypatch)


def test_load_apogee_distances(sas, monkeypatch):
    from astrotorch.datasets import load_apogee_distances

    server, www, home = sas
    _distances(www, monkeypatch)
    ra, dec, dist, err = load_apogee_distances(dr=14, unit="distance", cuts=False)
    np.testing.assert_allclose(dist, [1000.0, 2000.0, MAGIC, 1000.0])
    np.testing.assert_allclose(err, [100.0, 800.0, MAGIC, 1000.0], rtol=1e-6)  # astroNN: the 16-84 % width
    ra, _, dist, _ = load_apogee_distances(dr=14, cuts=True)  # 20 % relative error cut
    np.testing.assert_allclose(ra, [1.0]) and np.testing.assert_allclose(dist, [1000.0])
    _, _, dist, _ = load_apogee_distances(dr=14, cuts=0.5, keepdims=True)
    np.testing.assert_allclose(dist, [1000.0, 2000.0, MAGIC, MAGIC])
    _, _, absmag, absmag_err = load_apogee_distances(dr=14, unit="absmag", cuts=False)
    np.testing.assert_allclose(absmag[0], 9.0 - 5 * np.log10(100), rtol=1e-6)
    np.testing.assert_allclose(absmag_err[0], 5 / np.log(10) * 0.1, rtol=1e-6)
    assert absmag[2] == MAGIC
    with pytest.raises(InputValidationError, match="DR14"):
        load_apogee_distances(dr=17)


def _vizier_tsv(path: Path, logg_col: str, rows: list[tuple[float, float, str]]) -> None:
    lines = ["#", "#   VizieR Astronomical Server vizier.cds.unistra.fr", "#Title: APOKASC (Pinsonneault+, 2014)",
             "#Column\t_RA\t(F10.6)\tRight ascension\t[ucd=pos.eq.ra]", "#Column\t_DE\t(F10.6)\tDeclination",
             f"#Column\t{logg_col}\t(F5.3)\tAsteroseismic surface gravity", "",
             f"_RA\t_DE\t{logg_col}", "deg\tdeg\t[cm/s2]", "----------\t----------\t-----"]
    lines += [f"{ra:.6f}\t{de:.6f}\t{g}" for ra, de, g in rows]
    path.write_text("\n".join(lines) + "\n")


def test_load_apokasc(sas, tmp_path):
    from astrotorch.apogee.catalogs import read_vizier_tsv
    from astrotorch.datasets import load_apokasc

    server, www, home = sas
    gold, basic = tmp_path / "gold.tsv", tmp_path / "basic.tsv"
    _vizier_tsv(gold, "log(g)", [(290.1, 40.2, "2.450"), (291.0, 41.0, "3.010")])
    _vizier_tsv(basic, "log.g2", [(292.5, 42.5, "2.800"), (293.0, 43.0, "")])
    ra, dec, logg = load_apokasc(gold_path=gold, basic_path=basic)
    np.testing.assert_allclose(ra, [290.1, 291.0, 292.5, 293.0])
    np.testing.assert_allclose(logg[:3], [2.45, 3.01, 2.8]) and np.isnan(logg[3])
    parts = load_apokasc(combine=False, gold_path=gold, basic_path=basic)
    assert len(parts) == 6 and np.allclose(parts[5][:1], [2.8])
    # download path: VizieR's service on the local server (one canned answer for both queries)
    _vizier_tsv(www / "asu-tsv", "log(g)", [(1.0, 2.0, "2.5")])
    with pytest.raises(DataFormatError, match=r"basic table .* lacks column\(s\) \['log.g2'\]"):
        load_apokasc()
    sources = sorted(r.path for r in server.requests)
    assert any("J%2FApJS%2F215%2F19%2Ftable4" in p for p in sources)
    assert any("J%2FApJS%2F215%2F19%2Ftable5" in p for p in sources)
    (tmp_path / "cut.tsv").write_text("_RA\t_DE\n----\t---\n1\t2\n")
    with pytest.raises(DataFormatError, match="not a VizieR"):
        read_vizier_tsv(tmp_path / "cut.tsv")
    bad = tmp_path / "short.tsv"
    _vizier_tsv(bad, "log(g)", [(1.0, 2.0, "2.5")])
    bad.write_text(bad.read_text() + "3.0\t4.0\n")
    with pytest.raises(DataFormatError, match="wrong number of fields"):
        read_vizier_tsv(bad)


# ------------------------------------------------------------------------------------------ Gaia
def _tgas_files(www: Path, n_rows: int = 3) -> dict[str, bytes]:
    from astrotorch.gaia.tgas import tgas_filenames

    folder = www / "Gaia" / "gdr1" / "tgas_source" / "fits"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5, blobs = [], {}
    for i, name in enumerate(tgas_filenames()):
        t = Table({"source_id": np.arange(n_rows) + 100 * i, "ra": rng.uniform(0, 360, n_rows),
                   "dec": rng.uniform(-90, 90, n_rows), "pmra": rng.normal(0, 5, n_rows),
                   "pmdec": rng.normal(0, 5, n_rows), "parallax": np.array([2.0, -0.5, 1.0][:n_rows]),
                   "parallax_error": np.array([0.2, 0.3, 0.5][:n_rows]),
                   "phot_g_mean_mag": rng.uniform(8, 12, n_rows)})
        fits.HDUList([fits.PrimaryHDU(), fits.table_to_hdu(t)]).writeto(folder / name)
        blobs[name] = (folder / name).read_bytes()
        md5.append(f"{hashlib.md5(blobs[name]).hexdigest()}  {name}")
    (folder / "MD5SUM.txt").write_text("\n".join(md5) + "\n")
    return blobs


def test_tgas_download_verify_and_load(sas, monkeypatch, tmp_path):
    from astrotorch.gaia import gaia_env, tgas, tgas_load

    server, www, home = sas
    blobs = _tgas_files(www)
    monkeypatch.setenv("GAIA_TOOLS_DATA", str(tmp_path / "gaia"))
    paths = tgas(progress=False)
    assert len(paths) == 16 and paths[0] == gaia_env() / "Gaia/gdr1/tgas_source/fits/TgasSource_000-000-000.fits"
    assert all(p.read_bytes() == blobs[p.name] for p in paths)
    n_requests = len(server.requests)
    paths[3].write_bytes(b"corrupt")  # a damaged local copy is detected by its MD5 and fetched again
    tgas(progress=False)
    assert paths[3].read_bytes() == blobs[paths[3].name] and len(server.requests) == n_requests + 1  # MD5SUM.txt is cached
    out = tgas_load(cuts=False)
    assert set(out) == {"ra", "dec", "pmra", "pmdec", "parallax", "parallax_err", "gmag"} and len(out["ra"]) == 48
    cut = tgas_load(cuts=True)  # positive parallax and error < 20 %: only the first row of each file
    assert len(cut["ra"]) == 16 and np.all(cut["parallax"] == 2.0)
    assert len(tgas_load(cuts=0.6)["ra"]) == 32
    with pytest.raises(InputValidationError, match="flag"):
        tgas(flag=3)


def test_gaia_source_and_default_dr(sas, monkeypatch, tmp_path):
    import importlib

    from astrotorch.gaia import gaia_default_dr, gaia_source

    tgas_module = importlib.import_module("astrotorch.gaia.tgas")  # astrotorch.gaia.tgas is also the function

    server, www, home = sas
    folder = www / "Gaia" / "gdr1" / "gaia_source" / "fits"
    folder.mkdir(parents=True)
    names = ["GaiaSource_000-000-000.fits", "GaiaSource_000-020-110.fits"]
    for name in names:
        (folder / name).write_bytes(name.encode() * 10)
    (folder / "MD5SUM.txt").write_text("".join(f"{hashlib.md5(name.encode() * 10).hexdigest()}  {name}\n" for name in names))
    monkeypatch.setattr(tgas_module, "gaia_source_filenames", lambda: names)
    assert [p.name for p in gaia_source(dr=1, progress=False)] == names
    with pytest.raises(InputValidationError, match="DR1 only"):
        gaia_source(dr=2)
    assert gaia_default_dr() == 2 and gaia_default_dr(1) == 1


def test_gaia_source_file_list_is_astronn_s():
    from astrotorch.gaia.tgas import gaia_source_filenames, tgas_filenames

    names = gaia_source_filenames()
    assert len(names) == 20 * 256 + 111 and names[0] == "GaiaSource_000-000-000.fits"
    assert names[-1] == "GaiaSource_000-020-110.fits" and tgas_filenames()[-1] == "TgasSource_000-000-015.fits"


def test_anderson_2017_parallax(tmp_path):
    from astrotorch.gaia import anderson_2017_parallax

    path = tmp_path / "anderson.npz"
    np.savez(path, ra=[1.0, 2.0, 3.0], dec=[0.0, 0.5, 1.0], parallax=[1.0, 2.0, 1.0], parallax_err=[0.1, 1.0, 0.05])
    ra, dec, plx, err = anderson_2017_parallax(path=path)
    np.testing.assert_allclose(ra, [1.0, 3.0]) and np.testing.assert_allclose(err, [0.1, 0.05])
    assert len(anderson_2017_parallax(cuts=False, path=path)[0]) == 3
    np.savez(tmp_path / "bad.npz", ra=[1.0])
    with pytest.raises(DataFormatError, match="lacks"):
        anderson_2017_parallax(path=tmp_path / "bad.npz")


@pytest.mark.realdata
def test_anderson_2017_real_file(shared_data):
    from astrotorch.gaia import anderson_2017_parallax

    ra, dec, plx, err = anderson_2017_parallax(path=shared_data / "apogee" / "astronn_anderson_2017_dr14_parallax.npz")
    assert 0 < len(ra) <= 44_967 and np.all(err / plx < 0.2)


# ------------------------------------------------------------------------------------------ LAMOST
def test_lasmot_alias_and_load_allstar_dr5(tmp_path, monkeypatch):
    from astrotorch.lamost import lamost_env, load_allstar_dr5

    for var in ("LAMOST_DR5_DATA", "LASMOT_DR5_DATA", "ASTROTORCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="LASMOT_DR5_DATA"):
        load_allstar_dr5()
    monkeypatch.setenv("LASMOT_DR5_DATA", str(tmp_path / "lamost"))  # astroNN's spelling
    assert lamost_env() == tmp_path / "lamost"
    with pytest.raises(FileNotFoundError):
        load_allstar_dr5()
    _put_fits(tmp_path / "lamost", "DR5/LAM05_2MS_AP9_SD14_UC4_PS1_AW_Carlin_M.fits",
              Table({"obsid": [1, 2], "teff": [5000.0, 5500.0], "logg": [2.5, 4.4]}))
    with load_allstar_dr5() as hdul:
        assert list(hdul[1].data["teff"]) == [5000.0, 5500.0]
    monkeypatch.setenv("LAMOST_DR5_DATA", str(tmp_path / "other"))  # the correct spelling wins
    assert lamost_env() == tmp_path / "other"
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE  =  nonsense")
    with pytest.raises(DataFormatError, match="junk.fits"):
        load_allstar_dr5(tmp_path / "junk.fits")


# ------------------------------------------------------------------------------------------ Galaxy10
def _g10(path: Path, ans, n: int | None = None) -> Path:
    ans = np.asarray(ans)
    n = len(ans) if n is None else n
    with h5py.File(path, "w") as f:
        f["images"] = np.random.default_rng(0).integers(0, 256, (n, 8, 8, 3)).astype(np.uint8)
        f["ans"] = ans
    return path


def test_galaxy10_unpacks_like_astronn(tmp_path):
    from astrotorch.datasets import load_galaxy10, load_galaxy10sdss

    path = _g10(tmp_path / "g.h5", np.array([0, 3, 9, 1], dtype=np.uint8))
    images, labels = load_galaxy10sdss(path=path)
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 3, 9, 1])
    with load_galaxy10(path=path) as data:  # still the lazy object too
        assert len(data) == 4 and data[1][1] == 3


@pytest.mark.parametrize("ans,match", [
    (np.array([0.0, 1.5, 2.0]), "integer class indices, got dtype float64"),
    (np.array([0, -1, 2], dtype=np.int16), "negative class"),
    (np.array([0, 10, 2], dtype=np.uint8), "class 10, outside 0..9"),
    (np.array([0, 1_000_000, 2], dtype=np.int64), "class 1000000"),
])
def test_galaxy10_refuses_bad_labels(tmp_path, ans, match):
    from astrotorch.datasets.galaxy10 import Galaxy10Data, load_galaxy10sdss

    path = _g10(tmp_path / "bad.h5", ans)
    with pytest.raises(DataFormatError, match=match) as info:
        load_galaxy10sdss(path=path)
    assert "bad.h5" in str(info.value)
    if ans.dtype.kind in "iu" and ans.min() >= 0:
        with Galaxy10Data(path, n_classes=int(ans.max()) + 1) as d:  # more classes, declared
            assert int(d.labels.max()) == int(ans.max())


def test_galaxy10sdss_module():
    from astrotorch.datasets import galaxy10sdss

    assert galaxy10sdss.galaxy10cls_lookup(7) == "Disk, Face-on, Tight Spiral"
    assert galaxy10sdss.galaxy10cls_lookup(np.eye(10)[1]) == "Smooth, Completely round"
    assert galaxy10sdss.load_data is galaxy10sdss.load_galaxy10sdss
    fig = galaxy10sdss.galaxy10_confusion(np.eye(10) * 3)
    assert fig is not None
    from astrotorch.datasets.galaxy10 import load_data, load_galaxy10

    assert load_data is load_galaxy10


@pytest.mark.realdata
def test_galaxy_zoo1_file_passes_label_checks(shared_data):
    from astrotorch.datasets import load_galaxy10sdss

    with load_galaxy10sdss(path=shared_data / "galaxy_zoo1_sdss" / "galaxy_zoo1_sdss69.h5") as data:
        assert int(data.labels.max()) <= 5 and len(data) > 5000
