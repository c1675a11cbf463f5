"""Objects kept packed: each read is a fresh, equal copy, and a packed list holds no decoded object of a page
once the next page is requested."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator
from typing import Any

from arks_common.kube.client import Kube
from arks_common.kube.packed import Packed, pack, unpack
from arks_common.kube.resources import APPLICATIONS


class Whole(dict[str, Any]):
    """A listed object as decoded, which a weak reference can watch."""


class PagedKube(Kube):
    """The real `list_packed` over pages served from memory, noting how many earlier objects are alive at each
    page request."""

    def __init__(self, pages: int, per_page: int) -> None:  # no API server: list_pages is served here
        self.pages, self.per_page = pages, per_page
        self.alive_at_request: list[int] = []
        self._refs: list[weakref.ref[Whole]] = []

    async def list_pages(
        self,
        res: Any,
        namespace: str | None = None,
        label_selector: str | None = None,
        stubs: bool = False,
        page_size: int = 500,
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], str], None]:
        for number in range(self.pages):
            self.alive_at_request.append(sum(ref() is not None for ref in self._refs))
            page: list[dict[str, Any]] = []
            for i in range(self.per_page):
                whole = Whole(metadata={"name": f"a{number}-{i}"}, spec={"model": {"name": "m"}})
                self._refs.append(weakref.ref(whole))
                page.append(whole)
            del whole
            yield page, "7"
            del page


def test_a_packed_object_reads_back_equal_and_each_read_is_a_fresh_copy() -> None:
    obj = {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "deep": [[{"k": None}]]}}
    raw = pack(obj)
    first = unpack(raw)
    assert first == obj
    first["spec"]["replicas"] = 9
    assert unpack(raw) == obj


def test_a_packed_list_holds_no_decoded_object_of_an_earlier_page_and_reads_them_all_in_order() -> None:
    kube = PagedKube(pages=3, per_page=4)
    packed, version = asyncio.run(kube.list_packed(APPLICATIONS))
    assert kube.alive_at_request == [0, 0, 0]
    assert version == "7"
    assert len(packed) == 12
    assert [o["metadata"]["name"] for o in packed][:5] == ["a0-0", "a0-1", "a0-2", "a0-3", "a1-0"]
    assert all(o["spec"] == {"model": {"name": "m"}} for o in Packed(packed))
