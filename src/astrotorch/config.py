"""Library configuration: magic number for missing values, data home and survey mirrors.

Values come, in increasing priority, from the built-in defaults, astroNN's ``config.ini`` (see
below), an optional TOML file (``$ASTROTORCH_CONFIG`` or ``<data home>/config.toml``), environment
variables, and finally per-call overrides (``get_config(magic_number=-999.)`` or the ``override``
context manager). No config file is required.

astroNN's configuration: ``<data home>/config.ini`` — or, when absent, astroNN's own
``~/.astroNN/config.ini`` — is read if present, with astroNN's keys ``magicnumber``,
``multiprocessing_generator``, ``environmentvariablewarning`` (section ``[Basics]``), ``cpufallback``
and ``gpu_mem_ratio`` (``[NeuralNet]``); ``custommodelpath`` is ignored (astrotorch never imports
code named in a configuration). :func:`config_path` writes/resets that file as astroNN's did.
astroNN's misspelt ``LASMOT_DR5_DATA`` is read as an alias of ``LAMOST_DR5_DATA``.

Example TOML file::

    magic_number = -9999.0
    data_home = "/data/astrotorch"
    sdss_local_sas_mirror = "/data/sdss"
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import functools
import io
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from astrotorch.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Default value marking a missing label or input (astroNN's convention); NaN is always missing too.
MAGIC_NUMBER: float = -9999.0

# environment variable -> config field (later entries win: LAMOST_DR5_DATA over astroNN's misspelling)
_ENV_VARS = {
    "ASTROTORCH_MAGIC_NUMBER": "magic_number",
    "ASTROTORCH_HOME": "data_home",
    "SDSS_LOCAL_SAS_MIRROR": "sdss_local_sas_mirror",
    "GAIA_TOOLS_DATA": "gaia_tools_data",
    "LASMOT_DR5_DATA": "lamost_dr5_data",
    "LAMOST_DR5_DATA": "lamost_dr5_data",
    "ASTROTORCH_SHARED_DATA": "shared_data",
}


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved configuration. Paths are :class:`pathlib.Path` or ``None`` when unset."""

    magic_number: float = MAGIC_NUMBER
    data_home: Path = Path("~/.astrotorch").expanduser()
    sdss_local_sas_mirror: Path | None = None
    gaia_tools_data: Path | None = None
    lamost_dr5_data: Path | None = None
    #: real survey data used by tests and benchmarks (``../shared/data`` beside the repository)
    shared_data: Path | None = None
    #: base URL of the SDSS Science Archive Server
    sdss_sas_url: str = "https://data.sdss.org/sas"
    #: base URL of the Gaia archive's bulk files (TGAS, gaia_source)
    gaia_archive_url: str = "http://cdn.gea.esac.esa.int"
    #: VizieR's tab-separated query service (APOKASC)
    vizier_url: str = "https://vizier.cds.unistra.fr/viz-bin/asu-tsv"
    #: astroNN's ``multiprocessing_generator``: use worker processes for data loading (``num_workers``)
    multiprocessing_generator: bool = False
    #: astroNN's ``environmentvariablewarning``
    environment_variable_warning: bool = True
    #: astroNN's ``cpufallback``: run on the CPU even when a GPU is present
    cpu_fallback: bool = False
    #: astroNN's ``gpu_mem_ratio``: True (allocate as needed), a fraction in (0, 1], or None (no limit)
    gpu_mem_ratio: Any = True

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


_FIELDS = {f.name for f in dataclasses.fields(Config)}
_PATH_FIELDS = {"data_home", "sdss_local_sas_mirror", "gaia_tools_data", "lamost_dr5_data", "shared_data"}
_overrides: list[dict[str, Any]] = []


_BOOL_FIELDS = {"multiprocessing_generator", "environment_variable_warning", "cpu_fallback"}


