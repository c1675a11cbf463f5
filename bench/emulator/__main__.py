"""`python -m bench.emulator`: serve emulated vLLM groups on one loopback port until SIGTERM or SIGINT.

Prints one JSON line when listening, `{"url": "http://127.0.0.1:<port>", "groups": N, ...}` (useful with
`--port 0`), then logs nothing per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from aiohttp import web
from autoscaling.sim.engine import kv_tokens_per_gpu
from autoscaling.sim.exposition import MODEL
from autoscaling.sim.steptime import SOURCE, fit

from .engine import EngineConfig, GroupEngine
from .formats import counters_for
from .server import INSTANCE_HEADER, build_app


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on stdout)")
    p.add_argument("--runtime", choices=["vllm", "sglang", "dynamo"], default="vllm", help="the /metrics format")
    p.add_argument("--groups", type=int, default=1, help="emulated groups; group i is under /groups/<i>/")
    p.add_argument("--slowdown", type=float, default=1.0, help="multiply the H100 step times (default 1)")
    p.add_argument("--max-num-seqs", type=int, default=256, help="concurrent sequences per group (vLLM's flag)")
    p.add_argument("--max-num-batched-tokens", type=int, default=2048, help="tokens per step (vLLM's flag)")
    p.add_argument("--kv-tokens", type=int, default=0, help="KV-cache tokens per group (0: one H100's)")
    p.add_argument("--served-model-name", default=MODEL, help="the model id /v1/models reports (vLLM's flag)")
    p.add_argument(
        "--disaggregation-mode", choices=["prefill", "decode"], default=None,
        help="serve as a PD prefill or decode server (SGLang's flag); default: aggregated",
    )  # fmt: skip
    p.add_argument("--kv-transfer-ms-per-token", type=float, default=0.0, help="PD: KV-cache transfer time per token")
    p.add_argument("--instance", default="", help=f"a name sent back in the {INSTANCE_HEADER} header of completions")
    args = p.parse_args(argv)
    if not 1 <= args.groups <= 64:
        p.error("--groups must be from 1 to 64")
    if args.kv_transfer_ms_per_token < 0:
        p.error("--kv-transfer-ms-per-token must not be negative")
    if args.slowdown <= 0 or args.max_num_seqs < 1 or args.max_num_batched_tokens < 1 or args.kv_tokens < 0:
        p.error("--slowdown, --max-num-seqs and --max-num-batched-tokens must be positive, --kv-tokens not negative")
    return args


async def serve(args: argparse.Namespace) -> None:
    model = fit()
    config = EngineConfig(
        token_budget=args.max_num_batched_tokens,
        max_num_seqs=args.max_num_seqs,
        kv_tokens=args.kv_tokens or kv_tokens_per_gpu(model.weights_gb),
        slowdown=args.slowdown,
        runtime=args.runtime,
        disaggregation=args.disaggregation_mode or "",
        kv_transfer_ms_per_token=args.kv_transfer_ms_per_token,
    )
    mode = config.disaggregation
    engines = [GroupEngine(model, config, counters_for(args.runtime, mode)) for _ in range(args.groups)]
    runner = web.AppRunner(build_app(engines, args.served_model_name, args.instance), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    info = {"url": f"http://{host}:{port}", "groups": args.groups, "runtime": args.runtime, "slowdown": args.slowdown,
            "disaggregation": mode}  # fmt: skip
    print(json.dumps({**info, "step_time_source": SOURCE}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
