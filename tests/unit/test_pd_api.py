"""The PD-separated form of ArksApplication (docs/pd.md): the CRD's CEL rules and the Python model refuse the
same nonsense combinations, each naming the field; the samples of both forms pass."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from arks_common.api import ArksApplication
from arks_common.api.application import pd_form_problem
from arks_common.crdgen import APPLICATION_CRD
from support.builders import sample, sample_with
from support.crd_validation import validate

APP = APPLICATION_CRD.to_k8s()
PD_SAMPLES = ["application-sglang-pd.yaml", "application-dynamo-pd.yaml"]


def pd(**spec: Any) -> dict[str, Any]:
    """The SGLang PD sample with `spec` fields replaced (None removes the field)."""
    return sample_with("application-sglang-pd.yaml", **spec)


def scaled(**roles: dict[str, Any]) -> dict[str, Any]:
    """The SGLang PD sample with `autoscaling` set on the named roles."""
    doc = sample("application-sglang-pd.yaml")
    for role, autoscaling in roles.items():
        doc["spec"][role]["autoscaling"] = copy.deepcopy(autoscaling)
    return doc


@pytest.mark.parametrize("name", PD_SAMPLES)
def test_pd_samples_pass_the_crd_and_the_model(name: str) -> None:
    doc = sample(name)
    assert validate(APP, doc) == []
    spec = ArksApplication.model_validate(doc).spec
    assert spec.disaggregated()
    assert spec.prefill is not None
    assert spec.decode is not None


@pytest.mark.parametrize("name", ["application-vllm.yaml", "application-sglang.yaml"])
def test_the_aggregated_samples_are_not_disaggregated(name: str) -> None:
    assert not ArksApplication.model_validate(sample(name)).spec.disaggregated()


REFUSED = [
    ("prefill without decode", pd(decode=None), "spec.decode", "prefill and decode go together"),
    ("decode without prefill", pd(prefill=None), "spec.decode", "prefill and decode go together"),
    (
        "a router on an aggregated application",
        pd(prefill=None, decode=None),
        "spec.router",
        "router is only for PD-separated serving",
    ),
    ("PD on vllm", pd(runtime="vllm"), "spec.runtime", "needs runtime sglang or dynamo"),
    ("PD with the default runtime", pd(runtime=None), "spec.runtime", "needs runtime sglang or dynamo"),
    ("aggregated tensorParallelSize", pd(tensorParallelSize=2), "spec.tensorParallelSize", "per role"),
    ("aggregated extraOptions", pd(extraOptions=["--x"]), "spec.extraOptions", "per role"),
    ("aggregated instanceSpec", pd(instanceSpec={"replicas": 2}), "spec.instanceSpec", "per role"),
    ("aggregated replicas", pd(replicas=3), "spec.replicas", "prefill.replicas and decode.replicas"),
    (
        "autoscaling of a PD application",
        pd(autoscaling={"maxReplicas": 3}),
        "spec.autoscaling",
        "set autoscaling per role",
    ),
    (
        "an inter-token latency target on prefill",
        scaled(prefill={"maxReplicas": 3, "slo": {"interTokenLatency": {"targetMilliseconds": 50}}}),
        "spec.prefill.autoscaling.slo.interTokenLatency",
        "prefill is scaled on timeToFirstToken and its queue",
    ),
    (
        "a TTFT target on decode",
        scaled(decode={"maxReplicas": 3, "slo": {"timeToFirstToken": {"targetMilliseconds": 500}}}),
        "spec.decode.autoscaling.slo.timeToFirstToken",
        "decode is scaled on interTokenLatency and KV-cache usage",
    ),
    (
        "a role's minReplicas above its maxReplicas",
        scaled(decode={"minReplicas": 4, "maxReplicas": 3}),
        "spec.decode.autoscaling.minReplicas",
        "must not be larger than",
    ),
    (
        "a multi-node router",
        pd(router={"instanceSpec": {"replicas": 2}}),
        "spec.router.instanceSpec.replicas",
        "one node",
    ),
    ("negative prefill groups", pd(prefill={"replicas": -1}), "spec.prefill.replicas", ""),
    ("zero tensor parallelism", pd(decode={"tensorParallelSize": 0}), "spec.decode.tensorParallelSize", ""),
    # a LeaderWorkerSet's replicas and size are int32: more is refused here, naming the field, not by the LWS
    # webhook after the other roles' objects were made
    ("prefill groups past int32", pd(prefill={"replicas": 2**31}), "spec.prefill.replicas", "2147483647"),
    (
        "decode nodes past int32",
        pd(decode={"instanceSpec": {"replicas": 2**31}}),
        "spec.decode.instanceSpec",
        "2147483647",
    ),
    ("router pods past int32", pd(router={"replicas": 2**31}), "spec.router.replicas", "2147483647"),
]


STORED_BEFORE_THE_RULE = [
    (
        "prefill autoscaled without its TTFT target",
        scaled(prefill={"maxReplicas": 3}),
        "spec.prefill.autoscaling.slo",
        "prefill is scaled on timeToFirstToken: set its target",
    ),
    (
        "decode autoscaled without its inter-token latency target",
        scaled(decode={"maxReplicas": 3, "slo": {}}),
        "spec.decode.autoscaling.slo",
        "decode is scaled on interTokenLatency: set its target",
    ),
]
"""Refused by the CRD only: a role stored without its target before the rule keeps serving (the slo-scaler holds
it within its bounds, saying no target is set); an upgrade must not fail a running application."""


@pytest.mark.parametrize(
    ("case", "doc", "field", "words"),
    REFUSED + STORED_BEFORE_THE_RULE,
    ids=[c[0] for c in REFUSED + STORED_BEFORE_THE_RULE],
)
def test_the_crd_refuses_nonsense_pd_specs_naming_the_field(
    case: str, doc: dict[str, Any], field: str, words: str
) -> None:
    errors = validate(APP, doc)
    assert any(e.startswith(field) and words in e for e in errors), errors


@pytest.mark.parametrize(("case", "doc", "field", "words"), REFUSED, ids=[c[0] for c in REFUSED])
def test_the_model_refuses_the_same_specs_naming_the_field(
    case: str, doc: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ArksApplication.model_validate(doc)
    text = str(caught.value)
    assert words in text
    # The field is named in the message (form rules) or in pydantic's location (field constraints).
    assert field in text or field.removeprefix("spec.").replace(".", "\n  ") in text or field.split(".")[-1] in text


def test_the_spec_replicas_default_is_allowed_with_pd() -> None:
    assert validate(APP, pd(replicas=1)) == []
    assert pd_form_problem(ArksApplication.model_validate(pd(replicas=1)).spec) is None


def test_a_router_block_is_optional() -> None:
    doc = sample("application-dynamo-pd.yaml")
    del doc["spec"]["router"]
    assert validate(APP, doc) == []
    assert ArksApplication.model_validate(doc).spec.router is None


def test_per_role_autoscaling_passes_the_crd_and_the_model() -> None:
    doc = scaled(
        prefill={"minReplicas": 1, "maxReplicas": 4, "slo": {"timeToFirstToken": {"targetMilliseconds": 500}}},
        decode={"minReplicas": 2, "maxReplicas": 8, "slo": {"interTokenLatency": {"targetMilliseconds": 50}}},
    )
    assert validate(APP, doc) == []
    spec = ArksApplication.model_validate(doc).spec
    assert spec.prefill is not None
    assert spec.prefill.autoscaling is not None
    assert spec.decode is not None
    assert spec.decode.autoscaling is not None
    assert (spec.prefill.autoscaling.max_replicas, spec.decode.autoscaling.min_replicas) == (4, 2)


@pytest.mark.parametrize(
    ("case", "doc", "field", "words"), STORED_BEFORE_THE_RULE, ids=[c[0] for c in STORED_BEFORE_THE_RULE]
)
def test_a_role_stored_without_its_target_still_parses(case: str, doc: dict[str, Any], field: str, words: str) -> None:
    assert ArksApplication.model_validate(doc).spec.prefill is not None