def _as_bool(value: Any, key: str, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{key} in {source} must be True or False, got {value!r}")


def _coerce(key: str, value: Any, source: str) -> Any:
    if key not in _FIELDS:
        raise ConfigError(f"unknown configuration key {key!r} in {source}; known keys: {sorted(_FIELDS)}")
    if key in _BOOL_FIELDS:
        return _as_bool(value, key, source)
    if key == "gpu_mem_ratio":
        text = str(value).strip()
        if value is None or text.lower() == "none":
            return None
        if isinstance(value, bool) or text.lower() in ("true", "false"):
            return _as_bool(value, key, source)
        try:
            ratio = float(text)
        except ValueError:
            raise ConfigError(f"gpu_mem_ratio in {source} must be True, None or a fraction in (0, 1], got {value!r}") from None
        if not 0.0 < ratio <= 1.0:
            raise ConfigError(f"gpu_mem_ratio in {source} must be a fraction in (0, 1], got {ratio}")
        return ratio
    if value is None:
        return None
    if key == "magic_number":
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"magic_number in {source} must be a number, got {value!r}") from exc
        if math.isnan(value):
            raise ConfigError("magic_number cannot be NaN (NaN is always treated as missing already)")
        return value
    if key in _PATH_FIELDS:
        return Path(str(value)).expanduser()
    if not isinstance(value, str):
        raise ConfigError(f"{key} in {source} must be a string, got {type(value).__name__}")
    return value


@functools.lru_cache(maxsize=1)
def _default_shared_data() -> Path | None:
    # ../shared/data beside the checkout that holds this package (src layout: src/astrotorch/config.py);
    # looked up once per process
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and cand.is_dir():
            return cand
    return None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a TOML configuration file; unknown keys raise :class:`ConfigError`."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    return {k: _coerce(k, v, str(path)) for k, v in data.items()}


# astroNN config.ini: (section, key) -> config field; custommodelpath is deliberately not read
_INI_KEYS = {
    ("basics", "magicnumber"): "magic_number",
    ("basics", "multiprocessing_generator"): "multiprocessing_generator",
    ("basics", "environmentvariablewarning"): "environment_variable_warning",
    ("neuralnet", "cpufallback"): "cpu_fallback",
    ("neuralnet", "gpu_mem_ratio"): "gpu_mem_ratio",
}
_INI_DEFAULT = {
    "Basics": {"magicnumber": "-9999.0", "multiprocessing_generator": "False", "environmentvariablewarning": "True"},
    "NeuralNet": {"custommodelpath": "None", "cpufallback": "False", "gpu_mem_ratio": "True"},
}
_ini_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def _config_files() -> tuple[str, str, bool, tuple[str, str]]:
    """Where the configuration comes from: the data home, the TOML file (``$ASTROTORCH_CONFIG``, else
    ``<data home>/config.toml``), whether the environment named it, and the astroNN ``config.ini``
    candidates in order (astrotorch's, then astroNN's own). Plain strings: :func:`get_config` runs in
    every loss call (through :func:`magic_number`), where pathlib costs ~10 µs a path."""
    env = os.environ
    home = os.path.expanduser(env.get("ASTROTORCH_HOME", "~/.astrotorch"))
    named = env.get("ASTROTORCH_CONFIG")
    toml_file = os.path.expanduser(named) if named else os.path.join(home, "config.toml")
    return home, toml_file, bool(named), (os.path.join(home, "config.ini"), os.path.expanduser("~/.astroNN/config.ini"))


def _astronn_ini(candidates: tuple[str, str] | None = None) -> Path | None:
    """astrotorch's astroNN-style config.ini, else astroNN's own, when one exists (``candidates``: those
    :func:`_config_files` gave, when the caller has them)."""
    for cand in candidates or _config_files()[3]:
        if os.path.isfile(cand):
            return Path(cand)
    return None


