"""The planner's pure pipeline, API object -> parse -> precheck -> plan, is total on any spec the API server could
store: every input ends in an application or a failed Precheck with a bounded message, never an exception; and a
spec that passes yields a plan whose every name and label Arks derives is one the API server accepts."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from unit.planner.builders import PROFILES, app_dict, model, shared_model

from arks_common.conventions import LABEL_APPLICATION, LABEL_MODEL
from arks_common.events.payloads import PrecheckResult
from arks_planner.core.plan import build_plan
from arks_planner.core.precheck import LargestNode, parse_application, precheck

DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONDITION_MESSAGE = 32_768  # the API server's bound on a condition's message

json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
names = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,80}[a-z0-9])?", fullmatch=True) | st.text(max_size=300)
counts = st.integers(min_value=-5, max_value=10**12) | st.sampled_from([0, 1, 2, 4, 8, 16, 100_001])
quantities = st.sampled_from(["1", "2", "8", "0", "-1", "1e3", "1k", "nope", "", "1" + "0" * 40]) | st.integers()
options = st.lists(
    st.sampled_from(["--max-model-len", "4096", "--port", "--tp", "--nnodes", "'", '"unterminated', "a b", "--x=y"])
    | st.text(max_size=60),
    max_size=8,
)

# spec fields (camelCase, as a user writes them) and what a user, a typo or an attacker might put there
SPEC_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "replicas": counts | json_values,
    "runtime": st.sampled_from(["vllm", "sglang", "dynamo", "VLLM", "tgi", ""]) | json_values,
    "driver": st.sampled_from(["lws", "deployment"]) | json_values,
    "runtimeImage": st.text(max_size=200) | json_values,
    "servedModelName": names | json_values,
    "tensorParallelSize": counts | json_values,
    "extraOptions": options | json_values,
    "model": st.fixed_dictionaries({"name": names}) | json_values,
    "autoscaling": st.fixed_dictionaries({"minReplicas": counts, "maxReplicas": counts}) | json_values,
}
INSTANCE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "replicas": counts | json_values,
    "resources": st.fixed_dictionaries(
        {"limits": st.dictionaries(st.sampled_from(["nvidia.com/gpu", "cpu", "memory"]), quantities, max_size=3)}
    )
    | json_values,
    "labels": st.dictionaries(st.text(max_size=70), st.text(max_size=70), max_size=3) | json_values,
    "annotations": st.dictionaries(st.text(max_size=30), st.text(max_size=100), max_size=3) | json_values,
    "env": st.lists(st.fixed_dictionaries({"name": st.text(max_size=20), "value": st.text(max_size=20)}), max_size=3)
    | json_values,
    "volumes": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["models", "cache", ""])}), max_size=2)
    | json_values,
    "volumeMounts": st.lists(
        st.fixed_dictionaries({"name": st.text(max_size=10), "mountPath": st.sampled_from(["/models", "/x", ""])}),
        max_size=2,
    )
    | json_values,
    "nodeSelector": json_values,
    "affinity": json_values,
    "tolerations": json_values,
    "schedulerName": json_values,
    "serviceAccountName": json_values,
}


@st.composite
def applications(draw: st.DrawFn) -> dict[str, Any]:
    """A guide sample with some spec and instanceSpec fields replaced, and perhaps a hostile name."""
    obj = app_dict(draw(st.sampled_from(["application-vllm.yaml", "application-sglang.yaml"])))
    for field in draw(st.sets(st.sampled_from(sorted(SPEC_FIELDS)), max_size=4)):
        obj["spec"][field] = draw(SPEC_FIELDS[field])
    instance = obj["spec"].setdefault("instanceSpec", {})
    for field in draw(st.sets(st.sampled_from(sorted(INSTANCE_FIELDS)), max_size=4)):
        instance[field] = draw(INSTANCE_FIELDS[field])
    if draw(st.booleans()):
        obj["metadata"]["name"] = draw(names)
    return obj


def _derived_names_are_valid(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        name = obj["metadata"]["name"]
        assert DNS1035.match(name), f"{obj['kind']} name {name!r}"
        assert len(name) <= 63, f"{obj['kind']} name {name!r}"
        labels = obj["metadata"].get("labels") or {}
        for key in (LABEL_APPLICATION, LABEL_MODEL):
            if key in labels:
                value = labels[key]
                assert LABEL_VALUE.match(value), f"label {key}={value!r}"
                assert len(value) <= 63, f"label {key}={value!r}"
    assert json.dumps(objects)  # the plan travels as JSON


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=applications(), rwo=st.booleans(), largest_gpus=st.none() | st.integers(min_value=0, max_value=16))
def test_any_spec_is_judged_without_an_exception_and_a_passing_one_plans_valid_names(
    obj: dict[str, Any], rwo: bool, largest_gpus: int | None
) -> None:
    parsed = parse_application(obj)
    if isinstance(parsed, PrecheckResult):
        verdict = parsed
    else:
        largest = None if largest_gpus is None else LargestNode(name="gpu-node", gpus=largest_gpus)
        the_model = model() if rwo else shared_model()
        verdict = precheck(parsed, the_model, PROFILES, largest)
        if verdict.passed:
            plan = build_plan(parsed, the_model, PROFILES)
            _derived_names_are_valid(plan.objects)
    event(f"{verdict.passed} {verdict.reason}")
    assert verdict.reason
    assert 0 < len(verdict.message) <= CONDITION_MESSAGE
    assert verdict.passed or verdict.reason != "PrecheckPass"
