"""The deployer's index of applications with a pod being deleted, fed by its watch of their pods."""

from __future__ import annotations

from typing import Any

from arks_deployer.core.terminating import TerminatingPods, trim_pod


def pod(name: str, app: str | None = "a", ns: str = "ns", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": "u", "managedFields": [{"x": "y" * 100}]}
    if app is not None:
        meta["labels"] = {"arks.ai/application": app, "other": "z"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-07T10:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}}


def test_an_application_is_told_when_a_pod_of_it_starts_terminating_and_when_it_no_longer_has_one() -> None:
    told: list[tuple[str, str]] = []
    index = TerminatingPods(lambda ns, app: told.append((ns, app)))
    index.replace("Pod", [trim_pod(pod("a-0")), trim_pod(pod("a-0-1")), trim_pod(pod("b-0", app="b"))], "1")
    assert told == []
    assert not index.any("ns", "a")
    index.observe(pod("a-0", deleting=True))
    index.observe(pod("a-0", deleting=True))  # its status moves while it terminates: not news again
    index.observe(pod("a-0-1", deleting=True))  # another pod (another group's, maybe): news again
    assert told == [("ns", "a"), ("ns", "a")]
    assert index.any("ns", "a")
    assert not index.any("ns", "b")
    index.observe(pod("a-0", deleting=True), deleted=True)
    assert index.any("ns", "a")
    index.observe(pod("a-0-1", deleting=True), deleted=True)  # the last one gone: news (the status may say it)
    assert told == [("ns", "a")] * 3
    assert not index.any("ns", "a")
    index.observe(pod("a-0"))  # made again by its StatefulSet
    index.observe(pod("a-0"), deleted=True)  # a pod gone that never terminated here: not news
    assert told == [("ns", "a")] * 3


def test_a_relist_tells_what_turned_while_the_watch_was_away() -> None:
    told: list[tuple[str, str]] = []
    index = TerminatingPods(lambda ns, app: told.append((ns, app)))
    index.replace("Pod", [trim_pod(pod("a-0", deleting=True))], "1")
    assert told == [("ns", "a")]
    index.replace("Pod", [trim_pod(pod("a-0", deleting=True)), trim_pod(pod("b-0", app="b", deleting=True))], "2")
    assert told == [("ns", "a"), ("ns", "b")]  # a-0 was known already
    index.replace("Pod", [trim_pod(pod("b-0", app="b", deleting=True))], "3")
    assert told == [("ns", "a"), ("ns", "b"), ("ns", "a")]  # a's pod went meanwhile
    assert not index.any("ns", "a")


def test_pods_without_the_label_or_a_name_are_left_alone_and_a_listed_pod_is_trimmed() -> None:
    index = TerminatingPods()
    index.observe(pod("x-0", app=None, deleting=True))
    index.observe({"metadata": {"labels": {"arks.ai/application": "a"}, "deletionTimestamp": "t"}})
    index.observe({"metadata": {"name": 5, "namespace": "ns", "labels": {"arks.ai/application": ["a"]}}})
    assert not index.any("ns", "x")
    assert not index.any("ns", "a")
    assert trim_pod(pod("a-0")) == {}  # not terminating: nothing kept of it
    assert trim_pod(pod("a-0", deleting=True)) == {
        "metadata": {
            "namespace": "ns",
            "name": "a-0",
            "deletionTimestamp": "2026-12-07T10:00:00Z",
            "labels": {"arks.ai/application": "a"},
        }
    }
