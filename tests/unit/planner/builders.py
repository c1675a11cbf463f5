"""Small builders of planner inputs, starting from the user guide's samples, and readers of plan outputs."""

from __future__ import annotations

import copy
import shlex
from typing import Any

from arks_common.api.application import ArksApplication
from arks_common.api.model import ArksModel
from arks_planner.core.plan import Plan
from arks_planner.core.precheck import parse_application
from arks_planner.core.profiles import RuntimeProfiles, load_profiles
from support.builders import sample

NAMESPACE = "default"
PROFILES: RuntimeProfiles = load_profiles(None)


APP_UID = "0a0e4d41-5a0b-4d1e-9f3c-6f2d7c1b2a10"


def app_dict(sample_name: str = "application-vllm.yaml", **spec: Any) -> dict[str, Any]:
    """A guide sample as a raw object in NAMESPACE, with `spec` fields (camelCase) replaced."""
    obj = sample(sample_name)
    obj["metadata"]["namespace"] = NAMESPACE
    obj["metadata"]["uid"] = APP_UID
    obj["spec"].update(copy.deepcopy(spec))
    return obj


def app(
    sample_name: str = "application-vllm.yaml", instance: dict[str, Any] | None = None, **spec: Any
) -> ArksApplication:
    """A parsed application: a guide sample with `spec` fields and `instanceSpec` fields (camelCase) replaced."""
    obj = app_dict(sample_name, **spec)
    obj["spec"].setdefault("instanceSpec", {}).update(copy.deepcopy(instance or {}))
    parsed = parse_application(obj)
    assert isinstance(parsed, ArksApplication), parsed
    return parsed


def single_node(runtime: str = "vllm", **spec: Any) -> ArksApplication:
    """A one-pod group with one GPU and tensor parallelism 1, unless `spec` says otherwise."""
    return app(
        instance={"replicas": 1, "resources": {"limits": {"nvidia.com/gpu": "1"}}},
        **{"runtime": runtime, "tensorParallelSize": 1, **spec},
    )


def model(*access_modes: str) -> ArksModel:
    """The guide's ArksModel, with other access modes for its volume when given."""
    obj = sample("model.yaml")
    if access_modes:
        obj["spec"]["storage"]["pvc"]["spec"]["accessModes"] = list(access_modes)
    return ArksModel.model_validate(obj)


def shared_model() -> ArksModel:
    """The guide's model on a volume every node of a group can mount (NFS-like)."""
    return model("ReadWriteMany")


def lws(plan: Plan) -> dict[str, Any]:
    obj: dict[str, Any] = plan.objects[0]
    return obj


def service(plan: Plan) -> dict[str, Any]:
    obj: dict[str, Any] = plan.objects[1]
    return obj


def group_pod(group_set: dict[str, Any], role: str = "leader") -> dict[str, Any]:
    """A LeaderWorkerSet's leader or worker pod template; a one-pod group's leader is its workerTemplate."""
    template = group_set["spec"]["leaderWorkerTemplate"]
    key = "leaderTemplate" if role == "leader" and "leaderTemplate" in template else "workerTemplate"
    found: dict[str, Any] = template[key]
    return found


def group_container(group_set: dict[str, Any], role: str = "leader") -> dict[str, Any]:
    found: dict[str, Any] = group_pod(group_set, role)["spec"]["containers"][0]
    return found


def group_argv(group_set: dict[str, Any], role: str = "leader") -> list[str]:
    """The container's command and args as they stand (a PD role's LeaderWorkerSet, say)."""
    c = group_container(group_set, role)
    return [*c["command"], *c.get("args", [])]


def pod(plan: Plan, role: str) -> dict[str, Any]:
    """The leader or worker pod template of the plan's one LeaderWorkerSet."""
    return group_pod(lws(plan), role)


def container(plan: Plan, role: str) -> dict[str, Any]:
    found: dict[str, Any] = pod(plan, role)["spec"]["containers"][0]
    return found


def argv(plan: Plan, role: str) -> list[str]:
    """The container's command line; for a `sh -c` script, the words of its last command (the server)."""
    c = container(plan, role)
    words = [*c["command"], *c.get("args", [])]
    if words[:2] == ["sh", "-c"]:
        last = [line for line in words[2].splitlines() if line.strip()][-1]
        return shlex.split(last)
    return words


def script(plan: Plan, role: str) -> str:
    c = container(plan, role)
    assert c["command"] == ["sh", "-c"], c["command"]
    text: str = c["args"][0]
    return text


def script_commands(plan: Plan, role: str) -> list[list[str]]:
    """Every line of the role's script, split into words as the shell would (no expansion)."""
    return [shlex.split(line, comments=False) for line in script(plan, role).splitlines() if line.strip()]


def contains_run(words: list[str], run: list[str]) -> bool:
    """Whether `run` appears in `words` as consecutive items."""
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))
