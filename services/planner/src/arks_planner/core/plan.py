"""The deployment plan of one application: its desired objects (a LeaderWorkerSet per role and a Service), as
plain dicts keyed by (kind, name) and labelled with their role, and their hash.

A pure function of (application, model, profiles): the same inputs give byte-identical objects and hash, so
the deployer can skip an apply whose hash it already applied. The objects carry labels, the owner reference
and the plan hash, and no replica counts, resourceVersion or status: a role's replica count has its own single
writer (spec.replicas, or the slo-scaler), so scaling never makes a new plan. Empty fields are omitted so
server-side apply owns only what Arks means to set. Call it only after `precheck` passed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from arks_common.api.application import MODEL_MOUNT_PATH, MODEL_VOLUME_NAME, ArksApplication
from arks_common.api.model import ArksModel
from arks_common.conventions import (
    LABEL_APPLICATION,
    LABEL_COMPONENT,
    LABEL_ENDPOINT_BACKEND,
    LABEL_MANAGED_BY,
    LABEL_MODEL,
    LABEL_ROLE,
    LABEL_SERVED_MODEL,
    MANAGED_BY,
    PLAN_HASH_ANNOTATION,
    POD_LEADER,
    POD_WORKER,
    ROLE_DECODE,
    ROLE_PREFILL,
    ROLE_ROUTER,
    ROLE_SERVE,
    RUNTIME_CONTAINER,
    answers_openai,
    application_owner,
    group_set_name,
    model_path,
    served_model_label,
    service_name,
)
from arks_common.events.payloads import PlannedRole
from arks_planner.core.commands import LaunchValues, flags_not_given, render, render_data
from arks_planner.core.options import split_options
from arks_planner.core.placement import (
    LABEL_MODEL_CLAIM,
    claim_label_value,
    colocated_affinity,
    shm_mount,
    shm_volume,
    single_node_claim,
    user_mounts_shm,
)
from arks_planner.core.pod_reader import pod_reader
from arks_planner.core.profiles import (
    CommandTemplate,
    MultiNodeCommands,
    RuntimeProfile,
    RuntimeProfiles,
    SingleNodeCommands,
)
from arks_planner.core.roles import role_view

LWS_API_VERSION = "leaderworkerset.x-k8s.io/v1"
ROLE_LEADER = POD_LEADER
ROLE_WORKER = POD_WORKER
CONTAINER_NAME = RUNTIME_CONTAINER
PORT_NAME = "http"
"""The leader's serving port, which also serves the runtime's /metrics: the monitoring chart scrapes it there."""
METRICS_PORT_NAME = "metrics"
API_PORT_NAME = "api"
"""The serving port of a pod whose metrics are on a port of their own (the SGLang PD router: sglang-router 0.3.2
answers /metrics on --prometheus-port only, 404 on its --port): not `http`, which the chart would scrape."""
SERVICE_REPLICAS = "/spec/replicas"
"""Where the `serve` role's replica count lives in the application (the scale subresource's path)."""
PD_REPLICAS = {
    ROLE_ROUTER: "/spec/router/replicas",
    ROLE_PREFILL: "/spec/prefill/replicas",
    ROLE_DECODE: "/spec/decode/replicas",
}
"""Where each PD role's count lives; an absent field (no `router` block) takes the default, one."""

RESTART_POLICY = "RecreateGroupOnPodRestart"
"""A multi-node engine cannot survive losing one rank, so any pod restart recreates the whole group."""

STARTUP_POLICY = "LeaderCreated"
"""Workers start once the leader pod exists. `LeaderReady` would deadlock: the vLLM leader is Ready only
after its Ray workers have joined, and an SGLang rank 0 only after the other ranks are up."""

Obj = dict[str, Any]


@dataclass(frozen=True)
class _Role:
    """How one role's groups are launched: from the profile's aggregated commands (`serve`) or its
    disaggregation section (router, prefill, decode)."""

    name: str
    single_node: SingleNodeCommands
    multi_node: MultiNodeCommands
    readiness_probe: dict[str, Any] | None
    default_flags: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    metrics_port: int | None = None
    """A PD router's metrics on a port of their own (the profile's routerMetricsPort), declared `metrics`, its serving
    port then named `api`. A router never declares the runtime's metricsPort: that is an engine's (Dynamo's system
    status server, which ai-dynamo 1.6.1's frontend does not run: frontend/main.py drops DYN_SYSTEM_PORT)."""
    serves_http: bool = True
    """The leader serves HTTP on the profile's port; False for engines that only register with the runtime's
    discovery (the profile's `enginesServeHttp`): no serving port is declared where nothing listens."""


