"""One reconcile of one ArksEndpoint: apply its newest plan (the router's objects) and write its status from
the applications behind it. Level-triggered like the application reconcile: it reads the endpoint, its plan
and the namespace's applications afresh each time; runs of one endpoint coalesce.

The router's objects are owned by the endpoint (owner reference), so the garbage collector removes them with
it: no finalizer. The plan's object set is fixed (ServiceAccount, Role, RoleBinding, Deployment, Service) but
for the optional HTTPRoute, the one object ever pruned (when spec.gateway goes).

An object the API server refuses or forbids, or that is someone else's, is the user's to fix: it goes to the
`RouterApplied` condition (the others are still applied) and is tried again at the endpoint's next reconcile,
never retried as a failure. Only the server being unable to answer now (409, 429, 5xx, no answer) is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from pydantic import ValidationError

from arks_common.api.application import ArksApplication
from arks_common.api.conditions import condition_dict, set_condition
from arks_common.api.endpoint import ArksEndpoint, RouterAppliedReason
from arks_common.bus.consumer import TemporaryError, is_outage
from arks_common.bus.plans import newest_endpoint_plan
from arks_common.coalescing import Coalescer
from arks_common.conventions import (
    LABEL_APPLICATION,
    LABEL_ENDPOINT_BACKEND,
    PLAN_HASH_ANNOTATION,
    endpoint_member_label,
    endpoint_object_name,
    is_owned_by,
)
from arks_common.endpoints import (
    RouteOutcome,
    RouterOutcome,
    RouterProblem,
    backend_selector,
    endpoint_status,
    may_select,
    routes_to,
    selected_applications,
)
from arks_common.kube.client import Invalid, Kube, KubeError, NotFound, Undecodable
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, ENDPOINT_KINDS, ENDPOINTS, HTTPROUTES, PODS
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.endpoint_index import EndpointIndex
from arks_deployer.core.membership import member_label_changes
from arks_deployer.core.refusals import ProblemKind, classify

log = get_logger(__name__)
CONTROLLER = "deployer"
FORBIDDEN_RETRY = 30.0
"""Seconds before a router object the API server forbade is tried again (an application's 403 waits as long)."""
Obj = dict[str, Any]


def _predecessors(live: Obj, owner: dict[str, Any]) -> bool:
    """Whether `live` is controlled by an earlier endpoint of the same name (deleted, since names are unique, and
    re-created): taken over, as the garbage collector would otherwise remove it under the new endpoint."""
    refs = (live.get("metadata") or {}).get("ownerReferences") or []
    return any(
        isinstance(r, dict)
        and r.get("controller")
        and (r.get("kind"), r.get("name")) == (owner.get("kind"), owner.get("name"))
        for r in refs
    )


class HeldByOthers(Exception):
    """An object the endpoint's plan names already exists and is not the endpoint's."""


class EndpointReconciler:
    def __init__(self, kube: Kube, js: JetStreamContext, index: EndpointIndex | None = None) -> None:
        self._kube = kube
        self._js = js
        self._coalescer = Coalescer()
        self._index = index
        """Every namespace's endpoints, kept by the deployer's watch of them (None, or not listed yet: list)."""

    async def reconcile(self, namespace: str, name: str, look_again: bool = True) -> None:
        """`look_again`: a router object the API server forbade (403: a quota, a namespace's policy: what forbids it
        may change by itself) fails the event once the status says so, so it is looked at again in 30 s (as the
        bus redelivers it, as an application's 403s are); False for a namespace's change (its other endpoints)."""
        forbidden = False

        async def run() -> None:
            nonlocal forbidden
            async with reconciling(CONTROLLER):
                forbidden = await self._reconcile(namespace, name)

        await self._coalescer.run(("endpoint", namespace, name), run)
        if forbidden and look_again:
            raise TemporaryError(
                f"a router object of endpoint {namespace}/{name} was forbidden", delay_seconds=FORBIDDEN_RETRY
            )

    async def namespace_changed(self, namespace: str) -> None:
        """An application of `namespace` changed: the status of its endpoints may have moved. Their names come
        from the watched index once it has listed, else from a list. Each endpoint on its own: every one is
        reconciled whatever became of the others. A failure the endpoint's own reconcile retries too (an outage,
        a conflict: `_retried`) then fails the event, the first of them, so it is retried, all of them again; any
        other is logged, and the endpoint looked at again at its own next event or the namespace's next change."""
        if self._index is not None and self._index.ready():
            names = self._index.endpoints(namespace)
        else:
            endpoints, _ = await self._kube.list(ENDPOINTS, namespace, stubs=True)
            names = [e["metadata"]["name"] for e in endpoints]
        retry: Exception | None = None
        for name in names:
            try:
                await self.reconcile(namespace, name, look_again=False)
            except Exception as exc:  # one endpoint's failure must not keep the others from the change
                log.error(
                    "endpoint reconcile failed",
                    endpoint=f"{namespace}/{name}",
                    error_type=type(exc).__name__,
                    error=str(exc)[:300],
                    retried=_retried(exc),
                )
                if retry is None and _retried(exc):
                    retry = exc
        if retry is not None:
            raise retry

    async def _reconcile(self, namespace: str, name: str) -> bool:
        """Applies the router and writes the status; True when the API server forbade one of its objects."""
        try:
            raw = await self._kube.get(ENDPOINTS, namespace, name)
        except Undecodable:
            log.warning("endpoint does not decode", endpoint=f"{namespace}/{name}")
            return False
        if raw is None or raw["metadata"].get("deletionTimestamp"):
            return False  # its router's objects go with it (owner references)
        try:
            endpoint = ArksEndpoint.model_validate(raw)
        except ValidationError as exc:
            log.warning("endpoint does not parse", endpoint=f"{namespace}/{name}", error=str(exc)[:300])
            return False
        listed, _ = await self._kube.list_packed(APPLICATIONS, namespace)
        apps = _parsed(listed, lambda app: may_select(endpoint, app))
        problems: list[RouterProblem] = []
        if endpoint.spec.applications is not None:
            pods, problems = await self._label_members(endpoint, apps)
        else:
            selector = ",".join(f"{k}={v}" for k, v in sorted(backend_selector(endpoint).items()))
            pods, _ = await self._kube.list(PODS, namespace, label_selector=selector)
        # the applications whose pods the router selects though their newest spec serves another model
        known = {a.metadata.name for a in apps}
        others = {str(p["metadata"]["labels"].get(LABEL_APPLICATION)) for p in pods if routes_to(endpoint, p)} - known
        if others:
            apps += _parsed(listed, lambda app: (app.get("metadata") or {}).get("name") in others)
        _, plan = await newest_endpoint_plan(self._js, namespace, name)
        plan = plan if plan is not None and plan.ref.uid == endpoint.metadata.uid else None  # not a namesake's
        route = RouteOutcome()
        router = RouterOutcome()
        if plan is not None and plan.generation < endpoint.metadata.generation:
            # only a plan of this generation (or newer) is applied and reported: the planner publishes one for
            # each generation, even with the same objects, and its arrival reconciles again
            router = RouterOutcome(older_plan=plan.generation)
        elif plan is not None:
            for obj in plan.objects:
                if obj.get("kind") == HTTPROUTES.kind:
                    route = await self._apply_route(obj, plan.plan_hash)
                    continue
                problem = await self._apply_router_object(obj, plan.plan_hash)
                if problem is not None:  # the others are still applied
                    log.error("endpoint object not applied", endpoint=f"{namespace}/{name}", error=problem.message)
                    problems.append(problem)
            if not any(obj.get("kind") == HTTPROUTES.kind for obj in plan.objects):
                await self._remove_route(endpoint)
            router = RouterOutcome(planned=True, problems=tuple(problems))
        await self._write_status(raw, endpoint, apps, pods, route, router)
        return any(p.reason is RouterAppliedReason.FORBIDDEN for p in problems)

    async def _apply_router_object(self, obj: Obj, plan_hash: str) -> RouterProblem | None:
        """One object of the router: None once applied; what stands in its way when the API server refused or
        forbade it, or a namesake holds its name. Raises (a retry) only when the server could not answer now."""
        try:
            await self._apply(obj, plan_hash)
        except HeldByOthers as exc:  # waits for the name to be free
            return RouterProblem(RouterAppliedReason.HELD_BY_OTHERS, str(exc))
        except KubeError as exc:
            return _refusal(exc, f"{obj.get('kind')} {obj['metadata']['name']}")
        return None

    async def _label_members(
        self, endpoint: ArksEndpoint, apps: list[ArksApplication]
    ) -> tuple[list[Obj], list[RouterProblem]]:
        """The explicit list: the member label on exactly the backend pods of the applications behind it. Returns
        the namespace's backend pods labelled as they are now. A refused label (an endpoint name no label key can
        hold) stops the labelling and is told."""
        meta = endpoint.metadata
        members = {a.metadata.name for a in selected_applications(endpoint, apps)}
        pods, _ = await self._kube.list(PODS, meta.namespace, label_selector=f"{LABEL_ENDPOINT_BACKEND}=true")
        by_name = {p["metadata"]["name"]: p for p in pods}
        key = endpoint_member_label(meta.name)
        for pod, value in member_label_changes(meta.name, members, pods).items():
            try:
                await self._kube.merge_patch(PODS, meta.namespace, pod, {"metadata": {"labels": {key: value}}})
            except NotFound:
                by_name.pop(pod, None)  # gone meanwhile
                continue
            except KubeError as exc:
                return list(by_name.values()), [_refusal(exc, f"the member label {key} on Pod {pod}")]
            labels = by_name[pod]["metadata"].setdefault("labels", {})
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
            log.info("endpoint member label", endpoint=f"{meta.namespace}/{meta.name}", pod=pod, member=bool(value))
        return list(by_name.values()), []

    async def _apply_route(self, obj: Obj, plan_hash: str) -> RouteOutcome:
        """The HTTPRoute: a refusal (a rule of the Gateway API's schema, or no Gateway API in the cluster) is the
        user's to fix, so it goes to the endpoint's status rather than into retries."""
        try:
            await self._apply(obj, plan_hash)
        except HeldByOthers as exc:
            return RouteOutcome(refusal=str(exc))
        except Invalid as exc:
            return RouteOutcome(refusal=f"the API server refused the HTTPRoute: {exc}")
        except NotFound as exc:
            return RouteOutcome(
                refusal=f"this cluster serves no HTTPRoute (gateway.networking.k8s.io/v1): install the Gateway API "
                f"CRDs or remove spec.gateway ({exc})"
            )
        return RouteOutcome(applied=True)

    async def _remove_route(self, endpoint: ArksEndpoint) -> None:
        """spec.gateway removed: delete the endpoint's HTTPRoute (only one this endpoint owns)."""
        meta = endpoint.metadata
        name = endpoint_object_name(meta.name)
        live = await self._kube.get(HTTPROUTES, meta.namespace, name)  # None too when the kind is not served
        if live is None:
            return
        owners = live["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == meta.uid for o in owners):
            await self._kube.delete(HTTPROUTES, meta.namespace, name, uid=live["metadata"].get("uid"))
            log.info("endpoint route removed", endpoint=f"{meta.namespace}/{meta.name}")

    async def _apply(self, obj: Obj, plan_hash: str) -> None:
        res = ENDPOINT_KINDS.get(str(obj.get("kind")))
        if res is None:
            log.warning("endpoint plan asks for a kind the deployer does not apply", kind=obj.get("kind"))
            return
        meta = obj["metadata"]
        live = await self._kube.get(res, meta["namespace"], meta["name"])
        owner: dict[str, Any] = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), {})
        if live is not None:
            ours = is_owned_by(live, str(owner.get("uid")))
            if ours and (live["metadata"].get("annotations") or {}).get(PLAN_HASH_ANNOTATION) == plan_hash:
                return  # applied already
            if not ours and not _predecessors(live, owner):
                # a forced apply would take a namesake over, and the garbage collector delete it with the endpoint
                raise HeldByOthers(
                    f"{res.kind} {meta['name']} already exists and belongs to something else (no controller "
                    "reference to this endpoint): delete or rename it, or rename the endpoint"
                )
        await self._kube.apply(res, obj)
        log.info("endpoint object applied", kind=res.kind, name=f"{meta['namespace']}/{meta['name']}")

    async def _write_status(
        self,
        raw: Obj,
        endpoint: ArksEndpoint,
        apps: list[ArksApplication],
        pods: list[Obj],
        route: RouteOutcome,
        router: RouterOutcome,
    ) -> None:
        status = endpoint_status(endpoint, apps, pods, route, router)
        kinds = {c.type for c in status.conditions}
        conditions = [c for c in endpoint.status.conditions if c.type in kinds]  # GatewayRoute goes with spec.gateway
        now = datetime.now(UTC).replace(microsecond=0)
        for new in status.conditions:
            conditions, _ = set_condition(conditions, new, now)
        body = status.to_k8s()
        body["conditions"] = [condition_dict(c) for c in conditions]
        if _same(raw.get("status") or {}, body):
            return
        meta = endpoint.metadata
        await self._kube.apply_status(ENDPOINTS, meta.namespace, meta.name, body)


