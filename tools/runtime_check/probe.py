"""Parse launch commands with a runtime's own argument parser; runs inside that runtime's throwaway env.

Invoked by `check.py` as `<env>/bin/python probe.py REQUEST.json RESULT.json`. The request lists commands
(`kind`, `argv` without the program, the container `env` and its named `ports`); the result gives, per command,
whether the runtime's parser accepted the argv and, where the runtime's own validation can run without a GPU, what
it said. Nothing here re-implements a runtime rule: every verdict comes from the runtime's code (the router's ports
are checked against the values its parser gives).

Per kind, the parser is built the way the runtime's entry point builds it:
  vllm-serve        vllm/entrypoints/cli/main.py: FlexibleArgumentParser + the `serve` subcommand
                    (make_arg_parser), then ServeSubcommand.validate and EngineArgs.create_engine_config
  vllm-api-server   python -m vllm.entrypoints.openai.api_server (its main(): make_arg_parser)
  sglang            python -m sglang.launch_server: prepare_server_args, then ServerArgs.check_server_args
  dynamo-vllm       python -m dynamo.vllm: dynamo.vllm.args.parse_args (Dynamo's flags, then vLLM's engine
                    parser, then Dynamo's validation), then the engine config as vllm-serve
  dynamo-sglang     python -m dynamo.sglang: dynamo.sglang.args.parse_args (Dynamo's flags, then SGLang's
                    ServerArgs parser, then ServerArgs.from_cli_args on --device cpu and a stand-in model)
  dynamo-frontend   python -m dynamo.frontend: dynamo.frontend.main.parse_args (reads sys.argv and env)
  sglang-router     python -m sglang_router.launch_router: parse_router_args, then where the parsed router serves
                    its metrics (--prometheus-host/--prometheus-port, with the parser's defaults) against the
                    container's ports the monitoring chart scrapes at /metrics (`metrics`, and never `http` on
                    its --port, which has no /metrics)

The engine-config step needs a model config and a platform: it runs on vLLM's CPU platform
(VLLM_TARGET_DEVICE=cpu; the Dynamo frontend coerces the same platform on GPU-less hosts) with the model
path replaced by a stand-in config.json (`--stand-in-model`), so it checks the parallel layout (nnodes,
node rank, world size) and the other model-independent rules, not the model itself.

Kept free of third-party imports at module level (everything comes through importlib) so the workspace's
mypy can check this file without the runtimes installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import io
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

Result = dict[str, Any]

CONTAINER_PORTS: dict[str, int] = {}
"""The current command's container ports by name (`http`, `metrics`), as the plan declares them."""

STAGE = {"now": "parser"}
"""How far the current command got: `parser` until the runtime's parser accepted its argv, then `validation`."""


def _parsed() -> None:
    STAGE["now"] = "validation"


class ParserRefused(Exception):
    """argparse's error(): the parser refused the argv (it would print usage and exit 2)."""


def _raise_instead_of_exit(self: argparse.ArgumentParser, message: str) -> None:
    raise ParserRefused(f"{self.prog}: error: {message}")


# Every parser a runtime builds (FlexibleArgumentParser and subparsers included) ends in
# ArgumentParser.error; raising here keeps the probe alive and keeps the runtime's own message.
argparse.ArgumentParser.error = _raise_instead_of_exit  # type: ignore[assignment,method-assign]


@contextlib.contextmanager
def _environment(env: dict[str, str], argv0: str, argv: list[str]) -> Iterator[None]:
    """The container's environment (runtimes read flag defaults from it) and sys.argv, restored after."""
    saved_env, saved_argv = dict(os.environ), list(sys.argv)
    os.environ.update(env)
    sys.argv = [argv0, *argv]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv


def _mod(name: str) -> Any:
    return importlib.import_module(name)


def _first_attr(candidates: list[tuple[str, str]]) -> Any:
    """The first importable `module.attr` (runtimes move things between releases)."""
    errors = []
    for module, attr in candidates:
        try:
            return getattr(_mod(module), attr)
        except (ImportError, AttributeError) as exc:
            errors.append(f"{module}.{attr}: {exc}")
    raise ImportError("; ".join(errors))


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, ParserRefused) else f"{type(exc).__name__}: {text}"


# --- vLLM -------------------------------------------------------------------------------------------------


def _vllm_cpu_platform() -> None:
    """vLLM's CPU platform where none is detected (no GPU, CUDA wheel), as dynamo/frontend/main.py does:
    building vLLM's parser instantiates configs that need a device type. Current releases pick it up from
    VLLM_TARGET_DEVICE=cpu; older ones only through this."""
    platforms = _mod("vllm.platforms")
    if platforms.current_platform.device_type == "":
        platforms.current_platform = _mod("vllm.platforms.cpu").CpuPlatform()


