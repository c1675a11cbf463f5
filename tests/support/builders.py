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


def sample_with(name: str, **spec: Any) -> dict[str, Any]:
    """A sample with `spec` fields replaced (None removes the field)."""
    doc = sample(name)
    for key, value in spec.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = copy.deepcopy(value)
    return doc


def vllm_app(**spec: Any) -> dict[str, Any]:
    app = sample("application-vllm.yaml")
    app["spec"].update(spec)
    return app


def with_instance(app: dict[str, Any], **instance: Any) -> dict[str, Any]:
    app = copy.deepcopy(app)
    app["spec"].setdefault("instanceSpec", {}).update(instance)
    return app


def rwx_model(name: str = "qwen-7b") -> dict[str, Any]:
    model = sample("quickstart/model.yaml")
    model["metadata"]["name"] = name
    model["spec"]["storage"]["pvc"]["name"] = name
    return model


def small_app(name: str, model: str = "qwen-7b", **spec: Any) -> dict[str, Any]:
    """A one-node, one-GPU vLLM application."""
    body: dict[str, Any] = {
        "replicas": 1,
        "model": {"name": model},
        "instanceSpec": {"replicas": 1, "resources": {"limits": {"nvidia.com/gpu": "1"}}},
    }
    body.update(spec)
    return {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "metadata": {"name": name}, "spec": body}


def slow_class_volume(namespace: str) -> dict[str, Any]:
    """A shared volume of the storage class `slow-<namespace>`: a test's claim of that class waits (no volume) until
    the test applies this one."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"slow-{namespace}"},
        "spec": {
            "capacity": {"storage": "1Ti"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": f"slow-{namespace}",
            "hostPath": {"path": f"/tmp/arks-pool/slow-{namespace}"},
        },
    }
