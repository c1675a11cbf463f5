"""Entry point: `arks-planner` (or `python -m arks_planner`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.cli import parse_service_args
from arks_common.runner import run_service
from arks_common.settings import load_settings
from arks_planner import app
from arks_planner.app import CONSUMERS, make_setup
from arks_planner.settings import PlannerSettings


def main() -> None:
    parse_service_args("planner", app.__doc__ or "", PlannerSettings)
    settings = load_settings("planner", PlannerSettings)
    sys.exit(asyncio.run(run_service("planner", settings, make_setup(settings), CONSUMERS)))


if __name__ == "__main__":
    main()
