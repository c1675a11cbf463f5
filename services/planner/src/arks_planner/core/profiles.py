"""Runtime profiles: per runtime, the default image, the HTTP port and the launch command templates, as data.

The defaults ship as package data (`arks_planner/profiles/default.yaml`); an installation overrides them per
runtime and per field with its own YAML (`load_profiles`), so a new runtime release needs no code change.
This module only validates and merges profiles; `core.commands` expands the templates.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from arks_common.api.application import DynamoBackend, Runtime

DEFAULT_PROFILES_PACKAGE = "arks_planner.profiles"
DEFAULT_PROFILES_SET = "default"
"""The shipped profile sets are package data files `<name>.yaml`: `default` (the current releases) and older
sets an installation may select (ARKS_RUNTIME_PROFILES_SET) when its images lag behind."""

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
"""`{{name}}` in a template; double braces so that shell `${VAR}` and kubelet `$(VAR)` stay untouched."""

PLACEHOLDERS = frozenset(
    {
        "model_path",
        "served_model_name",
        "tensor_parallel_size",
        "port",
        "metrics_port",
        "router_metrics_port",
        "application",
        "namespace",
        "default_flags",
        "extra_options",
    }
)
"""Every name a template may use; anything else is refused when the profiles load, not when a pod starts."""

LIST_PLACEHOLDERS = frozenset({"default_flags", "extra_options"})
"""Placeholders that stand for several argv items: in `args` they must be a whole item on their own."""

KNOWN_BACKENDS: dict[str, frozenset[str]] = {Runtime.DYNAMO.value: frozenset(b.value for b in DynamoBackend)}
"""The engine backends a runtime can run (`spec.dynamo.backend`); the other runtimes are their own engine."""
DEFAULT_BACKENDS: dict[str, str] = {Runtime.DYNAMO.value: DynamoBackend.VLLM.value}
"""The engine a runtime's own profile runs when it does not say (`backend`): the API's default."""


class ProfileError(ValueError):
    """The default or the installation's profiles do not validate; raised at start-up, never per application."""


class _ProfileModel(BaseModel):
    # Refuse unknown keys: a typo in an installation's override must fail at start-up, not be ignored.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class CommandTemplate(_ProfileModel):
    """The command of one container: `command` and `args` as argv items, or `command` plus one shell `script`.

    With `script`, the container runs `command + [script]` (for example `sh -c <script>`) and every
    placeholder is replaced shell-quoted; with `args`, `{{extra_options}}` / `{{default_flags}}` expand into
    separate argv items and the other placeholders are replaced in place.
    """

    command: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    script: str | None = None

    @model_validator(mode="after")
    def _check(self) -> CommandTemplate:
        if self.script is not None and self.args:
            raise ValueError("give either args or script, not both")
        for text in [*self.command, *self.args, self.script or ""]:
            for name in PLACEHOLDER.findall(text):
                if name not in PLACEHOLDERS:
                    raise ValueError(f"unknown placeholder {{{{{name}}}}}; known: {', '.join(sorted(PLACEHOLDERS))}")
        for item in [*self.command, *self.args]:
            for name in PLACEHOLDER.findall(item):
                if name in LIST_PLACEHOLDERS and PLACEHOLDER.fullmatch(item.strip()) is None:
                    raise ValueError(f"{{{{{name}}}}} stands for several items and must be an item of its own")
        return self


class SingleNodeCommands(_ProfileModel):
    """A group of one pod: the leader is the whole service."""

    leader: CommandTemplate


class MultiNodeCommands(_ProfileModel):
    """A group of several pods: the leader serves HTTP, the workers join it."""

    leader: CommandTemplate
    worker: CommandTemplate


class EngineRoleProfile(_ProfileModel):
    """One engine role of PD-separated serving (prefill or decode): its commands and what it adds."""

    default_flags: list[str] = Field(
        default_factory=list,
        description="Flags this role adds through {{default_flags}} (after the runtime's), each unless the "
        "role's extraOptions already give it: the KV transfer backend or configuration.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of this role's pods (SGLang's bootstrap port)."
    )
    single_node: SingleNodeCommands
    multi_node: MultiNodeCommands


