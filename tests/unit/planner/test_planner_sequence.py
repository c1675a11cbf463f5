"""A whole sequence of one application's life, through the planner's pure steps: parse, precheck, plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from unit.planner.builders import PROFILES, app_dict, model, shared_model

from arks_common.api.application import ArksApplication
from arks_common.api.model import ArksModel
from arks_common.events.payloads import PrecheckResult
from arks_planner.core.plan import build_plan
from arks_planner.core.precheck import parse_application, precheck


@dataclass(frozen=True)
class Verdict:
    reason: str
    plan_hash: str = ""


def step(obj: dict[str, Any], arks_model: ArksModel | None) -> Verdict:
    """What the planner's handler does with one snapshot: the precheck reason and, when it passed, the plan."""
    parsed = parse_application(obj)
    if isinstance(parsed, PrecheckResult):
        return Verdict(parsed.reason)
    result = precheck(parsed, arks_model, PROFILES)
    if not result.passed or arks_model is None:
        return Verdict(result.reason)
    return Verdict(result.reason, build_plan(parsed, arks_model, PROFILES).plan_hash)


def parse_app(obj: dict[str, Any]) -> ArksApplication:
    parsed = parse_application(obj)
    assert isinstance(parsed, ArksApplication)
    return parsed


def test_an_application_from_bad_spec_to_running_plan_and_back() -> None:
    obj = app_dict(tensorParallelSize=0)
    history = [step(obj, None)]  # the CRD would refuse this; an old object still gets a clear verdict

    obj = app_dict(tensorParallelSize=4)
    history.append(step(obj, None))  # parses, but 4 ranks on 2 GPUs

    obj = app_dict()
    history.append(step(obj, None))  # fixed, but the ArksModel is not created yet

    history.append(step(obj, model("ReadWriteOncePod")))  # the model exists, on a volume one pod can mount

    history.append(step(obj, shared_model()))  # moved to shared storage: passes, with a plan
    history.append(step(obj, shared_model()))  # a duplicate event: the same plan, byte for byte

    scaled = app_dict(replicas=3)
    history.append(step(scaled, shared_model()))  # scaled out: the same template, a new replica count

    assert [v.reason for v in history] == [
        "InvalidSpec",
        "TensorParallelTooLarge",
        "ModelNotFound",
        "ModelStorageNotShared",
        "PrecheckPass",
        "PrecheckPass",
        "PrecheckPass",
    ]
    assert history[4].plan_hash == history[5].plan_hash != ""
    assert history[6].plan_hash == history[4].plan_hash  # the hash covers the template, not the count
    assert "replicas" not in build_plan(parse_app(scaled), shared_model(), PROFILES).objects[0]["spec"]
    assert all(v.plan_hash == "" for v in history[:4]), "a failed precheck never yields a plan"
