"""Expand a runtime profile's command template into a container's `command` and `args`.

Pure string work: the user's extraOptions reach the runtime verbatim and in order, as separate argv items, or
shell-quoted (shlex) inside a script, so a space or a quote in an option can never split or inject anything.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from arks_planner.core.profiles import LIST_PLACEHOLDERS, PLACEHOLDER, CommandTemplate

_SPACED_PLACEHOLDER = re.compile(r"([ \t]*)" + PLACEHOLDER.pattern)


@dataclass(frozen=True)
class LaunchValues:
    """What the placeholders stand for, for one application."""

    model_path: str
    served_model_name: str
    tensor_parallel_size: int
    port: int
    metrics_port: int | None
    application: str
    namespace: str
    default_flags: tuple[str, ...]
    extra_options: tuple[str, ...]
    router_metrics_port: int | None = None

    def scalars(self) -> dict[str, str]:
        return {
            "model_path": self.model_path,
            "served_model_name": self.served_model_name,
            "tensor_parallel_size": str(self.tensor_parallel_size),
            "port": str(self.port),
            "metrics_port": str(self.metrics_port or ""),
            "router_metrics_port": str(self.router_metrics_port or ""),
            "application": self.application,
            "namespace": self.namespace,
        }

    def lists(self) -> dict[str, tuple[str, ...]]:
        return {"default_flags": self.default_flags, "extra_options": self.extra_options}


def flags_not_given(default_flags: list[str], extra_options: list[str]) -> tuple[str, ...]:
    """The default flags the user did not already give (as `--flag` or `--flag=value`) in extraOptions."""
    given = {option.split("=", 1)[0] for option in extra_options if option.startswith("-")}
    return tuple(flag for flag in default_flags if flag.split("=", 1)[0] not in given)


def _expand_argv(items: list[str], values: LaunchValues) -> list[str]:
    scalars, lists = values.scalars(), values.lists()
    out: list[str] = []
    for item in items:
        whole = PLACEHOLDER.fullmatch(item.strip())
        if whole is not None and whole.group(1) in LIST_PLACEHOLDERS:
            out.extend(lists[whole.group(1)])
            continue
        out.append(PLACEHOLDER.sub(lambda m: scalars[m.group(1)], item))
    return out


def _expand_script(script: str, values: LaunchValues) -> str:
    quoted = {name: shlex.quote(value) for name, value in values.scalars().items()}
    quoted |= {name: shlex.join(items) for name, items in values.lists().items()}

    def substitute(match: re.Match[str]) -> str:
        value = quoted[match.group(2)]
        # An empty option list takes its leading blank with it, so no line ends in stray whitespace.
        return match.group(1) + value if value else ""

    return _SPACED_PLACEHOLDER.sub(substitute, script)


def render_data(value: Any, values: LaunchValues) -> Any:
    """`value` (a probe, an env value) with every scalar placeholder in its strings replaced; a string that
    is exactly one placeholder of a number (`{{port}}`) becomes that number, as a Probe's port must be."""
    scalars = values.scalars()
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole is not None and scalars[whole.group(1)].isdigit():
            return int(scalars[whole.group(1)])
        return PLACEHOLDER.sub(lambda m: scalars[m.group(1)], value)
    if isinstance(value, dict):
        return {k: render_data(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render_data(v, values) for v in value]
    return value


def render(template: CommandTemplate, values: LaunchValues) -> tuple[list[str], list[str]]:
    """The container's `command` and `args` (args empty when the template has none)."""
    command = _expand_argv(template.command, values)
    if template.script is not None:
        return command, [_expand_script(template.script, values)]
    return command, _expand_argv(template.args, values)
