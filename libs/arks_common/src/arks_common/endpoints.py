"""Which applications an ArksEndpoint gathers, the pods its router selects, and the status it reports: shared by
the planner (which plans the endpoint's router) and the deployer (which writes the endpoint's status). Pure.

Which applications serve the endpoint's model is read from their newest spec, but which pods the router sends
requests to is decided by the labels those pods carry now, and the two differ for a while after a change of an
application's served model (its groups restart with the new labels one by one, or never, when the new generation
fails its checks and the previous one keeps serving). The ready backends are therefore counted from the pods the
router's own selector matches, never from an application's ready replica count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arks_common.api.application import ArksApplication, ConditionType
from arks_common.api.conditions import bounded, condition
from arks_common.api.endpoint import (
    ArksEndpoint,
    ArksEndpointStatus,
    EndpointConditionType,
    EndpointReadyReason,
    RouterAppliedReason,
)
from arks_common.api.meta import Condition, ConditionStatus
from arks_common.conventions import (
    LABEL_APPLICATION,
    LABEL_COMPONENT,
    LABEL_ENDPOINT_BACKEND,
    LABEL_SERVED_MODEL,
    ROLE_ROUTER,
    endpoint_member_label,
    endpoint_object_name,
    served_model_label,
)


def selects(endpoint: ArksEndpoint, app: ArksApplication) -> bool:
    """True when `app` is behind `endpoint`: same namespace, not being deleted, named in the endpoint's explicit
    list if it has one, and (unless the endpoint serves every model) serving the endpoint's model name."""
    if app.metadata.namespace != endpoint.metadata.namespace or app.metadata.deletion_timestamp is not None:
        return False
    listed = endpoint.spec.applications
    if listed is not None and app.metadata.name not in listed:
        return False
    model = endpoint.served_model()
    return model is None or app.spec.effective_served_model_name() == model


def may_select(endpoint: ArksEndpoint, raw: dict[str, Any]) -> bool:
    """A look at an application as listed, before it is parsed: False only where `selects` is surely False (another
    name than the explicit list's, or another served model, both read as the API server stores them), so a
    namespace of thousands of applications costs a parse of only those that may be behind the endpoint."""
    meta, spec = raw.get("metadata"), raw.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return True  # parsed, it shows what is wrong with it
    listed = endpoint.spec.applications
    if listed is not None and meta.get("name") not in listed:
        return False
    wanted = endpoint.served_model()
    if wanted is None:
        return True
    model = spec.get("model")
    served = spec.get("servedModelName") or (model.get("name") if isinstance(model, dict) else None)
    return not isinstance(served, str) or served == wanted


def selected_applications(endpoint: ArksEndpoint, apps: list[ArksApplication]) -> list[ArksApplication]:
    """The applications behind the endpoint, by name."""
    return sorted((a for a in apps if selects(endpoint, a)), key=lambda a: a.metadata.name)


def backend_selector(endpoint: ArksEndpoint) -> dict[str, str]:
    """The labels of the pods the router sends requests to: those answering the OpenAI API of the applications
    the endpoint selects (the same pods an application's Service selects): the `serve` role's leaders, and for a
    PD application its router, so the whole PD application is one backend."""
    labels = {LABEL_ENDPOINT_BACKEND: "true"}
    model = endpoint.served_model()
    if model is not None:
        labels[LABEL_SERVED_MODEL] = served_model_label(model)
    if endpoint.spec.applications is not None:
        # the listed applications' backends, labelled by the deployer on the live pods
        labels[endpoint_member_label(endpoint.metadata.name)] = "true"
    return labels


