"""Entry point: `arks-watcher` (or `python -m arks_watcher`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.runner import run_service
from arks_watcher.app import make_setup
from arks_watcher.settings import WatcherSettings


def main() -> None:
    settings = WatcherSettings()
    sys.exit(asyncio.run(run_service("watcher", settings, make_setup(settings), consumers=())))


if __name__ == "__main__":
    main()
