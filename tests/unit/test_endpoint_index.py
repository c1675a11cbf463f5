"""The deployer's index of each namespace's ArksEndpoints: listed once per namespace, then kept by reconciles."""

from __future__ import annotations

from arks_deployer.core.endpoint_index import EndpointIndex


def test_a_namespace_is_unknown_until_listed() -> None:
    index = EndpointIndex()
    assert not index.known("team")
    assert index.endpoints("team") == []
    index.listed("team", ["b", "a"])
    assert index.known("team")
    assert index.endpoints("team") == ["a", "b"]


def test_reconciles_add_and_remove_endpoints_of_a_listed_namespace() -> None:
    index = EndpointIndex()
    index.listed("team", ["a"])
    index.observe("team", "new", exists=True)
    index.observe("team", "a", exists=False)
    index.observe("team", "never-there", exists=False)
    assert index.endpoints("team") == ["new"]


def test_a_reconcile_in_a_namespace_not_listed_leaves_it_unknown() -> None:
    """Else one endpoint seen would pass for all of the namespace's endpoints."""
    index = EndpointIndex()
    index.observe("team", "a", exists=True)
    assert not index.known("team")
    index.listed("team", ["a", "b"])
    assert index.endpoints("team") == ["a", "b"]


def test_a_fresh_list_replaces_what_the_namespace_had() -> None:
    index = EndpointIndex()
    index.listed("team", ["a", "b"])
    index.listed("team", ["c"])
    assert index.endpoints("team") == ["c"]
    assert index.endpoints("other") == []
