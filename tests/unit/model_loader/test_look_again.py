"""While a model's download waits on its pod, the newest of its messages alone comes back to look again, a few
times after the model's last event, and then ends quietly (not as a dead letter)."""

from __future__ import annotations

import pytest

from arks_common.bus.consumer import Later
from arks_common.events.contract import Service, consumers_of
from arks_model_loader.models import LOOK_AGAIN_TIMES, ModelReconciler


def _reconciler() -> ModelReconciler:
    return ModelReconciler(None, None, None)  # type: ignore[arg-type]  # look_again touches none of them


def test_the_newest_message_looks_again_and_an_older_one_that_comes_back_is_done() -> None:
    models = _reconciler()
    with pytest.raises(Later):
        models.look_again("ns", "m", sequence=5, attempt=1)
    with pytest.raises(Later):  # a newer event of the model takes the looks over
        models.look_again("ns", "m", sequence=9, attempt=1)
    models.look_again("ns", "m", sequence=5, attempt=2)  # the older one, back: done (acknowledged)
    with pytest.raises(Later):
        models.look_again("ns", "m", sequence=9, attempt=2)
    with pytest.raises(Later):  # another model keeps its own
        models.look_again("ns", "other", sequence=6, attempt=1)


def test_the_looks_end_quietly_below_the_consumers_budget() -> None:
    models = _reconciler()
    for attempt in range(1, LOOK_AGAIN_TIMES + 1):
        with pytest.raises(Later):
            models.look_again("ns", "m", sequence=5, attempt=attempt)
    models.look_again("ns", "m", sequence=5, attempt=LOOK_AGAIN_TIMES + 1)  # no Later: acknowledged
    # below the consumer's max_deliver: a Later at it would be dead-lettered
    assert min(c.max_deliver for c in consumers_of(Service.MODEL_LOADER)) > LOOK_AGAIN_TIMES + 1
