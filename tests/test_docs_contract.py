"""docs/CONTRACT.md and docs/ARCHITECTURE.md name only files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "astrotorch"
_TOKEN = re.compile(r"(?<![\w./<>-])(?:([a-z0-9_]+)/ \(|((?:[a-z0-9_]+/)*[a-z0-9_]+\.py)\b)")
_DIR = re.compile(r"^  ([a-z_]+/)")


def _layout_paths(text: str) -> list[Path]:
    """Files in the Layout block: each ``name.py`` under the folder whose line it follows.

    A folder line starts with ``  name/``; ``sub/ (`` inside a line opens a sub-folder for the rest of it.
    """
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    out, folder = [], ""
    for line in block.splitlines()[2:]:  # past the opening fence and the src/astrotorch/ line
        head = _DIR.match(line)
        if head:
            folder = head.group(1)
        elif line[:3].strip():
            folder = ""  # a top-level file line (config.py ...)
        sub = ""
        for subfolder, name in _TOKEN.findall(line):
            if subfolder:
                sub = subfolder + "/"
            elif name.startswith(folder) and folder:
                out.append(PKG / name)
            else:
                out.append(PKG / folder / sub / name)
    return out


def test_contract_layout_names_existing_files():
    text = (ROOT / "docs" / "CONTRACT.md").read_text()
    paths = _layout_paths(text)
    assert len(paths) > 60, len(paths)  # the parser still sees the block
    missing = [str(p.relative_to(PKG)) for p in paths if not p.is_file()]
    assert not missing, missing


def test_architecture_and_contract_backticked_paths_exist():
    for doc in ("CONTRACT.md", "ARCHITECTURE.md"):
        text = (ROOT / "docs" / doc).read_text()
        for rel in re.findall(r"`((?:[a-z_]+/)+[a-z_]+\.py)`", text):
            assert (PKG / rel).is_file() or (ROOT / rel).is_file(), f"{doc} names {rel}"
        for rel in re.findall(r"\]\(([A-Z_]+\.md)", text):
            assert (ROOT / "docs" / rel).is_file(), f"{doc} links {rel}"
