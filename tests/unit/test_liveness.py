"""Liveness: a loop is overdue only once its own promised interval has passed; a forgotten loop is not watched."""

from __future__ import annotations

from arks_common.telemetry.liveness import Liveness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_is_overdue_only_after_its_own_limit_and_a_beat_clears_it() -> None:
    clock = Clock()
    liveness = Liveness(clock)
    liveness.beat("consumer a", within=10)
    liveness.beat("follower b", within=60)
    clock.now += 10
    assert liveness.overdue() == []
    clock.now += 1
    [late] = liveness.overdue()
    assert str(late) == "consumer a: no progress for 11 s (limit 10 s)"
    liveness.beat("consumer a", within=10)
    assert liveness.overdue() == []


def test_a_beat_does_not_take_back_a_longer_promise() -> None:
    """A list+watch loop waiting out a server's Retry-After promises its next beat after the wait; a publish of
    its that goes through meanwhile beats with the usual limit, and must not make the wait a stall."""
    clock = Clock()
    liveness = Liveness(clock)
    liveness.beat("follower a", within=10 + 50)
    clock.now += 1
    liveness.beat("follower a", within=10)
    clock.now += 50
    assert liveness.overdue() == []
    clock.now += 10
    [late] = liveness.overdue()
    assert str(late) == "follower a: no progress for 60 s (limit 59 s)"


def test_a_loop_that_ended_is_not_watched() -> None:
    clock = Clock()
    liveness = Liveness(clock)
    liveness.beat("consumer a", within=1)
    liveness.forget("consumer a")
    clock.now += 1_000
    assert liveness.overdue() == []
