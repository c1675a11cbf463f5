"""Settings read from the environment once at start (prefix `ARKS_`), frozen and passed down."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
