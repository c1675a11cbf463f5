"""Decoding the API server's JSON is total: any nesting the server stores becomes a stub naming the field,
never a RecursionError; ordinary objects pass untouched."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from arks_common.kube.decoding import MAX_DEPTH, UNDECODABLE, checked, loads, too_deep, undecodable


def _app(affinity: str) -> str:
    return (
        '{"apiVersion": "arks.ai/v1", "kind": "ArksApplication", '
        '"metadata": {"name": "deep", "namespace": "ns", "uid": "u-1", "generation": 3, "resourceVersion": "9", '
        '"labels": {"team": "a"}, "finalizers": ["arks.ai/deployer"]}, '
        f'"spec": {{"instanceSpec": {{"affinity": {affinity}}}}}, '
        '"status": {"conditions": [{"type": "Precheck", "status": "True"}]}}'
    )


def test_nesting_as_deep_as_the_api_server_allows_becomes_a_stub_naming_the_field() -> None:
    raw = _app('{"a": ' * 10_000 + "1" + "}" * 10_000)
    obj = checked(loads(raw))
    reason = undecodable(obj)
    assert reason is not None
    assert reason.startswith("spec.instanceSpec.affinity.a.a.a")
    assert f"deeper than {MAX_DEPTH} levels" in reason
    assert obj["metadata"] == {
        "name": "deep",
        "namespace": "ns",
        "uid": "u-1",
        "generation": 3,
        "resourceVersion": "9",
        "labels": {"team": "a"},
        "finalizers": ["arks.ai/deployer"],
    }
    assert obj["status"]["conditions"][0]["type"] == "Precheck"
    assert "spec" not in obj
    json.dumps(obj)  # the stub itself is shallow: any later step can handle it


def test_deep_lists_are_caught_too_and_a_shallow_object_is_left_alone() -> None:
    deep_list = checked(loads(_app("[" * 3_000 + "]" * 3_000)))
    assert undecodable(deep_list) is not None
    assert "affinity[0][0]" in str(undecodable(deep_list))
    shallow = loads(_app('{"nodeAffinity": {"required": [{"matchExpressions": [{"key": "k"}]}]}}'))
    assert checked(shallow) is shallow
    assert undecodable(shallow) is None
    assert UNDECODABLE not in shallow


def test_the_limit_is_exact() -> None:
    def nested(levels: int) -> Any:
        value: Any = {}
        for _ in range(levels - 1):
            value = {"x": value}
        return value

    assert too_deep(nested(MAX_DEPTH)) is None
    assert too_deep(nested(MAX_DEPTH + 1)) is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, depth=st.integers(min_value=0, max_value=2_000))
def test_any_json_nested_any_depth_decodes_or_stubs(value: Any, depth: int) -> None:
    raw = '{"metadata": {"name": "x"}, "spec": ' + "[" * depth + json.dumps(value) + "]" * depth + "}"
    obj = checked(loads(raw))
    if undecodable(obj) is None:
        assert obj["metadata"]["name"] == "x"
        assert too_deep(obj) is None
    else:
        assert obj["metadata"] == {"name": "x"}
