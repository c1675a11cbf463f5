"""A list of thousands of large objects is never held whole at once: `Kube.list` with a trim (a mirror's relist)
and `Kube.list_packed` let each page's decoded objects go before the next page is requested; a packed object
reads back equal, each read a fresh copy."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator
from typing import Any

from arks_common.kube.client import Kube
from arks_common.kube.packed import pack, unpack
from arks_common.kube.resources import APPLICATIONS, LEADERWORKERSETS


class Whole(dict[str, Any]):
    """A listed object as decoded, which a weak reference can watch."""


class PagedKube(Kube):
    """The real list methods over pages served from memory (no API server), noting how many objects of earlier
    pages are alive at each page request."""

    def __init__(self, pages: int, per_page: int) -> None:
        self.pages, self.per_page = pages, per_page
        self.alive_at_request: list[int] = []
        self._refs: list[weakref.ref[Whole]] = []

    async def list_pages(self, *args: Any, **kwargs: Any) -> AsyncGenerator[tuple[list[dict[str, Any]], str], None]:
        for number in range(self.pages):
            self.alive_at_request.append(sum(ref() is not None for ref in self._refs))
            page: list[dict[str, Any]] = []
            for i in range(self.per_page):
                whole = Whole(metadata={"name": f"o{number}-{i}"}, spec={"model": {"name": "m"}, "template": "x"})
                self._refs.append(weakref.ref(whole))
                page.append(whole)
            del whole
            yield page, "42"
            del page


def keep_name(obj: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": obj["metadata"]}


def test_a_trimmed_list_holds_no_whole_object_of_an_earlier_page() -> None:
    kube = PagedKube(pages=4, per_page=3)
    items, version = asyncio.run(kube.list(LEADERWORKERSETS, stubs=True, trim=keep_name, page_size=3))
    assert kube.alive_at_request == [0, 0, 0, 0]
    assert version == "42"
    assert [o["metadata"]["name"] for o in items][:4] == ["o0-0", "o0-1", "o0-2", "o1-0"]
    assert len(items) == 12
    assert all("spec" not in o for o in items)


def test_without_a_trim_the_list_is_kept_whole() -> None:
    kube = PagedKube(pages=3, per_page=2)
    items, _ = asyncio.run(kube.list(LEADERWORKERSETS))
    assert kube.alive_at_request == [0, 2, 4]
    assert all(isinstance(o, Whole) for o in items)


def test_a_packed_list_holds_no_decoded_object_of_an_earlier_page_and_reads_them_all_in_order() -> None:
    kube = PagedKube(pages=3, per_page=4)
    packed, version = asyncio.run(kube.list_packed(APPLICATIONS))
    assert kube.alive_at_request == [0, 0, 0]
    assert version == "42"
    assert len(packed) == 12
    assert [o["metadata"]["name"] for o in packed][:5] == ["o0-0", "o0-1", "o0-2", "o0-3", "o1-0"]
    assert all(o["spec"] == {"model": {"name": "m"}, "template": "x"} for o in packed)


def test_a_packed_object_reads_back_equal_and_each_read_is_a_fresh_copy() -> None:
    obj = {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "deep": [[{"k": None}]]}}
    raw = pack(obj)
    first = unpack(raw)
    assert first == obj
    first["spec"]["replicas"] = 9
    assert unpack(raw) == obj
