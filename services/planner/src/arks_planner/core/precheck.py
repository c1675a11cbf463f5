"""The `Precheck` verdict on one application: can the planner build a working service from this spec?

Checks run in a fixed order and the first failure wins, so the same spec always gets the same reason:
  1. driver       spec.driver is one Arks supports (lws)
  2. runtime      spec.runtime has an enabled profile in this installation
  3. volumes      no spec.instanceSpec.volumes[i].name is `models`
  4. mounts       no spec.instanceSpec.volumeMounts[i].mountPath is /models or below it
  5. parallelism  spec.tensorParallelSize (default 1) fits the GPUs of one group (instanceSpec.replicas x
                  nvidia.com/gpu); 1 always fits
  6. model        the ArksModel spec.model.name exists in the application's namespace
  7. storage      a multi-node group has a model volume every node can mount
Checks 1-5 need only the application; 6-7 need the model. The CRD's CEL rules refuse 3 and 4 already, but an
object stored under an older CRD skipped them. Whether the model is *loaded* is the `Loaded` condition's
business (model-loader), not this one's.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from arks_common.api.application import MODEL_MOUNT_PATH, MODEL_VOLUME_NAME, ArksApplication, Driver
from arks_common.api.model import ArksModel
from arks_common.events.payloads import PrecheckResult
from arks_planner.core.profiles import RuntimeProfiles
from arks_planner.core.reasons import PASS_MESSAGE, PrecheckReason

SUPPORTED_DRIVERS = frozenset({Driver.LWS.value})

SHARED_ACCESS_MODES = frozenset({"ReadWriteMany", "ReadOnlyMany"})
"""Access modes that let every node of a group mount the model volume at once."""

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
    try:
        return ArksApplication.model_validate(obj)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [f"{_field_path(tuple(e['loc']))}: {e['msg']}" for e in errors]
        first = tuple(errors[0]["loc"][:2]) if errors else ()
        reason = _REASON_BY_FIELD.get(first, PrecheckReason.INVALID_SPEC)
        return _fail(reason, "; ".join(problems))


def _check_driver(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    if str(app.spec.driver) not in SUPPORTED_DRIVERS:
        return _fail(
            PrecheckReason.UNSUPPORTED_DRIVER,
            f"spec.driver: '{app.spec.driver}' is not supported; set it to one of {sorted(SUPPORTED_DRIVERS)}",
        )
    return None


def _check_runtime(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    if profiles.profile_for(app.spec.runtime) is None:
        enabled = sorted(name for name in profiles.runtimes if profiles.profile_for(name) is not None)
        return _fail(
            PrecheckReason.UNSUPPORTED_RUNTIME,
            f"spec.runtime: '{app.spec.runtime}' is not supported by this installation; set it to one of {enabled}",
        )
    return None


def _check_volumes(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    for i, volume in enumerate(app.spec.instance_spec.volumes):
        if volume.name == MODEL_VOLUME_NAME:
            return _fail(
                PrecheckReason.RESERVED_VOLUME_NAME,
                f"spec.instanceSpec.volumes[{i}].name: the volume name '{MODEL_VOLUME_NAME}' is reserved for "
                "the model volume Arks mounts; rename this volume (and the volumeMounts that use it)",
            )
    return None


def _check_mounts(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    for i, mount in enumerate(app.spec.instance_spec.volume_mounts):
        path = mount.mount_path.rstrip("/") or "/"
        if path == MODEL_MOUNT_PATH or path.startswith(MODEL_MOUNT_PATH + "/"):
            return _fail(
                PrecheckReason.RESERVED_MOUNT_PATH,
                f"spec.instanceSpec.volumeMounts[{i}].mountPath: '{mount.mount_path}' is at or under "
                f"{MODEL_MOUNT_PATH}, where Arks mounts the model; mount this volume elsewhere",
            )
    return None


def _check_parallelism(app: ArksApplication, profiles: RuntimeProfiles) -> PrecheckResult | None:
    tp = app.spec.tensor_parallel_size or 1
    nodes = app.spec.instance_spec.replicas
    gpus = app.spec.instance_spec.gpus_per_node()
    # tp 1 needs no GPU at all (a CPU build, or fake GPU-less nodes in tests); above 1 every rank needs one.
    if tp > 1 and tp > nodes * gpus:
        return _fail(
            PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
            f"spec.tensorParallelSize: {tp} is larger than the {nodes * gpus} GPUs of one group "
            f"(spec.instanceSpec.replicas {nodes} x nvidia.com/gpu {gpus} in spec.instanceSpec.resources); "
            "lower tensorParallelSize or give the group more nodes or GPUs",
        )
    return None


_SPEC_CHECKS: tuple[Callable[[ArksApplication, RuntimeProfiles], PrecheckResult | None], ...] = (
    _check_driver,
    _check_runtime,
    _check_volumes,
    _check_mounts,
    _check_parallelism,
)


def _check_storage(app: ArksApplication, model: ArksModel) -> PrecheckResult | None:
    nodes = app.spec.instance_spec.replicas
    modes = model.spec.storage.pvc.access_modes()
    if nodes > 1 and modes and not SHARED_ACCESS_MODES.intersection(modes):
        return _fail(
            PrecheckReason.MODEL_STORAGE_NOT_SHARED,
            f"spec.instanceSpec.replicas: a group of {nodes} nodes needs a model volume every node can mount, "
            f"but ArksModel '{model.metadata.name}' has spec.storage.pvc.spec.accessModes {modes}; "
            "use a ReadWriteMany or ReadOnlyMany volume (for example NFS) for the model, "
            "or set spec.instanceSpec.replicas to 1",
        )
    return None


def precheck(app: ArksApplication, model: ArksModel | None, profiles: RuntimeProfiles) -> PrecheckResult:
    """The verdict for `app`; `model` is the ArksModel it names, or None when that does not exist."""
    for check in _SPEC_CHECKS:
        failure = check(app, profiles)
        if failure is not None:
            return failure
    if model is None:
        return _fail(
            PrecheckReason.MODEL_NOT_FOUND,
            f"spec.model.name: ArksModel '{app.spec.model.name}' does not exist in namespace "
            f"'{app.metadata.namespace}'; create it or set spec.model.name to an existing ArksModel",
        )
    failure = _check_storage(app, model)
    return failure if failure is not None else PASSED
