"""Settings read from the environment once at start (prefix `ARKS_`), frozen and passed down.

Every number has a range (`seconds`, `whole`): a value outside it (`nan`, `inf`, a negative or zero period, a port
past 65535) is refused naming its variable, and `load_settings` turns any refusal into one log line and exit 78
(EX_CONFIG) instead of a traceback. Must not connect to anything.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar

from pydantic import AfterValidator, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arks_common.events.partitions import DEFAULT_PARTITIONS, MAX_PARTITIONS
from arks_common.telemetry.logging import get_logger, setup_logging

ENV_PREFIX = "ARKS_"
EX_CONFIG = 78
"""sysexits.h: a configuration error. What a service exits with when a setting is refused."""
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PARTITION_LEASE_SECONDS_RANGE = (5.0, 3600.0)
"""Below 5 s a renewal (every third of the lease) leaves less than the consumers' stop-ahead of the hold (four
fifths of it), so they would stop and start again every round; above an hour a dead replica's partitions wait that
long."""
RELIST_SECONDS_RANGE = (1.0, 86400.0)
"""What a scheduled relist's period may be: at least a second (a shorter one is a busy loop of lists against the
API server), at most a day (a longer one, or `inf`, in effect never looks, and what it is there to catch, a
deletion no event told, would wait for a restart)."""
WATCH_TIMEOUT_SECONDS_RANGE = (1, 86400)
"""One watch's length before it is renewed: the API server ends it sooner when it likes."""
PORT_RANGE = (1, 65535)
SHOWN_CHARS = 200
"""How much of a refused value a refusal quotes."""

log = get_logger(__name__)
S = TypeVar("S", bound=BaseSettings)


def variable(field: str) -> str:
    """The environment variable of a settings field: `relist_seconds` -> `ARKS_RELIST_SECONDS`."""
    return f"{ENV_PREFIX}{field}".upper()


def check_number(
    value: float, name: str, low: float, high: float, what: str = "a number", *, above: bool = False
) -> float:
    """`value` if it is finite and from `low` (`above`: more than `low`) to `high`, else a ValueError naming `name`
    (the variable), the range and the value."""
    if math.isfinite(value) and (low < value if above else low <= value) and value <= high:  # nan fails every test
        return value
    allowed = f"above {_plain(low)} and at most {_plain(high)}" if above else f"from {_plain(low)} to {_plain(high)}"
    raise ValueError(f"{name} must be {what} {allowed}, got {value}")


def _plain(bound: float) -> str:
    """A range's end as the docs write it: 1000000, not 1e+06; 0.1 as it is."""
    return str(int(bound)) if bound == int(bound) else f"{bound:g}"


def _ranged(low: float, high: float, what: str) -> AfterValidator:
    """A field's range for `Annotated[...]`; its error names the field's variable (`check_number`)."""

    def check(value: Any, info: ValidationInfo) -> Any:
        return check_number(value, variable(str(info.field_name)), low, high, what)

    return AfterValidator(check)


def seconds(low: float, high: float) -> AfterValidator:
    """The range of a period or timeout, for `Annotated[float, seconds(low, high)]`."""
    return _ranged(low, high, "a number of seconds")


def whole(low: int, high: int) -> AfterValidator:
    """The range of a count or a port, for `Annotated[int, whole(low, high)]`."""
    return _ranged(low, high, "a whole number")


