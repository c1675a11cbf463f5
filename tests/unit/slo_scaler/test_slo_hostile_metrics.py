"""Garbled /metrics of one application never breaks the scaler: the parser and the decision are total.
The reproducers of the crashes found, then a fuzz over all three runtimes' real-format text."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit.slo_scaler.builders import (
    VLLM_LABELS,
    Leader,
    dynamo_text,
    gauge_text,
    group,
    sglang_text,
    snapshot,
    spec,
    vllm_text,
)

from arks_common.api.application import Runtime
from arks_slo_scaler.adapters.metrics_source import render_exposition
from arks_slo_scaler.core.decide import Observation, Reason, ScalerConfig, ScalerState, decide
from arks_slo_scaler.core.metrics import MAX_VALUE, MetricsSnapshot, UnifiedMetric, parse_metrics

TTFT = "vllm:time_to_first_token_seconds"
TTFT_METRIC = UnifiedMetric.TIME_TO_FIRST_TOKEN_SECONDS


def _decide_on(*snapshots: MetricsSnapshot) -> None:
    state = ScalerState()
    for i, snap in enumerate(snapshots):
        obs = Observation(1000.0 + 15 * i, 2, (group("g0", at=1000.0 + 15 * i, metrics=snap), group("g1")))
        decision, state = decide(spec(), obs, state)
        assert 1 <= decision.desired_replicas <= 8


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            gauge_text("vllm:num_requests_running", VLLM_LABELS, 0)
            + 'vllm:num_requests_running{engine="1"} 1'
            + "0" * 309
            + "\n",
            "OverflowError",
            id="a gauge of 1 and 309 zeros",
        ),
        pytest.param(
            gauge_text("vllm:prompt_tokens_total", VLLM_LABELS, 1e308, "counter")
            + 'vllm:prompt_tokens_total{engine="1"} 1e308\n',
            "beyond",
            id="two series of 1e308",
        ),
        pytest.param(f'{TTFT}_bucket{{le="+Inf"}} 3\n{TTFT}_count 3\n{TTFT}_sum +Inf\n', "beyond", id="a _sum of +Inf"),
        pytest.param(f'{TTFT}_bucket{{le="+Inf"}} 3\n{TTFT}_count 3\n{TTFT}_sum -Inf\n', "beyond", id="a _sum of -Inf"),
        pytest.param(f'{TTFT}_bucket{{le="+Inf"}} 3\n{TTFT}_count 3\n{TTFT}_sum NaN\n', "_sum", id="a _sum of NaN"),
        pytest.param("vllm:num_requests_running \udcff\udcfe 1\n", "unparseable", id="bytes that are not UTF-8"),
    ],
)
def test_each_garbled_scrape_found_is_a_problem_not_a_crash(text: str, problem: str) -> None:
    result = parse_metrics(text, Runtime.VLLM)
    assert any(problem in str(p) for p in result.problems), result.problems
    _decide_on(result.snapshot, result.snapshot)


def test_a_prometheus_answer_of_the_wrong_shape_renders_what_it_can() -> None:
    text = render_exposition(
        [{"metric": {"__name__": "a"}, "value": [0, "1e999"]}, {"value": "x"}, "junk", {"metric": {}, "value": [0, {}]}]  # type: ignore[list-item]
    )
    assert text == "a +Inf\n"
    assert "beyond" in str(parse_metrics(text, Runtime.VLLM).problems[0])


REAL = {Runtime.VLLM: vllm_text(), Runtime.SGLANG: sglang_text(), Runtime.DYNAMO: dynamo_text()}
numbers = st.sampled_from(["1" + "0" * 400, "1e308", "-1e308", "+Inf", "-Inf", "NaN", "-0", "1e-320", "0x1", "", "7"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runtime=st.sampled_from(list(REAL)),
    data=st.data(),
)
def test_any_mutation_of_real_runtime_text_parses_and_decides(runtime: Runtime, data: st.DataObject) -> None:
    lines = REAL[runtime].splitlines()
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["value", "cut", "noise", "dup"]))
        if how == "value" and not lines[i].startswith("#"):
            lines[i] = lines[i].rsplit(" ", 1)[0] + " " + data.draw(numbers)
        elif how == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))]
        elif how == "noise":
            lines[i] = data.draw(st.text(max_size=40))
        else:
            lines.insert(i, lines[i])
    result = parse_metrics("\n".join(lines) + "\n", runtime)
    snap = result.snapshot
    for value in (snap.requests_running, snap.requests_waiting, snap.prompt_tokens_total, snap.generation_tokens_total):
        assert value is None or (math.isfinite(value) and 0 <= value <= 1e4 * MAX_VALUE)
    _decide_on(parse_metrics(REAL[runtime], runtime).snapshot, snap)


def _long_running(broken: range) -> list[tuple[float, float | None, Reason, int]]:
    """Two groups of a process that served a million requests, 5 req/s each now; group "a"'s scrapes in `broken`
    lost their TTFT histogram (text cut off: no `+Inf` bucket, so the parser refused it). Per tick: the rate per
    group, the capacity, the reason and the groups measured."""
    config, state, served, out = ScalerConfig(initial_capacity_per_group=10.0), ScalerState(), 1_000_000.0, []
    for tick in range(12):
        now, served = 15.0 * tick, served + 5.0 * 15
        groups = []
        for name in ("a", "b"):
            snap = snapshot(requests=served, ttft_s=0.05)
            if name == "a" and tick in broken:  # printed but refused by the parser
                snap = replace(snap, time_to_first_token=None, refused=frozenset({TTFT_METRIC}))
            groups.append(group(name, at=now, metrics=snap))
        decision, state = decide(spec(), Observation(now, 2, tuple(groups)), state, config)
        signals = decision.signals
        rate, used = (signals.rate_per_group, signals.groups_used) if signals is not None else (0.0, 0)
        out.append((rate, state.capacity_per_group, decision.reason, used))
    return out


def test_a_scrape_cut_short_is_a_failed_scrape_not_an_empty_histogram() -> None:
    # counted as empty, the next increase was every request the process ever served: 16,680 req/s per group for one
    # tick, a scale-up 2 -> 8, and a capacity learned from it for good
    ticks = _long_running(broken=range(6, 7))
    assert max(rate for rate, *_ in ticks) < 6
    assert ticks[-1][1] == 10.0


def test_scrapes_that_stay_cut_short_go_stale() -> None:
    ticks = _long_running(broken=range(4, 12))
    assert max(rate for rate, *_ in ticks) < 6
    assert all(capacity == 10.0 for _, capacity, *_ in ticks)
    # "a" counts with its last whole scrape while it is fresh (45 s), then is left out as stale; "b" decides alone
    assert [used for *_, used in ticks[4:]] == [2, 2, 2, 1, 1, 1, 1, 1]
    assert ticks[-1][2] is Reason.WITHIN_SLO


def test_a_histogram_printed_but_refused_is_told_apart_from_one_not_printed() -> None:
    whole = vllm_text()
    cut = whole.replace(f'{TTFT}_bucket{{{VLLM_LABELS},le="+Inf"}}', "# cut")
    assert cut != whole
    refused = parse_metrics(cut, Runtime.VLLM).snapshot
    assert (refused.time_to_first_token, refused.refused) == (None, frozenset({TTFT_METRIC}))
    # a runtime creates a labelled histogram at its first observation: a restarted, idle one prints none yet
    idle = "".join(line + "\n" for line in whole.splitlines() if not line.startswith(TTFT))  # HELP, TYPE only
    absent = parse_metrics(idle, Runtime.VLLM).snapshot
    assert (absent.time_to_first_token, absent.refused) == (None, frozenset())


def test_idle_groups_restarted_without_histograms_still_scale_down() -> None:
    # groups served, restarted (a rollout), and came back idle: their histograms are not printed yet, which is no
    # failed scrape (the history from before the restart must not hold them stale); their pods say they restarted
    config, state, served, current = ScalerConfig(initial_capacity_per_group=10.0), ScalerState(), 0.0, 3
    idle = replace(
        snapshot(requests=0, ttft_s=0.05),
        time_to_first_token=None,
        inter_token_latency=None,
        requests_running=0.0,
        prompt_tokens_total=None,
        generation_tokens_total=None,
    )
    for tick in range(80):
        now = 15.0 * tick
        if tick < 10:
            served += 5.0 * 15
            groups = [group(f"g{i}", at=now, metrics=snapshot(requests=served, ttft_s=0.05)) for i in range(current)]
        elif tick < 14:
            groups = [group(f"g{i}", ready_for=None) for i in range(current)]
        else:
            groups = [
                group(f"g{i}", ready_for=15.0 * (tick - 14), at=now, metrics=idle, started_at=15.0 * 13)
                for i in range(current)
            ]
        observation = Observation(now, current, tuple(groups))
        decision, state = decide(spec(scaleDownStabilizationSeconds=60), observation, state, config)
        current = decision.desired_replicas
    assert (current, decision.reason) == (1, Reason.WITHIN_SLO)


def test_label_values_prometheus_answers_are_escaped_as_the_exposition_format_asks() -> None:
    odd = 'say "hi"\\ at\nonce'
    text = render_exposition(
        [
            {"metric": {"__name__": "vllm:num_requests_running", "model_name": odd}, "value": [0, "3"]},
            {"metric": {"__name__": "vllm:num_requests_waiting", "model_name": "plain"}, "value": [0, "2"]},
        ]
    )
    result = parse_metrics(text, Runtime.VLLM)
    assert result.problems == ()
    assert (result.snapshot.requests_running, result.snapshot.requests_waiting) == (3.0, 2.0)


EMPTY = parse_metrics(render_exposition([]), Runtime.VLLM).snapshot  # an empty Prometheus vector, as rendered
GAUGES_ONLY = replace(snapshot(requests=0, ttft_s=0.05), time_to_first_token=None, inter_token_latency=None)


def _served(
    odd: Callable[[int, MetricsSnapshot], MetricsSnapshot],
    *,
    ticks: int = 40,
    started_at: Callable[[int], float | None] = lambda tick: None,
) -> list[tuple[int, float, Reason, float | None, int]]:
    """Two groups of processes that served a million requests each, 5 req/s per group now (half their 10 req/s
    capacity), group "a"'s scrape of each tick as `odd` makes it. Per tick: the desired groups, the rate per group
    measured, the reason, the capacity and the groups measured. The scale-up stabilization is 0: one phantom tick
    would scale up."""
    config, state, out = ScalerConfig(initial_capacity_per_group=10.0), ScalerState(), []
    s = spec(maxReplicas=20, scaleUpStabilizationSeconds=0)
    leaders = {"a": Leader(), "b": Leader()}
    for leader in leaders.values():
        leader.serve(1_000_000, ttft_s=0.1)
    for tick in range(ticks):
        now = 1_000_000.0 + 15 * tick
        groups = []
        for name, leader in leaders.items():
            snap = leader.serve(75, ttft_s=0.1)
            if name == "a":
                groups.append(group(name, at=now, metrics=odd(tick, snap), started_at=started_at(tick)))
            else:
                groups.append(group(name, at=now, metrics=snap))
        decision, state = decide(s, Observation(now, 2, tuple(groups)), state, config)
        signals = decision.signals
        rate, used = (signals.rate_per_group, signals.groups_used) if signals is not None else (0.0, 0)
        out.append((decision.desired_replicas, rate, decision.reason, state.capacity_per_group, used))
    return out


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param(lambda tick, snap: EMPTY if tick == 20 else snap, id="one empty Prometheus answer"),
        pytest.param(
            lambda tick, snap: replace(snap, time_to_first_token=None) if tick == 20 else snap,
            id="one scrape without the TTFT histogram",
        ),
        pytest.param(lambda tick, snap: GAUGES_ONLY if tick == 0 else snap, id="a first scrape without any histogram"),
        pytest.param(
            lambda tick, snap: (
                replace(snap, time_to_first_token=None, refused=frozenset({TTFT_METRIC})) if tick == 0 else snap
            ),
            id="a first scrape whose histogram was cut off",
        ),
    ],
)
def test_a_scrape_without_a_histogram_is_never_a_lifetime_of_requests(
    odd: Callable[[int, MetricsSnapshot], MetricsSnapshot],
) -> None:
    # counted from "no histogram", the next increase was every request the process ever served: 2 -> 20 groups,
    # a capacity learned at 844 req/s, and a burst remembered that never was
    ticks = _served(odd)
    assert max(rate for _, rate, *_ in ticks) < 6
    assert {desired for desired, *_ in ticks} == {2}
    assert {capacity for *_, capacity, _ in ticks} == {10.0}


def test_a_runtime_that_restarted_between_scrapes_counts_all_it_printed() -> None:
    # "a" restarted at tick 20 (its container's startedAt): idle, it prints no histogram, then serves again. Its
    # none is real (no stale hold), and what it printed after is all new, not a failed scrape's lifetime
    fresh = Leader()

    def restarted(tick: int, snap: MetricsSnapshot) -> MetricsSnapshot:
        if tick < 20:
            return snap
        return GAUGES_ONLY if tick < 23 else fresh.serve(75, ttft_s=0.1)

    ticks = _served(restarted, started_at=lambda tick: 1_000_000.0 + 15 * 19.5 if tick >= 20 else None)
    assert {desired for desired, *_ in ticks} == {2}
    assert all(reason is not Reason.STALE_METRICS for _, _, reason, *_ in ticks)
    assert [round(rate, 1) for _, rate, *_ in ticks[20:23]] == [2.5, 2.5, 2.5]  # "a" serves none, "b" 5 req/s
    assert [round(rate, 1) for _, rate, *_ in ticks[-3:]] == [5.0, 5.0, 5.0]


def test_a_histogram_appearing_in_a_process_older_than_the_scrape_before_waits_for_a_second_scrape() -> None:
    # none -> X counts as X only in a process that started after the scrape without it: else that scrape may have
    # missed it, and X is the process's whole life
    ticks = _served(lambda tick, snap: GAUGES_ONLY if tick < 2 else snap, ticks=6)
    assert [(round(rate, 1), used) for _, rate, *_, used in ticks[2:]] == [(5.0, 1), (5.0, 1), (5.0, 2), (5.0, 2)]


@pytest.mark.parametrize(
    "text", [render_exposition([]), "<html><body>502 Bad Gateway</body></html>\n"], ids=["empty vector", "HTML"]
)
def test_an_answer_without_any_of_the_runtimes_metrics_is_no_idle_application(text: str) -> None:
    # SPEC §4: never scale on missing data. Read as groups without traffic, 4 groups went to minReplicas
    blank = parse_metrics(text, Runtime.VLLM).snapshot
    state, decisions = ScalerState(), []
    for tick in range(40):
        now = 1_000_000.0 + 15 * tick
        groups = tuple(group(str(i), at=now, metrics=blank) for i in range(4))
        decision, state = decide(spec(), Observation(now, 4, groups), state)
        decisions.append((decision.desired_replicas, decision.reason))
    assert set(decisions) == {(4, Reason.NO_METRICS)}


def test_a_rendered_prometheus_answer_says_when_prometheus_scraped_it() -> None:
    result = [{"metric": {"__name__": "vllm:num_requests_running", "pod": "a-0"}, "value": [1_800_000_099.5, "3"]}]
    assert parse_metrics(render_exposition(result, at=1_800_000_042.25), Runtime.VLLM).sampled_at == 1_800_000_042.25
    assert parse_metrics(render_exposition(result), Runtime.VLLM).sampled_at is None  # a runtime's text: now
    assert parse_metrics(vllm_text(), Runtime.VLLM).sampled_at is None
