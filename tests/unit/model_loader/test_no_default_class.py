"""A claim that names no StorageClass in a cluster without a default one waits for a volume nothing will provision:
the model says so, naming the field and the annotation a default class carries, and what to do. A class named in
the spec since is set on the unbound claim (the one change of class Kubernetes allows). The classes are listed only
while such a claim waits; a list the model-loader may not make (a 403) leaves the message as it was."""

from __future__ import annotations

from typing import Any

import pytest
from unit.model_loader.cluster import NS, cluster, model_dict

from arks_common.kube.client import KubeError
from arks_common.kube.resources import MODELS, PVCS, STORAGECLASSES

DEFAULT = "storageclass.kubernetes.io/is-default-class"


def classless(c: Any = None) -> Any:
    """The guide's model naming no class, in a cluster whose only class (`local-path`) is no default."""
    doc = model_dict()
    del doc["spec"]["storage"]["pvc"]["spec"]["storageClassName"]
    c = cluster(doc)
    c.kube.store[(STORAGECLASSES.plural, "", "local-path")]["metadata"]["annotations"] = {}
    return c


def lists_of_classes(c: Any) -> int:
    return len([call for call in c.kube.calls if call[:2] == ("list", STORAGECLASSES.plural)])


async def test_the_model_says_the_cluster_has_no_default_class_and_warns_once() -> None:
    c = classless()
    await c.reconcile(times=3)
    loaded = c.condition("ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", "NoDefaultStorageClass")
    assert "names no StorageClass (spec.storage.pvc.spec.storageClassName)" in loaded["message"]
    assert f'no default StorageClass (annotated {DEFAULT}: "true")' in loaded["message"]
    assert c.status()["phase"] == "ModelLoading"
    assert [e[0] for e in c.events.recorded if e[1] == "NoDefaultStorageClass"] == ["Warning"]

    # a class made the default: the claim takes it (the PV controller's part), and the model waits as before
    c.kube.edit(STORAGECLASSES, "", "local-path", lambda sc: sc["metadata"].update(annotations={DEFAULT: "true"}))
    await c.reconcile()
    assert c.condition("ModelLoaded")["reason"] == "Loading"


async def test_a_class_named_in_the_spec_since_is_set_on_the_unbound_claim() -> None:
    c = classless()
    await c.reconcile(times=2)
    assert "storageClassName" not in c.kube.store[(PVCS.plural, NS, "qwen-7b")]["spec"]

    def name_a_class(model: dict[str, Any]) -> None:
        model["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = "local-path"
        model["metadata"]["generation"] += 1

    c.kube.edit(MODELS, NS, "qwen-7b", name_a_class)
    await c.reconcile(times=2)
    assert c.kube.store[(PVCS.plural, NS, "qwen-7b")]["spec"]["storageClassName"] == "local-path"
    assert [call for call in c.kube.calls if call[:2] == ("patch", PVCS.plural)] == [("patch", PVCS.plural, "qwen-7b")]
    assert c.condition("ModelLoaded")["reason"] == "Loading"
    assert c.condition("StorageCreated")["reason"] == "CreateSucceeded"  # taken, not kept
    assert [e[2] for e in c.events.recorded if e[1] == "StorageClassSet"] == ["Set PVC qwen-7b's class 'local-path'"]


async def test_a_refused_class_is_said_kept() -> None:
    c = classless()
    c.kube.refuse_patch[PVCS.plural] = KubeError("persistentvolumeclaims is forbidden", 403)
    await c.reconcile()

    def name_a_class(model: dict[str, Any]) -> None:
        model["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = "local-path"

    c.kube.edit(MODELS, NS, "qwen-7b", name_a_class)
    await c.reconcile()
    storage = c.condition("StorageCreated")
    assert (storage["status"], storage["reason"]) == ("True", "StorageClassUnchanged")
    assert (
        "its StorageClass stays none: setting it on the claim was refused: persistentvolumeclaims is forbidden"
        in (storage["message"])
    )
    loaded = c.condition("ModelLoaded")
    assert loaded["reason"] == "NoDefaultStorageClass"
    assert loaded["message"].endswith(
        "(setting the class the spec names was refused: persistentvolumeclaims is forbidden)"
    )


async def test_the_classes_are_listed_only_while_a_claim_without_a_class_waits() -> None:
    c = cluster(model_dict())  # names local-path
    await c.reconcile(times=2)
    assert lists_of_classes(c) == 0
    c = classless()
    await c.reconcile(times=3)  # the first creates the claim
    assert lists_of_classes(c) == 2  # one per look at it
    c.bind_claims()
    await c.reconcile()
    assert lists_of_classes(c) == 2
    assert c.condition("ModelLoaded")["reason"] == "Loading"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(KubeError("storageclasses.storage.k8s.io is forbidden", 403), id="a 403"),
        pytest.param(KubeError("list storageclasses: no answer within 30 s"), id="no answer"),
    ],
)
async def test_classes_that_cannot_be_listed_leave_the_message_as_before(error: KubeError) -> None:
    c = classless()
    c.kube.refuse_list[STORAGECLASSES.plural] = error
    await c.reconcile(times=2)
    loaded = c.condition("ModelLoaded")
    assert loaded["reason"] == "Loading"
    assert loaded["message"].startswith("Waiting for a volume to be bound to qwen-7b (Pending)")
    assert c.status()["phase"] == "ModelLoading"


async def test_a_claim_of_no_class_at_all_waits_for_volumes_made_by_hand_as_before() -> None:
    doc = model_dict()
    doc["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = ""
    c = cluster(doc)
    await c.reconcile(times=2)
    assert c.condition("ModelLoaded")["reason"] == "Loading"
    assert lists_of_classes(c) == 0
