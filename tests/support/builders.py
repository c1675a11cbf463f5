"""Small builders of test objects, starting from the user guide's samples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "samples"


def sample(name: str, kind: str | None = None) -> dict[str, Any]:
    """A sample manifest from deploy/samples (the document of `kind` when the file holds several)."""
    docs = [d for d in yaml.safe_load_all((SAMPLES / name).read_text()) if d]
    if kind is not None:
        docs = [d for d in docs if d["kind"] == kind]
    doc: dict[str, Any] = copy.deepcopy(docs[0])
    return doc


def vllm_app(**spec: Any) -> dict[str, Any]:
    app = sample("application-vllm.yaml")
    app["spec"].update(spec)
    return app


def with_instance(app: dict[str, Any], **instance: Any) -> dict[str, Any]:
    app = copy.deepcopy(app)
    app["spec"].setdefault("instanceSpec", {}).update(instance)
    return app