def _parsed(listed: Iterable[Obj], wanted: Callable[[Obj], bool]) -> list[ArksApplication]:
    """The applications of `listed` that `wanted` takes, parsed (every application of the namespace is listed on
    each change of one of them: kept packed, and only those that may be behind the endpoint parsed)."""
    apps = []
    for app in listed:
        if not wanted(app):
            continue
        try:
            apps.append(ArksApplication.model_validate(app))
        except ValidationError:
            continue  # its Precheck says why; it serves nothing
    return apps


def _retried(exc: Exception) -> bool:
    """Whether a reconcile's failure is one only a retry can tell, as on every other path: the API server or NATS
    away, or a conflict (`KubeError.temporary`, which `_refusal` raises); `reconciling` wraps a KubeError in a
    TemporaryError, so its cause is read."""
    if is_outage(exc):
        return True
    cause = exc if isinstance(exc, KubeError) else exc.__cause__
    return isinstance(cause, KubeError) and cause.temporary


def _refusal(exc: KubeError, what: str) -> RouterProblem:
    """An API error on one of the router's objects as the user reads it, or the error itself (raised) when only a
    retry can tell: 409, 429, 5xx or no answer."""
    problem = classify(exc.status, str(exc), exc.retry_after)
    if problem.kind is ProblemKind.RETRYING:
        raise exc
    if problem.permanent:
        return RouterProblem(RouterAppliedReason.REFUSED, f"the API server refused {what}: {problem.message}")
    return RouterProblem(RouterAppliedReason.FORBIDDEN, f"the API server forbade {what}: {problem.message}")


def _same(live: Obj, new: Obj) -> bool:
    """Whether writing `new` would change what a reader sees (a condition's transition time aside)."""

    def strip(status: Obj) -> Obj:
        out = dict(status)
        out["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
        ]
        return out

    defaults = ArksEndpoint.model_validate({"status": live}).status.to_k8s() if live else {}
    return strip(defaults) == strip(new)
