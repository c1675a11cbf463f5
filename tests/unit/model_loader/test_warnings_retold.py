"""A Warning the model-loader finds again at every look, for a situation that did not change (a model whose deletion
waits for its users, `ModelInUse`; a model it cannot read, `ModelUnreadable`), is recorded once, not at each
scheduled round (every `ARKS_RELIST_SECONDS`) nor at each event of the namespace's applications: the Event's count
would grow (`x288 over 24h`) and every Event watcher would be woken with nothing new. It is recorded again when it
says something new (another set of users), when its Event could soon expire (`core.retelling`), and when the last
try to record it failed."""

from __future__ import annotations

import pytest
from unit.model_loader.cluster import CONFIG, Cluster, application_dict, ready

from arks_common.events.payloads import ObjectKind
from arks_common.kube.client import KubeError
from arks_common.kube.events import EventRecorder
from arks_common.kube.resources import APPLICATIONS, EVENTS, MODELS
from arks_model_loader.core.retelling import RETELL_SECONDS, Told, worth_telling
from arks_model_loader.models import MODEL_FINALIZER, ModelReconciler

KEY = ("default", "qwen-7b")
DELETING = {"deletionTimestamp": "2026-01-01T00:00:00Z"}


async def _deleted_while_used(c: Cluster) -> None:
    c.kube.put(APPLICATIONS, application_dict("qwen-7b"))
    c.kube.edit(MODELS, *KEY, lambda m: m["metadata"].update(DELETING))
    await c.models.resync([KEY])
    assert c.kube.store[(MODELS.plural, *KEY)]["metadata"]["finalizers"] == [MODEL_FINALIZER]


def _told(c: Cluster, reason: str) -> list[str]:
    return [message for type_, why, message in c.events.recorded if (type_, why) == ("Warning", reason)]


@pytest.mark.parametrize(
    ("last", "message", "now", "want"),
    [
        (None, "used by chat", 0.0, True),
        (Told("used by chat", 0.0), "used by chat", 300.0, False),
        (Told("used by chat", 0.0), "used by chat", RETELL_SECONDS - 1, False),
        (Told("used by chat", 0.0), "used by chat", RETELL_SECONDS, True),
        (Told("used by chat", 0.0), "used by chat, code", 300.0, True),
    ],
    ids=[
        "never told: told",
        "the same, a round later: not told",
        "the same, just before its Event could expire: not told",
        "the same, once its Event could soon expire: told again",
        "another message (another user): told",
    ],
)
def test_whether_a_warning_found_again_is_recorded(last: Told | None, message: str, now: float, want: bool) -> None:
    assert worth_telling(last, message, now) is want


async def test_a_model_waiting_for_its_users_is_told_once_over_scheduled_rounds() -> None:
    c = await ready()
    await _deleted_while_used(c)
    for _ in range(3):
        await c.models.resync([KEY])
    assert _told(c, "ModelInUse") == ["Deletion waits until no application uses this model; still used by chat"]


async def test_the_namespaces_application_events_do_not_retell_it_either() -> None:
    c = await ready()
    await _deleted_while_used(c)
    for generation in (2, 3):  # the user edited, still on the model: the model is looked at again
        await c.tell(
            ObjectKind.APPLICATION, c.kube.put(APPLICATIONS, application_dict("qwen-7b", generation=generation))
        )
    assert len(_told(c, "ModelInUse")) == 1


async def test_another_user_is_news() -> None:
    c = await ready()
    await _deleted_while_used(c)
    c.kube.put(APPLICATIONS, application_dict("qwen-7b", name="code"))
    await c.models.resync([KEY])
    assert _told(c, "ModelInUse")[-1] == "Deletion waits until no application uses this model; still used by chat, code"
    assert len(_told(c, "ModelInUse")) == 2


async def test_it_is_told_again_before_its_event_could_expire() -> None:
    now = [0.0]
    c = await ready()
    c = Cluster(c.kube, c.events, ModelReconciler(c.kube.as_kube(), c.events.as_recorder(), CONFIG, lambda: now[0]))
    await _deleted_while_used(c)
    now[0] = RETELL_SECONDS - 1
    await c.models.resync([KEY])
    assert len(_told(c, "ModelInUse")) == 1
    now[0] = RETELL_SECONDS
    await c.models.resync([KEY])
    assert len(_told(c, "ModelInUse")) == 2


async def test_an_unreadable_model_is_told_once_over_scheduled_rounds() -> None:
    c = await ready()
    c.kube.edit(MODELS, *KEY, lambda m: m["spec"].update(model=["not", "a", "repo"]))
    for _ in range(3):
        await c.models.resync([KEY])
    assert len(_told(c, "ModelUnreadable")) == 1


async def test_a_warning_that_could_not_be_recorded_is_tried_at_the_next_round() -> None:
    """With the real recorder: the API server refuses the first Event (a failure it logs, never raises); the next
    round records it."""
    c = await ready()
    recorder = EventRecorder(c.kube.as_kube(), "model-loader")
    c = Cluster(c.kube, c.events, ModelReconciler(c.kube.as_kube(), recorder, CONFIG))
    c.kube.refuse[EVENTS.plural] = KubeError("etcdserver: request timed out", 500)
    await _deleted_while_used(c)
    assert not [e for e in c.kube.objects(EVENTS) if e["reason"] == "ModelInUse"]
    del c.kube.refuse[EVENTS.plural]
    await c.models.resync([KEY])
    assert [e["reason"] for e in c.kube.objects(EVENTS) if e["reason"] == "ModelInUse"] == ["ModelInUse"]
