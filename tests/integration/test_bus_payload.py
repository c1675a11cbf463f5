"""An object whose encoded event is just below NATS max_payload, but above it with its headers (Nats-Msg-Id):
nats.py checks the payload alone, nats-server the headers with it, and its refusal closes the connection for
good. The watcher's publish must degrade such an event to a stub (as for one plainly too large), on a real
nats-server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext

from arks_common.bus.jetstream import ensure_stream
from arks_common.events.contract import OBJECTS_STREAM, Service
from arks_common.events.payloads import Envelope, ObjectKind, encode
from arks_watcher.adapters.follow import Follower
from arks_watcher.core.changes import change_of
from arks_watcher.core.kinds import WATCHED
from support.nats_server import NatsServer


def sized_object(max_payload: int, below: int) -> dict[str, Any]:
    """An application whose event envelope is `below` bytes under max_payload."""

    def obj(pad: int) -> dict[str, Any]:
        return {
            "apiVersion": "arks.ai/v1",
            "kind": "ArksApplication",
            "metadata": {"name": "big", "namespace": "ns", "uid": "u-big", "resourceVersion": "7"},
            "spec": {"extraOptions": ["x" * pad]},
        }

    def size(pad: int) -> int:
        change = change_of(ObjectKind.APPLICATION, obj(pad), False)
        env = Envelope(id=change.msg_id, source=Service.WATCHER.value, time=datetime.now(UTC), data=change.payload)
        return len(encode(env))

    pad = max_payload - below - size(0)
    assert abs(size(pad) - (max_payload - below)) <= 2, size(pad)
    return obj(pad)


async def test_an_event_just_under_max_payload_is_degraded_as_one_too_large(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.workdir.mkdir()
    server.start()
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        js: JetStreamContext = nc.jetstream(timeout=2)
        await ensure_stream(js, OBJECTS_STREAM)
        big = sized_object(nc.max_payload, below=40)  # headers (Nats-Msg-Id alone) are ~60 bytes
        follower = Follower(None, js, WATCHED[ObjectKind.APPLICATION], 600, 300)  # type: ignore[arg-type]
        stop = asyncio.Event()
        try:
            await asyncio.wait_for(follower._send(big, False, stop), 15)
        except TimeoutError:
            raise AssertionError(
                "publishing an event of max_payload - 40 bytes never went through in 15 s; "
                f"connection closed for good: {nc.is_closed} "
                f"(nats-server log: {server.log_file.read_text()[-400:]!r})"
            ) from None
        info = await js.stream_info(OBJECTS_STREAM.name)
        assert info.state.messages == 1
    finally:
        await nc.close()
        server.stop()
