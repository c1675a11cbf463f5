"""The API types read the guides' samples, keep their defaults and round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from arks_common.api import ArksApplication, ArksModel, Driver, Runtime
from arks_common.api.model import ModelPhase
from support.builders import sample, vllm_app, with_instance


def _spec_as_written(doc: dict[str, Any], parsed: ArksApplication | ArksModel) -> None:
    """Everything the user wrote survives a parse and a dump unchanged."""
    dumped = parsed.to_k8s()

    def contains(expected: Any, actual: Any, where: str) -> None:
        if isinstance(expected, dict):
            for key, value in expected.items():
                assert key in actual, f"{where}.{key} lost in the round trip"
                contains(value, actual[key], f"{where}.{key}")
        else:
            assert expected == actual, f"{where}: {expected!r} became {actual!r}"

    contains(doc["spec"], dumped["spec"], "spec")


def test_vllm_sample_parses_with_defaults() -> None:
    doc = sample("application-vllm.yaml")
    app = ArksApplication.model_validate(doc)
    assert app.spec.runtime is Runtime.VLLM
    assert app.spec.driver is Driver.LWS
    assert app.spec.replicas == 1
    assert app.spec.instance_spec.replicas == 2
    assert app.spec.tensor_parallel_size == 2
    assert app.spec.served_model_name is None
    assert app.spec.effective_served_model_name() == "qwen-7b"
    assert app.spec.instance_spec.gpus_per_node() == 1
    _spec_as_written(doc, app)


def test_sglang_sample_keeps_extra_options_in_order() -> None:
    doc = sample("application-sglang.yaml")
    app = ArksApplication.model_validate(doc)
    assert app.spec.runtime is Runtime.SGLANG
    assert app.spec.extra_options == ["--mem-fraction-static", "0.7"]
    _spec_as_written(doc, app)


def test_runtime_and_driver_fall_back_to_vllm_and_lws() -> None:
    doc = sample("application-vllm.yaml")
    del doc["spec"]["runtime"]
    app = ArksApplication.model_validate(doc)
    assert (app.spec.runtime, app.spec.driver) == (Runtime.VLLM, Driver.LWS)
    assert app.to_k8s()["spec"]["runtime"] == "vllm"


def test_served_model_name_wins_over_model_name() -> None:
    app = ArksApplication.model_validate(vllm_app(servedModelName="qwen"))
    assert app.spec.effective_served_model_name() == "qwen"


@pytest.mark.parametrize("name", ["model.yaml", "model-private.yaml"])
def test_model_samples_parse_and_round_trip(name: str) -> None:
    doc = sample(name, kind="ArksModel")
    model = ArksModel.model_validate(doc)
    assert model.spec.model == "Qwen/Qwen2.5-7B-Instruct-1M"
    assert model.pvc_name() == "qwen-7b"
    assert model.spec.storage.pvc.access_modes() == ["ReadWriteOnce"]
    assert model.status.phase is ModelPhase.PENDING
    _spec_as_written(doc, model)


def test_private_model_names_its_token_secret() -> None:
    model = ArksModel.model_validate(sample("model-private.yaml", kind="ArksModel"))
    assert model.spec.source.huggingface is not None
    assert model.spec.source.huggingface.token_secret_ref == "hf-token"


def test_pvc_name_defaults_to_the_model_name() -> None:
    doc = sample("model.yaml")
    del doc["spec"]["storage"]["pvc"]["name"]
    assert ArksModel.model_validate(doc).pvc_name() == "qwen-7b"


def test_pass_through_fields_are_kept_verbatim() -> None:
    env = [
        {"name": "HF_HOME", "value": "/cache"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    volume = {"name": "shm", "emptyDir": {"medium": "Memory"}}
    doc = with_instance(
        vllm_app(),
        env=env,
        volumes=[volume],
        volumeMounts=[{"name": "shm", "mountPath": "/dev/shm"}],
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
    )
    dumped = ArksApplication.model_validate(doc).to_k8s()["spec"]["instanceSpec"]
    assert dumped["env"] == env
    assert dumped["volumes"] == [volume]
    assert dumped["volumeMounts"] == [{"name": "shm", "mountPath": "/dev/shm"}]
    assert dumped["tolerations"][0]["operator"] == "Exists"


def test_autoscaling_bounds_are_checked() -> None:
    with pytest.raises(ValidationError, match="minReplicas must not be larger"):
        ArksApplication.model_validate(vllm_app(autoscaling={"minReplicas": 3, "maxReplicas": 2}))
    app = ArksApplication.model_validate(
        vllm_app(autoscaling={"maxReplicas": 4, "slo": {"timeToFirstToken": {"targetMilliseconds": 500}}})
    )
    assert app.spec.autoscaling is not None
    assert app.spec.autoscaling.min_replicas == 1
    assert app.spec.autoscaling.slo.time_to_first_token is not None
    assert app.spec.autoscaling.slo.time_to_first_token.percentile == 90


def test_missing_model_is_refused() -> None:
    doc = sample("application-vllm.yaml")
    del doc["spec"]["model"]
    with pytest.raises(ValidationError, match="model"):
        ArksApplication.model_validate(doc)
