"""The emulator's HTTP face: vLLM's endpoints for each emulated group, on one port.

One job: route HTTP to the group engines. Group `i` answers under `/groups/<i>/` (`/metrics`, `/health`,
`/v1/completions`, and for Dynamo `/system/metrics`, the engine's system status server); the bare paths are group 0,
so a one-group emulator looks exactly like one vLLM server. One port for all groups keeps end-to-end tests simple: a
Prometheus target per group differs only by its metrics path.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from autoscaling.sim.exposition import MODEL

from .engine import GroupEngine

ENGINES: web.AppKey[list[GroupEngine]] = web.AppKey("engines")
SERVED_MODEL: web.AppKey[str] = web.AppKey("served_model")
INSTANCE: web.AppKey[str] = web.AppKey("instance")
INSTANCE_HEADER = "X-Emulator-Instance"
"""Names the emulator that answered, so a test behind a router can count where each request went."""
MAX_TOKENS_LIMIT = 4096
PROMPT_TOKENS_LIMIT = 32768


def build_app(engines: list[GroupEngine], served_model: str = MODEL, instance: str = "") -> web.Application:
    app = web.Application()
    app[ENGINES] = engines
    app[SERVED_MODEL] = served_model
    app[INSTANCE] = instance
    for prefix in ("", "/groups/{group}"):
        app.router.add_get(f"{prefix}/health", _health)
        app.router.add_get(f"{prefix}/metrics", _metrics)
        app.router.add_get(f"{prefix}/system/metrics", _system_metrics)
        app.router.add_post(f"{prefix}/v1/completions", _completions)
        app.router.add_get(f"{prefix}/v1/models", _models)
    app.cleanup_ctx.append(_engines_running)
    return app


async def _engines_running(app: web.Application) -> AsyncIterator[None]:
    engines: list[GroupEngine] = app[ENGINES]
    for i, engine in enumerate(engines):
        engine.start(f"group {i}")
    yield
    for engine in engines:
        await engine.close()


def _engine(request: web.Request) -> GroupEngine:
    engines = request.app[ENGINES]
    raw = request.match_info.get("group", "0")
    if not raw.isdigit() or int(raw) >= len(engines):
        raise web.HTTPNotFound(text=f"no group {raw!r}; this emulator has groups 0..{len(engines) - 1}\n")
    return engines[int(raw)]


async def _health(request: web.Request) -> web.Response:
    _engine(request)
    return web.Response(status=200)


async def _metrics(request: web.Request) -> web.Response:
    text = _engine(request).render()
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Emulator": "arks"})


async def _system_metrics(request: web.Request) -> web.Response:
    """Dynamo's engine system status server (its `DYN_SYSTEM_PORT`); other runtimes have none."""
    text = _engine(request).render_system()
    if text is None:
        raise web.HTTPNotFound(text="this runtime has no system status server\n")
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Emulator": "arks"})


async def _models(request: web.Request) -> web.Response:
    _engine(request)
    return web.json_response(
        {"object": "list", "data": [{"id": request.app[SERVED_MODEL], "object": "model", "owned_by": "vllm"}]}
    )


def _error(message: str, status: int = 400) -> web.Response:
    body = {"error": {"message": message, "type": "BadRequestError", "param": None, "code": status}}
    return web.json_response(body, status=status)


def prompt_tokens(prompt: Any) -> int | None:
    """Tokens of an OpenAI `prompt`: a list of token ids counts as is, a string at about four characters a token."""
    if isinstance(prompt, str):
        return max(1, math.ceil(len(prompt.encode()) / 4))
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return len(prompt)
    return None


async def _completions(request: web.Request) -> web.Response:
    engine = _engine(request)
    try:
        body = await request.json()
    except ValueError:
        return _error("the body is not JSON")
    if not isinstance(body, dict):
        return _error("the body must be a JSON object")
    tokens = prompt_tokens(body.get("prompt"))
    if tokens is None:
        return _error("`prompt` must be one string or one list of token ids")
    if tokens > PROMPT_TOKENS_LIMIT:
        return _error(f"the prompt has {tokens} tokens, more than {PROMPT_TOKENS_LIMIT}")
    max_tokens = body.get("max_tokens", 16)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        return _error(f"`max_tokens` must be an integer from 1 to {MAX_TOKENS_LIMIT}")
    if body.get("stream"):
        return _error("this emulator does not stream")
    done = await engine.complete(tokens, max_tokens)
    return web.json_response(
        {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model") or request.app[SERVED_MODEL],
            "choices": [
                {"index": 0, "text": " x" * done.completion_tokens, "logprobs": None, "finish_reason": "length"}
            ],
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "total_tokens": done.prompt_tokens + done.completion_tokens,
            },
        },
        headers={INSTANCE_HEADER: request.app[INSTANCE]} if request.app[INSTANCE] else None,
    )
