"""Entry point: `arks-slo-scaler` (or `python -m arks_slo_scaler`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.cli import parse_service_args
from arks_common.runner import run_service
from arks_common.settings import load_settings
from arks_slo_scaler import app
from arks_slo_scaler.app import CONSUMERS, make_setup
from arks_slo_scaler.settings import SloScalerSettings


def main() -> None:
    parse_service_args("slo-scaler", app.__doc__ or "", SloScalerSettings)
    settings = load_settings("slo-scaler", SloScalerSettings)
    sys.exit(asyncio.run(run_service("slo-scaler", settings, make_setup(settings), CONSUMERS)))


if __name__ == "__main__":
    main()
