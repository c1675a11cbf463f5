"""The names Arks derives from the user's names, checked against the rules of the objects they become.

An ArksApplication's name only has to be a DNS-1123 subdomain (up to 253 characters, dots allowed), and an
ArksModel's too; the names derived from them have stricter rules, and without this check the API server or
the LeaderWorkerSet webhook refuses one after part of the application was created. Pure: no I/O.

Derived from `metadata.name` (A), for each planned role (its LeaderWorkerSet L = `group_set_name(A, role)`:
A for `serve`, `A-<role>` otherwise), with G replica groups of P pods:
  Service `arks-application-A`  DNS-1035 label: Kubernetes v1.36.3 pkg/apis/core/validation/validation.go
                                ValidateServiceName = NameIsDNS1035Label (RelaxedServiceNameValidation, beta
                                and on in 1.36, allows a DNS-1123 label; the prefix starts with a letter anyway)
  LeaderWorkerSet L             DNS-1035 label: LWS v0.9.0 (and main) pkg/webhooks/leaderworkerset_webhook.go
                                generalValidate, "the lws name is used as the name for headless service" (it
                                checks no room for suffixes); the headless Service, the leader StatefulSet L,
                                its serviceName and the label leaderworkerset.sigs.k8s.io/name are L too
  leader pods `L-<g>`           DNS-1123 label: the StatefulSet controller sets spec.hostname to the pod name
                                and the label statefulset.kubernetes.io/pod-name to it (Kubernetes v1.36.3
                                pkg/controller/statefulset/stateful_set_utils.go; ValidateDNS1123Label(
                                spec.Hostname) in pkg/apis/core/validation/validation.go; a label value <= 63)
  label controller-revision-hash  on every pod of a StatefulSet S: the ControllerRevision name `S-<hash>`
                                (pkg/controller/history/controller_history.go ControllerRevisionName; the hash
                                is rand.SafeEncodeString of a uint32, at most 10 characters), a label value,
                                so S <= 63 - 11: the leader StatefulSet L, and with P > 1 the worker StatefulSet
                                `L-<g>` LWS creates per group (LWS v0.9.0 pkg/controllers/pod_controller.go;
                                none when the size is 1)
  worker pods `L-<g>-<w>`       DNS-1123 label (hostname and pod-name label), w from 1 to P - 1
  label arks.ai/application A   a label value; implied by the Service rule
  DYN_NAMESPACE `<ns>-A`        the Dynamo profile's namespace: ai-dynamo/dynamo lib/runtime/src/descriptor.rs
                                validate_namespace allows `[a-z0-9-_]+` per dot-separated segment and no length
                                limit (read on main, not at the 1.6.1 tag); implied by the Kubernetes namespace
                                (a DNS-1123 label) and the Service rule (no dots)
Derived from `spec.model.name`: the label arks.ai/model on every pod, a label value (Kubernetes apimachinery
v0.36.3 pkg/api/validate/content/kube.go: at most 63 characters, `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?`).
Names Arks bounds itself (the label arks.ai/model-claim) and object names with room to spare (ControllerRevision
names, DNS subdomains of 253; LWS truncates its own revision names' prefix) need no check.

Group and worker indexes are checked at the counts the spec declares (the larger of spec.replicas and
spec.autoscaling.maxReplicas groups); under the Service's limit (46 characters) they matter only from 100001
groups of several pods on (group index 100000 in a worker StatefulSet's revision label).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from arks_common.conventions import LABEL_APPLICATION, LABEL_MODEL, ROLE_SERVE, group_set_name, service_name

MAX_LABEL = 63
"""A DNS label's (RFC 1035 and 1123) and a label value's longest length."""
REVISION_SUFFIX = 11
"""What the StatefulSet controller adds to the StatefulSet's name in the revision label: '-' and up to 10."""
REVISION_LABEL = "controller-revision-hash"
SHOWN = 80
"""At most this much of a user's name is quoted in a message, so a huge name cannot make it unwritable."""


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    wording: str


_DNS1035 = _Rule(
    re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
    "a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or "
    f"digit, at most {MAX_LABEL} characters)",
)
_DNS1123 = _Rule(
    re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
    "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most "
    f"{MAX_LABEL} characters)",
)
_LABEL_VALUE = _Rule(
    re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"),
    f"a label value (at most {MAX_LABEL} characters: letters, digits, '-', '_' and '.', starting and ending "
    "with a letter or digit)",
)


