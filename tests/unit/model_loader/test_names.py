"""Every name Kubernetes accepts for an ArksModel gives objects the API server accepts: the download Job's name
is a DNS-1123 subdomain however the model's name is cut, and a name too long for the `arks.ai/model` label (the
label of its claim, its Job and every application's pods) is refused by the CRD, naming the rule."""

from __future__ import annotations

import re

import pytest
from unit.model_loader.cluster import CONFIG, model_dict

from arks_common.api.model import ArksModel
from arks_common.crdgen import MODEL_CRD
from arks_model_loader.core.storage import claim, download_job
from support.crd_validation import validate

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")  # IsDNS1123Subdomain
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _model(name: str) -> ArksModel:
    doc = model_dict(name)
    doc["metadata"]["uid"] = "u1"
    return ArksModel.model_validate(doc)


@pytest.mark.parametrize(
    "name",
    [
        "qwen-7b",
        "qwen2.5-7b-instruct-1m-team-a-production-gpu.v2",  # the 45th character is '.'
        "qwen2.5-7b-instruct-1m-team-a-production-gpu-v2",  # the 45th character is '-'
        "a" * 43 + "--b",
        "m" * 63,
    ],
    ids=["the guide's", "cut after a dot", "cut after a dash", "cut after two dashes", "the longest"],
)
def test_the_objects_of_a_model_the_crd_accepts_have_valid_names_and_labels(name: str) -> None:
    assert SUBDOMAIN.fullmatch(name)
    assert validate(MODEL_CRD.to_k8s(), model_dict(name)) == []
    job = download_job(_model(name), CONFIG, "c1")
    assert SUBDOMAIN.fullmatch(job["metadata"]["name"]), job["metadata"]["name"]
    assert len(job["metadata"]["name"]) <= 63
    for obj in (job, claim(_model(name))):
        value = obj["metadata"]["labels"]["arks.ai/model"]
        assert len(value) <= 63
        assert LABEL_VALUE.fullmatch(value)


def test_a_model_name_too_long_for_its_label_is_refused_by_the_crd() -> None:
    name = "meta-llama-3.1-70b-instruct-awq-int4-for-the-customer-support-team"  # 66 characters
    errors = validate(MODEL_CRD.to_k8s(), model_dict(name))
    assert len(errors) == 1
    assert "at most 63 characters" in errors[0]
