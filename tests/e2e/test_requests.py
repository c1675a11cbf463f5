"""What an application's events cost the API server: the planner and the model-loader judge the copy an event
carries, and an event from before their own write (its copy shows no condition yet) costs no request at all; the
deployer puts its finalizer on a new application without reading it first, and a copy older than a deletion is
found out by the API server's refusal, never by creating the application anew.

The services run as usual; each test drives a second instance of one service's handler over the real client,
counting the requests it sends (bench/controlplane/requests.py counts the whole stack's)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import nats
import pytest

from arks_common.bus.consumer import Later
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import MODELS, Resource
from arks_deployer.reconcile import Reconciler
from arks_model_loader.core.ready_models import ReadyModels
from arks_model_loader.gate import LoadedGate
from arks_planner.core.profiles import load_profiles
from arks_planner.planning import Planner
from support.builders import rwx_model, small_app
from support.e2e import Env, event_copy, wait_until

pytestmark = pytest.mark.cluster


class CountingKube(Kube):
    """The real client, counting each request by verb and resource."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sent: Counter[str] = Counter()
        self.order: list[str] = []
        self.answers: list[dict[str, Any]] = []  # what each apply of an application answered, in order

    def _count(self, request: str) -> None:
        self.sent[request] += 1
        self.order.append(request)

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        self._count(f"get {res.plural}")
        return await super().get(res, namespace, name)

    async def apply_status(
        self, res: Resource, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        self._count(f"apply {res.plural}/status")
        answer = await super().apply_status(res, namespace, name, status, resource_version)
        self.answers.append(answer)
        return answer

    async def apply(self, res: Resource, obj: dict[str, Any], force: bool = True) -> dict[str, Any]:
        self._count(f"apply {res.plural}")
        answer = await super().apply(res, obj, force)
        if res.plural == "arksapplications":
            self.answers.append(answer)
        return answer

    async def list(self, res: Resource, *args: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], str]:
        self._count(f"list {res.plural}")
        return await super().list(res, *args, **kwargs)


def _created_copy(arks: Env, ns: str, name: str) -> dict[str, Any]:
    """The application as its creation event carried it: no condition yet."""
    arks.apply(ns, small_app(name))
    return event_copy(arks, ns, name)


def _deployer_requests(arks: Env, ns: str, name: str, copy: dict[str, Any]) -> list[str]:
    """A second deployer reconciles `name` from `copy` (as an event carried it); the requests it sent, in order.
    A brand-new application's waiting phase is held back (`Later`, its finalizer's write left in flight): the
    message comes back when the grace is over, as the consumer sends it back, and is reconciled once more."""

    async def run() -> list[str]:
        nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
        kube = CountingKube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-deployer")
        try:
            reconciler = Reconciler(kube, nc.jetstream(), EventRecorder(kube, "deployer"))
            try:
                await reconciler.reconcile(ns, name, app=copy)
            except Later as later:
                await asyncio.sleep(later.delay_seconds)  # the consumer's delay, not a wait for a condition
                with contextlib.suppress(Later):
                    await reconciler.reconcile(ns, name, app=copy)
            return kube.order
        finally:
            await kube.close()
            await nc.close()

    # the reads of its owned objects (lists: this instance has no watch cache) are not what these tests look at
    return [r for r in asyncio.run(run()) if r != "get events" and not r.startswith("list ")]


def test_the_planner_judges_the_events_copy_and_an_event_from_before_its_write_costs_nothing(
    arks: Env, ns: str
) -> None:
    arks.ready_model(ns, rwx_model())
    created = _created_copy(arks, ns, "judged")

    async def run() -> tuple[Counter[str], Counter[str]]:
        nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
        kube = CountingKube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-planner")
        try:
            planner = Planner(kube, nc.jetstream(), load_profiles(None, "default"), EventRecorder(kube, "planner"))
            uid = created["metadata"]["uid"]
            await planner.application_changed(ns, "judged", uid, created)
            first = Counter(kube.sent)
            kube.sent.clear()
            await planner.application_changed(ns, "judged", uid, created)  # an echo from before the write
            return first, Counter(kube.sent)
        finally:
            await kube.close()
            await nc.close()

    first, echo = asyncio.run(run())
    assert first["get arksapplications"] == 0, f"the event's copy was read again: {dict(first)}"
    assert echo == Counter(), f"an event from before the Precheck write cost requests: {dict(echo)}"
    arks.wait_phase("judged", ns, "Running")


