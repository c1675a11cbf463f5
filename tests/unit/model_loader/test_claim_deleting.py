"""The model's claim deleted while pods mount it: Kubernetes keeps it (`kubernetes.io/pvc-protection`) until they
stop. The model says so, naming the pods and what to do, instead of "Creating model storage" with no end; once the
claim is gone, a new one is made and the model downloaded into it."""

from __future__ import annotations

from typing import Any

from unit.model_loader.cluster import NS, application_dict, ready

from arks_common.events.payloads import ObjectKind
from arks_common.kube.resources import APPLICATIONS, JOBS, PODS, PVCS

PROTECTION = "kubernetes.io/pvc-protection"


def _pod(name: str, claim: str = "qwen-7b", phase: str = "Running", node: str = "kwok-0") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"arks.ai/model": "qwen-7b", "arks.ai/application": "chat"},
        },
        "spec": {
            "nodeName": node,
            "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
        },
        "status": {"phase": phase},
    }


def _download_pods(c: Any) -> None:
    """The pod each download Job ran, finished: it stays (and mounts the claim) until its Job is deleted."""
    for job in c.kube.objects(JOBS):
        name = job["metadata"]["name"]
        template = job["spec"]["template"]
        c.kube.put(
            PODS,
            {
                "metadata": {
                    "name": f"{name}-x1",
                    "namespace": NS,
                    "labels": {**template["metadata"]["labels"], "job-name": name},
                },
                "spec": {**template["spec"], "nodeName": "kwok-0"},
                "status": {"phase": "Succeeded"},
            },
        )


def _delete_claim(c: Any) -> None:
    def deleting(pvc: dict[str, Any]) -> None:
        pvc["metadata"]["deletionTimestamp"] = "2026-12-08T00:00:00Z"
        pvc["metadata"]["finalizers"] = [PROTECTION]

    c.kube.edit(PVCS, NS, "qwen-7b", deleting)


async def test_a_claim_held_by_the_pods_that_mount_it_is_said_so_naming_them() -> None:
    c = await ready()
    c.kube.put(APPLICATIONS, application_dict("qwen-7b"))
    pods = (_pod("chat-0"), _pod("chat-0-1", phase="Failed"), _pod("unscheduled", node=""), _pod("other", "x"))
    for pod in pods:
        c.kube.put(PODS, pod)
    _download_pods(c)
    _delete_claim(c)
    c.events.recorded.clear()
    c.kube.calls.clear()
    await c.reconcile()
    assert c.status()["phase"] == "StorageCreating"
    storage = c.condition("StorageCreated")
    assert (storage["status"], storage["reason"]) == ("False", "StorageDeleting")
    message = storage["message"]
    assert message.startswith("The claim qwen-7b is being deleted"), message
    assert (
        f"while any pod mounts it ({PROTECTION}), and pods of this model mount it: chat-0, chat-0-1 (applications chat)"
        in message
    )
    assert "a new one is created and the model downloaded again" in message
    assert "stop the pods that mount it (delete their applications" in message
    assert "Creating model storage" not in message
    assert ("Warning", "StorageDeleting", message) in c.events.recorded  # the user must act: told once
    # the application waiting on it reads why
    await c.tell(ObjectKind.APPLICATION, c.kube.store[(APPLICATIONS.plural, NS, "chat")])
    assert "The claim qwen-7b is being deleted" in c.loaded()["message"]
    assert not [call for call in c.kube.calls if call[:2] == ("create", PVCS.plural)]  # the name is still taken

    await c.reconcile()  # a look again while it lasts tells nothing new
    assert [e for e in c.events.recorded if e[1] == "StorageDeleting"] == [("Warning", "StorageDeleting", message)]


async def test_the_finished_download_whose_pod_keeps_the_claim_is_deleted_and_a_new_claim_made_once_it_is_gone() -> (
    None
):
    c = await ready()
    old = c.kube.store[(PVCS.plural, NS, "qwen-7b")]["metadata"]["uid"]
    [download] = c.jobs()
    _download_pods(c)
    _delete_claim(c)
    await c.reconcile()
    # a scheduled pod keeps the claim until the pod object goes, finished or not: the download Job goes with its pod
    assert c.jobs() == []
    message = c.condition("StorageCreated")["message"]
    assert c.condition("StorageCreated")["reason"] == "StorageDeleting"
    assert "no pod of this model mounts it now" in message, message
    assert f"the model's download Job {download}, whose pod mounts it, is deleted" in message, message
    del c.kube.store[(PVCS.plural, NS, "qwen-7b")]  # its pod gone: Kubernetes let the claim go
    await c.reconcile()
    claim = c.kube.store[(PVCS.plural, NS, "qwen-7b")]
    assert claim["metadata"]["uid"] != old
    assert c.condition("StorageCreated")["reason"] == "Creating"  # one step a reconcile: the claim's event is next
    c.bind_claims()
    await c.reconcile()
    jobs = c.kube.objects(JOBS)
    assert [j["metadata"]["annotations"]["arks.ai/claim-uid"] for j in jobs] == [claim["metadata"]["uid"]]
    assert c.status()["phase"] == "ModelLoading"  # downloading into the new, empty claim
