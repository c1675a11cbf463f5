"""Runtime profiles: shipped as package data, merged per runtime and per field with an installation's YAML."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from arks_planner.core.profiles import ProfileError, RuntimeProfiles, load_profiles, merge


def test_the_default_profiles_ship_as_package_data() -> None:
    text = resources.files("arks_planner.profiles").joinpath("default.yaml").read_text()
    assert "runtimes:" in text


def test_the_defaults_cover_every_runtime_on_port_8080() -> None:
    profiles = load_profiles(None)
    assert sorted(profiles.runtimes) == ["dynamo", "sglang", "vllm"]
    for name, profile in profiles.runtimes.items():
        assert profile.port == 8080, name
        assert profile.image, name
        assert profile.enabled, name


def test_an_image_override_keeps_the_other_fields_and_runtimes() -> None:
    default = load_profiles(None)
    profiles = load_profiles("runtimes:\n  vllm:\n    image: registry.example.com/vllm:v9\n")
    assert profiles.runtimes["vllm"].image == "registry.example.com/vllm:v9"
    assert profiles.runtimes["vllm"].multi_node == default.runtimes["vllm"].multi_node
    assert profiles.runtimes["sglang"] == default.runtimes["sglang"]


def test_a_nested_override_replaces_one_field_of_one_template() -> None:
    default = load_profiles(None)
    profiles = load_profiles("runtimes: {dynamo: {multiNode: {leader: {script: 'echo hi'}}}}")
    leader = profiles.runtimes["dynamo"].multi_node.leader
    assert leader.script == "echo hi"
    assert leader.command == default.runtimes["dynamo"].multi_node.leader.command
    assert profiles.runtimes["dynamo"].multi_node.worker == default.runtimes["dynamo"].multi_node.worker


def test_a_list_override_replaces_the_whole_list() -> None:
    profiles = load_profiles("runtimes: {sglang: {defaultFlags: [--enable-metrics, --log-requests]}}")
    assert profiles.runtimes["sglang"].default_flags == ["--enable-metrics", "--log-requests"]


def test_an_empty_override_is_the_default() -> None:
    assert load_profiles("") == load_profiles(None) == load_profiles("# nothing\n")


def test_disabling_a_runtime_hides_its_profile() -> None:
    profiles = load_profiles("runtimes: {dynamo: {enabled: false}}")
    assert profiles.profile_for("dynamo") is None
    assert profiles.profile_for("vllm") is not None


BAD_OVERRIDES: list[tuple[str, str, str]] = [
    ("an unknown placeholder is refused", "runtimes: {vllm: {singleNode: {leader: {args: ['{{modle}}']}}}}", "modle"),
    ("a misspelt field is refused", "runtimes: {vllm: {imagee: x}}", "imagee"),
    ("an unknown runtime is refused", "runtimes: {tgi: {image: x}}", "tgi"),
    ("args and script together are refused", "runtimes: {vllm: {singleNode: {leader: {script: 'x'}}}}", "not both"),
    (
        "a list placeholder inside an argv item is refused",
        "runtimes: {vllm: {singleNode: {leader: {args: ['--x={{extra_options}}']}}}}",
        "item of its own",
    ),
    ("a port out of range is refused", "runtimes: {vllm: {port: 70000}}", "port"),
    (
        "a router metrics port on the router's serving port is refused",
        "runtimes: {sglang: {disaggregation: {routerMetricsPort: 8080}}}",
        "routerMetricsPort 8080 is also the runtime's port",
    ),
    (
        "a router metrics port on the runtime's metrics port is refused",
        "runtimes: {sglang: {metricsPort: 29000}}",
        "routerMetricsPort 29000 is also the runtime's metricsPort",
    ),
    (
        "the router's metrics port placeholder without the port is refused",
        "runtimes: {sglang: {disaggregation: {routerMetricsPort: null}}}",
        "{{router_metrics_port}} is used but disaggregation.routerMetricsPort is not set",
    ),
    ("broken YAML is refused", "runtimes: [", "not valid YAML"),
    ("a non-mapping is refused", "- a\n- b\n", "expected a mapping"),
]


@pytest.mark.parametrize(("override", "fragment"), [b[1:] for b in BAD_OVERRIDES], ids=[b[0] for b in BAD_OVERRIDES])
def test_bad_overrides_fail_at_load(override: str, fragment: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(fragment)):
        load_profiles(override)


def test_profiles_are_frozen() -> None:
    profiles = load_profiles(None)
    with pytest.raises(ValueError, match="frozen"):
        profiles.runtimes["vllm"].image = "x"  # type: ignore[misc]
    assert isinstance(profiles, RuntimeProfiles)


MERGES: list[tuple[str, object, object, object]] = [
    ("mappings merge key by key", {"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"d": 4}}, {"a": 1, "b": {"c": 2, "d": 4}}),
    ("lists are replaced whole", {"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ("new keys are added", {"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ("a scalar replaces a mapping", {"a": {"b": 1}}, {"a": None}, {"a": None}),
]


@pytest.mark.parametrize(("base", "override", "merged"), [m[1:] for m in MERGES], ids=[m[0] for m in MERGES])
def test_merge(base: object, override: object, merged: object) -> None:
    assert merge(base, override) == merged
