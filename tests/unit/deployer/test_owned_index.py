"""The index of owned objects: by application, newest version wins, deletions and relists, and whether it has
caught up with a given change."""

from __future__ import annotations

from typing import Any

import pytest

from arks_deployer.core.owned_index import (
    OwnedIndex,
    application_to_restore,
    missing_objects,
    newer_or_same,
)
from arks_deployer.owned_cache import OwnedCache


def obj(kind: str, name: str, rv: str, app: str | None = "a", ns: str = "ns", **extra: Any) -> dict[str, Any]:
    labels = {"arks.ai/application": app} if app else {}
    meta = {"name": name, "namespace": ns, "resourceVersion": rv, "labels": labels, "managedFields": [{"m": 1}]}
    return {"kind": kind, "metadata": meta, **extra}


def names(index: OwnedIndex, app: str = "a", ns: str = "ns") -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in index.owned(ns, app)]


def test_objects_are_found_by_their_application_and_namespace() -> None:
    index = OwnedIndex()
    index.replace("LeaderWorkerSet", [obj("LeaderWorkerSet", "a", "5"), obj("LeaderWorkerSet", "b", "6", app="b")], "9")
    index.replace("Service", [obj("Service", "arks-application-a", "7")], "9")
    index.observe(obj("Service", "arks-application-a", "8", ns="other"))
    assert names(index) == ["LeaderWorkerSet/a", "Service/arks-application-a"]
    assert names(index, "b") == ["LeaderWorkerSet/b"]
    assert names(index, ns="other") == ["Service/arks-application-a"]
    assert "managedFields" not in index.owned("ns", "a")[0]["metadata"]


def test_the_index_keeps_what_the_reconcile_reads_and_not_the_templates() -> None:
    index = OwnedIndex()
    spec = {"replicas": 3, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {"containers": []}}}}
    status = {
        "readyReplicas": 2,
        "observedGeneration": 4,  # the spec the counts describe (`RoleObserved.seen_by_its_controller`)
        "conditions": [{"type": "Available", "status": "True", "message": "x" * 500}],
    }
    lws = obj("LeaderWorkerSet", "a", "5", apiVersion="v1x", spec=spec, status=status)
    lws["metadata"]["annotations"] = {"arks.ai/plan-hash": "h1", "kubectl.kubernetes.io/last-applied": "{...}"}
    index.observe(lws)
    index.observe(obj("Service", "arks-application-a", "6", spec={"ports": [{"port": 8080}]}))
    kept, service = index.owned("ns", "a")
    assert kept == {
        "apiVersion": "v1x",
        "kind": "LeaderWorkerSet",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "resourceVersion": "5",
            "labels": {"arks.ai/application": "a"},
            "annotations": {"arks.ai/plan-hash": "h1"},
        },
        "spec": {"replicas": 3},
        "status": {"readyReplicas": 2, "observedGeneration": 4},
    }
    assert "spec" not in service


def test_an_older_version_never_replaces_a_newer_one() -> None:
    index = OwnedIndex()
    index.observe(obj("LeaderWorkerSet", "a", "10", status={"readyReplicas": 1}))
    index.observe(obj("LeaderWorkerSet", "a", "9", status={"readyReplicas": 0}))
    assert index.owned("ns", "a")[0]["status"] == {"readyReplicas": 1}


def test_a_deletion_removes_the_object_and_a_late_older_event_does_not_bring_it_back() -> None:
    index = OwnedIndex()
    index.observe(obj("LeaderWorkerSet", "a", "10"))
    index.observe(obj("LeaderWorkerSet", "a", "11"), deleted=True)
    index.observe(obj("LeaderWorkerSet", "a", "10"))
    assert names(index) == []
    assert index.has_seen("LeaderWorkerSet", "ns", "a", "11")


