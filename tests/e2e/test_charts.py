"""The Helm charts: `helm lint` and `helm template` pass for every chart (with the helm built for the local
cluster), and the API server accepts every rendered object (`helm install` of all charts succeeds).

The Deployments' pods land on KWOK nodes with images that do not exist; nothing waits for them. The service
charts are installed under other names (`fullnameOverride`) in a namespace of their own, so they never touch
the RBAC the running suite's services use.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arks_common.events import permissions as perm
from arks_common.events.contract import Service
from arks_common.events.partitions import MAX_PARTITIONS
from arks_common.sharing.owner import MEMBER_SLOTS, member_lease_name, partition_lease_name
from arks_localcluster.cluster import LocalCluster
from support.auth import CHARTS, ROOT, helm, helm_run, render_chart
from support.e2e import Env

pytestmark = pytest.mark.cluster

CHART_DIRS = sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))
VARIANTS = {
    "defaults": [],
    "creds file, service monitor, min available": [
        "--set",
        "nats.auth.mode=creds",
        "--set",
        "nats.auth.credsSecret=arks-nats-creds",
        "--set",
        "busBootstrap.credsSecret=arks-nats-bootstrap-creds",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "podDisruptionBudget.minAvailable=1",
        "--set",
        "replicaCount=2",
    ],
}


def test_every_service_and_the_crds_have_a_chart() -> None:
    assert {p.name for p in CHART_DIRS} == {s.value for s in Service} | {"arks-crds", "arks-monitoring"}


@pytest.mark.parametrize("chart", CHART_DIRS, ids=lambda p: p.name)
def test_helm_lint_passes(local_cluster: LocalCluster, chart: Path) -> None:
    out = helm(local_cluster, "lint", "--strict", str(chart))
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("variant", list(VARIANTS), ids=str)
@pytest.mark.parametrize("service", list(Service), ids=str)
def test_helm_template_renders_a_hardened_deployment(
    local_cluster: LocalCluster, service: Service, variant: str
) -> None:
    docs = render_chart(local_cluster, service, *VARIANTS[variant])
    kinds = sorted(d["kind"] for d in docs)
    expected = ["ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    assert set(expected) <= set(kinds), kinds
    assert ("ServiceMonitor" in kinds) == (variant != "defaults")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    if variant == "defaults":
        assert env["ARKS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == service.value
        assert "ARKS_KUBECONFIG" not in env  # in-cluster credentials
    else:
        assert env["ARKS_NATS_CREDS_FILE"]["value"] == "/etc/arks/nats/nats.creds"


@pytest.mark.parametrize("variant", list(VARIANTS), ids=str)
@pytest.mark.parametrize("service", list(Service), ids=str)
def test_only_the_watcher_chart_declares_the_bus_as_the_bootstrap_user_before_install_and_upgrade(
    local_cluster: LocalCluster, service: Service, variant: str
) -> None:
    jobs = [d for d in render_chart(local_cluster, service, *VARIANTS[variant]) if d["kind"] == "Job"]
    if service is not Service.WATCHER:
        assert jobs == []
        return
    (job,) = jobs
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["command"] == ["arks-bus-bootstrap"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    if variant == "defaults":
        assert env["ARKS_NATS_USER"]["value"] == perm.BOOTSTRAP_USER
        ref = env["ARKS_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": perm.SECRET_NAME, "key": perm.secret_key(perm.BOOTSTRAP_USER)}
    else:
        (volume,) = pod["volumes"]
        assert volume["secret"]["secretName"] == "arks-nats-bootstrap-creds"


# Verbs that let a holder grant itself more than it has, or act as someone else.
ESCALATING_VERBS = {"escalate", "bind", "impersonate"}
# Kinds whose cluster-wide access would reach into other tenants' and the cluster's own machinery.
NAMESPACE_ONLY = {("coordination.k8s.io", "leases")}


@pytest.mark.parametrize("variant", list(VARIANTS), ids=str)
@pytest.mark.parametrize("service", list(Service), ids=str)
def test_every_charts_rules_are_narrow(local_cluster: LocalCluster, service: Service, variant: str) -> None:
    docs = render_chart(local_cluster, service, *VARIANTS[variant])
    roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
    assert roles, "the chart grants nothing?"
    for role in roles:
        where = f"{role['kind']} {role['metadata']['name']}"
        if role["kind"] == "Role":
            assert role["metadata"]["namespace"] == "arks-system", where  # the release namespace
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule, where
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in item for item in rule.get(key, [])), f"{where}: a wildcard in {key}: {rule}"
            assert not ESCALATING_VERBS & set(rule["verbs"]), f"{where}: {rule}"
            assert "secrets" not in rule["resources"], f"{where}: no Arks service reads or writes Secrets"
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    if (group, resource) in NAMESPACE_ONLY:
                        assert role["kind"] == "Role", f"{where}: {resource} cluster-wide"
                        # create cannot be limited by name, nor list (it reads Leases of the release namespace only)
                        names_needed = set(rule["verbs"]) - {"create", "list"}
                        assert not names_needed or rule.get("resourceNames"), f"{where}: {rule} on any name"
    bindings = [d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings} == {
        (r["kind"], r["metadata"]["name"]) for r in roles
    }
    for binding in bindings:
        assert [s["kind"] for s in binding["subjects"]] == ["ServiceAccount"]  # no groups, no users


def rules_row(role: dict[str, Any]) -> str:
    """A ClusterRole's rules as docs/install.md's table writes them: `resources`: verbs; ..."""
    return "; ".join(f"`{', '.join(r['resources'])}`: {', '.join(r['verbs'])}" for r in role["rules"])


@pytest.mark.parametrize("service", list(Service), ids=str)
def test_the_install_guides_rbac_table_is_what_the_chart_grants(local_cluster: LocalCluster, service: Service) -> None:
    (role,) = [d for d in render_chart(local_cluster, service) if d["kind"] == "ClusterRole"]
    row = f"| {service.value} | {rules_row(role)} |"
    assert row in (ROOT / "docs" / "install.md").read_text(), f"docs/install.md should have the row\n{row}"


def test_the_slo_scalers_lease_is_its_own_and_in_its_namespace(local_cluster: LocalCluster) -> None:
    docs = render_chart(local_cluster, Service.SLO_SCALER, "--set", "sloScaler.leaseName=scaler-lease")
    (role,) = [d for d in docs if d["kind"] == "Role"]
    (by_name,) = [r for r in role["rules"] if "resourceNames" in r]
    assert by_name["resourceNames"] == ["scaler-lease"]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ARKS_LEASE_NAME"] == "scaler-lease"
    assert "ARKS_LEASE_NAMESPACE" not in env  # the pod's own namespace, where the Role is


@pytest.mark.parametrize("service", [Service.PLANNER, Service.DEPLOYER, Service.MODEL_LOADER], ids=str)
def test_a_partitioned_service_may_write_exactly_its_partition_and_membership_leases(
    local_cluster: LocalCluster, service: Service
) -> None:
    docs = render_chart(local_cluster, service)
    (role,) = [d for d in docs if d["kind"] == "Role"]
    (named,) = [r for r in role["rules"] if "resourceNames" in r]
    want = {partition_lease_name(service.value, i) for i in range(MAX_PARTITIONS)}
    want |= {member_lease_name(service.value, i) for i in range(MEMBER_SLOTS)}
    assert set(named["resourceNames"]) == want
    assert set(named["verbs"]) == {"get", "update"}


def test_planner_mounts_runtime_profiles_and_model_loader_takes_its_downloader(local_cluster: LocalCluster) -> None:
    profiles = render_chart(
        local_cluster, Service.PLANNER, "--set-json", 'runtimeProfiles.inline={"vllm":{"image":"x"}}'
    )
    (cm,) = [d for d in profiles if d["kind"] == "ConfigMap"]
    assert "vllm" in cm["data"]["profiles.yaml"]
    (deployment,) = [d for d in profiles if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ARKS_RUNTIME_PROFILES_FILE"] == "/etc/arks/runtime-profiles/profiles.yaml"
    loader = render_chart(
        local_cluster,
        Service.MODEL_LOADER,
        "--set",
        "downloader.image=registry/dl:1",
        "--set",
        "huggingface.endpoint=https://hf-mirror",
    )
    (deployment,) = [d for d in loader if d["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ARKS_DOWNLOADER_IMAGE"] == "registry/dl:1"
    assert env["ARKS_HF_ENDPOINT"] == "https://hf-mirror"


@pytest.mark.parametrize("service", [Service.PLANNER, Service.MODEL_LOADER], ids=str)
def test_the_relist_period_is_a_chart_value(local_cluster: LocalCluster, service: Service) -> None:
    """`relistSeconds` sets ARKS_RELIST_SECONDS (300 unless set); the schema refuses what the service would refuse
    at start (below 1 s: a busy loop of lists; above a day: in effect never)."""

    def env(*set_args: str) -> dict[str, Any]:
        (deployment,) = [d for d in render_chart(local_cluster, service, *set_args) if d["kind"] == "Deployment"]
        return {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert env()["ARKS_RELIST_SECONDS"] == "300"
    assert env("--set", "relistSeconds=60")["ARKS_RELIST_SECONDS"] == "60"
    # set in extraEnv before this value existed: named once (Helm 4's server-side apply refuses a duplicate name)
    override = ("--set", "extraEnv[0].name=ARKS_RELIST_SECONDS", "--set-string", "extraEnv[0].value=77")
    (deployment,) = [d for d in render_chart(local_cluster, service, *override) if d["kind"] == "Deployment"]
    named = [
        e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "ARKS_RELIST_SECONDS"
    ]
    assert named == [{"name": "ARKS_RELIST_SECONDS", "value": "77"}]
    for bad in ("0", "0.5", "-1", "86401", "inf"):
        proc = helm_run(local_cluster, "template", "x", str(CHARTS / service.value), "--set", f"relistSeconds={bad}")
        assert proc.returncode != 0, bad
        assert "/relistSeconds" in proc.stderr, (bad, proc.stderr)


def test_values_schema_refuses_a_bad_value(local_cluster: LocalCluster) -> None:
    proc = helm_run(local_cluster, "template", "x", str(CHARTS / "planner"), "--set", "nats.auth.mode=plain")
    assert proc.returncode != 0
    assert "/nats/auth/mode" in proc.stderr


@pytest.fixture
def chart_namespace(arks: Env) -> Iterator[str]:
    name = f"charts-{uuid.uuid4().hex[:6]}"
    arks.kubectl("create", "namespace", name)
    passwords = [f"--from-literal={perm.secret_key(user)}=pw" for user in perm.all_users()]
    arks.kubectl("create", "secret", "generic", "arks-nats-users", "-n", name, *passwords)
    yield name
    arks.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_helm_install_of_every_chart_is_accepted(arks: Env, chart_namespace: str) -> None:
    cluster = arks.cluster
    # The suite already created the CRDs with kubectl; the chart adopts them (and keeps them on uninstall).
    helm(cluster, "install", "arks-crds", str(CHARTS / "arks-crds"), "-n", chart_namespace, "--take-ownership")
    installed = ["arks-crds"]
    try:
        for service in Service:
            release = f"t-{service.value}"
            helm(
                cluster,
                "install",
                release,
                str(CHARTS / service.value),
                "-n",
                chart_namespace,
                "--set",
                f"fullnameOverride={chart_namespace}-{service.value}",
                "--set",
                f"nats.url=nats://nats.{chart_namespace}.svc:4222",
            )
            installed.append(release)
        status = json.loads(helm(cluster, "list", "-n", chart_namespace, "-o", "json"))
        assert {r["name"]: r["status"] for r in status} == dict.fromkeys(installed, "deployed")
        deployments = arks.items("deployments", chart_namespace)
        assert len(deployments) == len(Service)
        for kind in ("serviceaccounts", "services", "poddisruptionbudgets"):
            names = {i["metadata"]["name"] for i in arks.items(kind, chart_namespace)}
            assert {f"{chart_namespace}-{s.value}" for s in Service} <= {n.removesuffix("-metrics") for n in names}
        roles = arks.kubectl("get", "clusterroles", "-o", "name")
        assert all(f"clusterrole.rbac.authorization.k8s.io/{chart_namespace}-{s.value}" in roles for s in Service)
    finally:
        for release in reversed(installed):
            helm_run(cluster, "uninstall", release, "-n", chart_namespace, "--wait", "--timeout", "60s")
    # CRDs survive their chart's uninstall: deleting them would delete every application.
    arks.kubectl("get", "crd", "arksapplications.arks.ai", "arksmodels.arks.ai")
    assert chart_namespace not in arks.kubectl("get", "clusterroles", "-o", "name")
