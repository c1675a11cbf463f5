"""The committed CRDs and AsyncAPI document are exactly what the code generates."""

from __future__ import annotations

from pathlib import Path

from arks_common.gen import render

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_up_to_date() -> None:
    stale = [rel for rel, content in render().items() if (ROOT / rel).read_text() != content]
    assert not stale, f"run `make gen`: {stale}"
