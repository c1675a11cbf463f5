"""What the cluster holds of the objects Arks owns, indexed by application, as a watch reports it. Pure.

The deployer's reconcile needs every object that carries an application's label (to diff, prune and read
status). Listing three kinds on every reconcile cost three API requests each time; this index, fed by one
list+watch per kind, answers from memory. It can lag behind the API server, so a reader states which versions it
must see (the change that woke it) and falls back to listing when the index has not caught up.
"""

from __future__ import annotations

from typing import Any

from arks_common.api.application import Phase
from arks_common.conventions import (
    APPLICATION_KIND,
    FINALIZER,
    LABEL_APPLICATION,
    PD_ROLES,
    PLAN_HASH_ANNOTATION,
    ROLE_ROUTER,
    ROLE_SERVE,
    group_set_name,
    service_name,
)
from arks_common.kube.packed import pack, unpack
from arks_common.kube.resources import LEADERWORKERSETS, ROLEBINDINGS, ROLES, SERVICEACCOUNTS, SERVICES

Obj = dict[str, Any]
Key = tuple[str, str, str]
"""(kind, namespace, name)."""
STATUS_COUNTS = ("replicas", "readyReplicas", "updatedReplicas", "observedGeneration")
"""All the status a role's counts read (`core.status.RoleObserved.counts`), and the generation they describe
(`RoleObserved.seen_by_its_controller`: without it a cached set's old counts would pass for its newest spec's)."""
ROUTER_ACCOUNT_KINDS = (SERVICEACCOUNTS.kind, ROLES.kind, ROLEBINDINGS.kind)
"""A PD router's account, as the planner plans it (`pod_reader`)."""


