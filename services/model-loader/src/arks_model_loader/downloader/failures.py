"""Turn a failed download into the message the user reads in the ArksModel status, and decide whether to retry.

Pure: inspects exceptions and formats text; must not log, sleep or touch files.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

TERMINATION_LOG_LIMIT = 4096  # bytes Kubernetes keeps of a termination message
_SUMMARY_LIMIT = 1024
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_REDACTED = "<redacted>"


class IncompleteDownloadError(Exception):
    """snapshot_download returned, but files of the commit are missing (it falls back to what is on disk when the
    Hub cannot be reached); worth another attempt."""


@dataclass(frozen=True)
class Context:
    """What a message needs to name: never the token itself, only whether there was one and where it comes from."""

    repo_id: str
    revision: str
    endpoint: str
    directory: str
    token_given: bool
    token_secret: str | None = None


@dataclass(frozen=True)
class Failure:
    summary: str  # what went wrong and what to change, in the user's terms
    detail: str  # the library's own error text
    transient: bool

    def text(self) -> str:
        return f"{self.summary}\n{self.detail}" if self.detail else self.summary


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes: huggingface_hub often wraps the real error (a 503, a lost connection) in a
    LocalEntryNotFoundError raised `from` it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return exc.response.status_code
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _secret_hint(ctx: Context) -> str:
    if ctx.token_secret:
        return f"the token in Secret {ctx.token_secret} (spec.source.huggingface.tokenSecretRef)"
    return "the token in the Secret of spec.source.huggingface.tokenSecretRef"


def classify(exc: BaseException, ctx: Context) -> Failure:
    """The user-facing failure for `exc`; the most specific error anywhere in its cause chain wins."""
    chain = list(_chain(exc))
    model = f"model {ctx.repo_id}"

    for e in chain:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return Failure(
                f"no space left on the model volume while downloading {model} into {ctx.directory}: "
                "request more storage in spec.storage.pvc.spec.resources.requests.storage",
                _describe(e),
                transient=False,
            )
    for e in chain:
        if isinstance(e, GatedRepoError):
            return Failure(
                f"access to {model} denied on {ctx.endpoint}: it is a gated model; accept its terms on the Hub with "
                f"the account of {_secret_hint(ctx)}, or check that token",
                _describe(e),
                transient=False,
            )
    for e in chain:
        if isinstance(e, RepositoryNotFoundError):
            hint = (
                f"check spec.model (and that {_secret_hint(ctx)} can read it)"
                if ctx.token_given
                else "check spec.model (and, for a private model, spec.source.huggingface.tokenSecretRef)"
            )
            return Failure(f"{model} not found on {ctx.endpoint}: {hint}", _describe(e), transient=False)
    for e in chain:
        if isinstance(e, RevisionNotFoundError):
            return Failure(
                f"revision {ctx.revision} of {model} not found on {ctx.endpoint}: check the revision",
                _describe(e),
                transient=False,
            )
    for e in chain:
        status = _status(e)
        if status in (401, 403):
            hint = (
                f"check {_secret_hint(ctx)}"
                if ctx.token_given
                else "no token was given: set spec.source.huggingface.tokenSecretRef to a Secret with HF_TOKEN"
            )
            return Failure(
                f"access to {model} denied on {ctx.endpoint} (HTTP {status}): {hint}", _describe(e), transient=False
            )
    for e in chain:
        if isinstance(e, httpx2.TransportError) or _status(e) in _TRANSIENT_STATUS:
            return Failure(
                f"could not download {model} from {ctx.endpoint}: the Hub is unreachable or busy",
                _describe(e),
                transient=True,
            )
        if isinstance(e, IncompleteDownloadError):
            return Failure(f"download of {model} is incomplete", _describe(e), transient=True)
    return Failure(f"download of {model} from {ctx.endpoint} failed", _describe(exc), transient=False)


def redact(text: str, secret: str | None) -> str:
    """Remove the token from text we did not write ourselves (library messages, echoed URLs)."""
    return text.replace(secret, _REDACTED) if secret else text


def termination_message(failure: Failure, limit: int = TERMINATION_LOG_LIMIT) -> str:
    """The failure in at most `limit` UTF-8 bytes: our summary first, then the tail of the library's text, where
    the root cause usually is (Kubernetes would otherwise cut the message for us)."""
    summary = _head_bytes(failure.summary, _SUMMARY_LIMIT)
    whole = f"{summary}\n{failure.detail}" if failure.detail else summary
    if len(whole.encode()) <= limit:
        return whole
    room = limit - len(summary.encode()) - len("\n…".encode())
    return f"{summary}\n…{_tail_bytes(failure.detail, room)}"


def _head_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def _tail_bytes(text: str, limit: int) -> str:
    data = text.encode()
    return data[max(len(data) - limit, 0) :].decode(errors="ignore") if limit > 0 else ""
