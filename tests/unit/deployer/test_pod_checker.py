"""The deployer's dry-run pod checks are asked once per pod and shared: a check started when the plan arrives is the
answer the gate's reconcile waits for, a caller that gives up leaves it running, and an answer is not reused for
long. The API server is a stand-in here (the e2e tests run the real one: tests/e2e/test_hostile.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from arks_common.kube.client import KubeError
from arks_deployer import pod_checker
from arks_deployer.core.pod_checks import PodCheck
from arks_deployer.pod_checker import PodChecker


class DryRuns:
    """Answers dry-run pod creates: each waits for `release`, then admits, or refuses a pod labelled `bad`."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.release = asyncio.Event()

    async def create(self, res: Any, namespace: str, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        assert dry_run
        self.asked.append(obj["metadata"]["generateName"])
        await self.release.wait()
        if obj["metadata"]["labels"].get("bad"):
            raise KubeError('Pod "x" is invalid: metadata.labels: Invalid value: "a b"', status=422)
        return obj


def _check(name: str, bad: bool = False) -> PodCheck:
    labels = {"bad": "yes"} if bad else {}
    return PodCheck(name, {"metadata": {"generateName": f"{name}-check-", "labels": labels}, "spec": {}}, True)


async def test_a_check_started_early_is_the_answer_the_apply_waits_for() -> None:
    kube = DryRuns()
    checker = PodChecker(kube)  # type: ignore[arg-type]
    checker.start("ns", [_check("app")])
    waiting = asyncio.create_task(checker.first_refusal("ns", [_check("app")]))
    await asyncio.sleep(0)
    kube.release.set()
    assert await waiting is None
    assert kube.asked == ["app-check-"]


async def test_a_refusal_is_told_and_a_caller_that_gives_up_leaves_the_shared_check_running() -> None:
    kube = DryRuns()
    checker = PodChecker(kube)  # type: ignore[arg-type]
    first = asyncio.create_task(checker.first_refusal("ns", [_check("ok"), _check("app", bad=True)]))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    kube.release.set()
    refused = await checker.first_refusal("ns", [_check("ok"), _check("app", bad=True)])
    assert refused is not None
    assert "LeaderWorkerSet app would be refused" in refused.message
    assert kube.asked == ["ok-check-", "app-check-"]


async def test_an_answer_stands_for_a_few_seconds_only() -> None:
    kube = DryRuns()
    kube.release.set()
    now = [1000.0]
    checker = PodChecker(kube, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await checker.first_refusal("ns", [_check("app")]) is None
    now[0] += pod_checker.REUSE_SECONDS / 2
    assert await checker.first_refusal("ns", [_check("app")]) is None
    assert await checker.first_refusal("other", [_check("app")]) is None  # another namespace is another pod
    now[0] += pod_checker.REUSE_SECONDS
    assert await checker.first_refusal("ns", [_check("app")]) is None
    assert kube.asked == ["app-check-", "app-check-", "app-check-"]
