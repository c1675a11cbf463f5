"""Entry point: `arks-planner` (or `python -m arks_planner`)."""

from __future__ import annotations

import asyncio
import sys

from arks_common.cli import parse_service_args
from arks_common.runner import run_service
from arks_common.settings import load_settings, refuse, shown
from arks_planner import app
from arks_planner.app import CONSUMERS, make_setup
from arks_planner.core.profiles import shipped_profile_sets
from arks_planner.settings import PlannerSettings


def main() -> None:
    parse_service_args("planner", app.__doc__ or "", PlannerSettings)
    settings = load_settings("planner", PlannerSettings)
    if settings.runtime_profiles_set not in shipped_profile_sets():
        given, known = shown(settings.runtime_profiles_set), ", ".join(shipped_profile_sets())
        refuse("planner", [f"ARKS_RUNTIME_PROFILES_SET={given}: no shipped set; known: {known}"])
    try:
        setup = make_setup(settings)  # reads the profile override file
    except (OSError, ValueError, RecursionError) as exc:  # ProfileError and UnicodeDecodeError are ValueErrors
        refuse("planner", [f"ARKS_RUNTIME_PROFILES_FILE={shown(settings.runtime_profiles_file)}: {str(exc)[:2000]}"])
    sys.exit(asyncio.run(run_service("planner", settings, setup, CONSUMERS)))


if __name__ == "__main__":
    main()