class PlanError(ValueError):
    """The plan cannot be built (the runtime has no profile); precheck refuses such applications first."""


@dataclass(frozen=True)
class Plan:
    objects: list[Obj]
    """A PD router's account (ServiceAccount, Role, RoleBinding) when Arks plans one, the LeaderWorkerSets (one per
    role), then the Service, ready for server-side apply in this order."""
    roles: list[PlannedRole]
    plan_hash: str
    """sha256 (hex) of `canonical_json` of the objects before the hash annotation is added."""


def canonical_json(objects: list[Obj]) -> bytes:
    return json.dumps(objects, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _compact(obj: Obj) -> Obj:
    """Drop this level's None and empty values; nested user objects stay as written (`emptyDir: {}` means
    something)."""
    return {k: v for k, v in obj.items() if v is not None and v != {} and v != []}


def _launch_values(app: ArksApplication, model: ArksModel, profile: RuntimeProfile, role: _Role) -> LaunchValues:
    extra = split_options(app.spec.extra_options)
    return LaunchValues(
        model_path=model_path(model.spec.model),
        served_model_name=app.spec.effective_served_model_name(),
        tensor_parallel_size=app.spec.tensor_parallel_size or 1,
        port=profile.port,
        metrics_port=profile.metrics_port,
        application=app.metadata.name,
        namespace=app.metadata.namespace,
        default_flags=flags_not_given(role.default_flags, extra),
        extra_options=tuple(extra),
        router_metrics_port=None if profile.disaggregation is None else profile.disaggregation.router_metrics_port,
    )


def _env(app: ArksApplication, profile: RuntimeProfile, values: LaunchValues) -> list[Obj]:
    """The profile's environment, then the user's; a user variable of the same name replaces the profile's."""
    user = [e.to_k8s() for e in app.spec.instance_spec.env]
    names = {e["name"] for e in user}
    ours = [{"name": k, "value": str(render_data(v, values))} for k, v in profile.env.items() if k not in names]
    return [*ours, *user]


def _container(
    app: ArksApplication,
    profile: RuntimeProfile,
    template: CommandTemplate,
    values: LaunchValues,
    leader: bool,
    role: _Role,
) -> Obj:
    inst = app.spec.instance_spec
    command, args = render(template, values)
    mounts = [m.to_k8s() for m in inst.volume_mounts]
    mounts.append({"name": MODEL_VOLUME_NAME, "mountPath": MODEL_MOUNT_PATH, "readOnly": True})
    if profile.shared_memory_size and not user_mounts_shm(app):
        mounts.append(shm_mount())
    resources = _compact(inst.resources.to_k8s()) if inst.resources is not None else None
    metrics_port = role.metrics_port if role.name == ROLE_ROUTER else profile.metrics_port
    ports = [{"name": METRICS_PORT_NAME, "containerPort": metrics_port}] if metrics_port else []
    container: Obj = {
        "name": CONTAINER_NAME,
        "image": app.spec.runtime_image or profile.image,
        "command": command,
        "args": args,
        "env": _env(app, profile, values),
        "ports": ports,
        "resources": resources,
        "volumeMounts": mounts,
        "securityContext": inst.security_context,
    }
    if leader:
        # Probes go to the leader only: it alone serves HTTP; a worker (Ray node, SGLang rank > 0, headless
        # engine) has nothing to answer them.
        default_probe = render_data(role.readiness_probe, values) or {
            "httpGet": {"path": profile.health_path, "port": profile.port}
        }
        # a serving port that does not answer /metrics is not named `http`, which the monitoring chart scrapes
        serving = PORT_NAME if role.metrics_port is None else API_PORT_NAME
        declared = [{"name": serving, "containerPort": profile.port}] if role.serves_http else []
        container |= {
            "ports": [*declared, *ports],
            "readinessProbe": inst.readiness_probe or default_probe,
            "livenessProbe": inst.liveness_probe,
            "startupProbe": inst.startup_probe,
        }
    return _compact(container)


def _pod_template(
    app: ArksApplication, model: ArksModel, profile: RuntimeProfile, template: CommandTemplate, role: _Role, pod: str
) -> Obj:
    inst = app.spec.instance_spec
    values = _launch_values(app, model, profile, role)
    ours = {
        LABEL_APPLICATION: app.metadata.name,
        LABEL_MODEL: app.spec.model.name,
        LABEL_COMPONENT: role.name,
        LABEL_ROLE: pod,
        # an ArksEndpoint's router selects its backends by served model (the pods that answer OpenAI requests)
        LABEL_SERVED_MODEL: served_model_label(app.spec.effective_served_model_name()),
    }
    if answers_openai(role.name, pod):
        ours[LABEL_ENDPOINT_BACKEND] = "true"
    volumes = [v.to_k8s() for v in inst.volumes]
    volumes.append(
        {"name": MODEL_VOLUME_NAME, "persistentVolumeClaim": {"claimName": model.pvc_name(), "readOnly": True}}
    )
    if profile.shared_memory_size and not user_mounts_shm(app):
        # NCCL and the runtimes' shared-memory transport need more than a container's default 64 MiB.
        volumes.append(shm_volume(profile.shared_memory_size))
    affinity = inst.affinity
    claim = single_node_claim(model)
    if claim is not None:
        ours[LABEL_MODEL_CLAIM] = claim_label_value(claim)
        affinity = colocated_affinity(affinity, claim)
    spec = _compact(
        {
            "containers": [_container(app, profile, template, values, leader=pod == ROLE_LEADER, role=role)],
            "volumes": volumes,
            "nodeSelector": dict(inst.node_selector),
            "affinity": affinity,
            "schedulerName": inst.scheduler_name,
            "tolerations": list(inst.tolerations),
            "serviceAccountName": inst.service_account_name,
            # An engine needs no Kubernetes API: no token in its pods unless the user names an account (e.g. for
            # Dynamo's Kubernetes discovery), and then the account's own automount setting holds.
            "automountServiceAccountToken": False if inst.service_account_name is None else None,
            "priorityClassName": inst.priority_class_name,
            "imagePullSecrets": [{"name": s.name} for s in app.spec.runtime_image_pull_secrets],
        }
    )
    # Our labels win over the user's: the Service selector and status lookups depend on them.
    annotations = {**inst.annotations, **role.annotations}
    metadata = _compact({"labels": {**inst.labels, **ours}, "annotations": annotations})
    return {"metadata": metadata, "spec": spec}


def _object_metadata(app: ArksApplication, name: str, role: str) -> Obj:
    labels = {LABEL_APPLICATION: app.metadata.name, LABEL_COMPONENT: role, LABEL_MANAGED_BY: MANAGED_BY}
    return {"name": name, "namespace": app.metadata.namespace, "labels": labels}


def _leader_worker_set(app: ArksApplication, model: ArksModel, profile: RuntimeProfile, role: _Role) -> Obj:
    size = app.spec.instance_spec.replicas
    template: Obj = {"size": size, "restartPolicy": RESTART_POLICY}
    if size == 1:
        # The group is its leader alone; LWS builds the leader from workerTemplate when leaderTemplate is
        # absent, so that template carries the leader's role, port, probe and single-node command.
        template["workerTemplate"] = _pod_template(app, model, profile, role.single_node.leader, role, ROLE_LEADER)
    else:
        multi = role.multi_node
        template["leaderTemplate"] = _pod_template(app, model, profile, multi.leader, role, ROLE_LEADER)
        template["workerTemplate"] = _pod_template(app, model, profile, multi.worker, role, ROLE_WORKER)
    return {
        "apiVersion": LWS_API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": _object_metadata(app, group_set_name(app.metadata.name, role.name), role.name),
        "spec": {"startupPolicy": STARTUP_POLICY, "leaderWorkerTemplate": template},
    }


def _service(app: ArksApplication, profile: RuntimeProfile) -> Obj:
    selector = {LABEL_APPLICATION: app.metadata.name, LABEL_ROLE: ROLE_LEADER}
    if app.spec.disaggregated():
        # Prefill and decode leaders serve HTTP too, for the router only; clients reach the router.
        selector[LABEL_COMPONENT] = ROLE_ROUTER
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _object_metadata(app, service_name(app.metadata.name), ROLE_SERVE),
        "spec": {
            # Our own role labels are enough to pick the leaders; LWS's worker-index label would say the same.
            # No role label yet: pods made before roles lack it, and `serve` is the only role that serves today.
            "selector": selector,
            "ports": [{"name": PORT_NAME, "port": profile.port, "targetPort": profile.port, "protocol": "TCP"}],
        },
    }


