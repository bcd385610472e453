"""astrotorch.config: defaults, environment, TOML file, per-call overrides, unknown keys."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from astrotorch import config
from astrotorch.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("ASTROTORCH_MAGIC_NUMBER", "ASTROTORCH_HOME", "SDSS_LOCAL_SAS_MIRROR", "GAIA_TOOLS_DATA",
                "LAMOST_DR5_DATA", "ASTROTORCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_defaults_need_no_config_file(tmp_path):
    cfg = config.get_config()
    assert cfg.magic_number == -9999.0 == config.MAGIC_NUMBER == config.magic_number()
    assert cfg.data_home == tmp_path / ".astrotorch"
    assert cfg.sdss_local_sas_mirror is None


def test_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SDSS_LOCAL_SAS_MIRROR", str(tmp_path / "sas"))
    monkeypatch.setenv("GAIA_TOOLS_DATA", str(tmp_path / "gaia"))
    monkeypatch.setenv("LAMOST_DR5_DATA", str(tmp_path / "lamost"))
    monkeypatch.setenv("ASTROTORCH_MAGIC_NUMBER", "-999")
    cfg = config.get_config()
    assert cfg.data_home == tmp_path / "home"
    assert cfg.sdss_local_sas_mirror == tmp_path / "sas"
    assert cfg.gaia_tools_data == tmp_path / "gaia" and cfg.lamost_dr5_data == tmp_path / "lamost"
    assert cfg.magic_number == -999.0


def test_toml_file_then_env_then_call_overrides(monkeypatch, tmp_path):
    f = tmp_path / "astro.toml"
    f.write_text('magic_number = -1.0\nsdss_local_sas_mirror = "/mirror"\n')
    monkeypatch.setenv("ASTROTORCH_CONFIG", str(f))
    assert config.get_config().magic_number == -1.0
    assert config.get_config().sdss_local_sas_mirror == Path("/mirror")
    monkeypatch.setenv("ASTROTORCH_MAGIC_NUMBER", "-2")
    assert config.get_config().magic_number == -2.0
    assert config.get_config(magic_number=-3).magic_number == -3.0
    with config.override(magic_number=-4.0):
        assert config.magic_number() == -4.0
    assert config.magic_number() == -2.0


def test_default_toml_location_in_data_home(monkeypatch, tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text("magic_number = -7\n")
    monkeypatch.setenv("ASTROTORCH_HOME", str(home))
    assert config.magic_number() == -7.0


def test_magic_number_follows_every_change_it_depends_on(monkeypatch, tmp_path):
    # magic_number() is remembered between calls (it runs in every loss call): each source still counts
    home = tmp_path / "h"
    home.mkdir()
    monkeypatch.setenv("ASTROTORCH_HOME", str(home))
    assert config.magic_number() == -9999.0
    (home / "config.toml").write_text("magic_number = -7\n")
    assert config.magic_number() == -7.0
    (home / "config.toml").write_text("magic_number = -70.5\n")
    assert config.magic_number() == -70.5
    (home / "config.ini").write_text("[Basics]\nmagicnumber = -5\n")
    assert config.magic_number() == -70.5  # the TOML file outranks astroNN's ini
    (home / "config.toml").unlink()
    assert config.magic_number() == -5.0
    monkeypatch.setenv("ASTROTORCH_MAGIC_NUMBER", "-2")
    assert config.magic_number() == -2.0
    with config.override(magic_number=-4.0):
        assert config.magic_number() == -4.0
        with config.override(magic_number=-3.0):
            assert config.magic_number() == -3.0
        assert config.magic_number() == -4.0
    monkeypatch.delenv("ASTROTORCH_MAGIC_NUMBER")
    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path / "elsewhere"))
    assert config.magic_number() == -9999.0


def test_unknown_keys_and_bad_values_raise(monkeypatch, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("magic_numbr = -1\n")
    monkeypatch.setenv("ASTROTORCH_CONFIG", str(f))
    with pytest.raises(ConfigError, match="unknown configuration key 'magic_numbr'"):
        config.get_config()
    monkeypatch.delenv("ASTROTORCH_CONFIG")
    with pytest.raises(ConfigError, match="unknown configuration key"):
        config.get_config(data_hom="/x")
    with pytest.raises(ConfigError, match="must be a number"):
        config.get_config(magic_number="abc")
    with pytest.raises(ConfigError, match="NaN"):
        config.get_config(magic_number=math.nan)
    f.write_text("magic_number = [1, 2\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.read_toml(f)
    with pytest.raises(ConfigError, match="does not exist"):
        config.read_toml(tmp_path / "none.toml")
