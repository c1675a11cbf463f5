"""Entry point: `arks-model-loader` (or `python -m arks_model_loader`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.cli import parse_service_args
from arks_common.runner import run_service
from arks_common.settings import load_settings
from arks_model_loader import app
from arks_model_loader.app import CONSUMERS, make_setup
from arks_model_loader.settings import ModelLoaderSettings


def main() -> None:
    parse_service_args("model-loader", app.__doc__ or "", ModelLoaderSettings)
    settings = load_settings("model-loader", ModelLoaderSettings)
    sys.exit(asyncio.run(run_service("model-loader", settings, make_setup(settings), CONSUMERS)))


if __name__ == "__main__":
    main()
