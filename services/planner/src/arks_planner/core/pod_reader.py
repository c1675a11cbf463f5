"""A ServiceAccount allowed to read pods in its namespace, and nothing else: what a router that discovers its
workers through the Kubernetes API runs as (an ArksEndpoint's smg, the SGLang PD router). Pure."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
POD_READER_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
"""Least privilege for label-selector discovery: read pods of this namespace."""


def pod_reader(metadata: Obj) -> list[Obj]:
    """ServiceAccount, Role and RoleBinding, all named and labelled by `metadata` (name, namespace, labels)."""
    name, namespace = metadata["name"], metadata["namespace"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(metadata)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(metadata),
            "rules": POD_READER_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(metadata),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]