def _pd_planned_role(name: str) -> PlannedRole:
    """Prefill and decode may be autoscaled, each by its own `spec.<role>.autoscaling`; the router is not."""
    if name == ROLE_ROUTER:
        return PlannedRole(name=name, replicas_from=PD_REPLICAS[name])
    return PlannedRole(
        name=name,
        replicas_from=PD_REPLICAS[name],
        autoscaled=True,
        autoscaling_from=f"/spec/{name}/autoscaling",
        decision_from=f"/status/autoscaling/{name}/desiredReplicas",
    )


def build_plan(app: ArksApplication, model: ArksModel, profiles: RuntimeProfiles) -> Plan:
    """The objects `app` becomes (SPEC §3), for an application that passed `precheck`."""
    profile = profiles.profile_for(app.spec.runtime, app.spec.backend())
    if profile is None:
        raise PlanError(f"no enabled profile for runtime '{app.spec.runtime}' (backend {app.spec.backend()})")
    if app.spec.disaggregated():
        pd_roles = disaggregated_roles(profile)
        account = router_account(app, profile)
        # the router's account first: its pods are refused until the account exists
        objects = [] if account is None else pod_reader(_object_metadata(app, account, ROLE_ROUTER))
        objects += [_leader_worker_set(_role_view(app, r.name, account), model, profile, r) for r in pd_roles]
        objects.append(_service(app, profile))
        roles = [_pd_planned_role(r.name) for r in pd_roles]
    else:
        serve = _Role(
            ROLE_SERVE, profile.single_node, profile.multi_node, profile.readiness_probe, profile.default_flags
        )
        objects = [_leader_worker_set(app, model, profile, serve), _service(app, profile)]
        roles = [PlannedRole(name=ROLE_SERVE, replicas_from=SERVICE_REPLICAS, autoscaled=True)]
    plan_hash = hashlib.sha256(canonical_json(objects)).hexdigest()
    owner = application_owner(app.metadata.name, app.metadata.uid)
    for obj in objects:
        obj["metadata"]["ownerReferences"] = [owner]
        obj["metadata"]["annotations"] = {PLAN_HASH_ANNOTATION: plan_hash}
    return Plan(objects=objects, roles=roles, plan_hash=plan_hash)


