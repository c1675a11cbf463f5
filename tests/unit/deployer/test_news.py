"""Which deployer steps become Events, and their words (arks_deployer.core.news)."""

from __future__ import annotations

from arks_common.api.application import Phase
from arks_deployer.core.news import Step, phase_is_news, step_events
from arks_deployer.core.status import DeployerStatus, ReadyReason


def status(phase: Phase, reason: ReadyReason) -> DeployerStatus:
    return DeployerStatus(phase, 0, 0, 0, 1, "", reason in (ReadyReason.RUNNING,), reason, "m")


def test_the_objects_one_reconcile_created_are_one_event() -> None:
    steps = [
        Step("Created", "LeaderWorkerSet app"),
        Step("Created", "Service arks-application-app"),
        Step("Scaled", "LeaderWorkerSet app-decode", "to 3 replica groups"),
        Step("Deleted", "Service old"),
    ]
    got = step_events(steps, {"Created": " (plan abc)", "Deleted": ": no longer planned"})
    assert got == [
        ("Created", "Created LeaderWorkerSet app, Service arks-application-app (plan abc)"),
        ("Scaled", "Scaled LeaderWorkerSet app-decode to 3 replica groups"),
        ("Deleted", "Deleted Service old: no longer planned"),
    ]
    assert step_events([], {}) == []


def test_the_phases_on_the_way_up_are_not_told_running_and_failures_are() -> None:
    assert not phase_is_news(None, status(Phase.CHECKING, ReadyReason.WAITING_FOR_PLAN))
    assert not phase_is_news("Checking", status(Phase.LOADING, ReadyReason.WAITING_FOR_MODEL))
    assert not phase_is_news("Loading", status(Phase.CREATING, ReadyReason.CREATING))
    assert phase_is_news("Creating", status(Phase.RUNNING, ReadyReason.RUNNING))
    assert not phase_is_news("Running", status(Phase.RUNNING, ReadyReason.UPDATING))
    assert phase_is_news("Checking", status(Phase.FAILED, ReadyReason.PRECHECK_FAILED))
    assert phase_is_news("Running", status(Phase.CREATING, ReadyReason.NOT_READY))  # it stopped serving
    assert phase_is_news("Failed", status(Phase.CREATING, ReadyReason.CREATING))  # a fix is under way
    assert phase_is_news(None, status(Phase.CREATING, ReadyReason.APPLY_FORBIDDEN))
