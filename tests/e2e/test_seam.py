"""The plan -> deploy seam on the real system: the newest verdict always wins, desired state outlives the bus,
refusals reach the status, and one application may own several role-keyed LeaderWorkerSets."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import msgspec
import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from arks_common.bus.jetstream import publish
from arks_common.events.contract import ENDPOINT_PLANS, ENDPOINT_PLANS_STREAM, PLANS, PLANS_STREAM, Service
from arks_common.events.payloads import EndpointPlanReady, PlanReady, decode
from arks_common.kube.client import Kube, load_api_client
from arks_common.kube.events import EventRecorder
from arks_planner.core.endpoint import RouterSettings
from arks_planner.core.profiles import load_profiles
from arks_planner.endpoints import EndpointPlanner
from arks_planner.planning import Planner
from arks_planner.settings import PlannerSettings
from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until


def _conditions(app: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in app["status"]["conditions"]}


def _lws(arks: Env, ns: str, name: str) -> dict[str, Any]:
    return arks.get("leaderworkerset", name, ns) or {}


def _leader_args(lws: dict[str, Any]) -> list[str]:
    template = lws.get("spec", {}).get("leaderWorkerTemplate", {})
    pod = template.get("leaderTemplate") or template.get("workerTemplate") or {}
    container = (pod.get("spec", {}).get("containers") or [{}])[0]
    return [*container.get("command", []), *container.get("args", [])]


async def _with_js(arks: Env, work: Any) -> Any:
    nc = await nats.connect(arks.nats.url, allow_reconnect=False, **arks.nats_admin())
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


async def _newest_plan(js: JetStreamContext, ns: str, name: str) -> PlanReady:
    msg = await js.get_last_msg(PLANS_STREAM.name, PLANS.stored(ns, name))
    assert msg.data is not None
    data = decode(msg.data).data
    assert isinstance(data, PlanReady)
    return data


def test_a_stale_read_of_an_application_never_replaces_the_newer_plan(arks: Env, ns: str) -> None:
    """A planner that read generation 1 (a slow replica, a handler that listed earlier) and publishes after
    generation 2 was planned must not win: the stream's newest plan stays the newest generation's."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("stale"))
    arks.wait_phase("stale", ns, "Running")
    stale = arks.get("arksapplication", "stale", ns)
    assert stale is not None
    arks.kubectl(
        "patch",
        "arkapp",
        "stale",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"instanceSpec":{"labels":{"edit":"two"}}}}',
    )
    current = arks.wait_phase("stale", ns, "Running")
    assert current["metadata"]["generation"] == 2
    # the stale copy differs from what generation 1 was planned with, as an intermediate read would
    stale["spec"]["instanceSpec"]["labels"] = {"edit": "one-and-a-half"}

    async def replay(js: JetStreamContext) -> PlanReady:
        kube = Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-planner")
        try:
            planner = Planner(kube, js, load_profiles(None, "default"), EventRecorder(kube, "planner"))
            await planner._plan(stale)
        finally:
            await kube.close()
        return await _newest_plan(js, ns, "stale")

    newest = asyncio.run(_with_js(arks, replay))
    assert newest.generation == 2, "an older generation's verdict replaced the newer one"
    app = arks.wait_phase("stale", ns, "Running")
    assert _conditions(app)["Ready"][0] == "True"
    labels = _lws(arks, ns, "stale")["spec"]["leaderWorkerTemplate"]["workerTemplate"]["metadata"]["labels"]
    assert labels["edit"] == "two"


def test_a_model_change_reverted_inside_the_dedup_window_ends_on_the_reverted_plan(arks: Env, ns: str) -> None:
    """A -> B -> A of the model (the application's generation unchanged) within JetStream's 2-minute duplicate
    window: the final A is a new verdict and must reach the LeaderWorkerSet."""
    model = rwx_model()
    arks.ready_model(ns, model)
    arks.apply(ns, small_app("aba"))
    arks.wait_phase("aba", ns, "Running")
    original = f"/models/{model['spec']['model']}"
    assert original in _leader_args(_lws(arks, ns, "aba"))

    def model_is(repo: str) -> None:
        patch = json.dumps({"spec": {"model": repo}})
        arks.kubectl("patch", "arksmodel", model["metadata"]["name"], "-n", ns, "--type=merge", "-p", patch)

    model_is("org/other-model")
    wait_until(lambda: "/models/org/other-model" in _leader_args(_lws(arks, ns, "aba")), 60, "the plan of model B")
    model_is(model["spec"]["model"])
    wait_until(lambda: original in _leader_args(_lws(arks, ns, "aba")), 60, "the plan of model A again")


