"""The leader-election rule: create, renew, take over an expired lease, or follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arks_common.kube.leader import Step, next_step
from arks_common.sharing.share import LeaseView

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("case", "view", "step"),
    [
        ("no lease yet: create it", None, Step.CREATE),
        ("our own lease: renew it", LeaseView("me", NOW - timedelta(seconds=5), 15), Step.RENEW),
        ("another holder renewing: follow", LeaseView("other", NOW - timedelta(seconds=5), 15), Step.FOLLOW),
        ("another holder gone quiet: take over", LeaseView("other", NOW - timedelta(seconds=16), 15), Step.ACQUIRE),
        ("a released lease: take it", LeaseView(None, None, 15), Step.ACQUIRE),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_next_step(case: str, view: LeaseView | None, step: Step) -> None:
    assert next_step(view, "me", NOW) is step
