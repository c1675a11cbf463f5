"""A claim whose storageClassName names no StorageClass waits for a volume nothing will provision: the model says
so, naming the class and the field, instead of that it waits (or that its download pod cannot be scheduled); a
StorageClass the model-loader may not read (a 403) or cannot read now leaves the message as it was."""

from __future__ import annotations

from typing import Any

import pytest
from unit.model_loader.cluster import cluster, model_dict

from arks_common.kube.client import KubeError
from arks_common.kube.resources import JOBS, PVCS, Resource

STORAGE_CLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)
"""As the API server serves them (spelled out here, so this file reads the same against the code before it)."""


def model_of_class(storage_class: str) -> dict[str, Any]:
    doc = model_dict()
    doc["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = storage_class
    return doc


async def test_the_model_names_the_missing_class_and_warns_once_and_goes_on_once_it_binds() -> None:
    c = cluster(model_of_class("fast-ssd"))
    await c.reconcile(times=3)
    loaded = c.condition("ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", "StorageClassNotFound")
    assert "StorageClass 'fast-ssd' (spec.storage.pvc.spec.storageClassName) does not exist" in loaded["message"]
    assert c.status()["phase"] == "ModelLoading"
    warnings = [r for r in c.events.recorded if r[1] == "StorageClassNotFound"]
    assert len(warnings) == 1
    assert warnings[0][0] == "Warning"
    assert c.kube.objects(JOBS)  # the download waits on the claim, as before

    c.kube.put(STORAGE_CLASSES, {"metadata": {"name": "fast-ssd", "namespace": ""}, "provisioner": "x"})
    await c.reconcile()
    assert c.condition("ModelLoaded")["reason"] == "Loading"
    c.bind_claims()
    await c.reconcile()
    assert c.condition("ModelLoaded")["message"] == "Downloading Qwen/Qwen2.5-7B-Instruct-1M into qwen-7b"


async def test_a_class_that_exists_keeps_the_waiting_message() -> None:
    c = cluster(model_dict())  # local-path
    await c.reconcile(times=2)
    loaded = c.condition("ModelLoaded")
    assert loaded["reason"] == "Loading"
    assert loaded["message"].startswith("Waiting for a volume to be bound to qwen-7b (Pending)")


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(KubeError('storageclasses.storage.k8s.io "fast-ssd" is forbidden', 403), id="a 403"),
        pytest.param(KubeError("get StorageClass /fast-ssd: no answer within 30 s"), id="no answer"),
    ],
)
async def test_a_class_that_cannot_be_read_leaves_the_message_as_before(error: KubeError) -> None:
    c = cluster(model_of_class("fast-ssd"))
    c.kube.refuse_get[STORAGE_CLASSES.plural] = error
    await c.reconcile(times=2)
    loaded = c.condition("ModelLoaded")
    assert loaded["reason"] == "Loading"
    assert loaded["message"].startswith("Waiting for a volume to be bound to qwen-7b (Pending)")
    assert c.kube.objects(PVCS)
    assert c.status()["phase"] == "ModelLoading"