def _key(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", ""))


def _application(obj: Obj) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(LABEL_APPLICATION) if isinstance(labels, dict) else None
    return value if isinstance(value, str) and value else None


def application_to_restore(obj: Obj) -> str | None:
    """The application a deleted owned object belongs to (labelled with it and controlled by an ArksApplication), for
    a reconcile that makes it again if it is still planned. A Service or a PD router's ServiceAccount, Role and
    RoleBinding: the watcher does not follow them, and deleted by hand one came back only at the application's next
    change (a SGLang PD router without its RoleBinding cannot find new prefill or decode pods). A LeaderWorkerSet too,
    though the watcher follows it: its deletion's event never comes when the watcher was down meanwhile (a restarted
    watcher remembers nothing to tell gone), and the application then said Running with no set (a second reconcile
    with the watcher's event finds nothing to do)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    owned = any(isinstance(r, dict) and r.get("kind") == APPLICATION_KIND and r.get("controller") for r in refs)
    return _application(obj) if owned else None


def _pod_accounts(lws: Obj) -> dict[str, str]:
    """The account a LeaderWorkerSet's pods run as, by template (`leaderTemplate`, `workerTemplate`) that names one."""
    spec = lws.get("spec")
    template = spec.get("leaderWorkerTemplate") if isinstance(spec, dict) else None
    out = {}
    for part in ("leaderTemplate", "workerTemplate"):
        pod = template.get(part) if isinstance(template, dict) else None
        pod_spec = pod.get("spec") if isinstance(pod, dict) else None
        account = pod_spec.get("serviceAccountName") if isinstance(pod_spec, dict) else None
        if isinstance(account, str) and account:
            out[part] = account
    return out


def _held(owned: list[Obj]) -> set[tuple[str, str]]:
    return {(str(o.get("kind", "")), str((o.get("metadata") or {}).get("name", ""))) for o in owned}


def _names_router_account(spec: Obj) -> bool:
    """Whether the user names the router's account (`spec.router.instanceSpec.serviceAccountName`): the planner then
    plans none (`router_account`), even when the name is the one it would give its own."""
    router = spec.get("router")
    inst = router.get("instanceSpec") if isinstance(router, dict) else None
    return isinstance(inst, dict) and bool(inst.get("serviceAccountName"))


def required_objects(app: Obj, owned: list[Obj]) -> set[tuple[str, str]]:
    """(kind, name) of what a deployed application must hold, from its spec and what it holds, without its plan:
    its Service and a LeaderWorkerSet per role (`serve`, or a PD application's router, prefill and decode), and the
    router's account (ServiceAccount, Role and RoleBinding, named as the router's set) when a set's pods run as it
    or a part of it is there, unless the user names the router's account (then none is planned). Which runtimes plan
    an account is the planner's profiles' knowledge, not the spec's: the router's set tells it (and when that set is
    gone too, its absence is told, and its reconcile applies the whole plan)."""
    meta, spec = app.get("metadata") or {}, app.get("spec") or {}
    name = str(meta.get("name", ""))
    pd = spec.get("prefill") is not None and spec.get("decode") is not None  # `ArksApplicationSpec.disaggregated`
    roles = PD_ROLES if pd else (ROLE_SERVE,)
    required = {(SERVICES.kind, service_name(name))}
    required |= {(LEADERWORKERSETS.kind, group_set_name(name, role)) for role in roles}
    if pd and not _names_router_account(spec):
        account = group_set_name(name, ROLE_ROUTER)
        triple = {(kind, account) for kind in ROUTER_ACCOUNT_KINDS}
        runs_as = any(account in _pod_accounts(o).values() for o in owned if o.get("kind") == LEADERWORKERSETS.kind)
        if runs_as or triple & _held(owned):
            required |= triple
    return required


def missing_objects(app: Obj, owned: list[Obj]) -> list[str]:
    """What an application the deployer brought up (its finalizer on, its phase `Creating` or `Running`: its objects
    were applied) lacks of `required_objects` in its owned objects, as "Kind name": deleted while neither the watcher
    nor the deployer watched, which no event and no relist tells. Empty for any other application. A spec edited
    since its objects were applied (a new generation waiting for its model) may name objects not applied yet: a
    reconcile that finds nothing to do, not a wrong one."""
    meta, status = app.get("metadata") or {}, app.get("status") or {}
    brought_up = FINALIZER in (meta.get("finalizers") or []) and not meta.get("deletionTimestamp")
    if not brought_up or status.get("phase") not in (Phase.CREATING, Phase.RUNNING):
        return []
    return [f"{kind} {name}" for kind, name in sorted(required_objects(app, owned) - _held(owned))]


def _newer(have: str, than: str) -> bool:
    return have.isdigit() and than.isdigit() and int(have) > int(than)


def newer_or_same(have: str, want: str) -> bool:
    """resourceVersions are opaque, but the API server's are etcd revisions: compared as numbers when both
    are; anything else counts as caught up only when equal."""
    if have.isdigit() and want.isdigit():
        return int(have) >= int(want)
    return have == want


def trimmed(obj: Obj) -> Obj:
    """What the reconcile reads of an owned object: its identity and metadata (managedFields and annotations
    aside, but the plan hash), its replica count and its status counts. Not the rest of its spec (a
    LeaderWorkerSet's pod templates are most of its size): the diff compares plan hashes, never specs, so
    thousands of applications cost the cache little."""
    out: Obj = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
    meta = obj.get("metadata") or {}
    out["metadata"] = {k: v for k, v in meta.items() if k not in ("managedFields", "annotations")}
    plan_hash = (meta.get("annotations") or {}).get(PLAN_HASH_ANNOTATION)
    if plan_hash is not None:
        out["metadata"]["annotations"] = {PLAN_HASH_ANNOTATION: plan_hash}
    spec, status = obj.get("spec"), obj.get("status")
    if isinstance(spec, dict) and "replicas" in spec:
        out["spec"] = {"replicas": spec["replicas"]}
    accounts = _pod_accounts(obj) if obj.get("kind") == LEADERWORKERSETS.kind else {}
    if accounts:  # the account its pods run as (`required_objects`), not the rest of the templates
        templates = {part: {"spec": {"serviceAccountName": account}} for part, account in accounts.items()}
        out.setdefault("spec", {})["leaderWorkerTemplate"] = templates
    if isinstance(status, dict):
        out["status"] = {k: status[k] for k in STATUS_COUNTS if k in status}
    return out


class OwnedIndex:
    """Each object is kept as its trimmed form's JSON (one bytes object, about a third of the dicts' size, and no
    scatter of small objects that pins the allocator's arenas after a burst), decoded when a reconcile reads it."""

    def __init__(self) -> None:
        self._objects: dict[Key, tuple[str, bytes]] = {}
        """(application, trimmed object as JSON) per key."""
        self._by_app: dict[tuple[str, str], set[Key]] = {}
        self._versions: dict[Key, str] = {}
        """Newest version seen per key, kept after a deletion too (as the version the deletion had)."""
        self._listed: set[str] = set()

    def replace(self, kind: str, objects: list[Obj], list_version: str) -> list[Obj]:
        """A fresh list of `kind`: it becomes the truth for that kind. Returns what the index held of that kind and
        the list no longer has: deleted while no watch ran (a relist after the watch broke), told by nothing else."""
        held = {key: packed for key, (_, packed) in self._objects.items() if key[0] == kind}
        # a copy newer than the list's snapshot (our own write's answer while the pages came) is kept: the list's
        # older copy of it, or its absence, says nothing about it
        for key in [k for k in held if not _newer(self._versions.get(k, ""), list_version)]:
            self._drop(key)
        listed = set()
        for obj in objects:
            listed.add(_key(obj))
            self.observe(obj)
        self._listed.add(kind)
        return [unpack(packed) for key, packed in held.items() if key not in listed and key not in self._objects]

    def observe(self, obj: Obj, deleted: bool = False) -> None:
        """A watch event (or our own write's answer). An older version than one already seen is ignored."""
        key = _key(obj)
        version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        seen = self._versions.get(key)
        if seen is not None and version and not newer_or_same(version, seen):
            return
        if version:
            self._versions[key] = version
        self._drop(key)
        if deleted:
            return
        app = _application(obj)
        if app is None:
            return
        self._objects[key] = (app, pack(trimmed(obj)))
        self._by_app.setdefault((key[1], app), set()).add(key)

    def listed(self, kinds: set[str]) -> bool:
        return kinds <= self._listed

    def has_seen(self, kind: str, namespace: str, name: str, version: str) -> bool:
        seen = self._versions.get((kind, namespace, name))
        return seen is not None and newer_or_same(seen, version)

    def owned(self, namespace: str, application: str) -> list[Obj]:
        return [unpack(self._objects[k][1]) for k in sorted(self._by_app.get((namespace, application), ()))]

    def __len__(self) -> int:
        return len(self._objects)

    def _drop(self, key: Key) -> None:
        kept = self._objects.pop(key, None)
        if kept is None:
            return
        members = self._by_app.get((key[1], kept[0]))
        if members is not None:
            members.discard(key)
            if not members:
                del self._by_app[(key[1], kept[0])]
