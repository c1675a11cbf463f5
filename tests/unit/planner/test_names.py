"""Derived names: every name Arks derives from metadata.name and spec.model.name fits the object it becomes,
or precheck refuses the application (`InvalidName`) before anything is created, naming the field to change."""

from __future__ import annotations

from typing import Any

import pytest
from unit.planner.builders import PROFILES, app_dict, shared_model

from arks_common.api.application import ArksApplication
from arks_planner.core.names import max_application_name_length, name_violation
from arks_planner.core.precheck import parse_application, precheck
from arks_planner.core.reasons import PrecheckReason

LONGEST = "a" * 46
"""The longest application name: `arks-application-` (17) + 46 = 63, a DNS-1035 label's limit."""


def named(name: str, model: str = "qwen-7b", instance: dict[str, Any] | None = None, **spec: Any) -> ArksApplication:
    """The guide's vllm sample (one group of two pods) under another name, serving another ArksModel."""
    obj = app_dict(model={"name": model}, **spec)
    obj["metadata"]["name"] = name
    obj["spec"]["instanceSpec"].update(instance or {})
    parsed = parse_application(obj)
    assert isinstance(parsed, ArksApplication), parsed
    return parsed


TTFT = {"timeToFirstToken": {"targetMilliseconds": 500}}


PASSES: list[tuple[str, ArksApplication]] = [
    ("the guide's sample name passes", named("app-qwen-vllm")),
    ("the longest name passes on a multi-node group", named(LONGEST)),
    ("the longest name passes on a one-pod group", named(LONGEST, instance={"replicas": 1}, tensorParallelSize=1)),
    ("a one-letter name passes", named("a")),
    ("digits and dashes after the first letter pass", named("a-1-b2")),
    ("a model name with dots and the longest label value passes", named("app", model="qwen2.5-7b" + "b" * 53)),
    (
        "the longest name passes with 100000 groups of two pods (group index 99999)",
        named(LONGEST, autoscaling={"maxReplicas": 100000, "slo": TTFT}),
    ),
]


@pytest.mark.parametrize("application", [p[1] for p in PASSES], ids=[p[0] for p in PASSES])
def test_passes(application: ArksApplication) -> None:
    assert precheck(application, shared_model(), PROFILES).passed


FAILURES: list[tuple[str, ArksApplication, list[str]]] = [
    (
        "a dot in the name fails on the Service name",
        named("x.y"),
        [
            "metadata.name 'x.y' becomes the Service name 'arks-application-x.y', which must be a DNS-1035 label "
            "(lowercase letters, digits and '-', starting with a letter",
            "at most 63 characters): choose an application name of at most 46 characters without dots",
        ],
    ),
    (
        "a name one character too long fails on the Service name",
        named("a" * 47),
        ["metadata.name", "the Service name 'arks-application-aaa", "at most 46 characters (it has 47)"],
    ),
    (
        "a name starting with a digit fails on the LeaderWorkerSet's DNS-1035 rule",
        named("1abc"),
        [
            "metadata.name '1abc' becomes the LeaderWorkerSet name '1abc' (role serve)",
            "DNS-1035 label",
            "of at most 46 characters starting with a letter",
        ],
    ),
    (
        "a dotted name starting with a digit gets both fixes",
        named("1.abc"),
        ["the Service name", "at most 46 characters without dots and starting with a letter"],
    ),
    (
        # The API server refuses uppercase in an ArksApplication's name; an object built around it still meets it.
        "an uppercase name fails",
        named("a").model_copy(update={"metadata": named("a").metadata.model_copy(update={"name": "My-App"})}),
        ["metadata.name 'My-App'", "of lowercase letters, digits and '-' only"],
    ),
    (
        "the longest name fails with 100001 groups of two pods: a worker StatefulSet's revision label",
        named(LONGEST, autoscaling={"maxReplicas": 100001, "slo": TTFT}),
        [
            f"the label controller-revision-hash '{LONGEST}-100000-<hash>' of the worker pods (role serve, group "
            "100000; its StatefulSet's name, '-' and a hash of up to 10 characters), which must be a label value",
            "at most 45 characters (it has 46)",
        ],
    ),
    (
        "spec.replicas counts the groups too",
        named(LONGEST, replicas=100001),
        ["-100000-<hash>' of the worker pods"],
    ),
    (
        "a hub repository id as spec.model.name fails on the model label",
        named("app", model="Qwen/Qwen2.5-7B-Instruct"),
        [
            "spec.model.name 'Qwen/Qwen2.5-7B-Instruct' becomes the value of the label arks.ai/model on every pod, "
            "which must be a label value (at most 63 characters: letters, digits, '-', '_' and '.'",
            "not the hub repository id",
        ],
    ),
    (
        "an ArksModel name longer than a label value fails",
        named("app", model="m" * 64),
        ["spec.model.name", "arks.ai/model", "at most 63 characters"],
    ),
    (
        "the name wins over the model and the spec: first failure",
        named("x.y", model="Qwen/Qwen2.5", instance={"volumes": [{"name": "models", "emptyDir": {}}]}),
        ["metadata.name 'x.y'"],
    ),
]


@pytest.mark.parametrize(("application", "fragments"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_failures(application: ArksApplication, fragments: list[str]) -> None:
    result = precheck(application, shared_model(), PROFILES)
    assert (result.passed, result.reason) == (False, PrecheckReason.INVALID_NAME.value)
    for fragment in fragments:
        assert fragment in result.message


def test_a_bad_name_is_reported_before_a_missing_model() -> None:
    result = precheck(named("x.y"), None, PROFILES)
    assert result.reason == "InvalidName"
    assert precheck(named("x-y"), None, PROFILES).reason == "ModelNotFound"


def test_a_huge_name_gives_a_bounded_message() -> None:
    name = "a" * 250 + ".bc"  # the longest DNS-1123 subdomain the API server accepts
    message = name_violation(name, "m" * 10_000)
    assert message is not None
    assert name not in message
    assert "a" * 80 + "... (253 characters)" in message
    assert len(message) < 600
    model_message = name_violation("app", "m" * 10_000)
    assert model_message is not None
    assert "(10000 characters)" in model_message
    assert len(model_message) < 600


def test_other_roles_leave_room_for_their_suffix() -> None:
    # A `prefill` role's LeaderWorkerSet is `<app>-prefill`: its leader StatefulSet's revision label
    # `<app>-prefill-<hash>` leaves 63 - 8 - 11 = 44 characters, a worker StatefulSet's 42 with group 0.
    roles = ("serve", "prefill")
    assert max_application_name_length(roles) == 44
    assert max_application_name_length(roles, pods_per_group=2) == 42
    assert name_violation("a" * 44, "m", roles) is None
    message = name_violation("a" * 45, "m", roles)
    assert message is not None
    assert f"the label controller-revision-hash '{'a' * 45}-prefill-<hash>' of the leader pods" in message
    assert "at most 44 characters (it has 45)" in message
    message = name_violation("a" * 43, "m", roles, pods_per_group=2)
    assert message is not None
    assert "-prefill-0-<hash>' of the worker pods (role prefill, group 0;" in message
    assert "at most 42 characters (it has 43)" in message


def test_the_longest_name_for_serve() -> None:
    assert max_application_name_length() == 46
    assert max_application_name_length(pods_per_group=2) == 46
    assert max_application_name_length(groups=100_000, pods_per_group=2) == 46
    assert max_application_name_length(groups=100_001, pods_per_group=2) == 45
    assert name_violation(LONGEST, "qwen-7b") is None
