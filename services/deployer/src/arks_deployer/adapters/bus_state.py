"""Reads the newest plan and scale decision of an application from their streams (last message per subject).

The plan and scale streams keep the latest messages per subject, so they double as the place where the
deployer finds the current plan whatever event woke it up — no cache of its own to lose on restart.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from arks_common.events.contract import PLANS, PLANS_STREAM, SCALE, SCALE_STREAM
from arks_common.events.payloads import PlanReady, ScaleDecision, decode
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)


class BusState:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def plan(self, namespace: str, name: str, uid: str) -> PlanReady | None:
        data = await self._last(PLANS_STREAM.name, PLANS.subject(namespace, name))
        return data if isinstance(data, PlanReady) and data.ref.uid == uid else None

    async def scale(self, namespace: str, name: str, uid: str) -> ScaleDecision | None:
        data = await self._last(SCALE_STREAM.name, SCALE.subject(namespace, name))
        return data if isinstance(data, ScaleDecision) and data.ref.uid == uid else None

    async def _last(self, stream: str, subject: str) -> object | None:
        try:
            msg = await self._js.get_last_msg(stream, subject)
        except NotFoundError:
            return None
        if msg.data is None:
            return None
        try:
            return decode(msg.data).data
        except ValueError as exc:  # msgspec errors are ValueErrors; a bad message is as good as none
            log.warning("unreadable message in stream", stream=stream, subject=subject, error=str(exc))
            return None
