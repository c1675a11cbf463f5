"""What the watcher follows, from `ARKS_WATCH_KINDS`."""

from __future__ import annotations

import pytest

from arks_common.events.payloads import ObjectKind
from arks_watcher.core.kinds import parse_kinds


def test_each_kind_is_followed_once_however_often_it_is_named() -> None:
    """Two followers of one kind would publish each of its changes twice."""
    kinds = parse_kinds("application, model,application,, model")
    assert [w.kind for w in kinds] == [ObjectKind.APPLICATION, ObjectKind.MODEL]


def test_an_unknown_kind_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown kind 'pods'; known: application, model"):
        parse_kinds("application,pods")
