"""The `Precheck` verdict on one application: can the planner build a working service from this spec?

Checks run in a fixed order and the first failure wins, so the same spec always gets the same reason:
  1. names        every name Arks derives from metadata.name and spec.model.name (the Service, each role's
                  LeaderWorkerSet, and the StatefulSets, pods and labels the LWS and StatefulSet controllers
                  derive from it; the label arks.ai/model) fits the rules of the object it becomes (core.names)
  2. driver       spec.driver is one Arks supports (lws)
  3. runtime      spec.runtime has an enabled profile in this installation
  4. volumes      no spec.instanceSpec.volumes[i].name is one Arks adds (`models`, `arks-shm`)
  5. mounts       no spec.instanceSpec.volumeMounts[i].mountPath is /models or below it (however spelled)
  6. labels       no spec.instanceSpec.labels key is under arks.ai/ or *.arks.ai/ (Arks' own selectors)
  7. options      spec.extraOptions holds at most 64 KiB, every item splits into words (core.options) and
                  sets no flag that Arks sets from a spec field (the profile's managedFlags), in any spelling
                  the runtime's parser reads as that flag (`_` for `-`, an abbreviation)
  8. parallelism  tensor x pipeline parallel size fits the group's GPUs, and on a multi-node group with an
                  `even` runtime it divides into the same number of ranks on every node, each with a GPU
  9. environment  the runtime's required environment is in spec.instanceSpec.env (Dynamo's discovery)
 10. model        the ArksModel spec.model.name exists in the application's namespace
 11. storage      a volume only one node can mount (ReadWriteOnce) holds the group on one node: refused only
                  when one group needs more GPUs than the largest node has; ReadWriteOncePod holds one pod.
                  By the claim's own access modes once it exists (the model's status.claim): a claim's cannot
                  change, so an edit of the model's spec.storage.pvc.spec.accessModes does not count
Checks 1-9 need only the application; 10-11 need the model (and for 11 the largest node). The CRD's CEL rules
refuse 4 and 5 already, but an object stored under an older CRD skipped them. Whether the model is *loaded*
is the `Loaded` condition's business (model-loader), not this one's.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from arks_common.api.application import MODEL_MOUNT_PATH, MODEL_VOLUME_NAME, ArksApplication, Driver
from arks_common.api.model import ArksModel
from arks_common.conventions import LABEL_COMPONENT, ROLE_ROUTER, ROLE_SERVE
from arks_common.events.payloads import PrecheckResult
from arks_common.kube.decoding import undecodable
from arks_planner.core.names import name_violation
from arks_planner.core.options import (
    canonical_flag,
    flag_name,
    item_of_word,
    option_errors,
    option_value,
    read_as,
    split_options,
)
from arks_planner.core.placement import SHM_VOLUME_NAME, access_modes_said, pods_per_group, single_node_claim
from arks_planner.core.profiles import CommandTemplate, RuntimeProfile, RuntimeProfiles
from arks_planner.core.reasons import PASS_MESSAGE, PrecheckReason
from arks_planner.core.roles import role_views

SUPPORTED_DRIVERS = frozenset({Driver.LWS.value, Driver.LWS_AS_NAMED.value})
ARKS_LABEL_DOMAIN = "arks.ai"
MAX_EXTRA_OPTIONS_CHARS = 65536
"""All of one role's extraOptions items together: a chat template fits many times over; the CRD's own bounds
(256 items of 4,096) would let a spec cost the planner seconds of splitting and a plan over the bus's limit."""
RESERVED_VOLUME_NAMES = (MODEL_VOLUME_NAME, SHM_VOLUME_NAME)


@dataclass(frozen=True)
class LargestNode:
    """The node with the most allocatable `nvidia.com/gpu`, for groups that must fit on one node."""

    name: str
    gpus: int


_REASON_BY_FIELD: dict[tuple[int | str, ...], PrecheckReason] = {
    ("spec", "runtime"): PrecheckReason.UNSUPPORTED_RUNTIME,
    ("spec", "driver"): PrecheckReason.UNSUPPORTED_DRIVER,
}
"""A parse failure on these fields gets the same reason as the check that would have refused the value."""

