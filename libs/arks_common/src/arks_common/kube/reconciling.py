"""The bookkeeping around one reconcile: its metrics, and API errors turned into retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arks_common.bus.consumer import TemporaryError
from arks_common.kube.client import KubeError
from arks_common.telemetry.metrics import RECONCILE_ERRORS, RECONCILE_SECONDS, RECONCILES


@asynccontextmanager
async def reconciling(controller: str) -> AsyncIterator[None]:
    """Counts the reconcile by result and times it; an API error becomes a TemporaryError (nak, retry later)."""
    started = time.perf_counter()
    RECONCILE_ERRORS.labels(controller)  # the error series exist at 0 before the first error
    RECONCILES.labels(controller, "error")
    try:
        yield
        RECONCILES.labels(controller, "success").inc()
    except KubeError as exc:
        RECONCILES.labels(controller, "error").inc()
        RECONCILE_ERRORS.labels(controller).inc()
        raise TemporaryError(str(exc), outage=exc.outage) from exc
    finally:
        RECONCILE_SECONDS.labels(controller).observe(time.perf_counter() - started)
