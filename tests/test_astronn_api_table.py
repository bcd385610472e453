"""docs/ASTRONN_API_TABLE.md: every row marked ✓ names an astrotorch object that exists, and the counts hold."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

TABLE = Path(__file__).resolve().parents[1] / "docs" / "ASTRONN_API_TABLE.md"
ROW = re.compile(r"^\| (\d+) \| `([^`]*)` \| (`([^`]*)`|—) \| (✓|~|API|✗|TF) \| (.*) \|$")


def rows() -> list[tuple[str, str, str, str]]:
    """(section, astroNN item, astrotorch path, status) of every table row."""
    out, section = [], ""
    for line in TABLE.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:]
        m = ROW.match(line)
        if m:
            out.append((section, m.group(2), m.group(4) or "", m.group(5)))
    return out


def resolve(path: str) -> object:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(path)


def test_counts_in_the_header_match_the_rows():
    all_rows = rows()
    manual = [r for r in all_rows if "not in the manual" not in r[0]]
    counts = {s: sum(r[3] == s for r in manual) for s in ("✓", "~", "API", "✗", "TF")}
    header = TABLE.read_text()
    assert f"Manual items: {len(manual)} — ✓ {counts['✓']}, ~ {counts['~']}, API {counts['API']}" in header
    assert counts["✓"] >= 180  # the target
    assert len({r[1] for r in all_rows}) == len(all_rows)  # no item listed twice


@pytest.mark.parametrize("path", sorted({r[2] for r in rows() if r[3] == "✓"}))
def test_working_rows_resolve(path):
    assert path.startswith("astrotorch")
    resolve(path)  # raises when the module or attribute does not exist (a field may default to None)
