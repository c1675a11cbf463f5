"""Two planner replicas racing over one application, on the real API server and NATS: the replica that judged an
older generation writes its refusal's `Precheck` condition before publishing (a `Failed` phase must never show
without its reason), and when a replica planned a newer generation meanwhile (its publish loses the compare-and-set,
or it finds its own verdict published and the subject moved since), it puts that newer verdict back over the
condition it wrote; so does a replica whose passing verdict for an older generation lands after a newer refusal.
The interleaving is made deterministic by running the second
replica inside the first one's condition write."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext

from arks_common.api.application import ConditionType
from arks_common.bus.plans import newest_plan
from arks_common.events.payloads import PrecheckResult
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_planner.core.profiles import load_profiles
from arks_planner.planning import Planner
from support.builders import rwx_model, small_app
from support.e2e import Env, event_copy

pytestmark = pytest.mark.cluster


def _precheck(arks: Env, ns: str, name: str) -> tuple[str, str, int]:
    app = arks.get("arksapplication", name, ns) or {}
    for cond in (app.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ConditionType.PRECHECK.value:
            return cond["status"], cond["reason"], int(cond.get("observedGeneration", 0))
    return "", "", 0


class _Slow(Planner):
    """A replica that lets `meanwhile` (another replica's whole work) run just before (or just after) its first
    refusal write."""

    def __init__(
        self, *args: Any, meanwhile: Any, after: bool = False, forced: bool = False, passing: bool = False
    ) -> None:
        super().__init__(*args)
        self._meanwhile = meanwhile
        self._after = after
        self._forced = forced  # the hook waits for the forced write (after the publish) instead of the first one
        self._passing = passing  # the hook waits for the write of a passing verdict instead of a refusal

    async def _write_precheck(
        self, app: dict[str, Any], result: PrecheckResult, generation: int, warning: str | None, force: bool = False
    ) -> bool:
        meanwhile = self._meanwhile if result.passed == self._passing and force == self._forced else None
        if meanwhile is not None:
            self._meanwhile = None
        if meanwhile is not None and not self._after:
            await meanwhile()
        sent = await super()._write_precheck(app, result, generation, warning, force)
        if meanwhile is not None and self._after:
            await meanwhile()
        return sent


@contextlib.asynccontextmanager
async def _two_replicas(arks: Env) -> AsyncIterator[tuple[JetStreamContext, Planner, Callable[..., _Slow]]]:
    """A plain planner replica, and a factory of the slow one, on their own clients (the service is stopped)."""
    nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
    kubes = [Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-planner") for _ in range(2)]
    profiles = load_profiles(None, "default")
    plain = Planner(kubes[1], nc.jetstream(), profiles, EventRecorder(kubes[1], "planner"))

    def slow(**hook: Any) -> _Slow:
        return _Slow(kubes[0], nc.jetstream(), profiles, EventRecorder(kubes[0], "planner"), **hook)

    try:
        yield nc.jetstream(), plain, slow
    finally:
        for kube in kubes:
            await kube.close()
        await nc.close()


@contextlib.contextmanager
def _planner_away(arks: Env) -> Iterator[None]:
    arks.system["planner"].stop()  # the two replicas of a test are the only planners
    try:
        yield
    finally:
        arks.system["planner"].start()


async def _planned(js: JetStreamContext, ns: str, name: str) -> tuple[int, bool]:
    _, plan = await newest_plan(js, ns, name)
    assert plan is not None
    return plan.generation, plan.precheck.passed


@pytest.mark.parametrize("older_published", [False, True], ids=["loses the publish", "finds its verdict published"])
def test_a_replica_that_judged_an_older_generation_puts_the_newer_verdict_back(
    arks: Env, ns: str, older_published: bool
) -> None:
    """`loses the publish`: generation 1 was never planned, so the slow replica publishes and loses the
    compare-and-set to the other's generation 2. `finds its verdict published`: the other replica planned generation
    1 first, so the slow one finds its own verdict already published, and must still see that generation 2 came
    since its pre-write."""
    arks.ready_model(ns, rwx_model())
    with _planner_away(arks):
        arks.apply(ns, small_app("raced", model="no-such-model"))
        older = event_copy(arks, ns, "raced")
        assert older["metadata"]["generation"] == 1

        async def run() -> None:
            async with _two_replicas(arks) as (js, newer_replica, slow):

                async def meanwhile() -> None:
                    # the spec is fixed, and the other replica plans generation 2 and writes its verdict first
                    arks.apply(ns, small_app("raced", model="qwen-7b"))
                    newer = await asyncio.to_thread(event_copy, arks, ns, "raced")
                    assert newer["metadata"]["generation"] == 2
                    await newer_replica.application_changed(ns, "raced", newer["metadata"]["uid"], newer)
                    assert await asyncio.to_thread(_precheck, arks, ns, "raced") == ("True", "PrecheckPass", 2)

                if older_published:
                    await newer_replica.application_changed(ns, "raced", older["metadata"]["uid"], older)
                    assert await _planned(js, ns, "raced") == (1, False)
                await slow(meanwhile=meanwhile).application_changed(ns, "raced", older["metadata"]["uid"], older)
                assert await _planned(js, ns, "raced") == (2, True)

        asyncio.run(run())
        # the slow replica wrote generation 1's refusal over generation 2's verdict, and put generation 2's back
        assert _precheck(arks, ns, "raced") == ("True", "PrecheckPass", 2)
    arks.wait_phase("raced", ns, "Running")


def test_a_refusal_written_over_by_an_older_generation_is_written_again_after_the_publish(arks: Env, ns: str) -> None:
    """The newer generation's replica writes its refusal, an older generation's replica writes its own over it and
    publishes first; the newer one loses the compare-and-set, publishes after it, and must write its condition
    again although it remembers writing it."""
    arks.ready_model(ns, rwx_model())
    with _planner_away(arks):
        arks.apply(ns, small_app("overwritten", model="no-such-model"))
        older = event_copy(arks, ns, "overwritten")
        arks.apply(ns, small_app("overwritten", model="also-missing"))
        newer = event_copy(arks, ns, "overwritten")
        assert (older["metadata"]["generation"], newer["metadata"]["generation"]) == (1, 2)

        async def run() -> None:
            async with _two_replicas(arks) as (js, older_replica, slow):

                async def meanwhile() -> None:
                    await older_replica.application_changed(ns, "overwritten", older["metadata"]["uid"], older)
                    assert (await asyncio.to_thread(_precheck, arks, ns, "overwritten"))[2] == 1

                replica = slow(meanwhile=meanwhile, after=True)
                await replica.application_changed(ns, "overwritten", newer["metadata"]["uid"], newer)
                assert await _planned(js, ns, "overwritten") == (2, False)

        asyncio.run(run())
        assert _precheck(arks, ns, "overwritten") == ("False", "ModelNotFound", 2)


def test_a_forced_write_never_stays_over_a_newer_generation(arks: Env, ns: str) -> None:
    """The replica that published generation 2's refusal writes its condition again (forced); if a replica
    planned generation 3 just before that write, the forced write must not stay over generation 3's verdict."""
    arks.ready_model(ns, rwx_model())
    with _planner_away(arks):
        arks.apply(ns, small_app("late", model="no-such-model"))
        arks.apply(ns, small_app("late", model="also-missing"))
        second = event_copy(arks, ns, "late")
        assert second["metadata"]["generation"] == 2

        async def run() -> None:
            async with _two_replicas(arks) as (js, other, slow):

                async def meanwhile() -> None:
                    arks.apply(ns, small_app("late", model="qwen-7b"))
                    third = await asyncio.to_thread(event_copy, arks, ns, "late")
                    await other.application_changed(ns, "late", third["metadata"]["uid"], third)
                    assert await asyncio.to_thread(_precheck, arks, ns, "late") == ("True", "PrecheckPass", 3)

                replica = slow(meanwhile=meanwhile, forced=True)
                await replica.application_changed(ns, "late", second["metadata"]["uid"], second)
                assert await _planned(js, ns, "late") == (3, True)

        asyncio.run(run())
        assert _precheck(arks, ns, "late") == ("True", "PrecheckPass", 3)
    arks.wait_phase("late", ns, "Running")


def test_a_late_passing_verdict_of_an_older_generation_gives_way_to_a_newer_refusal(arks: Env, ns: str) -> None:
    """A replica writes generation 1's passing condition after publishing it (no pre-write: a pass is published
    first); just before its write lands, another replica plans generation 2 (a refusal) and writes it. The late
    write must not stay: the plan says generation 2 is refused (the deployer shows Failed), so must the status."""
    arks.ready_model(ns, rwx_model())
    with _planner_away(arks):
        arks.apply(ns, small_app("overtaken", model="qwen-7b"))
        first = event_copy(arks, ns, "overtaken")
        assert first["metadata"]["generation"] == 1

        async def run() -> None:
            async with _two_replicas(arks) as (js, other, slow):

                async def meanwhile() -> None:
                    arks.apply(ns, small_app("overtaken", model="no-such-model"))
                    second = await asyncio.to_thread(event_copy, arks, ns, "overtaken")
                    assert second["metadata"]["generation"] == 2
                    await other.application_changed(ns, "overtaken", second["metadata"]["uid"], second)
                    assert await asyncio.to_thread(_precheck, arks, ns, "overtaken") == ("False", "ModelNotFound", 2)

                replica = slow(meanwhile=meanwhile, passing=True)
                await replica.application_changed(ns, "overtaken", first["metadata"]["uid"], first)
                assert await _planned(js, ns, "overtaken") == (2, False)

        asyncio.run(run())
        assert _precheck(arks, ns, "overtaken") == ("False", "ModelNotFound", 2)
    arks.wait_phase("overtaken", ns, "Failed")
