"""The committed CRDs, AsyncAPI document and monitoring chart files are exactly what the code generates."""

from __future__ import annotations

from pathlib import Path

from arks_common.gen import render
from arks_monitoring.gen import render as render_monitoring

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_are_up_to_date() -> None:
    files = {**render(), **render_monitoring()}
    stale = [rel for rel, content in files.items() if not (ROOT / rel).exists() or (ROOT / rel).read_text() != content]
    assert not stale, f"run `make gen`: {stale}"
