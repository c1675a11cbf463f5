"""Precheck: every failure has its reason and a message naming the field to change; the first failure wins."""

from __future__ import annotations

from typing import Any

import pytest
from unit.planner.builders import PROFILES, app, app_dict, model, shared_model, single_node

from arks_common.api.application import ArksApplication
from arks_common.api.model import ArksModel
from arks_common.events.payloads import PrecheckResult
from arks_planner.core.precheck import LargestNode, parse_application, precheck
from arks_planner.core.profiles import load_profiles
from arks_planner.core.reasons import PASS_MESSAGE, PrecheckReason

ETCD = [{"name": "ETCD_ENDPOINTS", "value": "http://etcd:2379"}]

PASSES: list[tuple[str, ArksApplication, ArksModel]] = [
    ("the guide's vllm sample on a shared volume passes", app(), shared_model()),
    ("the guide's sglang sample on a shared volume passes", app("application-sglang.yaml"), shared_model()),
    ("a single-node group on a ReadWriteOnce volume passes", single_node(), model("ReadWriteOnce")),
    ("a multi-node group on ReadOnlyMany passes", app(), model("ReadOnlyMany")),
    ("a volume with ReadWriteOnce and ReadWriteMany passes", app(), model("ReadWriteOnce", "ReadWriteMany")),
    ("tensor parallelism equal to the group's GPUs passes", app(tensorParallelSize=2), shared_model()),
    (
        "tensor parallelism of 1 needs no GPU",
        app(tensorParallelSize=None, instance={"replicas": 1, "resources": None}),
        model(),
    ),
    (
        "a mount beside /models passes",
        app(instance={"volumeMounts": [{"name": "cache", "mountPath": "/models-cache"}]}),
        shared_model(),
    ),
    ("a dynamo application with etcd discovery passes", app(runtime="dynamo", instance={"env": ETCD}), shared_model()),
    (
        "a dynamo application with another discovery backend passes",
        app(runtime="dynamo", instance={"env": [{"name": "DYN_DISCOVERY_BACKEND", "value": "kubernetes"}]}),
        shared_model(),
    ),
    ("the guide's vllm sample on the ArksModel guide's ReadWriteOnce model passes", app(), model()),
    ("the guide's sglang sample on the ArksModel guide's model passes", app("application-sglang.yaml"), model()),
    (
        "two ranks per node on two nodes pass",
        app(tensorParallelSize=4, instance={"resources": {"limits": {"nvidia.com/gpu": "2"}}}),
        shared_model(),
    ),
    (
        "pipeline parallelism makes the ranks divide by the nodes",
        app(tensorParallelSize=1, extraOptions=["--pipeline-parallel-size", "2"]),
        shared_model(),
    ),
    (
        "a flag and its value in one item pass",
        app(extraOptions=["--max-model-len 32768", "--gpu-memory-utilization=0.9"]),
        shared_model(),
    ),
]


@pytest.mark.parametrize(("application", "arks_model"), [p[1:] for p in PASSES], ids=[p[0] for p in PASSES])
def test_passes(application: ArksApplication, arks_model: ArksModel) -> None:
    assert precheck(application, arks_model, PROFILES) == PrecheckResult(
        passed=True, reason="PrecheckPass", message="The application passed the pre-checking"
    )
    assert PASS_MESSAGE == "The application passed the pre-checking"