def test_the_loaded_gate_judges_the_events_copy_and_an_event_from_before_its_write_costs_nothing(
    arks: Env, ns: str
) -> None:
    arks.ready_model(ns, rwx_model())
    created = _created_copy(arks, ns, "gated")
    wait_until(
        lambda: any(
            c.get("type") == "Loaded"
            for c in (arks.get("arksapplication", "gated", ns) or {}).get("status", {}).get("conditions", [])
        ),
        60,
        "the running model-loader's Loaded condition",
    )

    async def run() -> tuple[Counter[str], Counter[str]]:
        kube = CountingKube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-model-loader")
        try:
            gate = LoadedGate(kube, EventRecorder(kube, "model-loader"))
            await gate.application_changed(ns, "gated", created)
            first = Counter(kube.sent)
            kube.sent.clear()
            await gate.application_changed(ns, "gated", created)  # an echo from before the write
            return first, Counter(kube.sent)
        finally:
            await kube.close()

    first, echo = asyncio.run(run())
    assert first["get arksapplications"] == 0, f"the event's copy was read again: {dict(first)}"
    assert echo == Counter(), f"an event from before the Loaded write cost requests: {dict(echo)}"


def test_the_loaded_gate_takes_a_new_applications_model_from_its_watch_of_ready_models(arks: Env, ns: str) -> None:
    model = rwx_model()
    arks.ready_model(ns, model)
    created = _created_copy(arks, ns, "watched")

    async def run() -> list[str]:
        kube = CountingKube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-model-loader")
        stop = asyncio.Event()
        ready = ReadyModels()
        watching = asyncio.create_task(mirror(kube, "model", MODELS, ready, stop, 60, 300.0))
        try:
            deadline = time.monotonic() + 30
            while ready.get(ns, model["metadata"]["name"]) is None:
                assert time.monotonic() < deadline, "the watch never showed the Ready model"
                await asyncio.sleep(0.05)
            kube.order.clear()
            gate = LoadedGate(kube, EventRecorder(kube, "model-loader"), ready_models=ready)
            await gate.application_changed(ns, "watched", created)
            return kube.order
        finally:
            stop.set()
            await watching
            await kube.close()

    sent = [r for r in asyncio.run(run()) if r != "get events"]  # the Event recorder's own look
    # judged from the watch, written, then the one second look at the model that every write is followed by
    assert sent == ["apply arksapplications/status", "get arksmodels"], f"requests in order: {sent}"
    arks.wait_phase("watched", ns, "Running")