class CommonSettings(BaseSettings):
    """What every service needs; a service subclasses it to add its own fields."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds_file: str | None = None
    nats_connect_timeout_seconds: Annotated[float, seconds(0.1, 300.0)] = 5.0
    """One connection attempt's limit."""
    nats_connect_deadline_seconds: Annotated[float, seconds(1.0, 86400.0)] = 120.0
    """How long to keep trying the first connection before the service gives up (and is restarted)."""
    http_host: str = "0.0.0.0"
    http_port: Annotated[int, whole(*PORT_RANGE)] = 8081
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    trace_exporter: Literal["none", "console", "otlp", "jsonl"] = "none"
    trace_file: str | None = None
    shutdown_grace_seconds: Annotated[float, seconds(0.0, 3600.0)] = 20.0
    """How long in-flight work may finish on SIGTERM; 0: none may."""
    stall_seconds: Annotated[float, seconds(10.0, 86400.0)] = 300.0
    """A loop (a consumer's fetch-and-handle cycle, a watch) that makes no progress for this long beyond its own
    expected wait fails /healthz, so the service is restarted (telemetry/liveness.py)."""
    replicas_of_streams: Annotated[int, whole(1, 5)] = 1
    """JetStream keeps at most 5 copies of a stream."""
    bus_partitions: Annotated[int, whole(1, MAX_PARTITIONS)] = DEFAULT_PARTITIONS
    """P: how many partitions each partitioned stream has; the same for arks-bus-bootstrap and every service (a
    service refuses to start, naming this setting, when the bus is partitioned otherwise)."""
    partition_lease_seconds: Annotated[float, seconds(*PARTITION_LEASE_SECONDS_RANGE)] = 15.0
    """How long a replica's Lease on a partition lasts unrenewed: a replica that dies hands its partitions over
    within this. Renewed every third of it; a replica stops consuming at four fifths of it."""
    lease_namespace: str = ""
    """Where the Leases live; empty: this pod's namespace (or `default` outside a cluster)."""

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"ARKS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value

    def effective_lease_namespace(self) -> str:
        if self.lease_namespace:
            return self.lease_namespace
        pod_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        return pod_ns.read_text().strip() if pod_ns.exists() else "default"


class RelistSettings(CommonSettings):
    """A service that reconciles everything of its kind on a schedule besides its events (the planner, the
    model-loader, the slo-scaler): `relist_seconds` is that period, from 1 to 86400 (`RELIST_SECONDS_RANGE`)."""

    relist_seconds: Annotated[float, seconds(*RELIST_SECONDS_RANGE)] = 300.0


def _given(field: str) -> str | None:
    """The text the environment gave for a field (its variable's name is matched as pydantic-settings does,
    without regard to case)."""
    wanted = variable(field)
    return next((value for key, value in os.environ.items() if key.upper() == wanted), None)


def problems(exc: ValidationError) -> list[str]:
    """One entry per refused setting: its variable, the value given and what is allowed, e.g.
    `ARKS_RELIST_SECONDS='0': must be a number of seconds from 1 to 86400`."""
    out = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc") or ()
        field = str(loc[0]) if loc else ""
        name = variable(field) if field else ENV_PREFIX + "*"
        given: Any = _given(field) if field else None
        if given is None:
            given = error.get("input")
        reason = str(error.get("msg", "")).removeprefix("Value error, ")
        if reason.startswith(f"{name} "):  # ours (`check_number`, ...): the variable and the value are said once
            reason = reason.removeprefix(f"{name} ").rpartition(", got ")[0] or reason
        out.append(f"{name}={shown(given)}: {reason}")
    return out


def shown(value: Any) -> str:
    """A value as a refusal quotes it: its repr, cut to `SHOWN_CHARS` (a setting may be as long as the environment
    allows; the line that refuses it must stay one line of reasonable size)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text)} characters)"


def load_settings(service: str, settings: type[S]) -> S:
    """The service's settings from the environment; a refused one is one log line naming every bad variable (in the
    services' log format, as far as `ARKS_LOG_FORMAT` itself can be read) and exit `EX_CONFIG`, not a traceback."""
    try:
        return settings()
    except ValidationError as exc:
        refuse(service, problems(exc))


def refuse(service: str, said: list[str]) -> NoReturn:
    """Stops a service whose configuration is refused (its settings, a file one names): one log line with every
    problem, exit `EX_CONFIG`."""
    fmt = (_given("log_format") or "json").strip()
    setup_logging(service, "INFO", fmt if fmt in LOG_FORMATS else "json")
    log.error("settings refused; not started", problems=said)
    sys.exit(EX_CONFIG)
