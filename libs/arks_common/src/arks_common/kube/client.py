"""A small generic async Kubernetes client: get, list, watch, server-side apply, status apply, delete.

Addressed by Resource, so every kind — ours, LeaderWorkerSet, core — goes through the same few verbs, as raw JSON
over one HTTP client (`transport`: kubeconfig or in-cluster login, TLS, a pool sized for bursts). API errors
become KubeError subclasses (`raise ... from`) so callers can tell a conflict or a vanished object from a server
that is away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from lightkube.core.exceptions import ConfigError
from opentelemetry import trace

from arks_common.kube.decoding import checked, loads, undecodable
from arks_common.kube.newest import kept
from arks_common.kube.packed import Packed
from arks_common.kube.resources import Resource, can_be_path_segment
from arks_common.kube.transport import UNREACHABLE, ApiClient, load_api_client
from arks_common.telemetry.logging import get_logger

__all__ = ["Conflict", "Gone", "Invalid", "Kube", "KubeError", "NotFound", "Undecodable", "load_api_client"]

log = get_logger(__name__)

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
LIST_PAGE = 500
"""Objects per list request: pages keep each answer (and a paged reader's memory) bounded."""

_tracer = trace.get_tracer("arks.kube")
_NOT_SENT: tuple[type[BaseException], ...] = (*UNREACHABLE, ConfigError)
"""What a request raises when the server was not reached or the connection broke (a status 0 KubeError), or before
it is sent: ConfigError is a token file or exec plugin (`credentials`) that failed."""


class KubeError(Exception):
    """An API call failed; `status` is the HTTP status (0 when the server could not be reached)."""

    def __init__(self, message: str, status: int = 0, reason: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        """Seconds the server asked the client to wait (its `Retry-After` header), when it said."""

    @property
    def outage(self) -> bool:
        """The server away or overloaded (no answer, 429, 5xx): what the bus waits out for days (`is_outage`)."""
        return self.status == 0 or self.status == 429 or self.status >= 500

    @property
    def temporary(self) -> bool:
        return self.outage or self.status == 409


class NotFound(KubeError):
    pass


class Undecodable(KubeError):
    """The object is nested too deep to read (see `decoding`); `stub` holds its identity and status."""

    def __init__(self, message: str, stub: dict[str, Any]) -> None:
        super().__init__(message)
        self.stub = stub

    @property
    def temporary(self) -> bool:
        return False  # only a change of the object helps


class Gone(KubeError):
    """A watch's resourceVersion is too old (410): relist."""


class Conflict(KubeError):
    pass


class Invalid(KubeError):
    """The API server refused the object (422); the message names the field."""


def refusal(what: str, status: int, phrase: str, body: bytes, headers: Mapping[str, str]) -> KubeError:
    """The KubeError for an answer outside 2xx: its message and reason from the API server's Status body when
    there is one (else the HTTP reason phrase), its class by status, and the server's Retry-After."""
    message = f"{what}: {phrase}"
    reason = ""
    try:
        decoded = json.loads(body) if body else None
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict):
        message = f"{what}: {decoded.get('message', phrase)}"
        reason = str(decoded.get("reason", ""))
    kind = {404: NotFound, 410: Gone, 409: Conflict, 422: Invalid}.get(status, KubeError)
    return kind(message, status, reason, retry_after(headers))


def retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    try:
        return max(0.0, min(float(raw), 3600.0)) if raw is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date: rare from the API server; the caller's own backoff applies


async def lines(chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    """The newline-separated lines of a byte stream, whatever its chunking (a watch sends one event a line); a
    last line without its newline (a cut stream) comes too, for the decoder to refuse."""
    parts: list[bytes] = []
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            parts.append(chunk[start:end])
            yield b"".join(parts)
            parts.clear()
            start = end + 1
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        yield b"".join(parts)


def _identity(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"object": f"{meta.get('namespace', '')}/{meta.get('name', '')}", "reason": str(undecodable(obj))}


class Kube:
    """Generic verbs on any Resource. One instance per service process, closed on shutdown."""

    def __init__(self, api: ApiClient, field_manager: str) -> None:
        self._api = api
        self.field_manager = field_manager
        self._agent = f"arks/{field_manager}"

    async def close(self) -> None:
        await self._api.aclose()

    async def _exchange(
        self,
        method: str,
        path: str,
        what: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float = 30,
    ) -> tuple[int, Any]:
        """The HTTP status and the decoded answer (the body read and decoded here, so no nesting can break a
        decoder of the HTTP client's); API refusals become KubeError. `request_timeout` bounds the whole exchange:
        the wait for a free connection, connecting, sending and reading the answer."""
        headers = {"Accept": "application/json", "Content-Type": content_type, "User-Agent": self._agent}
        content = msgspec.json.encode(body) if body is not None else None
        deadline = asyncio.timeout(request_timeout)
        try:
            # a span per request: a change's trace shows which API calls its handling waited on
            with _tracer.start_as_current_span(
                f"kube {method}",
                kind=trace.SpanKind.CLIENT,
                attributes={"http.request.method": method, "url.path": path},
            ):
                async with deadline:
                    answer = await self._api.exchange(method, path, query, headers, content)
        except _NOT_SENT as exc:
            if deadline.expired():
                raise KubeError(f"{what}: no answer within {request_timeout:g} s") from exc
            raise KubeError(f"{what}: {type(exc).__name__}: {exc}") from exc
        raw = answer.body
        if not 200 <= answer.status <= 299:
            raise refusal(what, answer.status, answer.reason, raw, answer.headers)
        try:
            return answer.status, loads(raw) if raw else {}
        except ValueError as exc:  # not JSON at all: a proxy's error page, a cut connection
            raise KubeError(f"{what}: the answer is not JSON: {exc}") from exc

    async def _object(
        self,
        method: str,
        path: str,
        what: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """`_exchange` for one object: a too-deep answer comes back as its stub."""
        _, result = await self._exchange(method, path, what, query, body, content_type)
        return checked(result) if isinstance(result, dict) else {}

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, None when it does not exist; raises Undecodable (with the stub) when it is too deep."""
        if not ((not res.namespaced or can_be_path_segment(namespace)) and can_be_path_segment(name)):
            return None  # no object can be named so (a name from a user's spec): nothing to ask for
        try:
            obj = await self._object("GET", res.path(namespace, name), f"get {res.kind} {namespace}/{name}")
        except NotFound:
            return None
        reason = undecodable(obj)
        if reason is not None:
            raise Undecodable(f"{res.kind} {namespace}/{name}: {reason}", obj)
        return obj

    async def list_pages(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        stubs: bool = False,
        page_size: int = LIST_PAGE,
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], str], None]:
        """The list of `list`, one page (up to `page_size` objects) at a time, each with the list's resourceVersion
        (all pages are one snapshot): a reader of thousands of objects never holds them all at once. Each object
        comes without its managedFields and kubectl's last-applied-configuration (`newest.kept`): no reader uses
        them, and they are up to half of an object's size. A listed object written back whole (a PUT) keeps its
        managedFields on the server but loses the annotation: only Arks' own Leases are, and they carry none."""
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", page_size)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            _, page = await self._exchange("GET", res.path(namespace), f"list {res.plural}", query)
            page = page if isinstance(page, dict) else {}
            items: list[dict[str, Any]] = []
            for item in page.get("items") or []:
                if not isinstance(item, dict):
                    continue
                item.setdefault("kind", res.kind)
                item.setdefault("apiVersion", res.api_version)
                item = kept(checked(item))
                reason = undecodable(item)
                if reason is not None and not stubs:
                    log.warning("object left out of a list: too deep to read", kind=res.kind, **_identity(item))
                    continue
                items.append(item)
            meta = page.get("metadata", {})
            token = meta.get("continue")
            del page  # the items are all a reader gets: the decoded page goes before the next one comes
            yield items, str(meta.get("resourceVersion", ""))
            del items  # nor does a page the reader is done with stay through the next request
            if not token:
                return

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        stubs: bool = False,
        trim: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        page_size: int = LIST_PAGE,
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects (following `continue`), and the list's resourceVersion to watch from. An object nested
        too deep is left out with a log line, or with `stubs` comes as its stub (see `decoding.undecodable`):
        one bad object never hides the others. `trim` keeps of each object what the caller reads, as its page
        arrives: thousands of large objects (a LeaderWorkerSet's pod templates) are never all held whole."""
        items: list[dict[str, Any]] = []
        version = ""
        async for page, page_version in self.list_pages(res, namespace, label_selector, stubs, page_size):
            items.extend(page if trim is None else [trim(obj) for obj in page])
            version = page_version
            del page  # not held while the next page is fetched
        return items, version

    async def list_packed(self, res: Resource, namespace: str | None = None, stubs: bool = False) -> tuple[Packed, str]:
        """`list`, each object packed as its page arrives: a pass over thousands of objects that reads one at a
        time holds a fraction of their decoded size, and the list is still read at once (one snapshot, no continue
        token left to expire while the pass works)."""
        packed = Packed()
        version = ""
        async for page, page_version in self.list_pages(res, namespace, None, stubs):
            packed.extend(page)
            version = page_version
            del page  # not held while the next page is fetched
        return packed, version

    async def watch(
        self, res: Resource, resource_version: str, timeout_seconds: int = 300, label_selector: str | None = None
    ) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
        """(type, object) pairs from resource_version on, BOOKMARKs included; raises Gone on 410."""
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", timeout_seconds),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        what = f"watch {res.plural}"
        headers = {"Accept": "application/json", "User-Agent": self._agent}
        try:
            # the server ends the watch after timeout_seconds; a stream silent for 30 s more is dead
            async with self._api.stream(res.path(None), query, headers, silence=timeout_seconds + 30) as answer:
                if answer.chunks is None:  # a refused watch is a plain Status
                    raise refusal(what, answer.status, answer.reason, answer.body, answer.headers)
                async for line in lines(answer.chunks):
                    if not line.strip():
                        continue
                    try:
                        event = loads(line)
                    except ValueError as exc:
                        raise KubeError(f"{what}: undecodable line: {exc}") from exc
                    if not isinstance(event, dict) or not isinstance(event.get("object") or {}, dict):
                        raise KubeError(f"{what}: unexpected line {line[:200]!r}")
                    kind, obj = event.get("type", ""), event.get("object") or {}
                    if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
                        raise KubeError(f"{what}: unexpected line {line[:200]!r}")
                    if kind == "ERROR":
                        status = int(obj.get("code", 0))
                        error = Gone if status == 410 else KubeError
                        raise error(f"{what}: {obj.get('message', '')}", status)
                    obj.setdefault("kind", res.kind)
                    obj.setdefault("apiVersion", res.api_version)
                    yield kind, checked(obj)
        except _NOT_SENT as exc:
            raise KubeError(f"{what}: {type(exc).__name__}: {exc}") from exc

    async def apply(self, res: Resource, obj: dict[str, Any], force: bool = True) -> dict[str, Any]:
        """Server-side apply of `obj` under this service's field manager."""
        applied, _ = await self.apply_created(res, obj, force)
        return applied

    async def apply_created(
        self, res: Resource, obj: dict[str, Any], force: bool = True
    ) -> tuple[dict[str, Any], bool]:
        """`apply`, and whether this very request created the object (201 Created, not 200): of two writers
        racing to create one object, exactly one learns it did."""
        meta = obj["metadata"]
        status, answer = await self._exchange(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"]),
            f"apply {res.kind} {meta.get('namespace')}/{meta['name']}",
            [("fieldManager", self.field_manager), ("force", str(force).lower())],
            obj,
            APPLY_PATCH,
        )
        return (checked(answer) if isinstance(answer, dict) else {}), status == HTTPStatus.CREATED

    async def apply_status(
        self, res: Resource, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        """Server-side apply of the fields of `.status` this service owns (through the status subresource). With
        `resource_version`, only onto that very version of the object: Conflict (409) when it changed since."""
        metadata = {"name": name, "namespace": namespace}
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version  # the API server's precondition, as on an update
        body = {"apiVersion": res.api_version, "kind": res.kind, "metadata": metadata, "status": status}
        return await self._object(
            "PATCH",
            res.path(namespace, name, "status"),
            f"apply status of {res.kind} {namespace}/{name}",
            [("fieldManager", self.field_manager), ("force", "true")],
            body,
            APPLY_PATCH,
        )

    async def merge_patch(self, res: Resource, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._object(
            "PATCH", res.path(namespace, name), f"patch {res.kind} {namespace}/{name}", None, patch, MERGE_PATCH
        )

    async def replace(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT: replaces the object; with `metadata.resourceVersion` set, a concurrent change raises Conflict."""
        meta = obj["metadata"]
        return await self._object(
            "PUT",
            res.path(meta.get("namespace"), meta["name"]),
            f"replace {res.kind} {meta.get('namespace')}/{meta['name']}",
            None,
            obj,
        )

    async def create(self, res: Resource, namespace: str, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """POST; with `dry_run`, validated and admitted as a create would be, and nothing stored (`dryRun=All`)."""
        params = [("dryRun", "All")] if dry_run else None
        what = f"{'dry-run ' if dry_run else ''}create {res.kind} in {namespace}"
        return await self._object("POST", res.path(namespace), what, params, obj)

    async def delete(
        self, res: Resource, namespace: str, name: str, propagation: str = "Background", uid: str | None = None
    ) -> bool:
        """True if a delete was issued, False if it was already gone. With `uid`, only that very object goes
        (a namesake created since it was read is left alone: the server answers 409)."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid is not None:
            body["preconditions"] = {"uid": uid}
        try:
            what = f"delete {res.kind} {namespace}/{name}"
            await self._exchange("DELETE", res.path(namespace, name), what, body=body)
        except NotFound:
            return False
        return True