@dataclass(frozen=True)
class _Derived:
    """One name derived from the user's: `value`, plus `hashed` characters a controller appends to it.
    A message reads `becomes <what> '<value>'<note>`."""

    what: str
    value: str
    rule: _Rule
    note: str = ""
    hashed: int = 0

    def fits(self) -> bool:
        return len(self.value) + self.hashed <= MAX_LABEL and self.rule.pattern.fullmatch(self.value) is not None

    def described(self) -> str:
        name = shown(f"{self.value}-<hash>" if self.hashed else self.value)
        return f"{self.what} '{name}'{self.note}"


def shown(text: str, limit: int = SHOWN) -> str:
    """A user's value as quoted in a message: bounded."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _derived_from_application(
    application: str, roles: Sequence[str], groups: int, pods_per_group: int
) -> list[_Derived]:
    last_group, last_worker = str(max(groups, 1) - 1), str(max(pods_per_group, 1) - 1)
    revision = f"its StatefulSet's name, '-' and a hash of up to {REVISION_SUFFIX - 1} characters"
    derived = [_Derived("the Service name", service_name(application), _DNS1035)]
    for role in roles:
        lws = group_set_name(application, role)
        leader_pod, worker_pod = f"{lws}-{last_group}", f"{lws}-{last_group}-{last_worker}"
        derived += [
            _Derived("the LeaderWorkerSet name", lws, _DNS1035, f" (role {role})"),
            _Derived("the leader pod name and hostname", leader_pod, _DNS1123, f" (role {role}, group {last_group})"),
            _Derived(
                f"the label {REVISION_LABEL}",
                lws,
                _LABEL_VALUE,
                f" of the leader pods (role {role}; {revision})",
                REVISION_SUFFIX,
            ),
        ]
        if pods_per_group > 1:
            derived += [
                _Derived(
                    f"the label {REVISION_LABEL}",
                    leader_pod,
                    _LABEL_VALUE,
                    f" of the worker pods (role {role}, group {last_group}; {revision})",
                    REVISION_SUFFIX,
                ),
                _Derived(
                    "the worker pod name and hostname",
                    worker_pod,
                    _DNS1123,
                    f" (role {role}, group {last_group}, worker {last_worker})",
                ),
            ]
    derived.append(_Derived(f"the value of the label {LABEL_APPLICATION}", application, _LABEL_VALUE))
    return derived


def max_application_name_length(roles: Sequence[str] = (ROLE_SERVE,), groups: int = 1, pods_per_group: int = 1) -> int:
    """The longest application name whose every derived name fits its rule's length."""
    derived = _derived_from_application("a", roles, groups, pods_per_group)
    return min(MAX_LABEL - d.hashed - (len(d.value) - 1) for d in derived)


def _application_fixes(application: str) -> str:
    """What besides the length the application name must change to: a DNS-1035 label's characters."""
    fixes = []
    if "." in application:
        fixes.append("without dots")
    if re.search(r"[^-a-z0-9.]", application):
        fixes.append("of lowercase letters, digits and '-' only")
    if re.match(r"[A-Za-z]", application) is None:
        fixes.append("starting with a letter")
    return "".join(f" {f}" if i == 0 else f" and {f}" for i, f in enumerate(fixes))


def name_violation(
    application: str,
    model: str,
    roles: Sequence[str] = (ROLE_SERVE,),
    groups: int = 1,
    pods_per_group: int = 1,
) -> str | None:
    """The first name derived from `metadata.name` (`application`) or `spec.model.name` (`model`) that its
    object refuses, as a message naming the user's field, the derived object and name, the rule and what to
    change; None when all fit. `roles` are the planned roles, `groups` the most replica groups the spec
    declares, `pods_per_group` the pods of one group."""
    for derived in _derived_from_application(application, roles, groups, pods_per_group):
        if not derived.fits():
            longest = max_application_name_length(roles, groups, pods_per_group)
            length = f" (it has {len(application)})" if len(application) > longest else ""
            return (
                f"metadata.name '{shown(application)}' becomes {derived.described()}, which must be "
                f"{derived.rule.wording}: choose an application name of at most {longest} characters"
                f"{_application_fixes(application)}{length}"
            )
    label = _Derived(f"the value of the label {LABEL_MODEL}", model, _LABEL_VALUE)
    if not label.fits():
        return (
            f"spec.model.name '{shown(model)}' becomes the value of the label {LABEL_MODEL} on every pod, which "
            f"must be {label.rule.wording}: spec.model.name is the name of an ArksModel in the application's "
            f"namespace (not the hub repository id); use an ArksModel whose name has at most {MAX_LABEL} "
            "characters (create the ArksModel under a shorter name if needed)"
        )
    return None
