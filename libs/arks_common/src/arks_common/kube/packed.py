"""Objects kept as their JSON, one bytes object each, and decoded when read. Pure.

Thousands of decoded Kubernetes objects are millions of small Python objects: several times their JSON's size,
and scattered over the allocator's arenas so that memory freed after them is hardly returned. A reader that
keeps many objects but reads few at a time (an index of owned objects, a start-up pass over every application)
keeps them packed instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

Obj = dict[str, Any]
_ENCODE = msgspec.json.Encoder()
_DECODE = msgspec.json.Decoder(dict[str, Any])


def pack(obj: Obj) -> bytes:
    return _ENCODE.encode(obj)


def unpack(raw: bytes) -> Obj:
    """A fresh copy of the packed object: a reader may change it without changing what is kept."""
    return _DECODE.decode(raw)


class Packed:
    """A list of objects kept packed, decoded one at a time as it is iterated."""

    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self._items = [pack(o) for o in objects]

    def extend(self, objects: Iterable[Obj]) -> None:
        self._items.extend(pack(o) for o in objects)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Obj]:
        return (unpack(raw) for raw in self._items)