FAILURES: list[tuple[str, ArksApplication, ArksModel | None, PrecheckReason, list[str]]] = [
    (
        "a volume named models fails precheck",
        app(instance={"volumes": [{"name": "cache", "emptyDir": {}}, {"name": "models", "emptyDir": {}}]}),
        shared_model(),
        PrecheckReason.RESERVED_VOLUME_NAME,
        ["spec.instanceSpec.volumes[1].name", "'models'", "rename"],
    ),
    (
        "a mount at /models fails precheck",
        app(instance={"volumeMounts": [{"name": "cache", "mountPath": "/models"}]}),
        shared_model(),
        PrecheckReason.RESERVED_MOUNT_PATH,
        ["spec.instanceSpec.volumeMounts[0].mountPath", "/models", "mount this volume elsewhere"],
    ),
    (
        "a mount under /models fails precheck",
        app(instance={"volumeMounts": [{"name": "a", "mountPath": "/tmp"}, {"name": "b", "mountPath": "/models/x"}]}),
        shared_model(),
        PrecheckReason.RESERVED_MOUNT_PATH,
        ["spec.instanceSpec.volumeMounts[1].mountPath", "'/models/x'"],
    ),
    (
        "a mount at /models/ with a trailing slash fails precheck",
        app(instance={"volumeMounts": [{"name": "b", "mountPath": "/models/"}]}),
        shared_model(),
        PrecheckReason.RESERVED_MOUNT_PATH,
        ["spec.instanceSpec.volumeMounts[0].mountPath"],
    ),
    (
        "tensor parallelism larger than the group's GPUs fails precheck",
        app(tensorParallelSize=4),
        shared_model(),
        PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
        ["spec.tensorParallelSize: 4", "2 GPUs of one group", "spec.instanceSpec.replicas 2", "nvidia.com/gpu 1"],
    ),
    (
        "tensor parallelism above 1 without GPUs fails precheck",
        app(instance={"resources": None}),
        shared_model(),
        PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
        ["spec.tensorParallelSize: 2", "0 GPUs"],
    ),
    (
        "a missing model fails precheck",
        app(),
        None,
        PrecheckReason.MODEL_NOT_FOUND,
        ["spec.model.name", "ArksModel 'qwen-7b'", "namespace 'default'", "create it"],
    ),
    (
        "sglang on two nodes with the default tensor parallelism of 1 fails precheck",
        app("application-sglang.yaml", tensorParallelSize=None, instance={"resources": None}),
        shared_model(),
        PrecheckReason.PARALLELISM_NOT_DIVISIBLE,
        ["spec.tensorParallelSize", "sglang", "1 ranks", "does not divide by 2", "for example 2"],
    ),
    (
        "sglang with tensor parallelism 3 on two nodes fails precheck",
        app(
            "application-sglang.yaml", tensorParallelSize=3, instance={"resources": {"limits": {"nvidia.com/gpu": "2"}}}
        ),
        shared_model(),
        PrecheckReason.PARALLELISM_NOT_DIVISIBLE,
        ["tensorParallelSize 3 x pipeline parallel size 1 = 3 ranks", "multiple of 2", "for example 4"],
    ),
    (
        "vllm's native multi-node launch needs the ranks to divide by the nodes",
        app(tensorParallelSize=3, instance={"resources": {"limits": {"nvidia.com/gpu": "2"}}}),
        shared_model(),
        PrecheckReason.PARALLELISM_NOT_DIVISIBLE,
        ["vllm", "3 ranks", "2 nodes"],
    ),
    (
        "pipeline parallelism counts towards the group's GPUs",
        app(extraOptions=["--pipeline-parallel-size=2"]),
        shared_model(),
        PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
        ["pipeline parallel size 2 = 4 ranks", "2 GPUs of one group"],
    ),
    (
        "a dynamo application without a discovery backend fails precheck",
        app(runtime="dynamo"),
        shared_model(),
        PrecheckReason.RUNTIME_ENV_MISSING,
        ["spec.instanceSpec.env", "ETCD_ENDPOINTS", "DYN_DISCOVERY_BACKEND", "Arks does not"],
    ),
    (
        "a flag Arks sets from a field fails precheck naming the field",
        app(extraOptions=["--max-model-len", "100", "--tensor-parallel-size 4"]),
        shared_model(),
        PrecheckReason.OPTION_SET_BY_ARKS,
        ["spec.extraOptions[2]: --tensor-parallel-size is set by Arks from spec.tensorParallelSize"],
    ),
    (
        "a second port fails precheck",
        app(extraOptions=["--port=9000"]),
        shared_model(),
        PrecheckReason.OPTION_SET_BY_ARKS,
        ["spec.extraOptions[0]: --port"],
    ),
    (
        "a flag Arks sets, spelled with underscores, fails precheck (vLLM reads _ as -)",
        app(extraOptions=["--served_model_name", "other"]),
        shared_model(),
        PrecheckReason.OPTION_SET_BY_ARKS,
        ["spec.extraOptions[0]: --served_model_name (which the runtime may read as --served-model-name)"],
    ),
    (
        "a flag Arks sets, abbreviated, fails precheck (argparse takes an unambiguous prefix)",
        app("application-sglang.yaml", extraOptions=["--mem-fraction-static 0.7", "--por", "9000"]),
        shared_model(),
        PrecheckReason.OPTION_SET_BY_ARKS,
        ["spec.extraOptions[1]: --por (which the runtime may read as --port) is set by Arks"],
    ),
    (
        "a dotted key of a flag Arks sets fails precheck (vLLM folds it into that flag's JSON)",
        app(extraOptions=["--master-addr.x=1"]),
        shared_model(),
        PrecheckReason.OPTION_SET_BY_ARKS,
        ["--master-addr.x (which the runtime may read as --master-addr)"],
    ),
    (
        "pipeline parallelism spelled with underscores still counts towards the group's GPUs",
        app(extraOptions=["--pipeline_parallel_size", "8"]),
        shared_model(),
        PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
        ["pipeline parallel size 8 = 16 ranks"],
    ),
    (
        "abbreviated pipeline parallelism still counts towards the group's GPUs",
        app("application-sglang.yaml", extraOptions=["--pp-siz", "8"]),
        shared_model(),
        PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
        ["pipeline parallel size 8 = 16 ranks"],
    ),
    (
        "a mount at /models in another spelling fails precheck",
        app(
            instance={
                "volumes": [{"name": "x", "emptyDir": {}}],
                "volumeMounts": [{"name": "x", "mountPath": "/tmp/../models/Qwen"}],
            }
        ),
        shared_model(),
        PrecheckReason.RESERVED_MOUNT_PATH,
        ["spec.instanceSpec.volumeMounts[0].mountPath: '/tmp/../models/Qwen' is at or under /models"],
    ),
    (
        "a mount at //models fails precheck",
        app(
            instance={
                "volumes": [{"name": "x", "emptyDir": {}}],
                "volumeMounts": [{"name": "x", "mountPath": "//models"}],
            }
        ),
        shared_model(),
        PrecheckReason.RESERVED_MOUNT_PATH,
        ["'//models' is at or under /models"],
    ),
    (
        "a pod label under arks.ai/ fails precheck (Arks selects pods by them)",
        app(instance={"labels": {"team": "a", "arks.ai/endpoint-backend": "true"}}),
        shared_model(),
        PrecheckReason.RESERVED_LABEL,
        ["spec.instanceSpec.labels: 'arks.ai/endpoint-backend' is under arks.ai/"],
    ),
    (
        "a pod label under endpoint.arks.ai/ fails precheck (an endpoint's routers select by them)",
        app(instance={"labels": {"endpoint.arks.ai/other-team": "true"}}),
        shared_model(),
        PrecheckReason.RESERVED_LABEL,
        ["'endpoint.arks.ai/other-team'"],
    ),
    (
        "extraOptions over 64 KiB in all fail precheck before any splitting",
        app(extraOptions=["-" + " a" * 2000] * 20),
        shared_model(),
        PrecheckReason.INVALID_EXTRA_OPTIONS,
        ["spec.extraOptions: 80020 characters in all, more than the 65536"],
    ),
    (
        "an option with an unclosed quote fails precheck",
        app(extraOptions=["--a", "--chat-template 'x"]),
        shared_model(),
        PrecheckReason.INVALID_EXTRA_OPTIONS,
        ["spec.extraOptions[1]", "close the quote"],
    ),
    (
        "a volume named arks-shm fails precheck",
        app(instance={"volumes": [{"name": "arks-shm", "emptyDir": {}}]}),
        shared_model(),
        PrecheckReason.RESERVED_VOLUME_NAME,
        ["spec.instanceSpec.volumes[0].name", "/dev/shm"],
    ),
    (
        "a multi-node group on a ReadWriteOncePod volume fails precheck",
        app(),
        model("ReadWriteOncePod"),
        PrecheckReason.MODEL_STORAGE_NOT_SHARED,
        ["ReadWriteOncePod", "spec.storage.pvc.spec.accessModes", "only one pod"],
    ),
    (
        "two single-node groups on a ReadWriteOncePod volume fail precheck",
        single_node(replicas=2),
        model("ReadWriteOncePod"),
        PrecheckReason.MODEL_STORAGE_NOT_SHARED,
        ["2 group(s) of 1 pod(s)"],
    ),
    (
        "one group that autoscaling may grow on a ReadWriteOncePod volume fails precheck",
        single_node(autoscaling={"maxReplicas": 4, "slo": {"timeToFirstToken": {"targetMilliseconds": 500}}}),
        model("ReadWriteOncePod"),
        PrecheckReason.MODEL_STORAGE_NOT_SHARED,
        ["spec.autoscaling.maxReplicas:", "may run 4 pods (4 groups when autoscaling scales it up)"],
    ),
    (
        "vLLM's short -pp counts in the ranks like --pipeline-parallel-size",
        app(extraOptions=["-pp", "2"]),
        shared_model(),
        PrecheckReason.TENSOR_PARALLEL_TOO_LARGE,
        ["tensorParallelSize 2 x pipeline parallel size 2"],
    ),
    (
        "vLLM's short -tp is set by Arks like --tensor-parallel-size",
        app(extraOptions=["-tp", "8"]),
        shared_model(),
        PrecheckReason.OPTION_SET_BY_ARKS,
        ["spec.extraOptions[0]: -tp is set by Arks from spec.tensorParallelSize"],
    ),
    (
        "the first failure wins: a reserved volume before a missing model",
        app(instance={"volumes": [{"name": "models", "emptyDir": {}}]}),
        None,
        PrecheckReason.RESERVED_VOLUME_NAME,
        ["spec.instanceSpec.volumes[0].name"],
    ),
    (
        "the first failure wins: a reserved mount before too much parallelism",
        app(tensorParallelSize=8, instance={"volumeMounts": [{"name": "x", "mountPath": "/models"}]}),
        shared_model(),
        PrecheckReason.RESERVED_MOUNT_PATH,
        ["spec.instanceSpec.volumeMounts[0].mountPath"],
    ),
]


