"""One emulated replica group: a real-time continuous-batching scheduler that makes requests wait as long as a
vLLM-V1-like engine on an H100 would, and counts what vLLM counts.

One job: turn requests (prompt tokens, output tokens) into wall-clock waits and counters. It runs no model and does no
HTTP. The scheduler is the simulator's (`bench/autoscaling/sim/engine.py`) played in real time: every step carries
one token per decoding request plus prompt chunks up to `token_budget`, waiting requests are admitted
first-come-first-served while `max_num_seqs` and the KV cache allow, a request's first token comes at the end of the
step that finishes its prompt. A step lasts `StepTimeModel.step_ms` (fitted to step times measured on an NVIDIA H100
80GB HBM3, `shared/calibration/h100-llama8b-steptime.json`) times `slowdown`, so more load means longer steps and a
longer queue: longer TTFT and inter-token latency. Latencies are observed on the wall clock, as vLLM does.

PD-separated serving (`disaggregation`): a `prefill` group computes the prompt and its first token, then holds the
request while its KV cache is sent (`kv_transfer_ms_per_token` x prompt tokens) and answers; a `decode` group
first receives the KV cache (the same time), then decodes without computing the prompt (its KV is reserved as
if computed). The queues SGLang reports for PD are counted the same way: prefill bootstrap (always 0: the
emulated decode peer is always ready) and inflight (KV being sent); decode prealloc (waiting for a seat or KV
memory) and transfer (KV arriving).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from autoscaling.sim.exposition import MODEL, GroupCounters
from autoscaling.sim.steptime import StepTimeModel

from .formats import PdQueues, render, render_dynamo_system, render_dynamo_worker


@dataclass(frozen=True)
class EngineConfig:
    token_budget: int = 2048  # vLLM V1's default max_num_batched_tokens with chunked prefill
    max_num_seqs: int = 256  # vLLM's default
    kv_tokens: int = 411_000  # one H100 next to Llama-3.1-8B's weights (see the simulator's docstring)
    slowdown: float = 1.0  # step times are multiplied by this (a slower GPU or a larger model, for small loads)
    runtime: str = "vllm"  # whose /metrics format: vllm, sglang or dynamo (bench/emulator/formats.py)
    disaggregation: str = ""  # "", "prefill" or "decode" (PD-separated serving, SGLang's --disaggregation-mode)
    kv_transfer_ms_per_token: float = 0.0  # KV-cache transfer time per prompt token between prefill and decode


@dataclass(frozen=True)
class Completion:
    prompt_tokens: int
    completion_tokens: int
    ttft_seconds: float
    seconds: float


@dataclass(eq=False)
class _Request:
    prompt_tokens: int
    max_tokens: int
    arrived: float
    done: asyncio.Future[Completion]
    prompt_left: int = 0
    generated: int = 0
    first_token_at: float = 0.0
    last_token_at: float = 0.0
    reserved: int = 0


@dataclass
class GroupEngine:
    """The scheduler of one group. `start()` it inside a running event loop; `close()` cancels what it holds."""

    model: StepTimeModel
    config: EngineConfig = EngineConfig()
    counters: GroupCounters = field(default_factory=GroupCounters.empty)
    _waiting: deque[_Request] = field(default_factory=deque, init=False)
    _prefilling: list[_Request] = field(default_factory=list, init=False)
    _decoding: list[_Request] = field(default_factory=list, init=False)
    _kv_reserved: int = field(default=0, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _transferring: int = field(default=0, init=False)  # PD: requests whose KV cache is on its way

    def start(self, name: str) -> None:
        self._task = asyncio.create_task(self._run(), name=name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for r in (*self._waiting, *self._prefilling, *self._decoding):
            if not r.done.done():
                r.done.cancel()

    async def complete(self, prompt_tokens: int, max_tokens: int) -> Completion:
        """Wait as long as the engine takes to prefill `prompt_tokens` and generate `max_tokens` tokens."""
        loop = asyncio.get_running_loop()
        arrived = time.monotonic()
        mode = self.config.disaggregation
        if mode == "decode":
            await self._transfer(prompt_tokens)  # the KV cache arrives from a prefill server
        if mode == "prefill":
            max_tokens = 1  # a prefill server computes the prompt and its first token; decode does the rest
        prompt_left = 0 if mode == "decode" else prompt_tokens
        req = _Request(prompt_tokens, max_tokens, arrived, loop.create_future(), prompt_left=prompt_left)
        self._waiting.append(req)
        self._wake.set()
        try:
            done = await req.done
        finally:
            if not req.done.done():  # the client went away: abort, as vLLM does on a disconnect
                self._abort(req)
        if mode == "prefill":
            await self._transfer(prompt_tokens)  # held until its KV cache is sent
        return done

    async def _transfer(self, prompt_tokens: int) -> None:
        self._transferring += 1
        try:
            await asyncio.sleep(prompt_tokens * self.config.kv_transfer_ms_per_token / 1000.0)
        finally:
            self._transferring -= 1

    def render(self) -> str:
        """The group's `/metrics` text as its runtime prints it (Dynamo: the frontend's)."""
        running = len(self._prefilling) + len(self._decoding)
        pd = self.pd_queues()
        if pd is not None and self.config.runtime == "dynamo":
            return render_dynamo_worker(self.counters, running=running, waiting=len(self._waiting),
                                        kv_usage=self.kv_usage())  # fmt: skip
        return render(
            self.config.runtime, self.counters, MODEL, running=running, waiting=len(self._waiting),
            kv_usage=self.kv_usage(), pd_queues=pd,
        )  # fmt: skip

    def pd_queues(self) -> PdQueues | None:
        """SGLang's PD queue gauges for this group's role; None when it serves aggregated."""
        if self.config.disaggregation == "prefill":
            return PdQueues(prefill_bootstrap=0, prefill_inflight=self._transferring)
        if self.config.disaggregation == "decode":
            return PdQueues(decode_prealloc=len(self._waiting), decode_transfer=self._transferring)
        return None

    def render_system(self) -> str | None:
        """Dynamo's engine system status server (KV usage); None for runtimes without one."""
        if self.config.runtime != "dynamo" or self.config.disaggregation:
            return None  # a PD worker's one metrics port is its system status server: `render` is it
        return render_dynamo_system("emulated", kv_usage=self.kv_usage())

    def kv_usage(self) -> float:
        held = sum(r.prompt_tokens - r.prompt_left + r.generated for r in (*self._prefilling, *self._decoding))
        return min(1.0, held / self.config.kv_tokens)

    def _abort(self, req: _Request) -> None:
        for queue in (self._prefilling, self._decoding):
            if req in queue:
                queue.remove(req)
        if req in self._waiting:
            self._waiting.remove(req)
        self._kv_reserved -= req.reserved
        req.reserved = 0

    async def _run(self) -> None:
        while True:
            if not (self._waiting or self._prefilling or self._decoding):
                self._wake.clear()
                await self._wake.wait()
                continue
            started = time.monotonic()
            plan, decoders = self._plan()
            tokens = sum(chunk for _, chunk in plan)
            context = sum(r.prompt_tokens + r.generated for r in decoders)
            ms = self.model.step_ms(len(decoders), context, tokens) * self.config.slowdown
            await asyncio.sleep(max(0.0, started + ms / 1000.0 - time.monotonic()))
            self._finish_step(plan, decoders, time.monotonic())

    def _plan(self) -> tuple[list[tuple[_Request, int]], list[_Request]]:
        """This step's prompt chunks (admitting waiting requests while the budget, seats and KV allow) and decoders."""
        decoders = list(self._decoding)
        left = self.config.token_budget - len(decoders)
        plan: list[tuple[_Request, int]] = []
        for r in self._prefilling:
            if left <= 0:
                break
            chunk = min(r.prompt_left, left)
            plan.append((r, chunk))
            left -= chunk
        while left > 0 and self._waiting and len(decoders) + len(self._prefilling) < self.config.max_num_seqs:
            r = self._waiting[0]
            need = r.prompt_tokens + r.max_tokens
            if self._kv_reserved + need > self.config.kv_tokens and (self._prefilling or decoders):
                break  # admission reserves prompt + output (vLLM would preempt instead); a lone request always fits
            self._waiting.popleft()
            r.reserved = need
            self._kv_reserved += need
            self._prefilling.append(r)
            chunk = min(r.prompt_left, left)
            plan.append((r, chunk))
            left -= chunk
        return plan, decoders

    def _finish_step(self, plan: list[tuple[_Request, int]], decoders: list[_Request], now: float) -> None:
        c = self.counters
        live = [r for r in decoders if r in self._decoding]  # a request may have been aborted during the step
        if live:
            # every decoder of the step waited since its previous token: one ITL observation each
            for r in live:
                c.observe_itl(now - r.last_token_at, 1)
                r.generated += 1
                r.last_token_at = now
            c.generation_tokens += len(live)
        for r, chunk in plan:
            if r not in self._prefilling:
                continue
            r.prompt_left -= chunk
            c.prompt_tokens += chunk
            if r.prompt_left == 0:
                self._prefilling.remove(r)
                c.observe_ttft(now - r.arrived)
                if c.prompt_lengths is not None:
                    c.prompt_lengths.append(r.prompt_tokens)
                c.generation_tokens += 1
                r.generated, r.first_token_at, r.last_token_at = 1, now, now
                self._decoding.append(r)
        for r in [r for r in self._decoding if r.generated >= r.max_tokens]:
            self._decoding.remove(r)
            self._kv_reserved -= r.reserved
            r.reserved = 0
            if not r.done.done():
                r.done.set_result(
                    Completion(r.prompt_tokens, r.generated, r.first_token_at - r.arrived, now - r.arrived)
                )