def test_a_refused_object_fails_the_application_with_the_servers_message(arks: Env, ns: str) -> None:
    """A pass-through field the LeaderWorkerSet's schema refuses: the API server's own message, naming the
    field, reaches the status as Failed; nothing is retried until the spec changes; fixing it recovers."""
    arks.ready_model(ns, rwx_model())
    bad_affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "every node"}}
    arks.apply(ns, small_app("refused", instanceSpec={"replicas": 1, "affinity": bad_affinity}))
    app = arks.wait_phase("refused", ns, "Failed")
    status, reason, message = _conditions(app)["Ready"]
    assert (status, reason) == ("False", "ApplyRefused")
    assert "requiredDuringSchedulingIgnoredDuringExecution" in message, message
    assert "The cluster refused the application's objects" in message
    assert arks.get("leaderworkerset", "refused", ns) is None
    arks.kubectl(
        "patch",
        "arkapp",
        "refused",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/instanceSpec/affinity"}]',
    )
    arks.wait_phase("refused", ns, "Running", within=120)


def test_a_name_held_by_someone_elses_object_fails_and_comes_up_once_it_is_gone(arks: Env, ns: str) -> None:
    """A user's own Service under the application's Service name: nothing is taken over, the status says Failed
    naming it, and deleting it (which no watch of Arks follows) lets the application come up."""
    arks.ready_model(ns, rwx_model())
    users = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "arks-application-held", "namespace": ns}}
    arks.apply(ns, {**users, "spec": {"ports": [{"port": 80}], "selector": {"app": "mine"}}})
    arks.apply(ns, small_app("held"))
    app = arks.wait_phase("held", ns, "Failed")
    status, reason, message = _conditions(app)["Ready"]
    assert (status, reason) == ("False", "ApplyRefused")
    assert "Service arks-application-held already exists and belongs to something else" in message, message
    assert "retrying in 30 s" in message, message
    assert not (arks.get("service", "arks-application-held", ns) or {})["metadata"].get("ownerReferences")
    arks.kubectl("delete", "service", "arks-application-held", "-n", ns)
    arks.wait_phase("held", ns, "Running", within=120)


def test_a_name_the_derived_objects_cannot_carry_fails_precheck_before_anything_is_created(arks: Env, ns: str) -> None:
    """A valid ArksApplication name whose Service (`arks-application-<name>`, a DNS-1035 label of at most 63
    characters) could not exist: Failed with a message naming metadata.name, and no object half-created."""
    arks.ready_model(ns, rwx_model())
    name = "a" * 50
    arks.apply(ns, small_app(name))
    app = arks.wait_phase(name, ns, "Failed")
    status, _, message = _conditions(app)["Precheck"]
    assert status == "False"
    assert "metadata.name" in message, message
    assert arks.get("leaderworkerset", name, ns) is None
    assert arks.items("services", ns, f"arks.ai/application={name}") == []


