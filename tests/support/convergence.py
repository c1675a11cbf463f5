"""What "converged with nothing lost" means for a burst of applications, checked on the live cluster: every one
Running, exactly one LeaderWorkerSet and one Service each, owned by it, no LeaderWorkerSet created twice; and after
deletion, nothing of theirs left."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from support.builders import small_app
from support.e2e import Env, wait_until

SERVICE_PREFIX = "arks-application-"


def cpu_app(name: str, **spec: Any) -> dict[str, Any]:
    """A one-pod application asking for a little CPU and no GPU, so a burst of a hundred fits the fake nodes."""
    app: dict[str, Any] = small_app(name, **spec)
    app["spec"]["instanceSpec"]["resources"] = {"requests": {"cpu": "10m"}}
    return app


def _ours(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in services if s["metadata"]["name"].startswith(SERVICE_PREFIX)]


def assert_all_running_exactly_once(arks: Env, ns: str, count: int, within: float, *, lost_events: int = 0) -> None:
    """`lost_events`: how many "Created" Events may be missing (Events are best effort: a killed service may die
    between its write and its Event); a second "Created" for one LeaderWorkerSet is never allowed."""

    def all_running() -> bool:
        apps = arks.items("arksapplications", ns)
        return len(apps) == count and all((a.get("status") or {}).get("phase") == "Running" for a in apps)

    wait_until(all_running, within, f"all {count} applications Running")
    apps = {a["metadata"]["name"]: a for a in arks.items("arksapplications", ns)}
    lwss = arks.items("leaderworkersets", ns)
    services = _ours(arks.items("services", ns))
    assert sorted(lws["metadata"]["name"] for lws in lwss) == sorted(apps)
    assert sorted(s["metadata"]["name"] for s in services) == sorted(f"{SERVICE_PREFIX}{n}" for n in apps)
    for obj in [*lwss, *services]:
        [owner] = obj["metadata"]["ownerReferences"]
        assert owner["uid"] == apps[owner["name"]]["metadata"]["uid"]

    created: defaultdict[str, int] = defaultdict(int)
    for event in arks.items("events", ns):
        if event["reason"] == "Created" and "LeaderWorkerSet " in event["message"]:  # names all it created
            created[event["involvedObject"]["name"]] += int(event.get("count", 1))
    twice = {name: n for name, n in created.items() if n > 1}
    assert not twice, f"LeaderWorkerSets created more than once: {twice}"
    assert len(created) >= count - lost_events, f"only {len(created)} creations were recorded"


def assert_deletion_leaves_nothing(arks: Env, ns: str) -> None:
    arks.kubectl("delete", "arksapplications", "--all", "-n", ns, "--timeout=180s")
    wait_until(lambda: not arks.items("leaderworkersets", ns), 90, "every LeaderWorkerSet deleted")
    wait_until(lambda: not _ours(arks.items("services", ns)), 90, "every Service deleted")
    wait_until(lambda: not arks.items("pods", ns, "arks.ai/application"), 180, "every application pod deleted")
