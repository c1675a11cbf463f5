"""A relist republishes only what changed since the watcher last published it, and announces what vanished."""

from __future__ import annotations

from typing import Any

from arks_watcher.core.changes import is_news, key_of, remembered, vanished


def obj(name: str, rv: str, **spec: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": rv, "managedFields": [{"x": 1}]}
    return {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "metadata": meta, "spec": spec, "status": {}}


def known(*objs: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {key_of(o): remembered(o) for o in objs}


def changed(before: dict[tuple[str, str], dict[str, Any]], listed: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in listed if is_news(before.get(key_of(o)), o)]


def test_a_resync_of_unchanged_objects_publishes_nothing() -> None:
    listed = [obj("a", "5"), obj("b", "7")]
    assert changed(known(*listed), listed) == []
    assert vanished(known(*listed), {key_of(o) for o in listed}) == []


def test_new_and_changed_objects_are_published_and_vanished_ones_announced() -> None:
    before = known(obj("a", "5"), obj("b", "7"), obj("gone", "3"))
    listed = [obj("a", "5"), obj("b", "8"), obj("new", "9")]
    assert changed(before, listed) == ["b", "new"]
    [gone] = vanished(before, {key_of(o) for o in listed})
    assert gone["metadata"]["name"] == "gone"
    assert gone["metadata"]["uid"] == "u-gone"


def test_the_first_list_publishes_everything_and_an_object_without_version_always() -> None:
    listed = [obj("a", "5"), obj("b", "7")]
    assert changed({}, listed) == ["a", "b"]
    assert changed(known(obj("c", "")), [obj("c", "")]) == ["c"]


def test_what_is_remembered_is_identity_and_labels_not_spec_status_annotations_or_managed_fields() -> None:
    full = obj("a", "5", replicas=3)
    full["metadata"] |= {
        "labels": {"arks.ai/application": "a"},
        "ownerReferences": [{"uid": "u-app"}],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 10_000 + "}"},
    }
    kept = remembered(full)
    assert set(kept) == {"apiVersion", "kind", "metadata"}
    assert kept["metadata"] == {
        "name": "a",
        "namespace": "ns",
        "uid": "u-a",
        "resourceVersion": "5",
        "labels": {"arks.ai/application": "a"},
        "ownerReferences": [{"uid": "u-app"}],
    }