def test_a_relabelled_object_moves_to_its_new_application_and_an_unlabelled_one_is_not_owned() -> None:
    index = OwnedIndex()
    index.observe(obj("Service", "s", "1", app="a"))
    index.observe(obj("Service", "s", "2", app="b"))
    assert names(index) == []
    assert names(index, "b") == ["Service/s"]
    index.observe(obj("Service", "s", "3", app=None))
    assert names(index, "b") == []
    assert len(index) == 0


def test_a_relist_is_the_truth_for_its_kind_only() -> None:
    index = OwnedIndex()
    index.observe(obj("LeaderWorkerSet", "gone", "3"))
    index.observe(obj("Service", "arks-application-a", "4"))
    index.replace("LeaderWorkerSet", [obj("LeaderWorkerSet", "a", "5")], "6")
    assert names(index) == ["LeaderWorkerSet/a", "Service/arks-application-a"]
    assert not index.listed({"LeaderWorkerSet", "Service"})
    index.replace("Service", [], "7")
    assert index.listed({"LeaderWorkerSet", "Service"})
    assert names(index) == ["LeaderWorkerSet/a"]


def test_caught_up_means_the_version_or_a_newer_one_was_seen() -> None:
    index = OwnedIndex()
    assert not index.has_seen("LeaderWorkerSet", "ns", "a", "5")
    index.observe(obj("LeaderWorkerSet", "a", "7"))
    assert index.has_seen("LeaderWorkerSet", "ns", "a", "5")
    assert index.has_seen("LeaderWorkerSet", "ns", "a", "7")
    assert not index.has_seen("LeaderWorkerSet", "ns", "a", "8")


def test_versions_compare_as_numbers_only_when_both_are() -> None:
    assert newer_or_same("10", "9")
    assert not newer_or_same("9", "10")
    assert newer_or_same("abc", "abc")
    assert not newer_or_same("abd", "abc")


def test_a_reader_gets_its_own_copy_and_cannot_change_the_index() -> None:
    index = OwnedIndex()
    index.observe(obj("LeaderWorkerSet", "a", "5", spec={"replicas": 2}))
    first = index.owned("ns", "a")[0]
    first["spec"]["replicas"] = 7
    first["metadata"]["labels"].clear()
    assert index.owned("ns", "a")[0]["spec"] == {"replicas": 2}
    assert names(index) == ["LeaderWorkerSet/a"]


def _owned(kind: str, name: str, rv: str, app: str = "a") -> dict[str, Any]:
    out = obj(kind, name, rv, app)
    out["metadata"]["ownerReferences"] = [{"kind": "ArksApplication", "name": app, "uid": "u", "controller": True}]
    return out


def test_a_deleted_owned_object_names_its_application_for_a_reconcile() -> None:
    """A Service or a PD router's RoleBinding deleted by hand came back only at the application's next change (the
    watcher follows LeaderWorkerSets alone), and a LeaderWorkerSet deleted while the watcher was down never (its
    deletion's event never came). The cache's watch tells the deployer of each (its application)."""
    told: list[tuple[str, str]] = []
    cache = OwnedCache(None, {}, 60, 30.0, lambda ns, app: told.append((ns, app)))  # type: ignore[arg-type]
    fed = cache._fed
    for kind in ("Service", "ServiceAccount", "Role", "RoleBinding"):
        fed.observe(_owned(kind, "a-router", "5"))
        fed.observe(_owned(kind, "a-router", "6"), deleted=True)
    fed.observe(_owned("LeaderWorkerSet", "a-prefill", "7"), deleted=True)  # the watcher's event may never say so
    fed.observe(obj("Service", "users-own", "8"), deleted=True)  # not the application's
    assert told == [("ns", "a")] * 5
    assert names(cache.index) == []
    assert application_to_restore(_owned("RoleBinding", "a-router", "9")) == "a"
    assert application_to_restore(_owned("LeaderWorkerSet", "a", "9")) == "a"
    assert application_to_restore(obj("LeaderWorkerSet", "b", "9", "b")) is None  # labelled, but no owner


