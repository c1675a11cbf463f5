"""Entry point `arks-model-download`: read arguments and environment, run the download, report the outcome.

Exit 0 on success (or when the marker shows the download is already complete), 1 when the download failed (the
reason is also in the termination log, which Kubernetes shows as the pod's termination message), 2 on a usage
error. Must not print or store the token.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from huggingface_hub.utils.tqdm import disable_progress_bars

from arks_model_loader.downloader import log as logs
from arks_model_loader.downloader.download import DownloadFailedError, Request, download
from arks_model_loader.downloader.failures import Failure, redact, termination_message
from arks_model_loader.downloader.paths import MODELS_DIR_DEFAULT, InvalidRepoIdError, model_dir

DEFAULT_ENDPOINT = "https://huggingface.co"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("arks.downloader")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # argparse would print and exit by itself; a usage error must reach the termination log like any other.
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _version() -> str:
    try:
        return metadata.version("arks-model-loader")
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    p = _Parser(
        prog="arks-model-download",
        description="Download a Hugging Face Hub model repository into <models-dir>/<repo id>. "
        "The token comes from HF_TOKEN, the Hub endpoint from HF_ENDPOINT.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--model", default=env.get("ARKS_MODEL"), help="hub repository id (env ARKS_MODEL)")
    p.add_argument(
        "--models-dir",
        default=env.get("ARKS_MODELS_DIR", MODELS_DIR_DEFAULT),
        help="root of the model volume (env ARKS_MODELS_DIR, default %(default)s)",
    )
    p.add_argument("--revision", default="main", help="branch, tag or commit (default %(default)s)")
    p.add_argument(
        "--retries", type=int, default=3, help="extra attempts on transient errors: connection, 5xx, 429 (default 3)"
    )
    p.add_argument(
        "--backoff-seconds", type=float, default=2.0, help="first wait before a retry, doubled each time (default 2)"
    )
    p.add_argument("--termination-log", default="/dev/termination-log", help="where the failure message goes")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the downloader; returns the exit code (and exits with it when run as the console script)."""
    code = run(sys.argv[1:] if argv is None else argv)
    if argv is None:
        sys.exit(code)
    return code


def run(argv: Sequence[str]) -> int:
    token = os.environ.get("HF_TOKEN") or None
    logs.configure(secret=token)
    termination_log = _termination_log_from(argv)
    try:
        args = _parser().parse_args(list(argv))
        termination_log = args.termination_log
        request = _request(args, token)
    except UsageError as exc:
        _fail(Failure(f"usage error: {exc}", "", transient=False), termination_log, token, "usage error")
        return EXIT_USAGE

    disable_progress_bars()  # tqdm bars are noise in a pod's log
    try:
        outcome = download(request)
    except DownloadFailedError as exc:
        _fail(exc.failure, termination_log, token, "download failed", attempts=exc.attempts)
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: still tell the user why, through the same channel
        _fail(Failure("downloader crashed", f"{type(exc).__name__}: {exc}", False), termination_log, token, "crashed")
        return EXIT_FAILED
    logs.event(
        log,
        "done",
        model=request.repo_id,
        commit=outcome.commit,
        files=len(outcome.files),
        skipped=outcome.skipped,
        dir=str(outcome.directory),
    )
    return EXIT_OK


def _request(args: argparse.Namespace, token: str | None) -> Request:
    if not args.model:
        raise UsageError("no model: pass --model or set ARKS_MODEL")
    if args.retries < 0:
        raise UsageError("--retries must be 0 or more")
    if args.backoff_seconds < 0:
        raise UsageError("--backoff-seconds must be 0 or more")
    try:
        model_dir(args.models_dir, args.model)
    except InvalidRepoIdError as exc:
        raise UsageError(str(exc)) from exc
    return Request(
        repo_id=args.model.strip("/"),
        revision=args.revision,
        models_dir=Path(args.models_dir),
        endpoint=(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
        token=token,
        retries=args.retries,
        backoff_seconds=args.backoff_seconds,
        token_secret=os.environ.get("ARKS_TOKEN_SECRET") or None,
    )


def _termination_log_from(argv: Sequence[str]) -> str:
    """The termination log path even when the rest of the arguments do not parse."""
    for i, arg in enumerate(argv):
        if arg == "--termination-log" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--termination-log="):
            return arg.split("=", 1)[1]
    return "/dev/termination-log"


def _fail(failure: Failure, termination_log: str, token: str | None, msg: str, **fields: object) -> None:
    safe = Failure(redact(failure.summary, token), redact(failure.detail, token), failure.transient)
    logs.event(log, msg, logging.ERROR, reason=safe.summary, error=safe.detail, **fields)
    try:
        Path(termination_log).write_text(termination_message(safe), encoding="utf-8")
    except OSError as exc:  # e.g. run outside Kubernetes: stderr already has the message
        logs.event(log, "cannot write termination log", logging.WARNING, path=termination_log, error=str(exc))


if __name__ == "__main__":
    main()
