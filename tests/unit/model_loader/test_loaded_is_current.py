"""When an application event may skip the `Loaded` gate's reads: only when its own copy shows a condition
written for its current generation."""

from typing import Any

import pytest

from arks_model_loader.core.loaded import loaded_is_current


def app(generation: Any, conditions: Any) -> dict[str, Any]:
    return {"metadata": {"name": "a", "namespace": "n", "generation": generation}, "status": {"conditions": conditions}}


def loaded(observed: Any, status: str = "True") -> dict[str, Any]:
    return {"type": "Loaded", "status": status, "reason": "Succeeded", "observedGeneration": observed}


@pytest.mark.parametrize(
    ("copy", "current"),
    [
        (app(3, [loaded(3)]), True),
        (app(3, [loaded(3, status="False")]), True),  # a current verdict, whatever it says
        (app(4, [loaded(3)]), False),  # the spec moved on (another model, perhaps)
        (app(3, [{"type": "Ready", "status": "True", "observedGeneration": 3}]), False),
        (app(3, []), False),
        (app(None, [loaded(None)]), False),
        (app(3, [loaded("3")]), False),
        (app(3, None), False),
        (app(3, ["garbage", loaded(3)]), True),
        ({"metadata": {}}, False),
        ({}, False),
    ],
)
def test_only_a_condition_of_the_current_generation_is_current(copy: dict[str, Any], current: bool) -> None:
    assert loaded_is_current(copy) is current