def test_a_relist_tells_the_owned_objects_deleted_while_the_watch_was_away() -> None:
    """A watch that broke (an expired version, the API server restarted) relists: an owned object deleted meanwhile
    had no event, so only the relist's comparison with what the index held tells it (before: the application waited
    for its next change). The first list has nothing to compare, and an object still listed is no news."""
    told: list[tuple[str, str]] = []
    cache = OwnedCache(None, {}, 60, 30.0, lambda ns, app: told.append((ns, app)))  # type: ignore[arg-type]
    fed = cache._fed
    fed.replace("LeaderWorkerSet", [_owned("LeaderWorkerSet", "a", "5"), _owned("LeaderWorkerSet", "b", "6", "b")], "9")
    fed.replace("Service", [obj("Service", "users-own", "7")], "9")
    assert told == []
    fed.replace("LeaderWorkerSet", [_owned("LeaderWorkerSet", "b", "10", "b")], "12")
    fed.replace("Service", [], "12")  # not an application's: nothing to make again
    assert told == [("ns", "a")]
    assert names(cache.index, "b") == ["LeaderWorkerSet/b"]


def _app(
    phase: str, finalizers: tuple[str, ...] = ("arks.ai/cleanup",), pd: bool = False, **meta: Any
) -> dict[str, Any]:
    metadata = {"name": "a", "namespace": "ns", "finalizers": list(finalizers), **meta}
    spec: dict[str, Any] = {"prefill": {"replicas": 1}, "decode": {"replicas": 1}} if pd else {}
    return {"kind": "ArksApplication", "metadata": metadata, "spec": spec, "status": {"phase": phase}}


def _router_set(account: str | None) -> dict[str, Any]:
    pod = {"spec": {"containers": [], **({"serviceAccountName": account} if account else {})}}
    return _owned("LeaderWorkerSet", "a-router", "5") | {"spec": {"leaderWorkerTemplate": {"workerTemplate": pod}}}


AGGREGATED = [_owned("LeaderWorkerSet", "a", "5"), _owned("Service", "arks-application-a", "6")]
PD_PLAIN = [
    *(_owned("LeaderWorkerSet", f"a-{r}", "5") for r in ("prefill", "decode")),
    AGGREGATED[1],
    _router_set(None),
]
ACCOUNT = [_owned(kind, "a-router", "7") for kind in ("ServiceAccount", "Role", "RoleBinding")]
PD_ACCOUNT = [*PD_PLAIN[:3], _router_set("a-router"), *ACCOUNT]


def _named_router_account() -> dict[str, Any]:
    """A PD application whose user names the router's account `a-router` (the planner then plans none)."""
    app = _app("Running", pd=True)
    app["spec"]["router"] = {"instanceSpec": {"serviceAccountName": "a-router"}}
    return app


