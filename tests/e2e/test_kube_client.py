"""The Kubernetes client against the real API server: of replicas racing to create one object with server-side
apply, exactly one learns that it created it (so exactly one says "Created"); a status apply made onto a version
the object has left is refused (409), which the model-loader's `Loaded` gate relies on."""

from __future__ import annotations

import asyncio

import pytest

from arks_common.kube.client import Conflict, Kube, load_api_client
from arks_common.kube.resources import APPLICATIONS, SERVICES
from support.builders import vllm_app
from support.e2e import Env

pytestmark = pytest.mark.cluster


def _service(ns: str, name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ports": [{"port": 8080}], "selector": {"app": name}},
    }


async def test_of_concurrent_applies_of_a_new_object_exactly_one_created_it(arks: Env, ns: str) -> None:
    replicas = [Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-deployer") for _ in range(4)]
    try:
        for round_ in range(5):
            name = f"raced-{round_}"
            answers = await asyncio.gather(*(k.apply_created(SERVICES, _service(ns, name)) for k in replicas))
            assert [created for _, created in answers].count(True) == 1, answers
            assert len({obj["metadata"]["uid"] for obj, _ in answers}) == 1  # one object, applied four times
        _, again = await replicas[0].apply_created(SERVICES, _service(ns, "raced-0"))
        assert again is False
    finally:
        for kube in replicas:
            await kube.close()


async def test_a_paged_list_is_one_snapshot_in_bounded_pages(arks: Env, ns: str) -> None:
    kube = Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-watcher")
    try:
        for i in range(5):
            await kube.create(SERVICES, ns, _service(ns, f"paged-{i}"))
        pages = [(page, version) async for page, version in kube.list_pages(SERVICES, ns, page_size=2)]
        assert [len(page) for page, _ in pages] == [2, 2, 1]
        assert len({version for _, version in pages}) == 1  # every page of one snapshot
        names = [obj["metadata"]["name"] for page, _ in pages for obj in page]
        whole, _ = await kube.list(SERVICES, ns)
        assert names == [obj["metadata"]["name"] for obj in whole] == [f"paged-{i}" for i in range(5)]
    finally:
        await kube.close()


async def test_a_status_apply_onto_a_version_the_object_left_is_refused(arks: Env, ns: str) -> None:
    app = vllm_app()
    app["metadata"] = {"name": "fenced", "namespace": ns}
    kube = Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-e2e-fence")
    probe = {
        "type": "E2eFence",
        "status": "True",
        "reason": "Probe",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    try:
        old = await kube.create(APPLICATIONS, ns, app)
        version = old["metadata"]["resourceVersion"]
        # a write of our own since: the version read is left for good, whatever the services write meanwhile
        await kube.apply_status(APPLICATIONS, ns, "fenced", {"conditions": [probe]})
        with pytest.raises(Conflict):
            await kube.apply_status(APPLICATIONS, ns, "fenced", {"conditions": [{**probe, "reason": "Stale"}]}, version)
        for _ in range(10):  # onto the version read just before: taken (unless a service wrote in between)
            current = await kube.get(APPLICATIONS, ns, "fenced")
            assert current is not None
            try:
                await kube.apply_status(
                    APPLICATIONS,
                    ns,
                    "fenced",
                    {"conditions": [{**probe, "reason": "Fresh"}]},
                    current["metadata"]["resourceVersion"],
                )
                break
            except Conflict:
                await asyncio.sleep(0.2)
        stored = await kube.get(APPLICATIONS, ns, "fenced")
        assert stored is not None
        reasons = [c["reason"] for c in stored["status"]["conditions"] if c["type"] == "E2eFence"]
        assert reasons == ["Fresh"]
    finally:
        await kube.close()
