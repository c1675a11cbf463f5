"""A claim's access modes cannot change once it exists: the planner places an application by the modes of the
model's claim as the model-loader records them (`status.claim`), not by an edit of the model's spec since, and its
messages say which modes count and why."""

from __future__ import annotations

import pytest
from unit.planner.builders import PROFILES, app, pod, single_node

from arks_common.api.model import ArksModel
from arks_planner.core.placement import placement_warning, single_node_claim
from arks_planner.core.plan import build_plan
from arks_planner.core.precheck import precheck
from arks_planner.core.reasons import PrecheckReason
from support.builders import sample


def model(asked: list[str], claim_has: list[str] | None, claim: str = "qwen-7b") -> ArksModel:
    """The guide's model whose spec asks for `asked`, its claim (when recorded) having `claim_has`."""
    obj = sample("model.yaml")
    obj["spec"]["storage"]["pvc"]["spec"]["accessModes"] = asked
    if claim_has is not None:
        obj["status"] = {"phase": "Ready", "claim": {"name": claim, "accessModes": claim_has}}
    return ArksModel.model_validate(obj)


EDITED_TO_ONE_POD = model(["ReadWriteOncePod"], ["ReadWriteMany"])
EDITED_TO_SHARED = model(["ReadWriteMany"], ["ReadWriteOnce"])


def test_a_shared_claim_edited_to_one_pod_in_the_spec_still_serves_several_groups() -> None:
    result = precheck(single_node(replicas=2), EDITED_TO_ONE_POD, PROFILES)
    assert result.passed, result.message


def test_a_one_node_claim_edited_to_shared_in_the_spec_still_holds_the_pods_on_its_node() -> None:
    assert single_node_claim(EDITED_TO_SHARED) == "qwen-7b"
    leader = pod(build_plan(app(), EDITED_TO_SHARED, PROFILES), "leader")
    assert leader["metadata"]["labels"]["arks.ai/model-claim"] == "qwen-7b"
    warning = placement_warning(app(), EDITED_TO_SHARED)
    assert warning is not None
    assert "the claim qwen-7b with accessModes ['ReadWriteOnce']" in warning
    assert "spec.storage.pvc.spec.accessModes ['ReadWriteMany'] cannot change an existing claim's" in warning


def test_a_refusal_by_the_claims_modes_names_them_and_the_field() -> None:
    one_pod_claim = model(["ReadWriteMany"], ["ReadWriteOncePod"])
    result = precheck(single_node(replicas=2), one_pod_claim, PROFILES)
    assert result.reason == PrecheckReason.MODEL_STORAGE_NOT_SHARED
    assert "the claim qwen-7b with accessModes ['ReadWriteOncePod']" in result.message
    assert "spec.storage.pvc.spec.accessModes ['ReadWriteMany'] cannot change" in result.message


@pytest.mark.parametrize(
    ("arks_model", "single"),
    [
        pytest.param(model(["ReadWriteOnce"], None), True, id="no claim recorded yet: the spec's, it is made of them"),
        pytest.param(model(["ReadWriteMany"], None), False, id="no claim recorded yet, shared"),
        pytest.param(
            model(["ReadWriteMany"], ["ReadWriteOnce"], claim="old-claim"),
            False,
            id="the record of another claim (spec.storage.pvc.name changed since): the spec's",
        ),
        pytest.param(model(["ReadWriteOnce"], ["ReadWriteOnce"]), True, id="the claim as the spec asks"),
    ],
)
def test_the_spec_counts_until_the_claim_is_recorded(arks_model: ArksModel, single: bool) -> None:
    assert (single_node_claim(arks_model) is not None) is single


def test_a_claim_as_the_spec_asks_is_named_by_the_field_as_before() -> None:
    result = precheck(single_node(replicas=2), model(["ReadWriteOncePod"], ["ReadWriteOncePod"]), PROFILES)
    assert "has spec.storage.pvc.spec.accessModes ['ReadWriteOncePod'], which only one pod may mount" in result.message
