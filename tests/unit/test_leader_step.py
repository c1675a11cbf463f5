"""The leader-election rule: create, renew, take over a Lease released or seen unchanged for its duration, or
follow. Times are the reader's own monotonic clock: the holder's renewTime is never compared with it."""

from __future__ import annotations

import pytest

from arks_common.kube.leader import Step, lease_view, next_step
from arks_common.sharing.share import LeaseView, observe

NOW = 1000.0  # the reader's monotonic clock
D = 15.0


def seen(holder: str | None, ago: float) -> LeaseView:
    """A Lease this replica has read unchanged for `ago` seconds of its own clock."""
    return LeaseView(holder, D, "rv-1", NOW - ago)


@pytest.mark.parametrize(
    ("case", "view", "step"),
    [
        ("no lease yet: create it", None, Step.CREATE),
        ("our own lease: renew it", seen("me", 5), Step.RENEW),
        ("another holder renewing: follow", seen("other", 5), Step.FOLLOW),
        ("another holder seen unchanged for the lease's duration: take over", seen("other", D), Step.ACQUIRE),
        ("another holder seen unchanged for a little less: follow", seen("other", D - 0.1), Step.FOLLOW),
        ("a released lease: take it", seen(None, 0), Step.ACQUIRE),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_next_step(case: str, view: LeaseView | None, step: Step) -> None:
    assert next_step(view, "me", NOW) is step


def lease(holder: str | None, renew_time: str | None, version: str) -> dict[str, object]:
    spec = {"holderIdentity": holder, "renewTime": renew_time, "leaseDurationSeconds": int(D)}
    return {"metadata": {"name": "l", "resourceVersion": version}, "spec": spec}


def test_a_lease_whose_renew_time_looks_old_is_followed_for_a_full_duration_from_its_first_sight() -> None:
    """A replica that just started has never seen the Lease change: a renewTime an hour old (or a holder whose wall
    clock is an hour slow) tells it nothing, so it waits the duration out from its first read."""
    old = lease("other", "2026-12-07T10:00:00.000000Z", "7")
    view = observe(None, lease_view(old, NOW))
    assert next_step(view, "me", NOW) is Step.FOLLOW
    view = observe(view, lease_view(old, NOW + D - 1))
    assert next_step(view, "me", NOW + D - 1) is Step.FOLLOW
    view = observe(view, lease_view(old, NOW + D))
    assert next_step(view, "me", NOW + D) is Step.ACQUIRE


def test_a_renewal_restarts_the_count_whatever_renew_time_it_writes() -> None:
    """A holder whose wall clock is an hour fast or slow still renews: every write changes the Lease."""
    view = observe(None, lease_view(lease("other", "2026-12-07T10:00:00.000000Z", "7"), NOW))
    view = observe(view, lease_view(lease("other", "2026-12-07T09:00:00.000000Z", "8"), NOW + D - 1))
    assert next_step(view, "me", NOW + D + 1) is Step.FOLLOW
    assert next_step(view, "me", NOW + 2 * D - 1) is Step.ACQUIRE


def test_a_released_lease_is_taken_at_once_even_on_first_sight() -> None:
    released = lease(None, None, "9")
    assert next_step(observe(None, lease_view(released, NOW)), "me", NOW) is Step.ACQUIRE
