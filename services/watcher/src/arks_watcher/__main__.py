"""Entry point: `arks-watcher` (or `python -m arks_watcher`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.cli import parse_service_args
from arks_common.runner import run_service
from arks_common.settings import load_settings, refuse, shown
from arks_watcher import app
from arks_watcher.app import make_setup
from arks_watcher.settings import WatcherSettings


def main() -> None:
    parse_service_args("watcher", app.__doc__ or "", WatcherSettings)
    settings = load_settings("watcher", WatcherSettings)
    try:
        setup = make_setup(settings)  # parses the kinds to follow
    except ValueError as exc:
        refuse("watcher", [f"ARKS_WATCH_KINDS={shown(settings.watch_kinds)}: {exc}"])
    sys.exit(asyncio.run(run_service("watcher", settings, setup, consumers=())))


if __name__ == "__main__":
    main()