class DisaggregationProfile(_ProfileModel):
    """PD-separated serving: a router (frontend) in front of prefill and decode engine groups (docs/pd.md)."""

    router: CommandTemplate
    router_readiness_probe: dict[str, Any] | None = Field(
        default=None, description="The router pod's readiness probe; default an httpGet of healthPath on port."
    )
    router_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The router's metrics on a port of their own, not on `port` (sglang-router's --prometheus-port, "
        "{{router_metrics_port}} in its command): the router pod declares it as `metrics` (in place of the "
        "runtime's metricsPort) and names its serving port `api`, not `http`, so the scrapes of the monitoring "
        "chart reach its metrics and not a port where /metrics is not found. None: the router serves its "
        "metrics on `port` (Dynamo's frontend).",
    )
    router_service_account_required: bool = Field(
        default=False,
        description="The router watches pods through the Kubernetes API (SGLang's service discovery): unless "
        "spec.router.instanceSpec.serviceAccountName names an account, Arks plans one that may read pods.",
    )
    engine_readiness_probe: dict[str, Any] | None = Field(
        default=None,
        description="Prefill and decode leaders' readiness probe; default an httpGet of healthPath on port.",
    )
    engines_serve_http: bool = Field(
        default=True,
        description="Prefill and decode leaders serve HTTP on `port` (SGLang's servers, which its router calls). "
        "False for engines that only register with the runtime's discovery (Dynamo's workers): their leaders "
        "declare no serving port, which the monitoring chart would scrape where nothing listens.",
    )
    managed_flags: dict[str, str] = Field(
        default_factory=dict, description="More flags the PD commands set; refused in the roles' extraOptions."
    )
    prefill: EngineRoleProfile
    decode: EngineRoleProfile


class EnvRequirement(_ProfileModel):
    """The runtime cannot start unless the pod's environment (spec.instanceSpec.env) has one of `any_of`."""

    any_of: list[str] = Field(min_length=1)
    message: str = Field(min_length=1, description="What the variable is for and how to set it.")