def _without(objects: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [o for o in objects if (o["kind"], o["metadata"]["name"]) != (kind, name)]


def _trimmed(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As the start-up look reads them: from the index."""
    index = OwnedIndex()
    for o in objects:
        index.observe(o)
    return index.owned("ns", "a")


@pytest.mark.parametrize(
    ("app", "owned", "missing"),
    [
        (_app("Running"), AGGREGATED, []),
        (_app("Running"), AGGREGATED[1:], ["LeaderWorkerSet a"]),
        (_app("Creating"), [], ["LeaderWorkerSet a", "Service arks-application-a"]),
        (_app("Running"), AGGREGATED[:1], ["Service arks-application-a"]),
        (_app("Running", pd=True), PD_PLAIN, []),
        (_app("Running", pd=True), _without(PD_PLAIN, "LeaderWorkerSet", "a-decode"), ["LeaderWorkerSet a-decode"]),
        (_app("Running", pd=True), _without(PD_PLAIN, "Service", "arks-application-a"), ["Service arks-application-a"]),
        (_app("Running", pd=True), PD_ACCOUNT, []),
        (_app("Running", pd=True), _without(PD_ACCOUNT, "RoleBinding", "a-router"), ["RoleBinding a-router"]),
        (
            _app("Running", pd=True),
            PD_ACCOUNT[:4],
            ["Role a-router", "RoleBinding a-router", "ServiceAccount a-router"],
        ),
        (_app("Running", pd=True), _without(PD_PLAIN, "LeaderWorkerSet", "a-router"), ["LeaderWorkerSet a-router"]),
        (
            _app("Running", pd=True),
            AGGREGATED,
            ["LeaderWorkerSet a-decode", "LeaderWorkerSet a-prefill", "LeaderWorkerSet a-router"],
        ),
        (_named_router_account(), PD_ACCOUNT[:4], []),
        (_app("Loading"), [], []),
        (_app("Failed"), [], []),
        (_app("Running", finalizers=()), [], []),
        (_app("Running", deletionTimestamp="2026-12-07T00:00:00Z"), [], []),
    ],
    ids=[
        "an aggregated application with its set and Service lacks nothing",
        "an aggregated application without its set lacks it",
        "a creating application with nothing lacks its set and Service",
        "an application without its Service lacks it",
        "a PD application with its three sets and Service lacks nothing",
        "a PD application without its decode set lacks it",
        "a PD application without its Service lacks it",
        "a PD router's account with its three objects lacks nothing",
        "a PD router's account without its RoleBinding lacks it",
        "a router set running as its account with the account gone lacks all three",
        "a PD application without its router set lacks it",
        "a spec edited to PD on an aggregated application's objects lacks the roles' sets (a harmless reconcile)",
        "a router running as the user's own account, named as Arks would name one, lacks no account of Arks'",
        "one held for its model (no set yet) is not looked at",
        "one refused (its status says why) is not looked at",
        "one never brought up by a deployer is not looked at",
        "one being deleted is not looked at",
    ],
)
def test_what_an_application_brought_up_lacks_at_start(
    app: dict[str, Any], owned: list[dict[str, Any]], missing: list[str]
) -> None:
    """Objects deleted while neither the watcher nor the deployer ran: no event and no relist tells it, so at start
    an application the deployer brought up (its finalizer, phase Creating or Running) that lacks what its spec (the
    roles' sets, its Service) or its router set (the account its pods run as) calls for is reconciled; read from the
    index, as the look reads it."""
    assert missing_objects(app, _trimmed(owned)) == missing


def test_the_index_keeps_the_account_a_sets_pods_run_as() -> None:
    """The start-up look needs it to know a PD router's account is planned; nothing else of the templates."""
    kept = _trimmed([_router_set("a-router")])[0]
    assert kept["spec"] == {"leaderWorkerTemplate": {"workerTemplate": {"spec": {"serviceAccountName": "a-router"}}}}
    assert "spec" not in _trimmed([_router_set(None)])[0]


def test_a_relist_keeps_and_tells_nothing_of_an_object_written_after_its_snapshot() -> None:
    """A relist of many pages takes a while; an object this replica wrote meanwhile (its write's answer, rv 120) is
    newer than the list's copy (rv 110) or than the snapshot that lacks it (a create): it stays in the index as the
    answer gave it, and it is not told gone (before: dropped, and a false restore reconciled its application)."""
    told: list[tuple[str, str]] = []
    cache = OwnedCache(None, {}, 60, 30.0, lambda ns, app: told.append((ns, app)))  # type: ignore[arg-type]
    fed = cache._fed
    fed.replace("LeaderWorkerSet", [_owned("LeaderWorkerSet", "a", "100")], "100")
    fed.observe(_owned("LeaderWorkerSet", "a", "120"))  # scaled while the relist's pages came
    fed.observe(_owned("LeaderWorkerSet", "b", "121", "b"))  # created after the relist's snapshot
    fed.replace("LeaderWorkerSet", [_owned("LeaderWorkerSet", "a", "110")], "115")
    assert told == []
    assert [o["metadata"]["resourceVersion"] for o in cache.index.owned("ns", "a")] == ["120"]
    assert names(cache.index, "b") == ["LeaderWorkerSet/b"]