def read_astronn_ini(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of an astroNN ``config.ini`` as astrotorch configuration fields (validated)."""
    path = Path(path)
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _ini_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return dict(cached[1])
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"astroNN configuration file {path} is not a valid INI file: {exc}") from exc
    out: dict[str, Any] = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            field = _INI_KEYS.get((section.lower(), key.lower()))
            if field is not None:
                out[field] = _coerce(field, value, f"{path} [{section}] {key}")
    _ini_cache[path] = (stamp, dict(out))
    return out


def config_path(flag: int | None = None) -> Path:
    """Path of astrotorch's astroNN-style ``config.ini`` (in the data home), astroNN's ``config_path``.

    The file is written (atomically) with astroNN's defaults when it does not exist or ``flag=2``
    (reset); ``flag=1`` adds missing keys and keeps the values already there (an astroNN user's
    ``~/.astroNN/config.ini`` is the starting point when astrotorch has none yet).
    """
    from astrotorch.io import atomic_write

    if flag not in (None, 0, 1, 2):
        raise ConfigError(f"flag must be None, 0, 1 (update) or 2 (reset), got {flag!r}")
    path = Path(_config_files()[0]) / "config.ini"
    if path.is_file() and flag not in (1, 2):
        return path
    parser = configparser.ConfigParser()
    parser.read_dict(_INI_DEFAULT)
    source = _astronn_ini()
    if flag != 2 and source is not None:
        old = configparser.ConfigParser()
        try:
            old.read_string(source.read_text(), source=str(source))
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"astroNN configuration file {source} is not a valid INI file: {exc}") from exc
        for section in old.sections():
            target = next((s for s in _INI_DEFAULT if s.lower() == section.lower()), section)
            if not parser.has_section(target):
                parser.add_section(target)
            for key, value in old.items(section):
                parser.set(target, key, value)
    buf = io.StringIO()
    parser.write(buf)
    with atomic_write(path, "w") as fh:
        fh.write(buf.getvalue())
    read_astronn_ini(path)  # validate what was written
    return path


def cpu_fallback(flag: bool = True) -> None:
    """astroNN's ``cpu_fallback``: hide the GPUs from this process (``CUDA_VISIBLE_DEVICES=""``).

    Must run before CUDA is first used; afterwards it raises :class:`ConfigError`. ``flag=False``
    undoes it (before CUDA is used). Models also take ``accelerator="cpu"``.
    """
    import torch

    if torch.cuda.is_initialized():
        raise ConfigError("cpu_fallback must be called before CUDA is first used; pass accelerator='cpu' to models instead")
    if flag:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    else:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)


def gpu_memory_manage(ratio: bool | float | None = True, log_device_placement: bool = False) -> None:
    """astroNN's ``gpu_memory_manage``: ``True`` — allocate as needed (PyTorch's behaviour already),
    a float in (0, 1] — cap this process at that fraction of each GPU's memory, ``None`` — no cap.
    Does nothing without a GPU. ``log_device_placement`` is accepted for astroNN's signature."""
    import torch

    value = _coerce("gpu_mem_ratio", ratio, "gpu_memory_manage()")
    if not torch.cuda.is_available():
        return
    fraction = 1.0 if value is None or value is True or value is False else float(value)
    for dev in range(torch.cuda.device_count()):
        torch.cuda.set_per_process_memory_fraction(fraction, dev)


def _file_stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


#: the last configuration get_config() built without arguments, and what it was built from
_memo: list[Any] = [None, None]


def get_config(**overrides: Any) -> Config:
    """Return the configuration in force, with optional per-call ``overrides``.

    Without arguments the result is remembered until what it is made of changes: an override, one of
    its environment variables, or a configuration file's modification time or size.

    Raises :class:`ConfigError` for an unknown key or a value of the wrong type.
    """
    home, toml_file, named, inis = _config_files()
    key = None
    if not overrides:
        files = (toml_file, *inis)
        key = (tuple(tuple(layer.items()) for layer in _overrides),
               tuple(os.environ.get(v) for v in (*_ENV_VARS, "ASTROTORCH_CONFIG")),
               files, tuple(_file_stamp(f) for f in files))
        if _memo[0] == key:
            return _memo[1]
    values: dict[str, Any] = {}
    shared = _default_shared_data()
    if shared is not None:
        values["shared_data"] = shared
    values["data_home"] = Path(home)
    ini = _astronn_ini(inis)
    if ini is not None:
        values.update(read_astronn_ini(ini))
    if named or os.path.isfile(toml_file):
        values.update(read_toml(toml_file))
    for env, field in _ENV_VARS.items():
        if os.environ.get(env):
            values[field] = _coerce(field, os.environ[env], f"${env}")
    for layer in _overrides:
        values.update(layer)
    values.update({k: _coerce(k, v, "get_config() arguments") for k, v in overrides.items()})
    config = Config(**values)
    if key is not None:
        _memo[:] = [key, config]
    return config


@contextlib.contextmanager
def override(**values: Any) -> Iterator[Config]:
    """Temporarily override configuration values (e.g. ``with override(magic_number=-999.): ...``)."""
    layer = {k: _coerce(k, v, "override()") for k, v in values.items()}
    _overrides.append(layer)
    try:
        yield get_config()
    finally:
        _overrides.remove(layer)


def magic_number() -> float:
    """The magic number in force (default -9999.0)."""
    return get_config().magic_number


__all__ = ["Config", "MAGIC_NUMBER", "get_config", "override", "magic_number", "read_toml", "config_path",
           "read_astronn_ini", "cpu_fallback", "gpu_memory_manage"]
