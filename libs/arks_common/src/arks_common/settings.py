"""Settings read from the environment once at start (prefix `ARKS_`), frozen and passed down."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arks_common.events.partitions import DEFAULT_PARTITIONS, check_partitions

MIN_PARTITION_LEASE_SECONDS = 5.0
MAX_PARTITION_LEASE_SECONDS = 3600.0
RELIST_SECONDS_RANGE = (1.0, 86400.0)
"""What a scheduled relist's period may be: at least a second (a shorter one is a busy loop of lists against the
API server), at most a day (a longer one, or `inf`, in effect never looks, and what it is there to catch, a
deletion no event told, would wait for a restart)."""


def check_relist_seconds(value: float, variable: str = "ARKS_RELIST_SECONDS") -> float:
    """`value` if it is a period a scheduled relist may have, else a ValueError naming `variable` and the range."""
    low, high = RELIST_SECONDS_RANGE
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{variable} must be a number of seconds from {low:g} to {high:g}, got {value}")
    return value


class CommonSettings(BaseSettings):
    """What every service needs; a service subclasses it to add its own fields."""

    model_config = SettingsConfigDict(env_prefix="ARKS_", frozen=True, extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds_file: str | None = None
    nats_connect_timeout_seconds: float = 5.0
    nats_connect_deadline_seconds: float = 120.0
    """How long to keep trying the first connection before the service gives up (and is restarted)."""
    http_host: str = "0.0.0.0"
    http_port: int = 8081
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    trace_exporter: Literal["none", "console", "otlp", "jsonl"] = "none"
    trace_file: str | None = None
    shutdown_grace_seconds: float = 20.0
    stall_seconds: float = 300.0
    """A loop (a consumer's fetch-and-handle cycle, a watch) that makes no progress for this long beyond its own
    expected wait fails /healthz, so the service is restarted (telemetry/liveness.py)."""
    replicas_of_streams: int = 1
    bus_partitions: int = DEFAULT_PARTITIONS
    """P: how many partitions each partitioned stream has; the same for arks-bus-bootstrap and every service (a
    service refuses to start, naming this setting, when the bus is partitioned otherwise)."""
    partition_lease_seconds: float = 15.0
    """How long a replica's Lease on a partition lasts unrenewed: a replica that dies hands its partitions over
    within this. Renewed every third of it; a replica stops consuming at four fifths of it."""
    lease_namespace: str = ""
    """Where the Leases live; empty: this pod's namespace (or `default` outside a cluster)."""

    @field_validator("bus_partitions")
    @classmethod
    def _partitions_in_range(cls, value: int) -> int:
        return check_partitions(value, "bus_partitions (ARKS_BUS_PARTITIONS)")

    @field_validator("partition_lease_seconds")
    @classmethod
    def _lease_long_enough(cls, value: float) -> float:
        # below 5 s a renewal (every third of the lease) leaves less than the consumers' stop-ahead of the hold
        # (four fifths of it), so they would stop and start again every round; above an hour (or inf) a dead
        # replica's partitions wait that long
        if not MIN_PARTITION_LEASE_SECONDS <= value <= MAX_PARTITION_LEASE_SECONDS:  # nan fails both
            raise ValueError(
                f"ARKS_PARTITION_LEASE_SECONDS must be a number of seconds from {MIN_PARTITION_LEASE_SECONDS:g} to "
                f"{MAX_PARTITION_LEASE_SECONDS:g}, got {value}"
            )
        return value

    def effective_lease_namespace(self) -> str:
        if self.lease_namespace:
            return self.lease_namespace
        pod_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        return pod_ns.read_text().strip() if pod_ns.exists() else "default"
