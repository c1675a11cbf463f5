"""The deployer's index of each namespace's ArksEndpoints, fed by its list+watch of them."""

from __future__ import annotations

from typing import Any

from arks_deployer.core.endpoint_index import EndpointIndex


def endpoint(namespace: str, name: str, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": namespace, "name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {"kind": "ArksEndpoint", "metadata": meta}


def test_not_ready_until_listed_then_by_namespace() -> None:
    index = EndpointIndex()
    assert not index.ready()
    index.replace("endpoint", [endpoint("team", "b"), endpoint("team", "a"), endpoint("other", "c")], "7")
    assert index.ready()
    assert index.endpoints("team") == ["a", "b"]
    assert index.endpoints("other") == ["c"]
    assert index.endpoints("nobody") == []


def test_watch_events_add_and_remove_endpoints_being_deleted_count_as_gone() -> None:
    index = EndpointIndex()
    index.replace("endpoint", [endpoint("team", "a"), endpoint("team", "b")], "7")
    index.observe(endpoint("team", "new"))
    index.observe(endpoint("team", "a"), deleted=True)
    index.observe(endpoint("team", "b", deleting=True))
    index.observe({"metadata": {"name": "nameless-namespace"}})
    assert index.endpoints("team") == ["new"]


def test_a_fresh_list_replaces_everything() -> None:
    index = EndpointIndex()
    index.replace("endpoint", [endpoint("team", "a")], "7")
    index.replace("endpoint", [endpoint("other", "c")], "9")
    assert index.endpoints("team") == []
    assert index.endpoints("other") == ["c"]