class RuntimeProfile(_ProfileModel):
    enabled: bool = Field(default=True, description="False turns the runtime off in this installation.")
    image: str = Field(min_length=1, description="The validated image, used when the application names none.")
    version: str = Field(min_length=1, description="The runtime release the commands target (image's version).")
    port: int = Field(default=8080, ge=1, le=65535, description="The runtime's HTTP port on the leader.")
    health_path: str = Field(default="/health", description="The HTTP path of the leader's readiness probe.")
    readiness_probe: dict[str, Any] | None = Field(
        default=None,
        description="The leader's readiness probe (a core/v1 Probe whose strings may hold placeholders); "
        "default an httpGet of healthPath on port.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A port of its own for metrics on every engine pod (named `metrics`); not on a PD router's pod, "
        "which declares disaggregation.routerMetricsPort, if any.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment every runtime container gets (values may hold placeholders); "
        "a variable of the same name in spec.instanceSpec.env wins.",
    )
    parallelism: Literal["even", "pooled"] = Field(
        default="even",
        description="How the ranks (tensor x pipeline parallel size) sit on a group's nodes: `even`, the same "
        "number on every node (native multi-node launches), or `pooled`, anywhere (Ray).",
    )
    pipeline_parallel_flags: list[str] = Field(
        default_factory=list, description="The runtime's flags for pipeline parallelism, read from extraOptions."
    )
    managed_flags: dict[str, str] = Field(
        default_factory=dict,
        description="Flags the commands set from the spec, each mapped to the spec field to use instead; "
        "precheck refuses them in extraOptions.",
    )
    required_env: list[EnvRequirement] = Field(default_factory=list)
    shared_memory_size: str | None = Field(
        default="16Gi",
        description="sizeLimit of the memory-backed /dev/shm every runtime pod gets; null for none.",
    )
    default_flags: list[str] = Field(
        default_factory=list,
        description="Flags added through {{default_flags}} unless the user's extraOptions already give them.",
    )
    single_node: SingleNodeCommands
    multi_node: MultiNodeCommands
    disaggregation: DisaggregationProfile | None = Field(
        default=None, description="PD-separated serving; None: this runtime serves aggregated only."
    )
    backend: str | None = Field(
        default=None, description="The engine backend these commands run (Dynamo: vllm); None: the runtime itself."
    )
    backends: dict[str, RuntimeProfile] = Field(
        default_factory=dict,
        description="The runtime's other engine backends (Dynamo: sglang), each given as the fields that differ "
        "from this profile, each such field replacing this profile's whole; resolved when the profiles load.",
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve_backends(cls, data: Any) -> Any:
        """Each backend as a whole profile: this profile's fields, those the backend gives replaced whole (a
        shared base: Dynamo's environment, probes and discovery stay in one place)."""
        if not isinstance(data, dict) or not isinstance(data.get("backends"), dict):
            return data
        base = {to_camel(k): v for k, v in data.items() if to_camel(k) not in ("backend", "backends")}
        resolved: dict[str, Any] = {}
        for name, overlay in data["backends"].items():
            if not isinstance(overlay, dict):
                resolved[name] = overlay  # refused by the field's own validation, naming it
                continue
            fields = {to_camel(k): v for k, v in overlay.items()}
            if "backends" in fields:
                raise ValueError(f"backends.{name}: a backend has no backends of its own")
            resolved[name] = {**base, **fields, "backend": name}
        return {**data, "backends": resolved}

    @model_validator(mode="after")
    def _check_placeholders(self) -> RuntimeProfile:
        pd = self.disaggregation
        probes = [] if pd is None else [pd.router_readiness_probe, pd.engine_readiness_probe]
        for text in [*self.env.values(), *_strings(self.readiness_probe), *_strings(probes)]:
            for name in PLACEHOLDER.findall(text):
                if name not in PLACEHOLDERS or name in LIST_PLACEHOLDERS:
                    raise ValueError(f"{{{{{name}}}}} cannot be used in env or readinessProbe")
        if "{{metrics_port}}" in str(self.model_dump()) and self.metrics_port is None:
            raise ValueError("{{metrics_port}} is used but metricsPort is not set")
        router_metrics = None if pd is None else pd.router_metrics_port
        if "{{router_metrics_port}}" in str(self.model_dump()) and router_metrics is None:
            raise ValueError("{{router_metrics_port}} is used but disaggregation.routerMetricsPort is not set")
        if router_metrics is not None and router_metrics in (self.port, self.metrics_port):
            raise ValueError(
                f"disaggregation.routerMetricsPort {router_metrics} is also the runtime's "
                f"{'port' if router_metrics == self.port else 'metricsPort'}: the router pod's ports must differ"
            )
        return self


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON-like value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class RuntimeProfiles(_ProfileModel):
    runtimes: dict[str, RuntimeProfile]

    def fingerprint(self) -> str:
        """Changes with any profile value: a planner started with other profiles re-plans every application."""
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def profile_for(self, runtime: str, backend: str | None = None) -> RuntimeProfile | None:
        """The runtime's profile for that engine backend (None: the runtime's own profile), or None when the
        installation has none or turned it off."""
        profile = self.runtimes.get(str(runtime))
        if profile is not None and backend is not None and backend != _own_backend(str(runtime), profile):
            profile = profile.backends.get(str(backend))
        return profile if profile is not None and profile.enabled else None

    def enabled_backends(self, runtime: str) -> list[str]:
        """The engine backends of `runtime` this installation runs (empty for a runtime that is its own engine)."""
        profile = self.runtimes.get(str(runtime))
        if profile is None:
            return []
        names = [_own_backend(str(runtime), profile), *profile.backends]
        return sorted(n for n in names if n is not None and self.profile_for(runtime, n) is not None)

    @model_validator(mode="after")
    def _known_runtimes(self) -> RuntimeProfiles:
        known = {r.value for r in Runtime}
        unknown = sorted(set(self.runtimes) - known)
        if unknown:
            raise ValueError(f"profiles for unknown runtimes {unknown}; known: {sorted(known)}")
        for name, profile in self.runtimes.items():
            allowed = KNOWN_BACKENDS.get(name, frozenset())
            given = {b for b in [profile.backend, *profile.backends] if b is not None}
            if given - allowed:
                what = f"known: {sorted(allowed)}" if allowed else "it has none"
                raise ValueError(f"runtimes.{name}: unknown engine backends {sorted(given - allowed)}; {what}")
        return self


def _own_backend(runtime: str, profile: RuntimeProfile) -> str | None:
    return profile.backend or DEFAULT_BACKENDS.get(runtime)


def shipped_profile_sets() -> list[str]:
    files = resources.files(DEFAULT_PROFILES_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def default_profiles_yaml(profile_set: str = DEFAULT_PROFILES_SET) -> str:
    """A shipped profile set, read from package data."""
    if profile_set not in shipped_profile_sets():
        raise ProfileError(f"no shipped runtime profile set '{profile_set}'; known: {shipped_profile_sets()}")
    return resources.files(DEFAULT_PROFILES_PACKAGE).joinpath(f"{profile_set}.yaml").read_text(encoding="utf-8")


def merge(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merge key by key, anything else (lists included) is replaced whole."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def _parse_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{origin}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileError(f"{origin}: expected a mapping with a `runtimes` key, got {type(data).__name__}")
    return data


def load_profiles(override_yaml: str | None = None, profile_set: str = DEFAULT_PROFILES_SET) -> RuntimeProfiles:
    """A shipped profile set with the installation's YAML (same shape, any subset of fields) merged over it."""
    data = _parse_yaml(default_profiles_yaml(profile_set), f"profile set {profile_set}")
    if override_yaml:
        data = merge(data, _parse_yaml(override_yaml, "profile override"))
    try:
        return RuntimeProfiles.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"runtime profiles are invalid: {exc}") from exc
