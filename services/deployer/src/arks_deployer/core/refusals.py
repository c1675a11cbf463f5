"""What an API error on an object Arks applies means for the application. Pure.

- Refused: the object as planned can never be accepted (400/422, an admission webhook's denial, which
  controller-runtime webhooks such as LeaderWorkerSet's send as 403, or a server-side apply body that does
  not fit the schema, which the API server answers with 500): only a spec change fixes it, so the
  status says Failed with the server's own message, and nothing is retried until something changes. A name held
  by an object that is not the application's is Failed too, but looked at again every 30 s: deleting that object
  is the remedy the message gives, and nothing the watcher follows tells of it.
- Forbidden: any other 403 (a quota, a namespace being deleted, missing RBAC): shown, retried slowly.
- Retrying: the server could not take it now (409, 429, 5xx, no answer): shown, retried as the server asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from arks_common.api.conditions import bounded

FORBIDDEN_RETRY_SECONDS = 30.0
HELD_RETRY_SECONDS = 30.0
RETRY_SECONDS = 5.0
CONFLICT_RETRY_SECONDS = 1.0


class ProblemKind(StrEnum):
    REFUSED = "ApplyRefused"
    FORBIDDEN = "ApplyForbidden"
    RETRYING = "ApplyRetrying"


@dataclass(frozen=True)
class ApplyProblem:
    kind: ProblemKind
    message: str
    retry_seconds: float | None  # None: not retried until the application or its objects change
    outage: bool = False  # the API server away (no answer, 429, 5xx): retried for as long as the bus allows outages

    @property
    def permanent(self) -> bool:
        return self.kind is ProblemKind.REFUSED


TYPED_PATCH_FAILURE = "failed to create typed patch object"
"""A server-side apply whose body does not fit the kind's schema: kube-apiserver (v1.36.3 here) answers 500
for it, though no retry can ever succeed."""


def webhook_denial(message: str) -> bool:
    return "admission webhook" in message and "denied the request" in message


def classify(status: int, message: str, retry_after: float | None) -> ApplyProblem:
    text = bounded(message)  # API messages can quote a whole object; the start names the field
    never = status in (400, 422) or (status == 403 and webhook_denial(message))
    if never or (status == 500 and TYPED_PATCH_FAILURE in message):
        return ApplyProblem(ProblemKind.REFUSED, text, None)
    if status == 403:
        return ApplyProblem(ProblemKind.FORBIDDEN, text, retry_after or FORBIDDEN_RETRY_SECONDS)
    default = CONFLICT_RETRY_SECONDS if status == 409 else RETRY_SECONDS
    outage = status == 0 or status == 429 or status >= 500
    return ApplyProblem(ProblemKind.RETRYING, text, retry_after if retry_after is not None else default, outage)


def held_by_others(whats: list[str]) -> ApplyProblem:
    names = ", ".join(whats[:5])
    return ApplyProblem(
        ProblemKind.REFUSED,
        f"{names} already exist{'s' if len(whats) == 1 else ''} and belong{'s' if len(whats) == 1 else ''} to "
        "something else (no controller reference to this application): delete or rename it, or rename the "
        "application",
        # looked at again slowly: such an object is rarely one the watcher follows, so its deletion wakes nothing
        HELD_RETRY_SECONDS,
    )
