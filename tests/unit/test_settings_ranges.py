"""Every numeric `ARKS_*` setting has a range: `nan`, `inf`, a negative or zero period where none makes sense, a port
past 65535 or an absurd count is refused at start naming its variable, and the refusal reads as one line per
variable (`problems`): its name, the value given, and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from arks_common.settings import CommonSettings, problems
from arks_deployer.settings import DeployerSettings
from arks_model_loader.settings import ModelLoaderSettings
from arks_planner.settings import PlannerSettings
from arks_slo_scaler.settings import CAPACITY_PRIOR_MAX, SloScalerSettings
from arks_watcher.settings import WatcherSettings

# (settings, variable, the least and the most it takes, what it refuses besides nan, inf, -inf, negative and huge)
RANGES: list[tuple[type[BaseSettings], str, str, str, tuple[str, ...]]] = [
    (CommonSettings, "ARKS_NATS_CONNECT_TIMEOUT_SECONDS", "0.1", "300", ("0", "0.05", "301")),
    (CommonSettings, "ARKS_NATS_CONNECT_DEADLINE_SECONDS", "1", "86400", ("0", "0.5", "86401")),
    (CommonSettings, "ARKS_HTTP_PORT", "1", "65535", ("0", "65536", "8081.5")),
    (CommonSettings, "ARKS_SHUTDOWN_GRACE_SECONDS", "0", "3600", ("3601",)),
    (CommonSettings, "ARKS_STALL_SECONDS", "10", "86400", ("0", "9.9", "86401")),
    (CommonSettings, "ARKS_REPLICAS_OF_STREAMS", "1", "5", ("0", "6")),
    (CommonSettings, "ARKS_BUS_PARTITIONS", "1", "16", ("0", "17")),
    (CommonSettings, "ARKS_PARTITION_LEASE_SECONDS", "5", "3600", ("0", "4.9", "3601")),
    (PlannerSettings, "ARKS_RELIST_SECONDS", "1", "86400", ("0", "0.999", "86401")),
    (ModelLoaderSettings, "ARKS_RELIST_SECONDS", "1", "86400", ("0", "86401")),
    (ModelLoaderSettings, "ARKS_WATCH_TIMEOUT_SECONDS", "1", "86400", ("0", "86401")),
    (ModelLoaderSettings, "ARKS_DOWNLOAD_BACKOFF_LIMIT", "0", "100", ("101",)),
    (DeployerSettings, "ARKS_WATCH_TIMEOUT_SECONDS", "1", "86400", ("0", "86401")),
    (WatcherSettings, "ARKS_RESYNC_SECONDS", "1", "86400", ("0", "0.5", "86401")),
    (WatcherSettings, "ARKS_WATCH_TIMEOUT_SECONDS", "1", "86400", ("0", "86401")),
    (SloScalerSettings, "ARKS_RELIST_SECONDS", "1", "86400", ("0", "86401")),
    (SloScalerSettings, "ARKS_SCRAPE_INTERVAL_SECONDS", "1", "3600", ("0", "0.5", "3601")),
    (SloScalerSettings, "ARKS_SCRAPE_TIMEOUT_SECONDS", "0.1", "600", ("0", "601")),
    (SloScalerSettings, "ARKS_METRICS_PORT", "1", "65535", ("0", "65536")),
    (SloScalerSettings, "ARKS_CONCURRENT_STEPS", "1", "10000", ("0", "10001")),
    (SloScalerSettings, "ARKS_CONCURRENT_SCRAPES", "1", "10000", ("0", "10001")),
    (SloScalerSettings, "ARKS_CAPACITY_PRIOR_PER_GROUP", "0.001", "1000000", ("0", "1000001")),
]
NONSENSE = ("nan", "inf", "-inf", "-1", "1e300")
IDS = [f"{cls.__name__} {variable}" for cls, variable, *_ in RANGES]


def _field(variable: str) -> str:
    return variable.removeprefix("ARKS_").lower()


@pytest.mark.parametrize(("settings", "variable", "least", "most", "refused"), RANGES, ids=IDS)
def test_the_ends_of_a_range_are_taken(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[BaseSettings],
    variable: str,
    least: str,
    most: str,
    refused: tuple[str, ...],
) -> None:
    for value in (least, most):
        monkeypatch.setenv(variable, value)
        assert float(getattr(settings(), _field(variable))) == float(value)


@pytest.mark.parametrize(("settings", "variable", "least", "most", "refused"), RANGES, ids=IDS)
def test_nan_inf_negative_huge_and_out_of_range_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    settings: type[BaseSettings],
    variable: str,
    least: str,
    most: str,
    refused: tuple[str, ...],
) -> None:
    for value in (*NONSENSE, *refused):
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValidationError) as caught:
            settings()
        (line,) = problems(caught.value)
        assert line.startswith(f"{variable}={value!r}: "), line


def test_the_defaults_are_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    for _, variable, *_ in RANGES:
        monkeypatch.delenv(variable, raising=False)
    for settings in (CommonSettings, PlannerSettings, ModelLoaderSettings, DeployerSettings, WatcherSettings):
        settings()
    assert SloScalerSettings().capacity_prior_per_group is None  # unset: learnt online


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "ARKS_RELIST_SECONDS",
            "0",
            "ARKS_RELIST_SECONDS='0': must be a number of seconds from 1 to 86400",
        ),
        ("ARKS_HTTP_PORT", "70000", "ARKS_HTTP_PORT='70000': must be a whole number from 1 to 65535"),
        (
            "ARKS_RELIST_SECONDS",
            "soon",
            "ARKS_RELIST_SECONDS='soon': Input should be a valid number, unable to parse string as a number",
        ),
        ("ARKS_LOG_FORMAT", "yaml", "ARKS_LOG_FORMAT='yaml': Input should be 'json' or 'console'"),
        (
            "ARKS_LOG_LEVEL",
            "LOUD",
            "ARKS_LOG_LEVEL='LOUD': must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            "ARKS_CAPACITY_PRIOR_PER_GROUP",
            "0",
            "ARKS_CAPACITY_PRIOR_PER_GROUP='0': must be a number of requests per second above 0 and at most 1000000",
        ),
    ],
    ids=["a period", "a port", "not a number", "a closed set", "a log level", "a rate above nought"],
)
def test_a_refusal_reads_as_the_variable_the_value_given_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        SloScalerSettings()
    assert problems(caught.value) == [line]


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARKS_STALL_SECONDS", "nan")
    monkeypatch.setenv("arks_http_port", "0")  # pydantic-settings reads names without regard to case; so does the line
    with pytest.raises(ValidationError) as caught:
        CommonSettings()
    assert problems(caught.value) == [
        "ARKS_HTTP_PORT='0': must be a whole number from 1 to 65535",
        "ARKS_STALL_SECONDS='nan': must be a number of seconds from 10 to 86400",
    ]


def test_pydantics_own_words_are_kept_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARKS_HTTP_PORT", "8081.5")
    with pytest.raises(ValidationError) as caught:
        CommonSettings()
    assert problems(caught.value) == [
        "ARKS_HTTP_PORT='8081.5': Input should be a valid integer, unable to parse string as an integer"
    ]


CHARTS = Path(__file__).resolve().parents[2] / "deploy" / "charts"
EVERY_CHART = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")
CHART_VALUES: list[tuple[str, str, str]] = [
    *((chart, "shutdownGraceSeconds", "ARKS_SHUTDOWN_GRACE_SECONDS") for chart in EVERY_CHART),
    *((chart, "partitionLeaseSeconds", "ARKS_PARTITION_LEASE_SECONDS") for chart in EVERY_CHART),
    *((chart, "nats.streamReplicas", "ARKS_REPLICAS_OF_STREAMS") for chart in EVERY_CHART),
    *((chart, "nats.partitions", "ARKS_BUS_PARTITIONS") for chart in EVERY_CHART),
    ("planner", "relistSeconds", "ARKS_RELIST_SECONDS"),
    ("model-loader", "relistSeconds", "ARKS_RELIST_SECONDS"),
    ("model-loader", "downloader.backoffLimit", "ARKS_DOWNLOAD_BACKOFF_LIMIT"),
    ("watcher", "watcher.resyncSeconds", "ARKS_RESYNC_SECONDS"),
    ("watcher", "watcher.watchTimeoutSeconds", "ARKS_WATCH_TIMEOUT_SECONDS"),
    ("slo-scaler", "sloScaler.relistSeconds", "ARKS_RELIST_SECONDS"),
    ("slo-scaler", "sloScaler.scrapeIntervalSeconds", "ARKS_SCRAPE_INTERVAL_SECONDS"),
    ("slo-scaler", "sloScaler.scrapeTimeoutSeconds", "ARKS_SCRAPE_TIMEOUT_SECONDS"),
    ("slo-scaler", "sloScaler.metricsPort", "ARKS_METRICS_PORT"),
    ("slo-scaler", "sloScaler.concurrentSteps", "ARKS_CONCURRENT_STEPS"),
    ("slo-scaler", "sloScaler.concurrentScrapes", "ARKS_CONCURRENT_SCRAPES"),
]
"""The chart values that set a numeric variable. `http.port` is left out on purpose: the chart's 1024 to 65535 is
narrower than the service's 1 to 65535 (its pods run as a user that may not bind below 1024)."""


