"""astroNN's configuration: config.ini keys, config_path(flag), LASMOT_DR5_DATA, cpu_fallback, gpu_memory_manage."""

from __future__ import annotations

import os

import pytest

from astrotorch import config
from astrotorch.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("ASTROTORCH_MAGIC_NUMBER", "ASTROTORCH_HOME", "SDSS_LOCAL_SAS_MIRROR", "GAIA_TOOLS_DATA",
                "LAMOST_DR5_DATA", "LASMOT_DR5_DATA", "ASTROTORCH_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


ASTRONN_INI = """[Basics]
magicnumber = -999.0
multiprocessing_generator = True
environmentvariablewarning = False

[NeuralNet]
custommodelpath = /somewhere/evil_models.py
cpufallback = True
gpu_mem_ratio = 0.5
"""


def test_astronn_ini_is_read_from_the_astronn_folder(tmp_path):
    (tmp_path / ".astroNN").mkdir()
    (tmp_path / ".astroNN" / "config.ini").write_text(ASTRONN_INI)
    cfg = config.get_config()
    assert cfg.magic_number == -999.0 and config.magic_number() == -999.0
    assert cfg.multiprocessing_generator is True and cfg.environment_variable_warning is False
    assert cfg.cpu_fallback is True and cfg.gpu_mem_ratio == 0.5
    assert "custom" not in str(cfg.to_dict())  # custommodelpath is never read (no code is imported)


def test_precedence_ini_toml_env(tmp_path, monkeypatch):
    home = tmp_path / ".astrotorch"
    home.mkdir()
    (home / "config.ini").write_text("[Basics]\nmagicnumber = -1\n")
    (tmp_path / ".astroNN").mkdir()
    (tmp_path / ".astroNN" / "config.ini").write_text("[Basics]\nmagicnumber = -2\n")
    assert config.magic_number() == -1.0  # astrotorch's own ini wins over astroNN's
    (home / "config.toml").write_text("magic_number = -3\n")
    assert config.magic_number() == -3.0  # TOML over ini
    monkeypatch.setenv("ASTROTORCH_MAGIC_NUMBER", "-4")
    assert config.magic_number() == -4.0


@pytest.mark.parametrize("text,match", [
    ("[Basics]\nmagicnumber = lots\n", "magic_number .* must be a number"),
    ("[NeuralNet]\ngpu_mem_ratio = 1.5\n", "fraction in"),
    ("[NeuralNet]\ncpufallback = maybe\n", "True or False"),
    ("not an ini file", "not a valid INI"),
])
def test_bad_ini_values_name_the_file_and_key(tmp_path, text, match):
    (tmp_path / ".astroNN").mkdir()
    path = tmp_path / ".astroNN" / "config.ini"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        config.get_config()
    assert str(path) in str(info.value)


def test_config_path_creates_updates_and_resets(tmp_path):
    path = config.config_path()
    assert path == tmp_path / ".astrotorch" / "config.ini" and path.is_file()
    text = path.read_text()
    assert "magicnumber = -9999.0" in text and "gpu_mem_ratio = True" in text
    path.write_text("[Basics]\nmagicnumber = -5\n")
    assert config.config_path() == path and config.magic_number() == -5.0  # existing file kept
    config.config_path(flag=1)  # update: missing keys added, values kept
    assert config.magic_number() == -5.0 and "cpufallback = False" in path.read_text()
    config.config_path(flag=2)  # reset
    assert config.magic_number() == -9999.0
    with pytest.raises(ConfigError, match="flag"):
        config.config_path(flag=7)


def test_config_path_starts_from_an_astronn_users_settings(tmp_path):
    (tmp_path / ".astroNN").mkdir()
    (tmp_path / ".astroNN" / "config.ini").write_text("[Basics]\nMagicNumber = -42\n")
    config.config_path()
    assert "magicnumber = -42" in (tmp_path / ".astrotorch" / "config.ini").read_text()


def test_lasmot_alias(monkeypatch, tmp_path):
    monkeypatch.setenv("LASMOT_DR5_DATA", str(tmp_path / "a"))
    assert config.get_config().lamost_dr5_data == tmp_path / "a"
    monkeypatch.setenv("LAMOST_DR5_DATA", str(tmp_path / "b"))
    assert config.get_config().lamost_dr5_data == tmp_path / "b"


def test_cpu_fallback_and_gpu_memory_manage(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    config.cpu_fallback()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    config.cpu_fallback(False)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    with pytest.raises(ConfigError, match="before CUDA"):
        config.cpu_fallback()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config.gpu_memory_manage()  # nothing to do without a GPU
    config.gpu_memory_manage(0.5)
    with pytest.raises(ConfigError):
        config.gpu_memory_manage(2.0)