def _vllm_flexible_parser() -> Any:
    _vllm_cpu_platform()
    return _first_attr(
        [("vllm.utils.argparse_utils", "FlexibleArgumentParser"), ("vllm.utils", "FlexibleArgumentParser")]
    )


def _vllm_make_arg_parser() -> Any:
    return _first_attr(
        [
            ("vllm.entrypoints.common.cli_args", "make_arg_parser"),
            ("vllm.entrypoints.openai.cli_args", "make_arg_parser"),
        ]
    )


def _vllm_validate_serve_args() -> Any:
    return _first_attr(
        [
            ("vllm.entrypoints.common.cli_args", "validate_parsed_serve_args"),
            ("vllm.entrypoints.openai.cli_args", "validate_parsed_serve_args"),
        ]
    )


def _vllm_engine_config(engine_args: Any, stand_in_model: str, headless: bool) -> str:
    """vLLM's own VllmConfig construction (parallel layout included) on a stand-in model config."""
    engine_args.model = stand_in_model
    engine_args.tokenizer = None
    if hasattr(engine_args, "served_model_name") and not engine_args.served_model_name:
        engine_args.served_model_name = None
    create = engine_args.create_engine_config
    kwargs = {"headless": headless} if "headless" in inspect.signature(create).parameters else {}
    config = create(**kwargs)
    parallel = config.parallel_config
    return (
        f"engine config ok: world size {parallel.world_size}, nnodes {getattr(parallel, 'nnodes', 1)}, "
        f"node rank {getattr(parallel, 'node_rank', 0)}, executor {parallel.distributed_executor_backend}"
    )


