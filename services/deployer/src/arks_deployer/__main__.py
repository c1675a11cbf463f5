"""Entry point: `arks-deployer` (or `python -m arks_deployer`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.cli import parse_service_args
from arks_common.runner import run_service
from arks_common.settings import load_settings
from arks_deployer import app
from arks_deployer.app import CONSUMERS, make_setup
from arks_deployer.settings import DeployerSettings


def main() -> None:
    parse_service_args("deployer", app.__doc__ or "", DeployerSettings)
    settings = load_settings("deployer", DeployerSettings)
    sys.exit(asyncio.run(run_service("deployer", settings, make_setup(settings), CONSUMERS)))


if __name__ == "__main__":
    main()
