"""Library configuration: magic number for missing values, data home and survey mirrors.

Values come, in increasing priority, from the built-in defaults, an optional TOML file
(``$ASTROTORCH_CONFIG`` or ``<data home>/config.toml``), environment variables, and finally
per-call overrides (``get_config(magic_number=-999.)`` or the ``override`` context manager).
No config file is required.

Example TOML file::

    magic_number = -9999.0
    data_home = "/data/astrotorch"
    sdss_local_sas_mirror = "/data/sdss"
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterator

from astrotorch.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Default value marking a missing label or input (astroNN's convention); NaN is always missing too.
MAGIC_NUMBER: float = -9999.0

# environment variable -> config field
_ENV_VARS = {
    "ASTROTORCH_MAGIC_NUMBER": "magic_number",
    "ASTROTORCH_HOME": "data_home",
    "SDSS_LOCAL_SAS_MIRROR": "sdss_local_sas_mirror",
    "GAIA_TOOLS_DATA": "gaia_tools_data",
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

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


_FIELDS = {f.name for f in dataclasses.fields(Config)}
_PATH_FIELDS = {"data_home", "sdss_local_sas_mirror", "gaia_tools_data", "lamost_dr5_data", "shared_data"}
_overrides: list[dict[str, Any]] = []


def _coerce(key: str, value: Any, source: str) -> Any:
    if key not in _FIELDS:
        raise ConfigError(f"unknown configuration key {key!r} in {source}; known keys: {sorted(_FIELDS)}")
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


def _default_shared_data() -> Path | None:
    # ../shared/data beside the checkout that holds this package (src layout: src/astrotorch/config.py)
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


def get_config(**overrides: Any) -> Config:
    """Return the configuration in force, with optional per-call ``overrides``.

    Raises :class:`ConfigError` for an unknown key or a value of the wrong type.
    """
    values: dict[str, Any] = {}
    shared = _default_shared_data()
    if shared is not None:
        values["shared_data"] = shared
    env_file = os.environ.get("ASTROTORCH_CONFIG")
    home = Path(os.environ.get("ASTROTORCH_HOME", "~/.astrotorch")).expanduser()
    values["data_home"] = home
    toml_path = Path(env_file).expanduser() if env_file else home / "config.toml"
    if env_file or toml_path.is_file():
        values.update(read_toml(toml_path))
    for env, key in _ENV_VARS.items():
        if os.environ.get(env):
            values[key] = _coerce(key, os.environ[env], f"${env}")
    for layer in _overrides:
        values.update(layer)
    values.update({k: _coerce(k, v, "get_config() arguments") for k, v in overrides.items()})
    return Config(**values)


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


__all__ = ["Config", "MAGIC_NUMBER", "get_config", "override", "magic_number", "read_toml"]
