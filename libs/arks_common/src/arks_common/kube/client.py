"""A small generic async Kubernetes client: get, list, watch, server-side apply, status apply, delete.

Built on kubernetes_asyncio's ApiClient (auth, TLS, kubeconfig) but addressed by Resource, so every kind
— ours, LeaderWorkerSet, core — goes through the same few verbs. API errors become KubeError subclasses
(`raise ... from`) so callers can tell a conflict or a vanished object from a server that is away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from http import HTTPStatus
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from arks_common.kube.decoding import checked, loads, undecodable
from arks_common.kube.resources import Resource
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
LIST_PAGE = 500
"""Objects per list request: pages keep each answer (and a paged reader's memory) bounded."""


class KubeError(Exception):
    """An API call failed; `status` is the HTTP status (0 when the server could not be reached)."""

    def __init__(self, message: str, status: int = 0, reason: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        """Seconds the server asked the client to wait (its `Retry-After` header), when it said."""

    @property
    def temporary(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500 or self.status == 409


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


def _translate(exc: ApiException, what: str) -> KubeError:
    status = int(exc.status or 0)
    message = what
    reason = ""
    try:
        body = json.loads(exc.body) if exc.body else {}
        message = f"{what}: {body.get('message', exc.reason)}"
        reason = str(body.get("reason", ""))
    except (ValueError, TypeError):
        message = f"{what}: {exc.reason}"
    kind = {404: NotFound, 410: Gone, 409: Conflict, 422: Invalid}.get(status, KubeError)
    return kind(message, status, reason, _retry_after(exc))


def _identity(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"object": f"{meta.get('namespace', '')}/{meta.get('name', '')}", "reason": str(undecodable(obj))}


def _retry_after(exc: ApiException) -> float | None:
    headers: Any = exc.headers or {}
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, min(float(raw), 3600.0)) if raw is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date: rare from the API server; the caller's own backoff applies


async def load_api_client(kubeconfig: str | None) -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (path, or $KUBECONFIG/~/.kube)."""
    configuration = client.Configuration()
    if kubeconfig:
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            await config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


class Kube:
    """Generic verbs on any Resource. One instance per service process, closed on shutdown."""

    def __init__(self, api: client.ApiClient, field_manager: str) -> None:
        self._api = api
        self.field_manager = field_manager

    async def close(self) -> None:
        await self._api.close()

    async def _exchange(
        self,
        method: str,
        path: str,
        what: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        request_timeout: float | None = 30,
    ) -> tuple[int, Any]:
        """The HTTP status and the decoded answer (the body read and decoded here, so no nesting can break the
        client's own decoder); API refusals become KubeError."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            response = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=request_timeout,
            )
            async with response:
                raw = await response.read()
                if not 200 <= response.status <= 299:
                    refused = ApiException(status=response.status, reason=response.reason)
                    refused.body = raw.decode("utf-8", "replace")
                    refused.headers = response.headers
                    raise _translate(refused, what)
        except ApiException as exc:
            raise _translate(exc, what) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise KubeError(f"{what}: {type(exc).__name__}: {exc}") from exc
        try:
            return response.status, loads(raw) if raw else {}
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
        """`_call` for one object: a too-deep answer comes back as its stub."""
        _, result = await self._exchange(method, path, what, query, body, content_type)
        return checked(result) if isinstance(result, dict) else {}

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, None when it does not exist; raises Undecodable (with the stub) when it is too deep."""
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
        (all pages are one snapshot): a reader of thousands of objects never holds them all at once."""
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
                item = checked(item)
                reason = undecodable(item)
                if reason is not None and not stubs:
                    log.warning("object left out of a list: too deep to read", kind=res.kind, **_identity(item))
                    continue
                items.append(item)
            meta = page.get("metadata", {})
            token = meta.get("continue")
            yield items, str(meta.get("resourceVersion", ""))
            if not token:
                return

    async def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None, stubs: bool = False
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects (following `continue`), and the list's resourceVersion to watch from. An object nested
        too deep is left out with a log line, or with `stubs` comes as its stub (see `decoding.undecodable`):
        one bad object never hides the others."""
        items: list[dict[str, Any]] = []
        version = ""
        async for page, page_version in self.list_pages(res, namespace, label_selector, stubs):
            items.extend(page)
            version = page_version
        return items, version

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
        try:
            response = await self._api.call_api(
                res.path(None),
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=timeout_seconds + 30,
            )
        except ApiException as exc:
            raise _translate(exc, f"watch {res.plural}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise KubeError(f"watch {res.plural}: {type(exc).__name__}: {exc}") from exc
        async with response:
            if response.status != 200:
                # with an unread body the client does not raise for us: a refused watch is a plain Status
                refused = ApiException(status=response.status, reason=response.reason)
                refused.body = await response.text()
                raise _translate(refused, f"watch {res.plural}")
            try:
                async for line in response.content:
                    if not line.strip():
                        continue
                    try:
                        event = loads(line)
                    except ValueError as exc:
                        raise KubeError(f"watch {res.plural}: undecodable line: {exc}") from exc
                    if not isinstance(event, dict) or not isinstance(event.get("object") or {}, dict):
                        raise KubeError(f"watch {res.plural}: unexpected line {line[:200]!r}")
                    kind, obj = event.get("type", ""), event.get("object") or {}
                    if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
                        raise KubeError(f"watch {res.plural}: unexpected line {line[:200]!r}")
                    if kind == "ERROR":
                        status = int(obj.get("code", 0))
                        error = Gone if status == 410 else KubeError
                        raise error(f"watch {res.plural}: {obj.get('message', '')}", status)
                    obj.setdefault("kind", res.kind)
                    obj.setdefault("apiVersion", res.api_version)
                    yield kind, checked(obj)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise KubeError(f"watch {res.plural} broke: {type(exc).__name__}: {exc}") from exc

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

    async def apply_status(self, res: Resource, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply of the fields of `.status` this service owns (through the status subresource)."""
        body = {"apiVersion": res.api_version, "kind": res.kind, "metadata": {"name": name, "namespace": namespace}}
        body["status"] = status
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

    async def create(self, res: Resource, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._object("POST", res.path(namespace), f"create {res.kind} in {namespace}", None, obj)

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
