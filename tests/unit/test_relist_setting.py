"""`ARKS_RELIST_SECONDS`, the period of the planner's orphan-plan sweep and the model-loader's scheduled reconcile:
from 1 s to a day. Below, a busy loop of lists against the API server; above (or `inf`), in effect never, and a
deletion no event told would wait for a restart; `nan` is no period. Each is refused at start, naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from arks_model_loader.settings import ModelLoaderSettings
from arks_planner.settings import PlannerSettings
from arks_slo_scaler.settings import SloScalerSettings

Relisting = type[PlannerSettings] | type[ModelLoaderSettings] | type[SloScalerSettings]
SERVICES: list[Relisting] = [PlannerSettings, ModelLoaderSettings, SloScalerSettings]


@pytest.mark.parametrize("settings", SERVICES, ids=["planner", "model-loader", "slo-scaler"])
@pytest.mark.parametrize(
    ("value", "seconds"),
    [("300", 300.0), ("1", 1.0), ("2", 2.0), ("86400", 86400.0), ("2.5", 2.5)],
    ids=["the default", "the least", "the e2e tests' 2 s", "a day, the most", "a fraction above the least"],
)
def test_a_period_in_range_is_taken(
    monkeypatch: pytest.MonkeyPatch, settings: Relisting, value: str, seconds: float
) -> None:
    monkeypatch.setenv("ARKS_RELIST_SECONDS", value)
    assert settings().relist_seconds == seconds


@pytest.mark.parametrize("settings", SERVICES, ids=["planner", "model-loader", "slo-scaler"])
def test_unset_is_five_minutes(monkeypatch: pytest.MonkeyPatch, settings: Relisting) -> None:
    monkeypatch.delenv("ARKS_RELIST_SECONDS", raising=False)
    assert settings().relist_seconds == 300.0


@pytest.mark.parametrize("settings", SERVICES, ids=["planner", "model-loader", "slo-scaler"])
@pytest.mark.parametrize(
    "value",
    ["0", "-5", "0.001", "0.999", "86401", "1e300", "inf", "-inf", "nan", "soon"],
    ids=[
        "zero: a busy loop",
        "negative",
        "a millisecond: a busy loop of lists",
        "just under a second",
        "just over a day",
        "huge: in effect never",
        "inf: never",
        "minus inf",
        "nan",
        "not a number",
    ],
)
def test_a_period_out_of_range_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, settings: Relisting, value: str
) -> None:
    monkeypatch.setenv("ARKS_RELIST_SECONDS", value)
    with pytest.raises(ValidationError) as refused:
        settings()
    (error,) = refused.value.errors()
    assert error["loc"] == ("relist_seconds",)
    if value != "soon":  # pydantic's own words for what is not a number
        assert "ARKS_RELIST_SECONDS must be a number of seconds from 1 to 86400" in error["msg"]