PASSED = PrecheckResult(passed=True, reason=PrecheckReason.PASS.value, message=PASS_MESSAGE)


def _fail(reason: PrecheckReason, message: str) -> PrecheckResult:
    return PrecheckResult(passed=False, reason=reason.value, message=message)


def _field_path(loc: tuple[int | str, ...]) -> str:
    """`('spec', 'instanceSpec', 'volumes', 0, 'name')` -> `spec.instanceSpec.volumes[0].name`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def parse_application(obj: dict[str, object]) -> ArksApplication | PrecheckResult:
    """The application, or an `InvalidSpec` failure (or the runtime/driver reason) naming each bad field."""
    too_deep = undecodable(obj)
    if too_deep is not None:
        return _fail(PrecheckReason.INVALID_SPEC, too_deep)
    try:
        return ArksApplication.model_validate(obj)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [f"{_field_path(tuple(e['loc']))}: {e['msg']}" for e in errors]
        first = tuple(errors[0]["loc"][:2]) if errors else ()
        reason = _REASON_BY_FIELD.get(first, PrecheckReason.INVALID_SPEC)
        return _fail(reason, "; ".join(problems))


def _check_names(app: ArksApplication) -> PrecheckResult | None:
    for role, view in role_views(app):
        autoscaling = view.spec.autoscaling
        groups = max(view.spec.replicas, autoscaling.max_replicas if autoscaling else 0, 1)
        message = name_violation(app.metadata.name, app.spec.model.name, (role,), groups, pods_per_group(view))
        if message is not None:
            return _fail(PrecheckReason.INVALID_NAME, message)
    return None


def _check_driver(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    if str(app.spec.driver) not in SUPPORTED_DRIVERS:
        return _fail(
            PrecheckReason.UNSUPPORTED_DRIVER,
            f"spec.driver: '{app.spec.driver}' is not supported; set it to one of {sorted(SUPPORTED_DRIVERS)}",
        )
    return None


def _check_runtime(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    runtime, backend = app.spec.runtime, app.spec.backend()
    if profiles.profile_for(runtime) is None:
        enabled = sorted(name for name in profiles.runtimes if profiles.profile_for(name) is not None)
        return _fail(
            PrecheckReason.UNSUPPORTED_RUNTIME,
            f"spec.runtime: '{runtime}' is not supported by this installation; set it to one of {enabled}",
        )
    profile = profiles.profile_for(runtime, backend)
    if profile is None:
        return _fail(
            PrecheckReason.UNSUPPORTED_RUNTIME,
            f"spec.{runtime}.backend: '{backend}' is not supported by this installation's {runtime} profile; set "
            f"it to one of {profiles.enabled_backends(runtime)}",
        )
    if app.spec.disaggregated() and profile.disaggregation is None:
        able = sorted(n for n, p in profiles.runtimes.items() if p.enabled and p.disaggregation is not None)
        which = f"runtime '{runtime}'" + (f" with backend '{backend}'" if backend else "")
        return _fail(
            PrecheckReason.DISAGGREGATION_NOT_SUPPORTED,
            f"spec.prefill: {which} has no PD-separated serving in this installation's "
            f"profiles; use one of {able} or remove prefill and decode",
        )
    return None


def _check_volumes(app: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    for i, volume in enumerate(app.spec.instance_spec.volumes):
        if volume.name in RESERVED_VOLUME_NAMES:
            what = "the model volume" if volume.name == MODEL_VOLUME_NAME else "the /dev/shm volume"
            return _fail(
                PrecheckReason.RESERVED_VOLUME_NAME,
                f"spec.instanceSpec.volumes[{i}].name: the volume name '{volume.name}' is reserved for "
                f"{what} Arks mounts; rename this volume (and the volumeMounts that use it)",
            )
    return None


def _check_mounts(app: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    for i, mount in enumerate(app.spec.instance_spec.volume_mounts):
        # as the container runtime resolves it: `//models`, `/./models` and `/tmp/../models` are /models too
        path = posixpath.normpath("/" + mount.mount_path.lstrip("/"))
        if path == MODEL_MOUNT_PATH or path.startswith(MODEL_MOUNT_PATH + "/"):
            return _fail(
                PrecheckReason.RESERVED_MOUNT_PATH,
                f"spec.instanceSpec.volumeMounts[{i}].mountPath: '{mount.mount_path}' is at or under "
                f"{MODEL_MOUNT_PATH}, where Arks mounts the model; mount this volume elsewhere",
            )
    return None


def _reserved_label(key: str) -> bool:
    """Keys under arks.ai/ and *.arks.ai/ are Arks' own: they select an application's pods (its Service, its
    endpoints' routers, the slo-scaler), and a user's copy on a pod Arks does not label so would add it."""
    prefix = key.split("/", 1)[0] if "/" in key else ""
    return prefix == ARKS_LABEL_DOMAIN or prefix.endswith("." + ARKS_LABEL_DOMAIN)


def _check_labels(app: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    for key in app.spec.instance_spec.labels:
        if _reserved_label(key):
            return _fail(
                PrecheckReason.RESERVED_LABEL,
                f"spec.instanceSpec.labels: '{_shown(key)}' is under {ARKS_LABEL_DOMAIN}/ or *.{ARKS_LABEL_DOMAIN}/, "
                "whose labels Arks sets to select an application's pods (its Service, its endpoints' routers); "
                "use a key of your own",
            )
    return None


def _check_options(app: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    items = app.spec.extra_options
    total = sum(len(item) for item in items)
    if total > MAX_EXTRA_OPTIONS_CHARS:
        return _fail(
            PrecheckReason.INVALID_EXTRA_OPTIONS,
            f"spec.extraOptions: {total} characters in all, more than the {MAX_EXTRA_OPTIONS_CHARS} a runtime's "
            "command line may carry here; pass long values (a chat template, say) in a file from a volume",
        )
    for error in option_errors(items):
        return _fail(
            PrecheckReason.INVALID_EXTRA_OPTIONS,
            f"spec.extraOptions[{error.index}]: '{_shown(items[error.index])}' {error.message}",
        )
    words = split_options(items)
    for w, word in enumerate(words):
        flag = canonical_flag(word)
        managed = read_as(flag, profile.managed_flags) if flag is not None else None
        if managed is not None:
            field, written = profile.managed_flags[managed], flag_name(word)
            what = managed if written == managed else f"{written} (which the runtime may read as {managed})"
            return _fail(
                PrecheckReason.OPTION_SET_BY_ARKS,
                f"spec.extraOptions[{item_of_word(items, w)}]: {what} is set by Arks from {field}; "
                f"remove it from extraOptions and set {field} instead",
            )
    return None


def _shown(text: str, limit: int = 80) -> str:
    """A user's value as quoted in a message: bounded, so a huge item cannot make the condition unwritable."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_parallelism(app: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    spec, inst = app.spec, app.spec.instance_spec
    tp = spec.tensor_parallel_size or 1
    pp_text = option_value(split_options(spec.extra_options), *profile.pipeline_parallel_flags) or "1"
    try:
        pp = max(1, int(pp_text))
    except ValueError:
        pp = 1  # not a number: the runtime's own parser refuses it with its own message
    ranks, nodes, gpus = tp * pp, inst.replicas, inst.gpus_per_node()
    shape = f"tensorParallelSize {tp} x pipeline parallel size {pp} = {ranks} ranks"
    group = f"spec.instanceSpec.replicas {nodes} x nvidia.com/gpu {gpus} in spec.instanceSpec.resources"
    # One rank needs no GPU (a CPU build, or fake GPU-less nodes in tests); above one every rank needs one.
    if ranks > 1 and ranks > nodes * gpus:
        return _fail(
            PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
            f"spec.tensorParallelSize: {tp} is larger than the {nodes * gpus} GPUs of one group "
            f"({shape}; {group}); lower tensorParallelSize or give the group more nodes or GPUs",
        )
    # vLLM's native multi-node launch and SGLang place the same number of ranks on every node: vLLM 0.33.0
    # vllm/config/parallel.py (world_size % nnodes), SGLang 0.5.23 sglang/srt/server_args.py
    # ((tp_size * pp_size) % nnodes == 0). A Ray-launched (`pooled`) vLLM places ranks on any GPU.
    if profile.parallelism == "even" and nodes > 1 and ranks % nodes != 0:
        fit = nodes * max(gpus, 1)
        return _fail(
            PrecheckReason.PARALLELISM_NOT_DIVISIBLE,
            f"spec.tensorParallelSize: {spec.runtime} runs the same number of ranks on each of the group's "
            f"{nodes} nodes, but {shape} does not divide by {nodes}; set tensorParallelSize to a multiple of "
            f"{nodes} (for example {fit}, every GPU of the group) or change spec.instanceSpec.replicas",
        )
    return None


def _check_environment(app: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    names = {e.name for e in app.spec.instance_spec.env} | set(profile.env)
    for requirement in profile.required_env:
        if not names.intersection(requirement.any_of):
            return _fail(
                PrecheckReason.RUNTIME_ENV_MISSING,
                f"spec.instanceSpec.env: {app.spec.runtime} needs one of {requirement.any_of}; {requirement.message}",
            )
    return None


_INSTALLATION_CHECKS: tuple[Callable[[ArksApplication, RuntimeProfiles], PrecheckResult | None], ...] = (
    _check_driver,
    _check_runtime,
)
_SPEC_CHECKS: tuple[Callable[[ArksApplication, RuntimeProfile], PrecheckResult | None], ...] = (
    _check_volumes,
    _check_mounts,
    _check_labels,
    _check_options,
    _check_parallelism,
    _check_environment,
)


def _check_storage(app: ArksApplication, model: ArksModel, largest: LargestNode | None) -> PrecheckResult | None:
    modes = model.claim_access_modes()
    pods = pods_per_group(app)
    where = f"ArksModel '{model.metadata.name}' has {access_modes_said(model)}"
    if modes == ["ReadWriteOncePod"] and (pods > 1 or app.spec.replicas > 1):
        return _fail(
            PrecheckReason.MODEL_STORAGE_NOT_SHARED,
            f"spec.instanceSpec.replicas: {where}, which only one pod may mount, but the application has "
            f"{app.spec.replicas} group(s) of {pods} pod(s); use ReadWriteOnce, ReadWriteMany or ReadOnlyMany "
            "for the model, or run one group of one node",
        )
    if single_node_claim(model) is None or largest is None:
        return None
    needed = pods * app.spec.instance_spec.gpus_per_node()
    if needed > largest.gpus:
        return _fail(
            PrecheckReason.GROUP_DOES_NOT_FIT_NODE,
            f"spec.instanceSpec.replicas: {where}, so every pod of the application runs on the volume's one "
            f"node, but one group needs {needed} GPUs ({pods} pods x nvidia.com/gpu "
            f"{app.spec.instance_spec.gpus_per_node()}) and the largest node, {largest.name}, has "
            f"{largest.gpus}; use a ReadWriteMany or ReadOnlyMany volume (for example NFS) for the model, "
            "or make the group smaller",
        )
    return None


def precheck(
    app: ArksApplication, model: ArksModel | None, profiles: RuntimeProfiles, largest: LargestNode | None = None
) -> PrecheckResult:
    """The verdict for `app`; `model` is the ArksModel it names, or None when that does not exist; `largest`
    the node with the most GPUs (None when unknown: the fit on one node is then left to the scheduler)."""
    failure = _check_names(app)
    if failure is not None:
        return failure
    for installation_check in _INSTALLATION_CHECKS:
        failure = installation_check(app, profiles)
        if failure is not None:
            return failure
    profile = profiles.profile_for(app.spec.runtime, app.spec.backend())
    assert profile is not None  # _check_runtime passed
    views = role_views(app)
    for role, view in views:
        failure = _check_role(role, view, profile)
        if failure is not None:
            return failure
    if model is None:
        return _fail(
            PrecheckReason.MODEL_NOT_FOUND,
            f"spec.model.name: ArksModel '{app.spec.model.name}' does not exist in namespace "
            f"'{app.metadata.namespace}'; create it or set spec.model.name to an existing ArksModel",
        )
    for role, view in views:
        failure = _check_storage(view, model, largest)
        if failure is not None:
            return _in_role(role, failure)
    return _check_one_pod_claim(views, model) or PASSED


def _check_one_pod_claim(views: list[tuple[str, ArksApplication]], model: ArksModel) -> PrecheckResult | None:
    """A ReadWriteOncePod model can be mounted by one pod of the whole application: every role's pods count
    (a PD application's router, prefill and decode all mount it), at the most groups autoscaling may ask for."""
    modes = model.claim_access_modes()
    if modes != ["ReadWriteOncePod"]:
        return None
    counts = []
    for role, view in views:
        scaling = view.spec.autoscaling
        groups = max(view.spec.replicas, scaling.max_replicas if scaling is not None else 0)
        counts.append((role, pods_per_group(view) * groups))
    total = sum(pods for _, pods in counts)
    if total <= 1:
        return None
    if len(counts) == 1:
        field, detail = "spec.autoscaling.maxReplicas", f"{total} groups when autoscaling scales it up"
    else:
        field, detail = "spec", ", ".join(f"{role} {pods}" for role, pods in counts)
    return _fail(
        PrecheckReason.MODEL_STORAGE_NOT_SHARED,
        f"{field}: ArksModel '{model.metadata.name}' has {access_modes_said(model)}, which only "
        f"one pod may mount, but the application may run {total} pods ({detail}); use ReadWriteOnce, "
        "ReadWriteMany or ReadOnlyMany for the model",
    )


_ROLE_FIELD = re.compile(r"\bspec\.(?=instanceSpec|extraOptions|tensorParallelSize|replicas\b)")


def _in_role(role: str, failure: PrecheckResult) -> PrecheckResult:
    """A failure found on a PD role's view, its fields named where the user wrote them (`spec.prefill...`)."""
    if role == ROLE_SERVE:
        return failure
    message = _ROLE_FIELD.sub(f"spec.{role}.", failure.message)
    return PrecheckResult(passed=failure.passed, reason=failure.reason, message=message)


def _check_role(role: str, view: ArksApplication, profile: RuntimeProfile) -> PrecheckResult | None:
    """The per-group checks on one role; PD roles also refuse the flags the PD commands set."""
    pd = profile.disaggregation
    if role != ROLE_SERVE and pd is not None:
        runtime_flags = profile.managed_flags
        if role == ROLE_ROUTER:
            # the router is its own program (sglang-router, dynamo.frontend): of the engine's flags Arks sets only
            # those its command holds (--host, --port; --http-port, --namespace). sglang-router 0.3.2 has a
            # --model-path of its own (its tokenizer), which Arks does not set and the user may give
            given = _template_flags(pd.router)
            runtime_flags = {flag: field for flag, field in runtime_flags.items() if flag in given}
        profile = profile.model_copy(update={"managed_flags": {**runtime_flags, **pd.managed_flags}})
    for check in _SPEC_CHECKS:
        failure = check(view, profile)
        if failure is not None:
            return _in_role(role, failure)
    return None


def plan_too_large(size: int, objects: Sequence[Mapping[str, Any]]) -> PrecheckResult:
    """`PlanTooLarge` for a verdict of `size` bytes, naming the lists of the role whose objects take the most room:
    a PD application has no spec.extraOptions or spec.instanceSpec.env of its own (the CRD refuses them beside
    prefill and decode), so the message points at the role's (`spec.decode.instanceSpec.env`, ...)."""
    sizes: dict[str, int] = {}
    for obj in objects:
        role = str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT) or ROLE_SERVE)
        sizes[role] = sizes.get(role, 0) + len(json.dumps(obj, separators=(",", ":")))
    role = max(sorted(sizes), key=lambda r: sizes[r]) if sizes else ROLE_SERVE
    where = "spec" if role == ROLE_SERVE else f"spec.{role}"
    return _fail(
        PrecheckReason.PLAN_TOO_LARGE,
        f"The objects derived from this application ({size} bytes) are larger than a bus message may be "
        f"(NATS max_payload); shorten {where}.extraOptions, {where}.instanceSpec.env or the other lists"
        + ("" if role == ROLE_SERVE else f" of {where}, whose objects are the largest ({sizes[role]} bytes)"),
    )


def _template_flags(template: CommandTemplate) -> set[str]:
    """The flags a command template writes itself (not those of its placeholders)."""
    words = [*template.command, *template.args, *(template.script or "").split()]
    return {flag for flag in (canonical_flag(word) for word in words) if flag is not None}