@pytest.mark.parametrize(("chart", "value", "variable"), CHART_VALUES, ids=[f"{c} {v}" for c, v, _ in CHART_VALUES])
def test_a_charts_schema_allows_what_the_service_allows(chart: str, value: str, variable: str) -> None:
    """A value the schema takes never fails the pod at start, and one the service takes is never refused by helm."""
    node = json.loads((CHARTS / chart / "values.schema.json").read_text())
    for part in value.split("."):
        node = node["properties"][part]
    least, most = next((least, most) for _, v, least, most, _ in RANGES if v == variable)
    assert (node.get("minimum"), node.get("maximum")) == (float(least), float(most))


def test_the_charts_capacity_prior_is_the_services() -> None:
    node = json.loads((CHARTS / "slo-scaler" / "values.schema.json").read_text())
    prior = node["properties"]["sloScaler"]["properties"]["capacityPriorPerGroup"]
    assert (prior["exclusiveMinimum"], prior["maximum"]) == (0, CAPACITY_PRIOR_MAX)


def test_a_huge_refused_value_is_quoted_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """A megabyte in a setting: the refusal stays one line of reasonable size, saying how long the value was."""
    monkeypatch.setenv("ARKS_RELIST_SECONDS", "9" * 1_000_000)
    monkeypatch.setenv("ARKS_LOG_FORMAT", "x" * 1_000_000)
    with pytest.raises(ValidationError) as caught:
        PlannerSettings()
    said = problems(caught.value)
    assert len(said) == 2
    assert all(len(line) < 600 for line in said), [len(line) for line in said]
    assert said[0].startswith("ARKS_LOG_FORMAT='xxxx")
    assert "… (1000002 characters): Input should be 'json' or 'console'" in said[0]
    assert said[1].startswith("ARKS_RELIST_SECONDS='9999")