def probe_vllm_serve(argv: list[str], stand_in_model: str) -> Result:
    parser_cls = _vllm_flexible_parser()
    serve = _mod("vllm.entrypoints.cli.serve")
    parser = parser_cls(description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    command = serve.ServeSubcommand()
    command.subparser_init(subparsers).set_defaults(dispatch_function=command.cmd)
    args = parser.parse_args(["serve", *argv])
    _parsed()
    command.validate(args)
    # ServeSubcommand.cmd: a positional model tag takes precedence over --model.
    if getattr(args, "model_tag", None) is not None:
        args.model = args.model_tag
    engine_args = _first_attr([("vllm", "AsyncEngineArgs"), ("vllm.engine.arg_utils", "AsyncEngineArgs")])
    return {"validation": _vllm_engine_config(engine_args.from_cli_args(args), stand_in_model, bool(args.headless))}


def probe_vllm_api_server(argv: list[str], stand_in_model: str) -> Result:
    parser = _vllm_make_arg_parser()(_vllm_flexible_parser()(description="vLLM OpenAI-Compatible RESTful API server."))
    args = parser.parse_args(argv)
    _parsed()
    _vllm_validate_serve_args()(args)
    engine_args = _first_attr([("vllm", "AsyncEngineArgs"), ("vllm.engine.arg_utils", "AsyncEngineArgs")])
    headless = bool(getattr(args, "headless", False))
    return {"validation": _vllm_engine_config(engine_args.from_cli_args(args), stand_in_model, headless)}


# --- SGLang -----------------------------------------------------------------------------------------------


def probe_sglang(argv: list[str], stand_in_model: str) -> Result:
    server_args_mod = _mod("sglang.srt.server_args")
    # The parser verdict: the parser prepare_server_args (python -m sglang.launch_server) builds.
    parser = argparse.ArgumentParser(prog="sglang serve")
    server_args_mod.ServerArgs.add_cli_args(parser)
    parser.parse_args(argv)
    _parsed()
    # The validation: SGLang resolves the arguments against the model and the device, then the engine runs
    # ServerArgs.check_server_args (tp x pp divisible by nnodes, no multi-node DP, ...). Without a GPU that
    # resolution needs `--device cpu` and a model config it can read: the stand-in. Older releases resolve
    # and validate in ServerArgs.__post_init__, inside prepare_server_args.
    device = [] if any(a == "--device" or a.startswith("--device=") for a in argv) else ["--device", "cpu"]
    swapped = _replace_option(argv, ("--model-path", "--model"), stand_in_model)
    server_args = server_args_mod.prepare_server_args([*swapped, *device])
    resolve = getattr(server_args, "resolve_once", None)
    if resolve is not None:
        resolve()
    check = getattr(server_args, "check_server_args", None)
    if check is not None:
        check()
    return {"validation": "resolved on --device cpu with a stand-in model config; check_server_args ok"}


def _replace_option(argv: list[str], names: tuple[str, ...], value: str) -> list[str]:
    """argv with the value of every `--name X` / `--name=X` of `names` replaced."""
    out, replace_next = [], False
    for arg in argv:
        if replace_next:
            out.append(value)
            replace_next = False
        elif arg in names:
            out.append(arg)
            replace_next = True
        elif arg.split("=", 1)[0] in names and "=" in arg:
            out.append(f"{arg.split('=', 1)[0]}={value}")
        else:
            out.append(arg)
    return out


def probe_sglang_router(argv: list[str], stand_in_model: str) -> Result:
    # sglang-router's own entry point (python -m sglang_router.launch_router) parses with parse_router_args.
    router_args = _mod("sglang_router.launch_router").parse_router_args(argv)
    _parsed()
    # The router's Prometheus exporter listens on --prometheus-host:--prometheus-port only (its --port has no
    # /metrics route): the pod must declare that port as `metrics`, reachable from Prometheus, and must not
    # name its --port `http`, which the monitoring chart scrapes at /metrics too.
    host, port = router_args.prometheus_host, router_args.prometheus_port
    if CONTAINER_PORTS.get("metrics") != port:
        raise ValueError(
            f"the router serves its metrics on --prometheus-port {port}, but the container's port `metrics` is "
            f"{CONTAINER_PORTS.get('metrics')} (ports {CONTAINER_PORTS})"
        )
    if host not in ("0.0.0.0", "::"):
        raise ValueError(f"the router's metrics listen on --prometheus-host {host}, which Prometheus cannot reach")
    if CONTAINER_PORTS.get("http") == router_args.port:
        raise ValueError(
            f"the container's port `http` is the router's --port {router_args.port}, which has no /metrics"
        )
    details = [
        f"{name} {getattr(router_args, name)}"
        for name in ("pd_disaggregation", "service_discovery", "prefill_selector", "decode_selector")
        if hasattr(router_args, name)
    ]
    details.append(f"metrics on {host}:{port}, the container's port `metrics`")
    return {"validation": "parse_router_args ok (" + ", ".join(details) + ")"}


# --- Dynamo -----------------------------------------------------------------------------------------------


def _call_parse(parse: Callable[..., Any], argv: list[str]) -> Any:
    """Dynamo's parse_args: takes argv in current releases, reads sys.argv in older ones; may be async."""
    result = parse(argv) if inspect.signature(parse).parameters else parse()
    if inspect.isawaitable(result):
        result = asyncio.run(result)  # type: ignore[arg-type]
    return result


def probe_dynamo_vllm(argv: list[str], stand_in_model: str) -> Result:
    _vllm_cpu_platform()
    args_mod = _mod("dynamo.vllm.args")
    config = _call_parse(args_mod.parse_args, argv)
    _parsed()
    engine_args = getattr(config, "engine_args", None)
    if engine_args is None:
        return {"validation": "dynamo.vllm parse_args ok"}
    detail = _vllm_engine_config(engine_args, stand_in_model, bool(getattr(config, "headless", False)))
    namespace = getattr(config, "namespace", None)
    return {"validation": f"dynamo.vllm parse_args ok (namespace {namespace}); {detail}"}


def probe_dynamo_sglang(argv: list[str], stand_in_model: str) -> Result:
    """dynamo.sglang's own parse_args: Dynamo's runtime and dynamo-sglang flags, then SGLang's ServerArgs parser
    on the rest, then ServerArgs.from_cli_args and Dynamo's checks. The parser verdict is reached when
    parse_args hands the parsed flags to ServerArgs.from_cli_args (both parsers accepted the argv); what follows
    resolves them as the worker would, on `--device cpu` with the stand-in model config (a model path that does
    not exist would be downloaded from a hub first)."""
    args_mod = _mod("dynamo.sglang.args")
    server_args_cls = args_mod.ServerArgs

    class _MarkParsed(server_args_cls):  # type: ignore[misc,valid-type]
        @classmethod
        def from_cli_args(cls, args: Any) -> Any:
            _parsed()
            return server_args_cls.from_cli_args(args)

    device = [] if any(a == "--device" or a.startswith("--device=") for a in argv) else ["--device", "cpu"]
    swapped = [*_replace_option(argv, ("--model-path", "--model"), stand_in_model), *device]
    args_mod.ServerArgs = _MarkParsed
    try:
        config = _call_parse(args_mod.parse_args, swapped)
    finally:
        args_mod.ServerArgs = server_args_cls
    server, dynamo = config.server_args, config.dynamo_args
    details = [
        f"namespace {dynamo.namespace}",
        f"component {dynamo.component}",
        f"serving mode {config.serving_mode.value}",
        f"tp {server.tp_size}, nnodes {server.nnodes}, node rank {server.node_rank}",
        f"transfer backend {server.disaggregation_transfer_backend}",
        f"bootstrap port {server.disaggregation_bootstrap_port}",
        f"enable_metrics {server.enable_metrics}",
    ]
    # As the engine does before it starts: SGLang resolves the raw arguments (0.5.20 on: resolve_once), then
    # ServerArgs.check_server_args (tp x pp divisible by nnodes, the disaggregation rules, ...).
    resolve = getattr(server, "resolve_once", None)
    if resolve is not None:
        resolve()
    check = getattr(server, "check_server_args", None)
    if check is not None:
        check()
        details.append("resolved on --device cpu with a stand-in model config; check_server_args ok")
    return {"validation": "dynamo.sglang parse_args ok (" + ", ".join(details) + ")"}


def probe_dynamo_frontend(argv: list[str], stand_in_model: str) -> Result:
    main = _mod("dynamo.frontend.main")
    parsed = _call_parse(main.parse_args, argv)
    _parsed()
    config = parsed[0] if isinstance(parsed, tuple) else parsed
    details = [
        f"{name} {getattr(config, name)}"
        for name in ("http_port", "namespace", "router_mode", "discovery_backend")
        if hasattr(config, name)
    ]
    return {"validation": "dynamo.frontend parse_args ok (" + ", ".join(details) + ")"}


PROBES: dict[str, tuple[str, Callable[[list[str], str], Result]]] = {
    "vllm-serve": ("vllm", probe_vllm_serve),
    "vllm-api-server": ("vllm.entrypoints.openai.api_server", probe_vllm_api_server),
    "sglang": ("sglang.launch_server", probe_sglang),
    "dynamo-vllm": ("dynamo.vllm", probe_dynamo_vllm),
    "dynamo-sglang": ("dynamo.sglang", probe_dynamo_sglang),
    "dynamo-frontend": ("dynamo.frontend", probe_dynamo_frontend),
    "sglang-router": ("sglang_router.launch_router", probe_sglang_router),
}


def run_one(command: dict[str, Any], stand_in_model: str) -> Result:
    kind, argv, env = command["kind"], list(command["argv"]), dict(command.get("env", {}))
    if kind not in PROBES:
        return {"status": "skipped", "reason": f"no probe for {kind}"}
    argv0, probe = PROBES[kind]
    CONTAINER_PORTS.clear()
    CONTAINER_PORTS.update(command.get("ports", {}))
    STAGE["now"] = "parser"
    started = time.monotonic()
    captured = io.StringIO()
    try:
        with _environment(env, argv0, argv), contextlib.redirect_stdout(captured):
            outcome = probe(argv, stand_in_model)
    except ParserRefused as exc:
        return {"status": "refused", "stage": "parser", "reason": _message(exc)}
    except SystemExit as exc:
        # A runtime that exits on its own (e.g. logs "Unknown arguments" then sys.exit(1)).
        tail = captured.getvalue().strip().splitlines()[-3:]
        return {"status": "refused", "stage": "parser", "reason": f"exit {exc.code}: " + " / ".join(tail)}
    except Exception as exc:
        trace = traceback.format_exc(limit=-4)
        if STAGE["now"] == "parser":
            # The parser could not even be built or run here: nothing was checked, which is a failure.
            return {"status": "error", "stage": "parser", "reason": _message(exc), "traceback": trace}
        if isinstance(exc, AssertionError | ValueError | TypeError | KeyError):
            return {"status": "refused", "stage": "validation", "reason": _message(exc), "traceback": trace}
        # Anything else is the probe's environment (no GPU, a missing optional package), not a verdict.
        reason = f"validation could not run here: {_message(exc)}"
        return {"status": "parsed", "stage": "validation", "reason": reason, "traceback": trace}
    outcome.setdefault("status", "accepted")
    outcome["seconds"] = round(time.monotonic() - started, 1)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("request")
    parser.add_argument("result")
    parser.add_argument("--stand-in-model", required=True)
    options = parser.parse_args()
    with open(options.request, encoding="utf-8") as f:
        commands: list[dict[str, Any]] = json.load(f)
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    results: dict[str, Result] = {}
    for command in commands:
        results[command["id"]] = run_one(command, options.stand_in_model)
        with open(options.result, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
