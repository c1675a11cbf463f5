"""The roles of an application as the per-group rules see them. Pure.

An aggregated application has one role, `serve`, described by the spec's own fields. PD-separated serving
(docs/pd.md) has three, `router`, `prefill` and `decode`, each with its own groups, shape and options; a role's
*view* is the application with that role's fields in the aggregated places, so the commands, the pod template
and the per-group prechecks apply to every role unchanged.
"""

from __future__ import annotations

from typing import Any

from arks_common.api.application import ArksApplication, RouterSpec
from arks_common.conventions import PD_ROLES, ROLE_PREFILL, ROLE_ROUTER, ROLE_SERVE


def planned_roles(app: ArksApplication) -> tuple[str, ...]:
    return PD_ROLES if app.spec.disaggregated() else (ROLE_SERVE,)


def role_view(app: ArksApplication, role: str) -> ArksApplication:
    """The application as one PD role sees it: the role's groups, shape and options in the aggregated fields,
    so every per-group rule (commands, pod template, prechecks) applies to each role unchanged."""
    spec = app.spec
    part = spec.router if role == ROLE_ROUTER else spec.prefill if role == ROLE_PREFILL else spec.decode
    if part is None:  # no `router` block: one router with the defaults
        part = RouterSpec()
    update: dict[str, Any] = {
        "replicas": part.replicas,
        "extra_options": part.extra_options,
        "instance_spec": part.instance_spec,
        "tensor_parallel_size": getattr(part, "tensor_parallel_size", None),
        # the role's own bounds: the per-group rules size names and placement for its most groups
        "autoscaling": getattr(part, "autoscaling", None),
        "prefill": None,
        "decode": None,
        "router": None,
    }
    return app.model_copy(update={"spec": spec.model_copy(update=update)})


def role_views(app: ArksApplication) -> list[tuple[str, ArksApplication]]:
    """Each planned role with its view (the application itself for `serve`)."""
    if not app.spec.disaggregated():
        return [(ROLE_SERVE, app)]
    return [(role, role_view(app, role)) for role in PD_ROLES]
