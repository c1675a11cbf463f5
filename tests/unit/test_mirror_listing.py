"""A mirror's relist keeps of each page only what its picture reads, before the next page is fetched: thousands of
large objects (LeaderWorkerSets with their pod templates) are never held whole at once."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator
from typing import Any

from arks_common.kube.mirror import _listed
from arks_common.kube.resources import LEADERWORKERSETS


class Whole(dict[str, Any]):
    """A listed object as decoded, which a weak reference can watch."""


class PagedKube:
    """Serves `pages` pages of `per_page` objects, noting how many earlier objects are alive at each request."""

    def __init__(self, pages: int, per_page: int) -> None:
        self.pages, self.per_page = pages, per_page
        self.alive_at_request: list[int] = []
        self._refs: list[weakref.ref[Whole]] = []

    async def list_pages(
        self, res: Any, namespace: str | None, label_selector: str | None, stubs: bool, page_size: int
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], str], None]:
        for number in range(self.pages):
            self.alive_at_request.append(sum(ref() is not None for ref in self._refs))
            page: list[dict[str, Any]] = []
            for i in range(self.per_page):
                whole = Whole(metadata={"name": f"o{number}-{i}"}, spec={"template": "x" * 100})
                self._refs.append(weakref.ref(whole))
                page.append(whole)
            del whole
            yield page, "42"
            del page


def keep_name(obj: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": obj["metadata"]}


def test_a_trimmed_relist_holds_no_whole_object_of_an_earlier_page() -> None:
    kube = PagedKube(pages=4, per_page=3)
    items, version = asyncio.run(_listed(kube, LEADERWORKERSETS, None, keep_name, 3))  # type: ignore[arg-type]
    assert kube.alive_at_request == [0, 0, 0, 0]
    assert version == "42"
    assert [o["metadata"]["name"] for o in items][:4] == ["o0-0", "o0-1", "o0-2", "o1-0"]
    assert len(items) == 12
    assert all("spec" not in o for o in items)


def test_without_a_trim_the_list_is_kept_whole() -> None:
    kube = PagedKube(pages=3, per_page=2)
    items, _ = asyncio.run(_listed(kube, LEADERWORKERSETS, None, None, 2))  # type: ignore[arg-type]
    assert kube.alive_at_request == [0, 2, 4]
    assert all(isinstance(o, Whole) for o in items)
