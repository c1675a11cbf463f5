"""A name from a user's spec stays one segment of the API path: percent-encoded (a `?` or `#` is no query or
fragment), and one no object can have (a `/`, `.`, `..`) is never sent: the API server decodes the path before
routing it, so `qwen-7b/status` would read another object's status subresource."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from arks_common.kube.client import Kube
from arks_common.kube.credentials import Credentials
from arks_common.kube.resources import MODELS, PODS
from arks_common.kube.transport import ApiClient
from support.http import serving

Seen = list[tuple[str, str, dict[str, str]]]


@pytest.fixture
async def server() -> AsyncIterator[tuple[Kube, Seen]]:
    seen: Seen = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.raw_path.split("?")[0], dict(request.query)))
        return web.json_response({"kind": "Status", "code": 404, "message": "not found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with serving(app) as url:
        kube = Kube(ApiClient(url, ssl.create_default_context(), Credentials(None)), "arks-test")
        try:
            yield kube, seen
        finally:
            await kube.close()


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("qwen-7b", "/apis/arks.ai/v1/namespaces/default/arksmodels/qwen-7b"),
        ("x?watch=true", "/apis/arks.ai/v1/namespaces/default/arksmodels/x%3Fwatch=true"),
        ("a#b c", "/apis/arks.ai/v1/namespaces/default/arksmodels/a%23b%20c"),
    ],
    ids=["a plain name", "a question mark is no query", "a hash and a space stay in the segment"],
)
async def test_a_name_is_one_path_segment(server: tuple[Kube, Seen], name: str, path: str) -> None:
    kube, seen = server
    assert await kube.get(MODELS, "default", name) is None
    assert seen == [("GET", path, {})]


@pytest.mark.parametrize("name", ["qwen-7b/status", "..", ".", "a%2Fb"])
async def test_a_name_no_object_can_have_is_not_found_without_a_request(server: tuple[Kube, Seen], name: str) -> None:
    kube, seen = server
    assert await kube.get(MODELS, "default", name) is None
    assert seen == []


def test_a_path_of_a_name_no_object_can_have_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be the name"):
        PODS.path("default", "../secrets")
    assert PODS.path("default", "p", "status") == "/api/v1/namespaces/default/pods/p/status"