def router_account(app: ArksApplication, profile: RuntimeProfile) -> str | None:
    """The account Arks plans for a PD router that finds its prefill and decode pods through the Kubernetes API
    (SGLang's), allowed to read pods of the namespace and nothing else; None when the router needs none or the
    user names one (`spec.router.instanceSpec.serviceAccountName`, used as it is)."""
    pd = profile.disaggregation
    named = app.spec.router.instance_spec.service_account_name if app.spec.router is not None else None
    if pd is None or not pd.router_service_account_required or named:
        return None
    return group_set_name(app.metadata.name, ROLE_ROUTER)


def _role_view(app: ArksApplication, role: str, router_account: str | None) -> ArksApplication:
    """The role's view, its router running as the planned account when there is one."""
    view = role_view(app, role)
    if role != ROLE_ROUTER or router_account is None:
        return view
    inst = view.spec.instance_spec.model_copy(update={"service_account_name": router_account})
    return view.model_copy(update={"spec": view.spec.model_copy(update={"instance_spec": inst})})


def disaggregated_roles(profile: RuntimeProfile) -> list[_Role]:
    """Router, prefill and decode, as the profile's disaggregation section launches them."""
    pd = profile.disaggregation
    if pd is None:
        raise PlanError("the runtime's profile has no disaggregation section")
    router = SingleNodeCommands(leader=pd.router)
    roles = [
        _Role(
            ROLE_ROUTER,
            router,
            MultiNodeCommands(leader=pd.router, worker=pd.router),
            pd.router_readiness_probe,
            metrics_port=pd.router_metrics_port,
        )
    ]
    for name, engine in ((ROLE_PREFILL, pd.prefill), (ROLE_DECODE, pd.decode)):
        flags = [*profile.default_flags, *engine.default_flags]
        roles.append(
            _Role(
                name,
                engine.single_node,
                engine.multi_node,
                pd.engine_readiness_probe,
                flags,
                engine.annotations,
                serves_http=pd.engines_serve_http,
            )
        )
    return roles