def routes_to(endpoint: ArksEndpoint, pod: dict[str, Any]) -> bool:
    """Whether the router's selector matches `pod` (as it is labelled now) and the pod is not going away."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    return not meta.get("deletionTimestamp") and backend_selector(endpoint).items() <= labels.items()


def _pod_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == ConditionStatus.TRUE.value for c in conditions)


def _app_ready(app: ArksApplication) -> bool:
    ready = app.status.condition(ConditionType.READY.value)
    return ready is not None and ready.status == ConditionStatus.TRUE


@dataclass(frozen=True)
class Backends:
    """The applications behind an endpoint, its ready backends and the models served, as the router sees them."""

    applications: list[ArksApplication]
    """Those whose newest spec the endpoint selects, and those whose live pods its router selects (by name)."""
    ready: int
    """Ready pods the router selects, of applications that exist and are not being deleted: an aggregated
    application's ready group leaders; a PD application's router, when the application is Ready (its router and
    at least one prefill and one decode group)."""
    models: list[str]
    """The models served behind the endpoint, sorted: those its router's pods carry (their served-model label),
    and for an application none of whose pods it selects yet, its newest spec's. Never a model the router's
    selector would not take."""
    unnamed_models: int = 0
    """Models a selected pod carries only as a digest (`m.…`) that neither the endpoint nor any application names:
    counted, not listed."""


def backends(endpoint: ArksEndpoint, apps: list[ArksApplication], pods: list[dict[str, Any]]) -> Backends:
    """`apps`: the namespace's applications that may be behind the endpoint (at least those `selects` takes and
    those its router's pods belong to); `pods`: at least the backend pods its router selects, with their labels
    as they are now (the explicit list's member labels included)."""
    live = {
        a.metadata.name: a
        for a in apps
        if a.metadata.namespace == endpoint.metadata.namespace and a.metadata.deletion_timestamp is None
    }
    behind = {a.metadata.name: a for a in selected_applications(endpoint, apps)}
    ready = 0
    carried: set[str] = set()  # served-model labels of the pods the router selects
    with_pods: set[str] = set()
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        app = live.get(labels.get(LABEL_APPLICATION, ""))
        if app is None or not routes_to(endpoint, pod):
            continue  # an application gone or going: its pods go too, and no event would tell of it
        behind[app.metadata.name] = app
        with_pods.add(app.metadata.name)
        carried.add(str(labels.get(LABEL_SERVED_MODEL, "")))
        if _pod_ready(pod) and (labels.get(LABEL_COMPONENT) != ROLE_ROUTER or _app_ready(app)):
            ready += 1
    # the pods run the model of the generation they were made from, which the newest spec may no longer name
    models = {behind[n].spec.effective_served_model_name() for n in behind.keys() - with_pods}
    known = [a.spec.effective_served_model_name() for a in apps] + [endpoint.served_model() or ""]
    by_label = {served_model_label(name): name for name in known if name}
    unnamed = 0
    for label in carried - {""}:
        if label in by_label:
            models.add(by_label[label])
        elif served_model_label(label) == label and not _digest(label):
            models.add(label)  # a name that is a label value is its own label
        else:
            unnamed += 1
    return Backends(
        applications=[behind[n] for n in sorted(behind)], ready=ready, models=sorted(models), unnamed_models=unnamed
    )


def _digest(label: str) -> bool:
    """Whether a served-model label is the digest form `served_model_label` gives a name that is no label value."""
    return label.startswith("m.") and len(label) == 42 and all(c in "0123456789abcdef" for c in label[2:])


NAMES_SHOWN = 10
"""Applications a condition message or the printer column names; status.applications has more."""
LISTED_AT_MOST = 1000
"""Names status.applications and status.servedModels list at most (their counts say how many there are)."""
LISTED_CHARS_AT_MOST = 64 * 1024
"""Characters of names either list holds at most (at most 256 KiB of UTF-8): a namespace of tens of thousands of
applications, or served model names of any length, must not make the status larger than the API server stores
(etcd's 1.5 MiB per object), which would stop every later status write."""


def _bounded_prefix(names: list[str]) -> list[str]:
    """The first names within both bounds (none when the first alone is longer than the character bound)."""
    out: list[str] = []
    size = 0
    for name in names:
        size += len(name)
        if len(out) >= LISTED_AT_MOST or size > LISTED_CHARS_AT_MOST:
            break
        out.append(name)
    return out


def _some(names: list[str], separator: str = ", ") -> str:
    shown = separator.join(names[:NAMES_SHOWN])
    return shown if len(names) <= NAMES_SHOWN else f"{shown} and {len(names) - NAMES_SHOWN} more"


def endpoint_url(endpoint: ArksEndpoint) -> str:
    name, namespace = endpoint_object_name(endpoint.metadata.name), endpoint.metadata.namespace
    return f"http://{name}.{namespace}.svc:{endpoint.spec.port}"


@dataclass(frozen=True)
class RouteOutcome:
    """What became of the endpoint's HTTPRoute in the deployer's last apply."""

    applied: bool = False
    """The API server holds the route of the current plan."""
    refusal: str | None = None
    """Why the API server refused it (its message names the field), or why it cannot take routes at all."""


@dataclass(frozen=True)
class RouterProblem:
    """One of the router's objects the deployer could not apply: the API server's refusal, or a namesake."""

    reason: RouterAppliedReason
    message: str
    """Names the object and, for a refusal, carries the API server's words (which name the field)."""


@dataclass(frozen=True)
class RouterOutcome:
    """What became of the router's objects (all but the HTTPRoute) in the deployer's last apply."""

    planned: bool = False
    """A plan of this endpoint (of its uid) for its generation or a newer one was there to apply."""
    problems: tuple[RouterProblem, ...] = ()
    """The objects not applied, in the plan's order; the others were."""
    older_plan: int | None = None
    """Without such a plan: the generation of the endpoint's newest plan, an older one. Not applied: it is another
    spec's (another model, another port), and reported as this one's it would call a router applied that selects
    the old model's pods on the old port."""


MODEL_SHOWN_AT_MOST = 256
"""Characters of the endpoint's own served model name that status.model and messages repeat: a served model name
has no length limit (it must equal an application's), and repeated whole, a spec that fits in etcd (1.5 MiB an
object) could make the object with its status too large to store."""


def shown_model(name: str) -> str:
    """The served model name as the status repeats it: whole up to 256 characters, else its start and `…`."""
    return bounded(name, MODEL_SHOWN_AT_MOST)


def router_condition(endpoint: ArksEndpoint, outcome: RouterOutcome) -> Condition:
    """`RouterApplied`: True once every object of the router is applied; False `Pending` without a plan, or with
    the first problem's reason and every problem's message."""
    kind, generation = EndpointConditionType.ROUTER_APPLIED.value, endpoint.metadata.generation
    name = endpoint_object_name(endpoint.metadata.name)
    if not outcome.planned:
        planned = "not planned yet"
        if outcome.older_plan is not None:
            planned = f"planned for generation {outcome.older_plan}, not yet for generation {generation}"
        message = f"the router {name} is {planned} (a planner that cannot plan it says why in the Events)"
        return condition(kind, False, RouterAppliedReason.PENDING.value, message, generation)
    if outcome.problems:
        message = bounded("; ".join(p.message for p in outcome.problems))
        return condition(kind, False, outcome.problems[0].reason.value, message, generation)
    message = f"the router's Deployment, Service, ServiceAccount, Role and RoleBinding {name} are applied"
    return condition(kind, True, RouterAppliedReason.APPLIED.value, message, generation)


def route_condition(endpoint: ArksEndpoint, outcome: RouteOutcome) -> Condition | None:
    """`GatewayRoute` for an endpoint with spec.gateway (None without): True once its HTTPRoute is applied, False
    with the API server's words when refused, False `Pending` until a plan carries it."""
    if endpoint.spec.gateway is None:
        return None
    kind, generation = EndpointConditionType.GATEWAY_ROUTE.value, endpoint.metadata.generation
    route = endpoint_object_name(endpoint.metadata.name)
    if outcome.refusal is not None:
        return condition(kind, False, "Refused", bounded(outcome.refusal), generation)
    if outcome.applied:
        return condition(
            kind, True, "Applied", f"HTTPRoute {route} sends the gateway's traffic to the router", generation
        )
    return condition(kind, False, "Pending", f"HTTPRoute {route} is not applied yet", generation)


def endpoint_status(
    endpoint: ArksEndpoint,
    apps: list[ArksApplication],
    pods: list[dict[str, Any]],
    route: RouteOutcome | None = None,
    router: RouterOutcome | None = None,
) -> ArksEndpointStatus:
    """What the endpoint reports: the applications and models behind it, its ready backends (`backends`), its URL,
    `Ready` when at least one is ready, `RouterApplied`, and `GatewayRoute` with spec.gateway. Conditions keep
    their transition time when unchanged (the shell's `set_condition`)."""
    found = backends(endpoint, apps, pods)
    behind, ready = found.applications, found.ready
    names = [a.metadata.name for a in behind]
    generation = endpoint.metadata.generation
    applied = router_condition(endpoint, router or RouterOutcome())
    kind = EndpointConditionType.READY.value
    if ready > 0 and applied.status == ConditionStatus.TRUE:
        message = f"{ready} ready replica group(s) behind the endpoint, in {len(names)} application(s)"
        cond = condition(kind, True, EndpointReadyReason.BACKENDS_READY.value, message, generation)
    elif ready > 0:  # its URL would lead nowhere, or to someone else's Service
        message = (
            f"{ready} ready replica group(s) behind the endpoint, but its router is not applied "
            f"({applied.reason}: see the RouterApplied condition)"
        )
        cond = condition(kind, False, EndpointReadyReason.ROUTER_NOT_APPLIED.value, message, generation)
    elif behind:
        message = f"none of the applications behind the endpoint ({_some(names)}) has a ready replica group"
        cond = condition(kind, False, EndpointReadyReason.NO_READY_BACKEND.value, message, generation)
    else:
        wanted, listed = endpoint.served_model(), endpoint.spec.applications
        what = f"serves the model {shown_model(wanted)!r}" if wanted is not None else "exists"
        if listed is None:
            message = f"no application in namespace {endpoint.metadata.namespace} {what}"
        else:  # the list is what to look at, not the namespace
            message = (
                f"none of the applications listed in spec.applications ({_some(listed)}) {what} in namespace "
                f"{endpoint.metadata.namespace}"
            )
        cond = condition(kind, False, EndpointReadyReason.NO_APPLICATION.value, message, generation)
    return ArksEndpointStatus(
        observed_generation=generation,
        model=shown_model(endpoint.served_model() or "*"),
        served_models=_bounded_prefix(found.models),
        served_model_count=len(found.models) + found.unnamed_models,
        applications=_bounded_prefix(names),
        application_count=len(names),
        applications_text=_some(names, ","),
        ready_backends=ready,
        url=endpoint_url(endpoint) if applied.status == ConditionStatus.TRUE else "",
        conditions=[c for c in (cond, applied, route_condition(endpoint, route or RouteOutcome())) if c is not None],
    )
