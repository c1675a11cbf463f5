"""The model-loader deletes only the download Jobs it made for the model (its role label, the model as owner):
a user's own Job labelled `arks.ai/model` is left alone."""

from __future__ import annotations

from typing import Any

import pytest
from unit.model_loader.cluster import ready

from arks_common.kube.resources import JOBS


def _job(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", **meta},
        "spec": {"template": {"spec": {"containers": [{"name": "lm-eval", "image": "lm-eval"}]}}},
    }


@pytest.mark.parametrize(
    "job",
    [
        _job("eval-qwen-7b", labels={"arks.ai/model": "qwen-7b", "team": "eval"}),
        _job("warm-up", labels={"arks.ai/model": "qwen-7b", "arks.ai/role": "model-download"}),
        _job(
            "owned-by-another-model",
            labels={"arks.ai/model": "qwen-7b", "arks.ai/role": "model-download"},
            ownerReferences=[{"apiVersion": "arks.ai/v1", "kind": "ArksModel", "name": "qwen-7b", "uid": "old"}],
        ),
    ],
    ids=["a users job with the model label", "one with the role label but no owner", "another models job"],
)
async def test_a_job_arks_did_not_make_for_the_model_is_left_alone(job: dict[str, Any]) -> None:
    c = await ready()
    c.kube.put(JOBS, job)
    await c.reconcile()  # the Job's own event reconciles the model
    assert job["metadata"]["name"] in c.jobs()
    assert c.status()["phase"] == "Ready"
