"""An application's change reaches every endpoint of its namespace, each on its own: one endpoint whose reconcile
fails does not keep the others (after it by name) from the change, nor fail the application's event, unless its
failure is one the endpoint's own reconcile retries too (an outage of the API server, a conflict): then the event
fails once every other endpoint was reconciled, and is retried for all of them."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.bus.consumer import TemporaryError
from arks_common.kube.client import KubeError
from arks_common.kube.resources import Resource
from arks_deployer.endpoints import EndpointReconciler
from support.endpoint_fakes import ApiServer, Plans, app_doc, endpoint_doc, leader_pod


class BrokenStatus(ApiServer):
    """An API server on which writing the status of endpoint `a-first` raises `error` (a bug raises anything)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def apply_status(self, res: Resource, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        if name == "a-first":
            raise self.error
        return await super().apply_status(res, namespace, name, status)


def namespace_of_two_endpoints(error: Exception) -> tuple[BrokenStatus, EndpointReconciler]:
    server, plans = BrokenStatus(error), Plans()
    for endpoint in (endpoint_doc("a-first", servedModelName="other"), endpoint_doc("qwen", servedModelName="qwen")):
        server.put(endpoint)
        plans.plan(endpoint)
    return server, EndpointReconciler(server, plans)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(KubeError("apply status: the request is invalid", 422), id="a status the API server refuses"),
        pytest.param(KubeError("apply status: forbidden", 403), id="a status write forbidden"),
        pytest.param(ValueError("a bug"), id="a bug"),
    ],
)
async def test_one_failing_endpoint_does_not_hold_back_the_others(error: Exception) -> None:
    server, reconciler = namespace_of_two_endpoints(error)
    server.put(app_doc("qwen-h100", "qwen", ready=1))  # an application of qwen appears, ready
    server.put(leader_pod("qwen-h100", "qwen"))
    await reconciler.namespace_changed("default")  # does not raise
    assert server.status("qwen")["applications"] == ["qwen-h100"]
    assert server.condition("qwen", "Ready")["status"] == "True"


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        pytest.param(KubeError("apply status: etcdserver: request timed out", 504), True, id="an outage"),
        pytest.param(KubeError("apply status: the object has been modified", 409), False, id="a conflict"),
    ],
)
async def test_what_is_retried_elsewhere_fails_the_event_after_the_others_are_reconciled(
    error: KubeError, outage: bool
) -> None:
    server, reconciler = namespace_of_two_endpoints(error)
    server.put(app_doc("qwen-h100", "qwen", ready=1))
    server.put(leader_pod("qwen-h100", "qwen"))
    with pytest.raises(TemporaryError) as raised:
        await reconciler.namespace_changed("default")
    assert raised.value.outage is outage
    assert raised.value.__cause__ is error
    assert server.status("qwen")["applications"] == ["qwen-h100"]  # reconciled before the event failed
