"""The newest copy of an object a consumer keeps instead of a GET per reconcile (arks_common.kube.newest)."""

from __future__ import annotations

from typing import Any

from arks_common.kube.decoding import stub
from arks_common.kube.newest import NewestCopies, version_of

KEY = ("ns", "app")


def obj(version: str, replicas: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "app", "namespace": "ns", "resourceVersion": version}, "spec": {"replicas": replicas}}


def test_an_older_copy_never_replaces_a_newer_one() -> None:
    copies = NewestCopies()
    copies.offer(KEY, obj("20", 3), epoch=0)
    copies.offer(KEY, obj("9", 1), epoch=0)  # an event in flight from before our own write: older
    got = copies.get(KEY, epoch=0)
    assert got is not None
    assert got["spec"]["replicas"] == 3
    copies.offer(KEY, obj("21", 5), epoch=0)
    got = copies.get(KEY, epoch=0)
    assert got is not None
    assert got["spec"]["replicas"] == 5


def test_versions_compare_as_numbers_not_text() -> None:
    copies = NewestCopies()
    copies.offer(KEY, obj("100", 2), epoch=0)
    copies.offer(KEY, obj("99", 1), epoch=0)  # "99" > "100" as text
    got = copies.get(KEY, epoch=0)
    assert got is not None
    assert got["spec"]["replicas"] == 2


def test_a_copy_from_before_a_partition_take_over_is_not_used() -> None:
    copies = NewestCopies()
    copies.offer(KEY, obj("20"), epoch=1)
    assert copies.get(KEY, epoch=2) is None
    copies.offer(KEY, obj("15"), epoch=2)  # what a GET answers after the take-over replaces it
    got = copies.get(KEY, epoch=2)
    assert got is not None
    assert got["metadata"]["resourceVersion"] == "15"


def test_a_copy_that_cannot_be_compared_drops_the_one_held() -> None:
    copies = NewestCopies()
    copies.offer(KEY, obj("20"), epoch=0)
    copies.offer(KEY, obj("not-a-number"), epoch=0)
    assert copies.get(KEY, epoch=0) is None
    copies.offer(KEY, obj("20"), epoch=0)
    copies.offer(KEY, stub(obj("30"), "too deep"), epoch=0)
    assert copies.get(KEY, epoch=0) is None
    assert version_of({"metadata": {}}) is None


def test_the_least_recently_used_copy_goes_first() -> None:
    copies = NewestCopies(limit=2)
    copies.offer(("ns", "a"), obj("1"), epoch=0)
    copies.offer(("ns", "b"), obj("2"), epoch=0)
    assert copies.get(("ns", "a"), epoch=0) is not None
    copies.offer(("ns", "c"), obj("3"), epoch=0)
    assert copies.get(("ns", "b"), epoch=0) is None
    assert copies.get(("ns", "a"), epoch=0) is not None
    assert len(copies) == 2


def test_huge_specs_are_not_kept_and_all_copies_stay_within_the_byte_budget() -> None:
    copies = NewestCopies(limit=1000, budget_bytes=50_000, max_copy_bytes=20_000)
    huge = obj("5") | {"spec": {"blob": "x" * 30_000}}
    copies.offer(KEY, obj("4"), epoch=0)
    copies.offer(KEY, huge, epoch=0)  # newer, too large to keep: the older copy must not stand in for it
    assert copies.get(KEY, epoch=0) is None
    for i in range(100):
        copies.offer(("ns", f"app-{i}"), obj(str(10 + i)) | {"spec": {"blob": "y" * 5_000}}, epoch=0)
    assert copies.bytes <= 50_000
    assert 0 < len(copies) < 100
    assert copies.get(("ns", "app-99"), epoch=0) is not None  # the newest stay, the least recently used go
    assert copies.get(("ns", "app-0"), epoch=0) is None
    before = copies.bytes
    copies.forget(("ns", "app-99"))
    assert copies.bytes < before


def test_a_copy_is_kept_without_managed_fields_or_kubectls_last_applied_spec() -> None:
    copies = NewestCopies()
    answer = obj("7")
    answer["metadata"] |= {
        "managedFields": [{"manager": "arks-deployer", "fieldsV1": {"f:spec": {}}}],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "a"},
    }
    copies.offer(KEY, answer, epoch=0)
    got = copies.get(KEY, epoch=0)
    assert got is not None
    assert "managedFields" not in got["metadata"]
    assert got["metadata"]["annotations"] == {"team": "a"}
    assert "managedFields" in answer["metadata"]  # the caller's object is left as it was
