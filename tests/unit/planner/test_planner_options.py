"""extraOptions as the runtime sees them: a flag and its value in one item split as a shell would; values verbatim."""

from __future__ import annotations

import pytest
from unit.planner.builders import PROFILES, app, app_dict, model, shared_model, single_node

from arks_common.events.payloads import PrecheckResult
from arks_planner.core.options import item_of_word, option_errors, option_value, split_options
from arks_planner.core.placement import colocated_affinity, placement_warning
from arks_planner.core.precheck import parse_application, precheck

SPLITS: list[tuple[str, list[str], list[str]]] = [
    ("one word per item stays as written", ["--max-model-len", "32768"], ["--max-model-len", "32768"]),
    ("a flag and its value in one item are two words", ["--max-model-len 32768"], ["--max-model-len", "32768"]),
    ("quotes group words as in a shell", ["--x 'a b' \"c d\""], ["--x", "a b", "c d"]),
    (
        "a value with spaces is never split",
        ["--chat-template", "{% for m in messages %}"],
        ["--chat-template", "{% for m in messages %}"],
    ),
    ("a JSON value stays one word", ["--hf-overrides", '{"a": [1, 2]}'], ["--hf-overrides", '{"a": [1, 2]}']),
    ("flag=value without spaces stays one word", ["--gpu-memory-utilization=0.9"], ["--gpu-memory-utilization=0.9"]),
    ("a tab separates too", ["--a\t1"], ["--a", "1"]),
    ("no shell expansion happens", ["--x $HOME"], ["--x", "$HOME"]),
]


@pytest.mark.parametrize(("items", "words"), [s[1:] for s in SPLITS], ids=[s[0] for s in SPLITS])
def test_split(items: list[str], words: list[str]) -> None:
    assert option_errors(items) == []
    assert split_options(items) == words


def test_an_unclosed_quote_is_an_error_naming_the_item() -> None:
    errors = option_errors(["--ok", "--x 'unclosed"])
    assert [e.index for e in errors] == [1]
    assert "close the quote" in errors[0].message


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["--pp-size", "2"], "2"),
        (["--pp-size=3"], "3"),
        (["--pp-size", "2", "--pp-size=4"], "4"),
        (["--other", "2"], None),
        (["--pp-size"], None),
    ],
)
def test_option_value_reads_what_argparse_would(words: list[str], expected: str | None) -> None:
    assert option_value(words, "--pp-size", "--pipeline-parallel-size") == expected


def test_a_split_word_is_traced_back_to_its_item() -> None:
    items = ["--a", "1", "--b 2", "--c"]
    assert [item_of_word(items, w) for w in range(len(split_options(items)))] == [0, 1, 2, 2, 3]


def test_an_application_of_several_pods_on_a_one_node_volume_is_warned() -> None:
    warning = placement_warning(app(), model("ReadWriteOnce"))
    assert warning is not None
    assert "cannot spread across nodes" in warning
    assert "ReadWriteMany" in warning
    assert placement_warning(app(), shared_model()) is None
    assert placement_warning(single_node(), model("ReadWriteOnce")) is None, "one pod has nothing to spread"
    assert placement_warning(single_node(replicas=2), model("ReadWriteOnce")) is not None


def test_a_malformed_user_affinity_is_kept_as_written_instead_of_breaking_the_plan() -> None:
    assert colocated_affinity({"podAffinity": 5}, "c") == {"podAffinity": 5}
    assert colocated_affinity({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "x"}}, "c") == {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "x"}
    }
    merged = colocated_affinity(None, "c")
    assert merged["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"]


def test_an_unsplittable_option_is_named_in_a_bounded_message() -> None:

    result = precheck(app(extraOptions=["--x '" + "y" * 4000]), shared_model(), PROFILES)
    assert result.reason == "InvalidExtraOptions"
    assert "spec.extraOptions[0]" in result.message
    assert len(result.message) < 500


def test_an_option_over_the_length_bound_is_refused_naming_it_before_splitting() -> None:

    result = parse_application(app_dict(extraOptions=["--x '" + "y" * 100_000]))
    assert isinstance(result, PrecheckResult)
    assert result.reason == "InvalidSpec"
    assert "spec.extraOptions[0]" in result.message
    assert len(result.message) < 500
