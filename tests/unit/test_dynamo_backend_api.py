"""Dynamo's engine backend on ArksApplication (`spec.dynamo.backend`, docs/runtimes.md): vllm by default, sglang on
request; the CRD (CEL) and the Python model refuse `spec.dynamo` on another runtime, naming the field; the
samples of both backends pass."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from arks_common.api import ArksApplication
from arks_common.api.application import DynamoBackend, runtime_settings_problem
from arks_common.crdgen import APPLICATION_CRD
from support.builders import sample, sample_with
from support.crd_validation import validate

APP = APPLICATION_CRD.to_k8s()
DYNAMO_SGLANG_SAMPLES = ["application-dynamo-sglang.yaml", "application-dynamo-sglang-pd.yaml"]


@pytest.mark.parametrize("name", DYNAMO_SGLANG_SAMPLES)
def test_the_dynamo_sglang_samples_pass_the_crd_and_name_the_sglang_backend(name: str) -> None:
    doc = sample(name)
    assert validate(APP, doc) == []
    spec = ArksApplication.model_validate(doc).spec
    assert spec.backend() == DynamoBackend.SGLANG


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        ("application-dynamo-pd.yaml", "vllm"),
        ("application-vllm.yaml", None),
        ("application-sglang.yaml", None),
        ("application-sglang-pd.yaml", None),
    ],
)
def test_existing_samples_keep_their_engine_dynamo_defaulting_to_vllm(name: str, backend: str | None) -> None:
    doc = sample(name)
    assert "dynamo" not in doc["spec"]
    assert validate(APP, doc) == []
    assert ArksApplication.model_validate(doc).spec.backend() == backend


def test_an_explicit_vllm_backend_is_the_default() -> None:
    doc = sample_with("application-dynamo-pd.yaml", dynamo={"backend": "vllm"})
    assert validate(APP, doc) == []
    assert ArksApplication.model_validate(doc).spec.backend() == "vllm"


REFUSED = [
    ("dynamo settings on vllm", sample_with("application-vllm.yaml", dynamo={"backend": "sglang"})),
    ("dynamo settings on sglang", sample_with("application-sglang-pd.yaml", dynamo={"backend": "vllm"})),
    ("dynamo settings on the default runtime", sample_with("application-vllm.yaml", runtime=None, dynamo={})),
]


@pytest.mark.parametrize(("case", "doc"), REFUSED, ids=[c[0] for c in REFUSED])
def test_the_crd_refuses_dynamo_settings_on_another_runtime_naming_the_field(case: str, doc: dict[str, Any]) -> None:
    errors = validate(APP, doc)
    assert any(e.startswith("spec.dynamo") and "apply only to runtime dynamo" in e for e in errors), errors


@pytest.mark.parametrize(("case", "doc"), REFUSED, ids=[c[0] for c in REFUSED])
def test_the_model_refuses_the_same_naming_the_field(case: str, doc: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        ArksApplication.model_validate(doc)
    assert "spec.dynamo: dynamo settings apply only to runtime dynamo" in str(caught.value)


def test_an_unknown_backend_is_refused_by_the_crd_and_the_model() -> None:
    doc = sample_with("application-dynamo-sglang.yaml", dynamo={"backend": "trtllm"})
    errors = validate(APP, doc)
    assert any(e.startswith("spec.dynamo.backend") for e in errors), errors
    with pytest.raises(ValidationError, match="backend"):
        ArksApplication.model_validate(doc)


def test_the_python_rule_passes_what_the_crd_passes() -> None:
    spec = ArksApplication.model_validate(sample("application-dynamo-sglang-pd.yaml")).spec
    assert runtime_settings_problem(spec) is None
