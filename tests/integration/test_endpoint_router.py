"""The ArksEndpoint data plane with the real router (smg 1.13.0) and runtime emulators as backends.

Two applications of model-a (one on a GPU twice as slow) and one of model-b behind one multi-model endpoint:
the applications the endpoint selects (`arks_common.endpoints`, the planner's and deployer's code) become the router's
workers. Requests reach only the applications of the model named, split by load; an unknown model gets a
404; an application deleted leaves the selection and stops receiving traffic without a failed request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from arks_common.api import ArksApplication, ArksEndpoint
from arks_common.endpoints import selected_applications
from support.builders import vllm_app
from support.e2e import wait_until
from support.emulator import Emulator
from support.router import Router, running_emulators, send

BACKENDS = {"a-h100": ("model-a", 1.0), "a-l40s": ("model-a", 2.0), "b": ("model-b", 1.0)}


def application(name: str, served: str) -> ArksApplication:
    doc = vllm_app(servedModelName=served)
    doc["metadata"] = {"name": name, "namespace": "team", "uid": f"uid-{name}"}
    doc["status"] = {"readyReplicas": 1}
    return ArksApplication.model_validate(doc)


ENDPOINT = ArksEndpoint.model_validate({"metadata": {"name": "all", "namespace": "team"}, "spec": {"allModels": True}})


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[str, Emulator]]:
    with running_emulators(tmp_path, BACKENDS) as started:
        yield started


def worker_urls(apps: list[ArksApplication], emulators: dict[str, Emulator]) -> list[str]:
    """The selected applications' leaders, each standing for its emulator (the fake nodes' pods lead nowhere)."""
    return [emulators[a.metadata.name].url for a in selected_applications(ENDPOINT, apps)]


async def test_one_endpoint_routes_by_model_and_load_and_drops_a_deleted_application(
    tmp_path: Path, emulators: dict[str, Emulator]
) -> None:
    apps = [application(name, model) for name, (model, _) in BACKENDS.items()]
    router = Router(tmp_path / "router")
    try:
        router.start(worker_urls(apps, emulators))
        router.wait_workers({e.url for e in emulators.values()})
        async with aiohttp.ClientSession() as session:
            split = await send(session, router, "model-a", 1000, 32)
            print(f"1,000 model-a requests through the endpoint: {dict(split)}")
            assert set(split) == {"a-h100", "a-l40s"}, split  # only model-a's applications, no failure
            # load-aware: the GPU twice as fast takes about two thirds (ideal 667), not half nor all
            assert 550 <= split["a-h100"] <= 800, split

            assert await send(session, router, "model-b", 50, 8) == {"b": 50}

            async with session.post(
                f"{router.url}/v1/completions", json={"model": "no-such-model", "prompt": "x", "max_tokens": 1}
            ) as resp:
                assert resp.status == 404
                assert "no-such-model" in (await resp.json())["error"]["message"]

            # a-l40s is deleted while model-a traffic flows: it leaves the selection, then its backend goes away
            during = asyncio.create_task(send(session, router, "model-a", 600, 8))
            await asyncio.sleep(1.0)
            apps = [a for a in apps if a.metadata.name != "a-l40s"]
            router.set_workers(worker_urls(apps, emulators))
            await asyncio.to_thread(router.wait_workers, {emulators["a-h100"].url, emulators["b"].url})
            await asyncio.to_thread(emulators["a-l40s"].stop)
            after_removal = await send(session, router, "model-a", 200, 8)
            counts = await during
            assert set(counts) <= {"a-h100", "a-l40s"}, counts  # no failed request while it went
            assert after_removal == {"a-h100": 200}, after_removal
    finally:
        router.stop()
    wait_until(lambda: not router.workers(), 15, "the router to stop")