def test_the_deployer_puts_its_finalizer_on_a_new_application_without_reading_it_first(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    created = _created_copy(arks, ns, "fresh")
    sent = _deployer_requests(arks, ns, "fresh", created)
    assert sent[0] == "apply arksapplications", f"requests in order: {sent}"
    assert "get arksapplications" not in sent, f"the event's copy was read again: {sent}"
    arks.wait_phase("fresh", ns, "Running")


def test_the_echo_of_the_deployers_own_write_wakes_no_reconcile(arks: Env, ns: str) -> None:
    """The deployer (alone: the running one is stopped) acts on the application once the planner and the
    model-loader have written their conditions; the version its last write made differs by its own writes only, so
    that version's event wakes nothing. A second delivery of it is acted on."""
    arks.ready_model(ns, rwx_model())
    arks.system["deployer"].stop()
    try:
        arks.apply(ns, small_app("echoed"))
        wait_until(
            lambda: (
                {"Precheck", "Loaded"}
                <= {
                    c.get("type")
                    for c in ((arks.get("arksapplication", "echoed", ns) or {}).get("status") or {}).get(
                        "conditions", []
                    )
                }
            ),
            60,
            "the planner's and the model-loader's conditions",
        )
        current = arks.get("arksapplication", "echoed", ns) or {}
        current["metadata"].pop("managedFields", None)

        async def run() -> tuple[list[str], list[str]]:
            nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
            kube = CountingKube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-deployer")
            try:
                reconciler = Reconciler(kube, nc.jetstream(), EventRecorder(kube, "deployer"))
                with contextlib.suppress(Later):  # a brand-new application's waiting phase held back
                    await reconciler.reconcile(ns, "echoed", app=current)
                echo = kube.answers[-1]  # the application as this reconcile's last write of it left it
                kube.order.clear()
                await reconciler.reconcile(ns, "echoed", app=echo)
                skipped = list(kube.order)
                kube.order.clear()
                with contextlib.suppress(Later):  # the same version once more is no echo: a redelivery is acted on
                    await reconciler.reconcile(ns, "echoed", app=echo)
                return skipped, [r for r in kube.order if r != "get events"]
            finally:
                await kube.close()
                await nc.close()

        skipped, again = asyncio.run(run())
    finally:
        arks.system["deployer"].start()
    assert skipped == [], f"the echo of the deployer's own write woke a reconcile: {skipped}"
    assert again, "a second delivery of that version reconciled nothing"
    arks.wait_phase("echoed", ns, "Running")


def test_an_answer_that_carries_another_writers_change_is_news_not_an_echo(arks: Env, ns: str) -> None:
    """The deployer acts on a copy from before the model-loader's `Loaded` write; its finalizer's apply answers a
    version that holds that write too. Its event may be the only one to tell of it (a watcher that relisted
    publishes the newest version only), so it is acted on, not dropped as an echo."""
    arks.ready_model(ns, rwx_model())
    created = _created_copy(arks, ns, "overtaken")
    arks.wait_phase("overtaken", ns, "Running")  # Loaded, Precheck and the running deployer's status written since

    async def run() -> list[str]:
        nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
        kube = CountingKube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-deployer")
        try:
            reconciler = Reconciler(kube, nc.jetstream(), EventRecorder(kube, "deployer"))
            with contextlib.suppress(Later):
                await reconciler.reconcile(ns, "overtaken", app=created)
            answer = kube.answers[0]  # the finalizer's apply: the newest version, with the others' writes
            kube.order.clear()
            with contextlib.suppress(Later):
                await reconciler.reconcile(ns, "overtaken", app=answer)
            return list(kube.order)
        finally:
            await kube.close()
            await nc.close()

    assert asyncio.run(run()), "the version that holds another writer's change was dropped as an echo"


def test_a_copy_from_before_the_finalizer_and_a_spec_change_is_read_again_not_acted_on(arks: Env, ns: str) -> None:
    """A redelivered event's copy from before the finalizer, on a replica that holds no newer copy: the finalizer's
    apply changes nothing and succeeds, but its answer shows a newer generation, so the copy is not acted on (its
    old spec would be applied) and the application is read again."""
    arks.ready_model(ns, rwx_model())
    created = _created_copy(arks, ns, "redelivered")
    arks.wait_phase("redelivered", ns, "Running")
    arks.apply(ns, small_app("redelivered", replicas=2))
    sent = _deployer_requests(arks, ns, "redelivered", created)
    assert sent[:2] == ["apply arksapplications", "get arksapplications"], f"requests in order: {sent}"
    lws = arks.get("leaderworkerset", "redelivered", ns) or {}
    assert (lws.get("spec") or {}).get("replicas") == 2, "the old copy's spec was applied"


@pytest.mark.parametrize("shown", ["", "Running"], ids=["a new copy", "a copy with a status"])
def test_a_copy_older_than_the_deletion_is_refused_and_read_again_never_created_anew(
    arks: Env, ns: str, shown: str
) -> None:
    arks.ready_model(ns, rwx_model())
    stale = _created_copy(arks, ns, "gone")
    if shown:  # no waiting phase held back: a status would be written, but only once the finalizer's answer is in
        stale["status"] = {"phase": shown}
    arks.kubectl("delete", "arksapplication", "gone", "-n", ns, "--wait=true", "--timeout=60s")
    # the finalizer's apply on the old copy is refused (spec is required: it would create the application); the
    # reconcile then reads the application, finds nothing and stops, without an error
    sent = _deployer_requests(arks, ns, "gone", stale)
    # a new copy's phase is held back before the refusal is in: its come-back applies once more, then reads
    expected = ["apply arksapplications", "get arksapplications"]
    if not shown:
        expected = ["apply arksapplications", *expected]
    assert sent == expected, f"requests in order: {sent}"
    assert arks.get("arksapplication", "gone", ns) is None
