"""Two model-loader replicas judge one application's `Loaded`: the model's replica (its change lists the
namespace's applications) and the application's own (its events). A verdict judged from an older copy of the
application never lands over a newer one: the deployer holds a new template until `Loaded` is of its generation."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from unit.model_loader.cluster import NS, application_dict, model_dict

from arks_common.bus.consumer import TemporaryError
from arks_common.kube.resources import APPLICATIONS, MODELS
from arks_model_loader.gate import LoadedGate
from support.memory_kube import MemoryEvents, MemoryKube

READY = {"phase": "Ready", "observedGeneration": 1}


class ListThenPause(MemoryKube):
    """A list of applications answered, then `meanwhile` runs before the lister goes on: what other writers do
    between the model's replica reading the namespace and writing from what it read."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[None]] | None = None

    async def list_packed(self, res: Any, namespace: str | None = None, **kw: Any) -> tuple[Any, str]:
        listed = await super().list_packed(res, namespace, **kw)
        if self.meanwhile is not None:
            hook, self.meanwhile = self.meanwhile, None
            await hook()
        return listed


def _stored(kube: MemoryKube, name: str = "chat") -> dict[str, Any]:
    return copy.deepcopy(kube.store[(APPLICATIONS.plural, NS, name)])


def _loaded(app: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in app["status"]["conditions"] if c["type"] == "Loaded")


def _setup() -> tuple[ListThenPause, LoadedGate, LoadedGate]:
    kube = ListThenPause()
    kube.put(MODELS, {**model_dict(), "status": READY})
    app = application_dict("qwen-7b")
    app["status"] = {
        "conditions": [
            {"type": "Loaded", "status": "False", "reason": "ModelLoading", "message": "...", "observedGeneration": 1}
        ]
    }
    kube.put(APPLICATIONS, app)
    events = MemoryEvents()
    epoch = lambda: 1  # noqa: E731 - both replicas hold their partitions throughout
    return (
        kube,
        LoadedGate(kube.as_kube(), events.as_recorder(), epoch),
        LoadedGate(kube.as_kube(), events.as_recorder(), epoch),
    )


async def test_a_model_change_judged_from_an_older_copy_does_not_overwrite_a_newer_generations_verdict() -> None:
    kube, model_replica, app_replica = _setup()

    async def edit_and_judge() -> None:
        # the user edits the application; its own replica judges generation 2 from the edit's event
        kube.edit(APPLICATIONS, NS, "chat", lambda a: a["metadata"].update(generation=2))
        await app_replica.application_changed(NS, "chat", _stored(kube))
        assert _loaded(_stored(kube))["observedGeneration"] == 2

    kube.meanwhile = edit_and_judge
    await model_replica.model_changed(NS, "qwen-7b")  # judged from its listed copy: generation 1
    # the event of whatever the model's replica wrote reaches the application's replica
    await app_replica.application_changed(NS, "chat", _stored(kube))
    stored = _stored(kube)
    loaded = _loaded(stored)
    assert (stored["metadata"]["generation"], loaded["status"], loaded["observedGeneration"]) == (2, "True", 2)


async def test_a_refused_write_costs_one_read_of_the_application_and_is_judged_again() -> None:
    kube, model_replica, _ = _setup()

    async def status_written_elsewhere() -> None:
        # another service's status write (the deployer's phase): the listed copy is older than what is stored
        kube.edit(APPLICATIONS, NS, "chat", lambda a: a["status"].update(phase="Loading"))

    kube.meanwhile = status_written_elsewhere
    kube.calls.clear()
    await model_replica.model_changed(NS, "qwen-7b")
    loaded = _loaded(_stored(kube))
    assert (loaded["status"], loaded["observedGeneration"]) == ("True", 1)
    write = ("apply_status", APPLICATIONS.plural, "chat")
    assert [c for c in kube.calls if c[1] == APPLICATIONS.plural] == [
        write,
        ("get", APPLICATIONS.plural, "chat"),
        write,
    ]


async def test_an_application_that_keeps_changing_sends_the_models_event_back() -> None:
    kube, model_replica, _ = _setup()
    original = kube.apply_status

    async def always_newer(*args: Any, **kw: Any) -> dict[str, Any]:
        kube.edit(APPLICATIONS, NS, "chat", lambda a: a.setdefault("metadata", {}))
        return await original(*args, **kw)

    kube.apply_status = always_newer  # type: ignore[method-assign]
    with pytest.raises(TemporaryError, match="modified"):  # the bus delivers the model's event again
        await model_replica.model_changed(NS, "qwen-7b")
