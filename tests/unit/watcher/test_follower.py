"""The watcher's follower where a list or a watch breaks, against a scripted API server and bus (stand-ins:
what is tested is the follower's bookkeeping of what it told; the real ones are in the e2e suite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from arks_common.events.payloads import ObjectChanged, ObjectKind, decode
from arks_common.kube.client import Gone, KubeError
from arks_watcher.adapters.follow import Follower
from arks_watcher.core.kinds import WATCHED


def app(name: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": rv},
        "spec": {},
    }


class FakeJS:
    """Records what was published: (name, deleted, resourceVersion)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bool, str]] = []
        self.block = asyncio.Event()
        self.block.set()
        self.block_after: int | None = None  # after this many publishes, the bus is away until `block` is set

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> Any:
        if self.block_after is not None and len(self.sent) >= self.block_after:
            self.block.clear()
            self.block_after = None
        await self.block.wait()
        change = decode(data).data
        assert isinstance(change, ObjectChanged)
        self.sent.append((change.ref.name, change.deleted, change.resource_version))
        return SimpleNamespace(duplicate=False, seq=len(self.sent))


class FakeKube:
    """`lists`: one script per list call: a list of pages, or an exception raised in place of a page.
    `watches`: one script per watch call: a list of (type, obj) events; an exception item is raised;
    when a script ends the watch ends cleanly. Watch calls record the resourceVersion asked for."""

    def __init__(self, lists: list[list[Any]], watches: list[list[Any]], stop: asyncio.Event) -> None:
        self.lists = lists
        self.watches = watches
        self.watch_rvs: list[str] = []
        self.stop = stop

    async def list_pages(
        self, res: Any, label_selector: Any = None, stubs: bool = False
    ) -> AsyncIterator[tuple[list[Any], str]]:
        if not self.lists:
            self.stop.set()
            raise KubeError("no more scripted lists")
        script = self.lists.pop(0)
        for n, page in enumerate(script):
            if isinstance(page, BaseException):
                raise page
            yield page, f"list-rv-{n}"

    def watch(self, res: Any, rv: str, timeout: int, selector: Any = None) -> AsyncIterator[Any]:
        self.watch_rvs.append(rv)
        script = self.watches.pop(0) if self.watches else None
        stop = self.stop

        async def gen() -> AsyncIterator[Any]:
            if script is None:
                stop.set()
                await asyncio.sleep(3600)
                return
            for item in script:
                if isinstance(item, BaseException):
                    raise item
                yield item

        return gen()


async def run_follower(kube: FakeKube, js: FakeJS, stop: asyncio.Event, resync: float = 3600) -> None:
    follower = Follower(kube, js, WATCHED[ObjectKind.APPLICATION], resync, 300)  # type: ignore[arg-type]
    await asyncio.wait_for(follower.run(stop), 10)


async def test_a_deletion_is_told_after_a_relist_broke_between_pages() -> None:
    """Known: a, b, c (published by the first list). The watch breaks (410). While the watcher relists,
    the second page's request fails (410 Expired continue token, or any KubeError). Meanwhile c is deleted.
    The third list no longer shows c -- but the watcher forgot c when the second list broke, so it never
    announces c's deletion."""
    stop = asyncio.Event()
    lists: list[list[Any]] = [
        [[app("a", "1")], [app("b", "2")], [app("c", "3")]],  # first list: publishes a, b, c
        [[app("a", "1")], Gone("list arksapplications: continue token expired", 410)],  # relist breaks after page 1
        [[app("a", "1")], [app("b", "2")]],  # c has been deleted meanwhile
    ]
    watches = [[Gone("watch expired", 410)]]
    kube = FakeKube(lists, watches, stop)
    js = FakeJS()
    await run_follower(kube, js, stop)
    assert ("c", True, "3") in js.sent, f"the deletion of c was never published; published: {js.sent}"


async def test_a_watch_that_ends_without_events_is_restarted_from_its_list_version() -> None:
    """A watch the server ends cleanly before sending anything (an API server restarting, a proxy's idle
    close, no bookmark yet) must be restarted from the version it began at, not from "" (which the API
    server reads as 'start at the newest state': every change in between, deletions included, is skipped)."""
    stop = asyncio.Event()
    lists: list[list[Any]] = [[[app("a", "1")]]]
    watches: list[list[Any]] = [[]]  # the first watch ends at once, cleanly, without events
    kube = FakeKube(lists, watches, stop)
    js = FakeJS()
    await run_follower(kube, js, stop)
    assert kube.watch_rvs[:2] == ["list-rv-0", "list-rv-0"], f"watches started from: {kube.watch_rvs}"


async def test_an_event_cut_off_at_the_resync_deadline_is_told_by_the_next_relist() -> None:
    """NATS is away: 128 publishes are in flight (the pipeline's window), so the watch's next event waits for a
    slot inside `_publish` -- after `_known` was already updated. The resync deadline cancels the watch task
    there. The relist then thinks the event went out: a deletion (or a change) is never published."""
    stop = asyncio.Event()
    many = [app(f"x{i}", str(100 + i)) for i in range(128)]
    lists: list[list[Any]] = [
        [[app("victim", "5")]],
        [[]],  # the resync's list: the victim is gone, and so are the x's (not relevant)
    ]
    events: list[Any] = [("ADDED", o) for o in many] + [("DELETED", app("victim", "6"))]
    watches = [events]
    kube = FakeKube(lists, watches, stop)
    js = FakeJS()

    js.block_after = 1  # the first list's publish goes through, then NATS is away

    async def nats_away_then_back() -> None:
        await asyncio.sleep(1.0)  # across the resync deadline (0.5 s)
        js.block.set()

    # resync after 0.5 s; after the second list the fake sets stop (no third list)
    outage = asyncio.create_task(nats_away_then_back())
    # the first list's publish must happen before the block: give it time by delaying the watch a little
    await run_follower(kube, js, stop, resync=0.5)
    await outage
    # after the stop, give in-flight publishes their drain
    deleted = [s for s in js.sent if s[0] == "victim" and s[1]]
    assert deleted, f"victim's deletion was never published; victim events: {[s for s in js.sent if s[0] == 'victim']}"