def test_an_application_with_two_roles_is_created_scaled_per_role_and_deleted(arks: Env, ns: str) -> None:
    """The deployer applies whatever roles a plan holds: here a test-only second role (`decode`, a copy of the
    serving group whose count lives in an annotation) added to the planner's own plan."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("duo"))
    arks.wait_phase("duo", ns, "Running")
    annotation = "test.arks.ai/decode-replicas"

    async def add_role(js: JetStreamContext) -> None:
        from arks_common.events.payloads import PlannedRole  # here, so the other tests run on the seam before roles

        plan = await _newest_plan(js, ns, "duo")
        serve = next(o for o in plan.objects if o["kind"] == "LeaderWorkerSet")
        decode_lws = copy.deepcopy(serve)
        decode_lws["metadata"]["name"] = "duo-decode"
        decode_lws["metadata"]["labels"]["arks.ai/role"] = "decode"
        template = decode_lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]
        template["metadata"]["labels"]["arks.ai/role"] = "decode"
        roles = [
            *plan.roles,
            PlannedRole(name="decode", replicas_from=f"/metadata/annotations/{annotation.replace('/', '~1')}"),
        ]
        two = PlanReady(
            ref=plan.ref,
            generation=plan.generation,
            resource_version=plan.resource_version,
            precheck=plan.precheck,
            plan_hash=plan.plan_hash,
            objects=[*plan.objects, decode_lws],
            roles=roles,
            inputs=plan.inputs,
        )
        await publish(js, PLANS, PLANS.subject(ns, "duo"), f"test-two-roles:{ns}", Service.PLANNER.value, two)

    # the decode role's count, before the plan that names it: an annotation (not a spec change) re-plans nothing
    arks.kubectl("annotate", "arkapp", "duo", "-n", ns, f"{annotation}=2")
    asyncio.run(_with_js(arks, add_role))

    def roles() -> dict[str, tuple[int, int]]:
        status = (arks.get("arksapplication", "duo", ns) or {}).get("status") or {}
        return {r["name"]: (r["desiredReplicas"], r["readyReplicas"]) for r in status.get("roles") or []}

    wait_until(lambda: roles() == {"serve": (1, 1), "decode": (2, 2)}, 120, "both roles ready")
    assert _lws(arks, ns, "duo-decode")["spec"]["replicas"] == 2
    assert _lws(arks, ns, "duo")["spec"]["replicas"] == 1
    app = arks.get("arksapplication", "duo", ns) or {}
    assert (app["status"]["phase"], app["status"]["replicas"], app["status"]["readyReplicas"]) == ("Running", 3, 3)

    arks.kubectl("annotate", "--overwrite", "arkapp", "duo", "-n", ns, f"{annotation}=1")
    wait_until(lambda: roles() == {"serve": (1, 1), "decode": (1, 1)}, 120, "decode scaled to 1 alone")
    assert _lws(arks, ns, "duo")["spec"]["replicas"] == 1
    arks.kubectl("patch", "arkapp", "duo", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":2}}')
    wait_until(lambda: roles() == {"serve": (2, 2)}, 120, "the planner's own plan again: serve at 2, decode pruned")
    assert arks.get("leaderworkerset", "duo-decode", ns) is None

    arks.kubectl("delete", "arkapp", "duo", "-n", ns, "--wait=true", "--timeout=90s")
    assert arks.items("leaderworkersets", ns, "arks.ai/application=duo") == []
    assert arks.items("services", ns, "arks.ai/application=duo") == []
    wait_until(lambda: not arks.items("pods", ns, "arks.ai/application=duo"), 90, "the pods of both roles gone")


def test_a_plan_of_an_application_deleted_while_no_planner_ran_is_removed_at_start(arks: Env, ns: str) -> None:
    """The delete event of an application can pass while the planner is down (or be lost with the bus): the
    start-up re-check removes the plan nobody owns any more, and keeps every live application's."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("kept"))
    arks.wait_phase("kept", ns, "Running")

    async def orphan_then_recheck(js: JetStreamContext) -> tuple[bool, PlanReady]:
        kept = await _newest_plan(js, ns, "kept")
        orphan = msgspec.structs.replace(kept, ref=msgspec.structs.replace(kept.ref, name="gone", uid="gone-uid"))
        await publish(js, PLANS, PLANS.subject(ns, "gone"), "test:orphan", "test", orphan)
        kube = Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-planner")
        try:
            planner = Planner(kube, js, load_profiles(None, "default"), EventRecorder(kube, "planner"))
            await planner.recheck_all()
        finally:
            await kube.close()
        try:
            await js.get_last_msg(PLANS_STREAM.name, PLANS.stored(ns, "gone"))
        except NotFoundError:
            return False, await _newest_plan(js, ns, "kept")
        return True, await _newest_plan(js, ns, "kept")

    orphan_left, kept = asyncio.run(_with_js(arks, orphan_then_recheck))
    assert not orphan_left, "the plan of an application that no longer exists was kept"
    assert kept.ref.name == "kept"


def test_a_plan_of_an_endpoint_deleted_while_no_planner_ran_is_removed_at_start(arks: Env, ns: str) -> None:
    """As for applications: an endpoint deleted while the planner was down leaves its router's plan on the bus;
    the start-up re-check removes it (the API server says the endpoint is gone) and keeps every live endpoint's."""
    arks.apply(ns, {"apiVersion": "arks.ai/v1", "kind": "ArksEndpoint", "metadata": {"name": "kept"}, "spec": {}})
    wait_until(lambda: arks.get("deployment", "arks-endpoint-kept", ns), 60, "the kept endpoint's router")

    async def newest(js: JetStreamContext, name: str) -> EndpointPlanReady | None:
        try:
            msg = await js.get_last_msg(ENDPOINT_PLANS_STREAM.name, ENDPOINT_PLANS.stored(ns, name))
        except NotFoundError:
            return None
        data = decode(msg.data or b"").data
        assert isinstance(data, EndpointPlanReady)
        return data

    async def orphan_then_recheck(js: JetStreamContext) -> tuple[EndpointPlanReady | None, EndpointPlanReady | None]:
        kept = await newest(js, "kept")
        assert kept is not None
        orphan = msgspec.structs.replace(kept, ref=msgspec.structs.replace(kept.ref, name="gone", uid="gone-uid"))
        subject = ENDPOINT_PLANS.subject(ns, "gone")
        await publish(js, ENDPOINT_PLANS, subject, "test:orphan-endpoint", "test", orphan)
        assert await newest(js, "gone") is not None
        kube = Kube(await load_api_client(str(arks.cluster.kubeconfig)), "arks-planner")
        try:
            router = RouterSettings(image=PlannerSettings.model_fields["router_image"].default, backend_port=8080)
            await EndpointPlanner(kube, js, router, EventRecorder(kube, "planner")).recheck_all()
        finally:
            await kube.close()
        return await newest(js, "gone"), await newest(js, "kept")

    gone, kept = asyncio.run(_with_js(arks, orphan_then_recheck))
    assert gone is None, "the plan of an endpoint that no longer exists was kept"
    assert kept is not None
    assert kept.ref.name == "kept"
