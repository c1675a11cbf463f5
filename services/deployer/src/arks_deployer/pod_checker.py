"""The dry-run pod checks of `core.pod_checks`, made once per pod and shared for a few seconds.

A brand-new application's plan usually reaches the deployer before the model's `Loaded` gate does: its check
starts then (`start`), so the reconcile that the gate wakes finds the answer ready instead of waiting an
admission's round trip before it creates the set (`first_refusal`). An answer is taken for `REUSE_SECONDS` at
most: what admits a pod (a ServiceAccount, a quota, a policy) may change, and a set applied later is checked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable

from arks_common.kube.client import Kube, KubeError
from arks_common.kube.resources import PODS
from arks_common.stopping import cancel_firmly
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.pod_checks import PodCheck, is_refusal, refusal_message
from arks_deployer.core.refusals import ApplyProblem, classify
from arks_deployer.owned_cache import POD_CHECKS

log = get_logger(__name__)

REUSE_SECONDS = 5.0
"""How long one answer stands for the same pod: longer than a new application's wait for its model's gate."""
KEPT = 1024
"""Answers (or checks in flight) remembered at once, oldest out: a forgotten one is only asked again."""


class PodChecker:
    def __init__(self, kube: Kube, clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._clock = clock
        self._answers: OrderedDict[tuple[str, bytes], tuple[float, asyncio.Task[ApplyProblem | None]]] = OrderedDict()

    async def close(self) -> None:
        """Cancels the dry runs still in flight (on shutdown: nobody waits for them any more)."""
        running = [task for _, task in self._answers.values() if not task.done()]
        self._answers.clear()
        await asyncio.gather(*(cancel_firmly(task) for task in running))

    def start(self, namespace: str, checks: list[PodCheck]) -> None:
        """Sends each pod's dry run now, unless an answer for it stands (nobody waits for them here)."""
        for check in checks:
            self._answer(namespace, check)

    async def first_refusal(self, namespace: str, checks: list[PodCheck]) -> ApplyProblem | None:
        """The first refusal among `checks`' pods, as an apply problem; None when all pass, or when an answer is no
        refusal of the pods themselves (`is_refusal`) or no answer (the API server away): the set is applied as
        before, and the check is an aid, not a gate. A cancelled caller leaves a shared check running."""
        tasks = [self._answer(namespace, check) for check in checks]
        for task in tasks:
            refused = await asyncio.shield(task)
            if refused is not None:
                return refused
        return None

    def _answer(self, namespace: str, check: PodCheck) -> asyncio.Task[ApplyProblem | None]:
        key = (namespace, hashlib.blake2b(json.dumps(check.pod, sort_keys=True).encode(), digest_size=16).digest())
        now = self._clock()
        held = self._answers.get(key)
        if held is not None and now - held[0] <= REUSE_SECONDS and not held[1].cancelled():
            return held[1]
        task = asyncio.create_task(self._dry_run(namespace, check), name=f"pod check {namespace}/{check.lws}")
        self._answers[key] = (now, task)
        self._answers.move_to_end(key)
        while len(self._answers) > KEPT:
            self._answers.popitem(last=False)
        return task

    async def _dry_run(self, namespace: str, check: PodCheck) -> ApplyProblem | None:
        try:
            await self._kube.create(PODS, namespace, check.pod, dry_run=True)
        except KubeError as exc:
            if is_refusal(check, exc.status, str(exc)):
                POD_CHECKS.labels("refused").inc()
                return classify(exc.status, refusal_message(check.lws, str(exc), check.role), exc.retry_after)
            POD_CHECKS.labels("unchecked").inc()
            log.warning("pods not checked", lws=f"{namespace}/{check.lws}", status=exc.status, error=str(exc)[:300])
            return None
        except Exception as exc:
            POD_CHECKS.labels("unchecked").inc()
            log.warning("pods not checked", lws=f"{namespace}/{check.lws}", error=str(exc)[:300])
            return None
        POD_CHECKS.labels("admitted").inc()
        return None