@pytest.mark.parametrize(
    ("application", "arks_model", "reason", "fragments"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_failures(
    application: ArksApplication, arks_model: ArksModel | None, reason: PrecheckReason, fragments: list[str]
) -> None:
    result = precheck(application, arks_model, PROFILES)
    assert (result.passed, result.reason) == (False, reason.value)
    for fragment in fragments:
        assert fragment in result.message


def test_a_runtime_the_installation_turned_off_fails_precheck() -> None:
    profiles = load_profiles("runtimes: {sglang: {enabled: false}}")
    result = precheck(app("application-sglang.yaml"), shared_model(), profiles)
    assert (result.passed, result.reason) == (False, "UnsupportedRuntime")
    assert "spec.runtime: 'sglang' is not supported" in result.message
    assert "['dynamo', 'vllm']" in result.message


def test_the_driver_as_the_guide_spells_it_passes_precheck() -> None:
    result = precheck(ArksApplication.model_validate(app_dict(driver="LWS")), shared_model(), PROFILES)
    assert (result.passed, result.reason) == (True, "PrecheckPass")


def test_an_unsupported_driver_fails_precheck() -> None:
    # The enum refuses other drivers when parsing; an object built without validation still meets the check.
    good = app()
    bad = good.model_copy(update={"spec": good.spec.model_copy(update={"driver": "ray"})})
    result = precheck(bad, shared_model(), PROFILES)
    assert (result.passed, result.reason) == (False, "UnsupportedDriver")
    assert result.message.startswith("spec.driver: 'ray' is not supported")


def _with_instance(**instance: Any) -> dict[str, Any]:
    obj = app_dict()
    obj["spec"]["instanceSpec"].update(instance)
    return obj


PARSE_FAILURES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "zero nodes per group is an invalid spec naming instanceSpec.replicas",
        _with_instance(replicas=0),
        "InvalidSpec",
        "spec.instanceSpec.replicas: Input should be greater than or equal to 1",
    ),
    (
        "an unknown runtime is an unsupported runtime naming spec.runtime",
        app_dict(runtime="tgi"),
        "UnsupportedRuntime",
        "spec.runtime: Input should be 'vllm', 'sglang' or 'dynamo'",
    ),
    (
        "an unknown driver is an unsupported driver naming spec.driver",
        app_dict(driver="ray"),
        "UnsupportedDriver",
        "spec.driver: Input should be 'lws' or 'LWS'",
    ),
    (
        "a missing model reference is an invalid spec naming spec.model",
        {**app_dict(), "spec": {"runtime": "vllm"}},
        "InvalidSpec",
        "spec.model: Field required",
    ),
    (
        "a bad list item is named with its index",
        _with_instance(volumes=[{"name": "ok"}, {"name": ""}]),
        "InvalidSpec",
        "spec.instanceSpec.volumes[1].name: String should have at least 1 character",
    ),
    (
        "zero tensor parallelism is an invalid spec",
        app_dict(tensorParallelSize=0),
        "InvalidSpec",
        "spec.tensorParallelSize: Input should be greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(
    ("obj", "reason", "message"), [p[1:] for p in PARSE_FAILURES], ids=[p[0] for p in PARSE_FAILURES]
)
def test_parse_failures(obj: dict[str, Any], reason: str, message: str) -> None:
    result = parse_application(obj)
    assert isinstance(result, PrecheckResult)
    assert (result.passed, result.reason) == (False, reason)
    assert message in result.message


def test_every_parse_error_is_listed() -> None:
    result = parse_application(app_dict(runtime="tgi", tensorParallelSize=0))
    assert isinstance(result, PrecheckResult)
    assert "spec.runtime:" in result.message
    assert "spec.tensorParallelSize:" in result.message


def test_a_valid_object_parses() -> None:
    parsed = parse_application(app_dict())
    assert isinstance(parsed, ArksApplication)
    assert parsed.metadata.name == "app-qwen-vllm"


def test_a_group_held_on_one_node_fails_only_when_it_exceeds_the_largest_node() -> None:
    big = app(instance={"replicas": 2, "resources": {"limits": {"nvidia.com/gpu": "8"}}}, tensorParallelSize=16)
    result = precheck(big, model("ReadWriteOnce"), PROFILES, LargestNode("gpu-0", 8))
    assert (result.passed, result.reason) == (False, "GroupDoesNotFitNode")
    for fragment in ("spec.instanceSpec.replicas", "needs 16 GPUs", "the largest node, gpu-0, has 8", "ReadWriteMany"):
        assert fragment in result.message
    assert precheck(big, model("ReadWriteOnce"), PROFILES, LargestNode("gpu-0", 16)).passed
    assert precheck(big, shared_model(), PROFILES, LargestNode("gpu-0", 8)).passed, "a shared volume spreads"
    assert precheck(big, model("ReadWriteOnce"), PROFILES, None).passed, "unknown nodes: the scheduler decides"


def test_the_older_ray_profile_places_ranks_on_any_node() -> None:
    profiles = load_profiles(None, "vllm0.11-sglang0.5.4-dynamo1.0")
    odd = app(tensorParallelSize=3, instance={"resources": {"limits": {"nvidia.com/gpu": "2"}}})
    assert precheck(odd, shared_model(), profiles).passed
    assert precheck(odd, shared_model(), PROFILES).reason == "ParallelismNotDivisible"


@pytest.mark.parametrize("profile_set", ["default", "vllm0.11-sglang0.5.4-dynamo1.0"])
@pytest.mark.parametrize("runtime", ["vllm", "dynamo"])
def test_vllms_short_tp_is_set_by_arks_in_every_shipped_profile_set(profile_set: str, runtime: str) -> None:
    env = {"env": ETCD} if runtime == "dynamo" else {}
    application = app(runtime=runtime, extraOptions=["-tp", "8"], instance=env)
    result = precheck(application, shared_model(), load_profiles(profile_set=profile_set))
    assert (result.reason, result.message.split(":")[0]) == (PrecheckReason.OPTION_SET_BY_ARKS, "spec.extraOptions[0]")


@pytest.mark.parametrize(
    "autoscaling",
    [
        {"maxReplicas": 4, "behavior": {"scaleDownStabilizationSeconds": 7200}},
        {"maxReplicas": 4, "slo": {}},
    ],
    ids=["a scale-down window over the CRD's hour", "autoscaling without a latency target"],
)
def test_an_application_stored_before_the_crds_autoscaling_rules_passes(autoscaling: dict[str, Any]) -> None:
    """The CRD refuses both on create; one stored before the rules keeps serving: the slo-scaler holds a window to
    the bound and says no target is set (an upgrade must not fail a running application)."""
    parsed = parse_application(app_dict(autoscaling=autoscaling))
    assert isinstance(parsed, ArksApplication)
    assert precheck(parsed, shared_model(), PROFILES, None).passed
