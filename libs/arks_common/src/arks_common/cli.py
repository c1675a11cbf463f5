"""A service's command line: `--help` (what it does, and the environment that configures it) and `--version`.

Services are configured by the environment only (ARKS_*, read once into their settings); the command line
answers these two questions and refuses anything else, before anything is connected. Must not read the
environment into settings or start anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib import metadata

from pydantic import SecretStr
from pydantic_settings import BaseSettings


def package_version(distribution: str) -> str:
    """The installed package's version (the project's: every Arks package has the same)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


def settings_help(settings: type[BaseSettings]) -> str:
    """One line per environment variable of `settings`: its name, and its default (secrets show none)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    lines = []
    for name, field in settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if (field.annotation is not None and "SecretStr" in repr(field.annotation)) or isinstance(default, SecretStr):
            shown = "(secret)"
        elif default is None or default == "":
            shown = "(unset)"
        else:
            shown = f"(default {default})"
        lines.append(f"  {(prefix + name).upper():<40} {shown}")
    return "\n".join(lines)


def parse_service_args(
    service: str, description: str, settings: type[BaseSettings], argv: Sequence[str] | None = None
) -> None:
    """Answers `--help` and `--version` (and exits), refuses unknown arguments (exit 2), else returns."""
    parser = argparse.ArgumentParser(
        prog=f"arks-{service}",
        description=f"{description} Configured by the environment only; runs until SIGTERM or SIGINT.",
        epilog=f"environment:\n{settings_help(settings)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version(f'arks-{service}')}")
    parser.parse_args(argv)
