"""The Loaded gate's watch of Ready models: only a listed, Ready, undeleted model is offered; anything else is read."""

from __future__ import annotations

from typing import Any

from arks_model_loader.core.ready_models import ReadyModels


def model(name: str, phase: str | None, version: str = "1", **meta: Any) -> dict[str, Any]:
    status = {"phase": phase, "conditions": [{"type": "ModelLoaded", "message": "x" * 10_000}]} if phase else {}
    return {
        "metadata": {"namespace": "ns", "name": name, "resourceVersion": version, "managedFields": [{}] * 50, **meta},
        "spec": {"source": {"huggingface": {"name": "q" * 10_000}}},
        "status": status,
    }


def test_nothing_is_offered_before_the_first_list() -> None:
    models = ReadyModels()
    models.observe(model("a", "Ready"))
    assert models.get("ns", "a") is None


def test_a_ready_model_is_offered_lean_and_anything_else_is_not() -> None:
    models = ReadyModels()
    models.replace("model", [model("a", "Ready", "7"), model("b", "ModelLoading"), model("c", None)], "10")
    assert models.get("ns", "a") == {
        "metadata": {"namespace": "ns", "name": "a", "resourceVersion": "7"},
        "status": {"phase": "Ready"},
    }
    assert models.get("ns", "b") is None  # still loading: read, the watch may be behind
    assert models.get("ns", "c") is None
    assert models.get("ns", "absent") is None  # maybe created a moment ago: read
    assert models.get("other", "a") is None


def test_a_model_that_leaves_ready_or_goes_is_no_longer_offered() -> None:
    models = ReadyModels()
    models.replace("model", [model("a", "Ready"), model("b", "Ready"), model("c", "Ready")], "10")
    models.observe(model("a", "Failed", "11"))
    models.observe(model("b", "Ready", "12", deletionTimestamp="2026-12-06T00:00:00Z"))
    models.observe(model("c", "Ready", "13"), deleted=True)
    assert [models.get("ns", n) for n in "abc"] == [None, None, None]
    models.observe(model("a", "Ready", "14"))
    assert (models.get("ns", "a") or {})["metadata"]["resourceVersion"] == "14"


def test_a_relist_is_the_whole_truth() -> None:
    models = ReadyModels()
    models.replace("model", [model("a", "Ready")], "10")
    models.replace("model", [model("b", "Ready")], "20")
    assert models.get("ns", "a") is None
    assert models.get("ns", "b") is not None


def test_a_garbled_status_is_not_ready() -> None:
    models = ReadyModels()
    models.replace("model", [{"metadata": {"namespace": "ns", "name": "a"}, "status": ["Ready"]}], "1")
    assert models.get("ns", "a") is None


def test_a_ready_status_of_an_older_generation_is_not_offered() -> None:
    stale = model("a", "Ready", "9", generation=2)
    stale["status"]["observedGeneration"] = 1  # its spec changed (a new repo id) since it was Ready
    current = model("b", "Ready", "9", generation=2)
    current["status"]["observedGeneration"] = 2
    models = ReadyModels()
    models.replace("model", [stale, current], "10")
    assert models.get("ns", "a") is None
    assert models.get("ns", "b") is not None


def test_a_namespace_may_hold_a_deleting_model_until_the_watch_shows_none() -> None:
    """An application's change lists the namespace's models (to release one waiting for its last user) only when
    this says one may be waiting."""
    models = ReadyModels()
    assert models.may_be_deleting("ns")  # nothing listed yet: unknown
    models.replace("model", [model("a", "Ready")], "10")
    assert not models.may_be_deleting("ns")
    going = model("a", "Ready", "11", deletionTimestamp="2026-12-07T00:00:00Z")
    models.observe(going)
    assert models.may_be_deleting("ns")
    assert not models.may_be_deleting("other")
    models.observe(going, deleted=True)
    assert not models.may_be_deleting("ns")
    models.observe(going)
    models.replace("model", [model("a", "Ready", "12")], "12")  # a relist is the truth
    assert not models.may_be_deleting("ns")


def test_every_model_is_named_once_listed_ready_or_not() -> None:
    """The schedule that reconciles every model (events a down watcher never told) takes its names from here."""
    models = ReadyModels()
    assert models.known() is None  # nothing listed yet: unknown, not "none"
    models.replace("model", [model("a", "Ready"), model("b", "ModelLoading")], "10")
    assert models.known() == [("ns", "a"), ("ns", "b")]
    models.observe(model("a", "Ready", "11", deletionTimestamp="2026-12-07T00:00:00Z"))
    assert models.known() == [("ns", "a"), ("ns", "b")]  # being deleted: still reconciled (it may wait to be released)
    models.observe(model("a", "Ready", "12"), deleted=True)
    models.observe(model("c", "Pending", "13"))
    assert models.known() == [("ns", "b"), ("ns", "c")]
