"""The generated CRDs accept the guides' samples and refuse bad specs with messages that name the field.

Checked offline with a JSON-schema validator and a CEL evaluator; the cluster suite runs the same cases
against the real API server.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from arks_common.api import ArksApplication, ArksApplicationSpec, ArksEndpoint
from arks_common.crdgen import APPLICATION_CRD, ENDPOINT_CRD, MODEL_CRD, structural_schema
from support.builders import sample, vllm_app, with_instance
from support.crd_validation import validate

APP = APPLICATION_CRD.to_k8s()
MODEL = MODEL_CRD.to_k8s()

TTFT = {"timeToFirstToken": {"targetMilliseconds": 500}}
REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("unknown runtime", vllm_app(runtime="tensorrt"), "spec.runtime"),
    ("negative replicas", vllm_app(replicas=-1), "spec.replicas"),
    ("zero nodes per group", with_instance(vllm_app(), replicas=0), "spec.instanceSpec.replicas"),
    ("zero tensor parallelism", vllm_app(tensorParallelSize=0), "spec.tensorParallelSize"),
    ("unknown driver", vllm_app(driver="deployment"), "spec.driver"),
    (
        "a volume named models",
        with_instance(vllm_app(), volumes=[{"name": "models", "emptyDir": {}}]),
        "spec.instanceSpec.volumes[0].name",
    ),
    (
        "a mount at /models",
        with_instance(vllm_app(), volumeMounts=[{"name": "extra", "mountPath": "/models"}]),
        "spec.instanceSpec.volumeMounts[0].mountPath",
    ),
    (
        "a mount below /models",
        with_instance(vllm_app(), volumeMounts=[{"name": "extra", "mountPath": "/models/cache"}]),
        "spec.instanceSpec.volumeMounts[0].mountPath",
    ),
    (
        "minReplicas above maxReplicas",
        vllm_app(autoscaling={"minReplicas": 5, "maxReplicas": 2}),
        "spec.autoscaling.minReplicas",
    ),
    ("no model", {**vllm_app(), "spec": {"replicas": 1}}, "spec"),
    ("autoscaling without a latency target", vllm_app(autoscaling={"maxReplicas": 2}), "spec.autoscaling.slo"),
    ("autoscaling with an empty slo", vllm_app(autoscaling={"maxReplicas": 2, "slo": {}}), "spec.autoscaling.slo"),
    (
        "a scale-down window over an hour",  # the HPA's bound; the scaler keeps a recommendation per tick of it
        vllm_app(autoscaling={"maxReplicas": 2, "slo": TTFT, "behavior": {"scaleDownStabilizationSeconds": 3601}}),
        "spec.autoscaling.behavior.scaleDownStabilizationSeconds",
    ),
]


@pytest.mark.parametrize(("case", "doc", "field"), REJECTED, ids=[c[0] for c in REJECTED])
def test_crd_refuses_bad_spec_naming_the_field(case: str, doc: dict[str, Any], field: str) -> None:
    errors = validate(APP, doc)
    assert errors, f"{case} was accepted"
    assert any(e.startswith(field) for e in errors), errors


def test_reserved_name_message_says_what_to_change() -> None:
    doc = with_instance(vllm_app(), volumes=[{"name": "models", "emptyDir": {}}])
    assert validate(APP, doc) == [
        "spec.instanceSpec.volumes[0].name: Invalid value: the volume name 'models' is reserved for the model "
        "volume Arks mounts; rename this volume"
    ]


@pytest.mark.parametrize("name", ["application-vllm.yaml", "application-sglang.yaml"])
def test_crd_accepts_the_application_samples(name: str) -> None:
    assert validate(APP, sample(name)) == []


@pytest.mark.parametrize("name", ["model.yaml", "model-private.yaml"])
def test_crd_accepts_the_model_samples(name: str) -> None:
    assert validate(MODEL, sample(name, kind="ArksModel")) == []


def test_crd_takes_the_driver_as_the_guide_spells_it() -> None:
    assert validate(APP, vllm_app(driver="LWS")) == []


def test_crd_accepts_other_mounts_and_volumes() -> None:
    doc = with_instance(
        vllm_app(),
        volumes=[{"name": "shm", "emptyDir": {"medium": "Memory"}}],
        volumeMounts=[{"name": "shm", "mountPath": "/dev/shm"}, {"name": "shm", "mountPath": "/modelsx"}],
    )
    assert validate(APP, doc) == []


def test_application_crd_has_scale_and_status_subresources_and_columns() -> None:
    version = APP["spec"]["versions"][0]
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    columns = [(c["name"], c.get("priority", 0)) for c in version["additionalPrinterColumns"]]
    assert [n for n, p in columns if p == 0] == ["Phase", "Replicas", "Ready", "Age"]
    assert [n for n, p in columns if p == 1] == ["Model", "Runtime", "Driver", "Prefill", "Decode"]
    assert APP["spec"]["names"]["shortNames"] == ["arkapp"]


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key in ("properties", "additionalProperties"):
            child = node.get(key)
            if key == "properties" and isinstance(child, dict):
                for name, sub in child.items():
                    out.extend(_walk(sub, f"{path}.{name}"))
            elif isinstance(child, dict):
                out.extend(_walk(child, f"{path}[*]"))
        if isinstance(node.get("items"), dict):
            out.extend(_walk(node["items"], f"{path}[]"))
    return out


def test_schema_is_structural() -> None:
    """Every node has a type (or is int-or-string), and no JSON-schema-only keywords are left."""
    for crd in (APP, MODEL, ENDPOINT_CRD.to_k8s()):
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in _walk(schema):
            assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
            assert not {"$ref", "$defs", "title", "const"} & node.keys(), f"{path}: {node.keys()}"
            assert node.get("additionalProperties", {}) is not False


def test_crd_spec_matches_the_pydantic_spec() -> None:
    """The CRD is generated from the types: every spec field of the model is in the schema, and back."""
    generated = structural_schema(ArksApplication)["properties"]["spec"]["properties"]
    crd = APP["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    aliases = {f.alias for f in ArksApplicationSpec.model_fields.values()}
    assert set(crd) == set(generated) == aliases


ENDPOINT = ENDPOINT_CRD.to_k8s()


@pytest.mark.parametrize("name", ["endpoint.yaml", "endpoint-all-models.yaml"])
def test_crd_accepts_the_endpoint_samples(name: str) -> None:
    assert validate(ENDPOINT, sample(name)) == []
    ArksEndpoint.model_validate(sample(name))


def test_endpoint_crd_refuses_both_forms_naming_the_field() -> None:
    doc = sample("endpoint.yaml")
    doc["spec"]["allModels"] = True
    assert validate(ENDPOINT, doc) == [
        "spec.servedModelName: Invalid value: servedModelName and allModels exclude each other: name one model, "
        "or serve them all"
    ]
    with pytest.raises(ValidationError, match="servedModelName and allModels exclude each other"):
        ArksEndpoint.model_validate(doc)


def test_endpoint_crd_refuses_an_unknown_policy_naming_the_field() -> None:
    doc = sample("endpoint.yaml")
    doc["spec"]["router"]["policy"] = "fastest"
    errors = validate(ENDPOINT, doc)
    assert errors
    assert all(e.startswith("spec.router.policy") for e in errors), errors


def test_endpoint_crd_columns_and_short_name() -> None:
    version = ENDPOINT["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Model", "Applications", "Ready", "URL", "Age"]
    assert ENDPOINT["spec"]["names"]["shortNames"] == ["arkep"]
    assert version["subresources"] == {"status": {}}


def test_an_application_without_spec_is_refused() -> None:
    # the deployer's finalizer goes on with a server-side apply of the finalizer alone, without reading the
    # application first: it must never create an application deleted since (an apply without spec is refused)
    schema = APP["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "spec" in schema["required"]
    assert "default" not in schema["properties"]["spec"]


def _name_rules(crd: dict[str, Any]) -> list[dict[str, Any]]:
    rules = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    return [r for r in rules if "metadata.name" in r["rule"]]


@pytest.mark.parametrize("crd", [pytest.param(MODEL, id="ArksModel"), pytest.param(ENDPOINT, id="ArksEndpoint")])
def test_a_name_rule_holds_on_create_only(crd: dict[str, Any]) -> None:
    # a rule on the whole object runs on every write (the root always changes, so ratcheting never skips it):
    # were it checked on updates too, a stored object breaking it could never take a finalizer or status write again
    rules = _name_rules(crd)
    assert rules
    for rule in rules:
        assert rule.get("optionalOldSelf") is True, rule
        assert rule["rule"].startswith("oldSelf.hasValue() || ("), rule


@pytest.mark.parametrize(
    ("crd", "doc", "message"),
    [
        pytest.param(MODEL, "model.yaml", "an ArksModel's name is at most 63 characters", id="an ArksModel of 64"),
        pytest.param(ENDPOINT, "endpoint.yaml", "must be a DNS label of at most 49", id="an ArksEndpoint with a dot"),
    ],
)
def test_a_stored_object_whose_name_the_rule_refuses_still_takes_writes(
    crd: dict[str, Any], doc: str, message: str
) -> None:
    stored = sample(doc)
    stored["metadata"]["name"] = "a" * 64 if crd is MODEL else "qwen2.5-7b"
    assert any(message in e for e in validate(crd, stored)), "refused on create"
    finalized = copy.deepcopy(stored)
    finalized["metadata"]["finalizers"] = ["arks.ai/cleanup"]
    assert validate(crd, finalized, old=stored) == []
