"""ArksModel end to end: the model-loader creates the claim and the download Job, KWOK runs the Job's pod,
and the model's status — and the `Loaded` gate of the applications that use it — follow."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from support.builders import rwx_model, sample, slow_class_volume, small_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

MISSING_REPO = "arks-test/missing-model"
"""The local cluster's KWOK fails download pods for this repository as the downloader fails for a repository that
does not exist (tools/localcluster/src/arks_localcluster/stages/pod-fail-download.yaml)."""
FAILING = "missing"


def model_events(arks: Env, ns: str, name: str) -> list[str]:
    events = arks.items("events", ns)
    events = [e for e in events if e["involvedObject"]["name"] == name and e["involvedObject"]["kind"] == "ArksModel"]
    return [e["reason"] for e in events]


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        c["type"]: (c["status"], c["reason"], c["message"]) for c in (obj.get("status") or {}).get("conditions", [])
    }


def test_guide_model_goes_from_storage_to_loading_to_ready(arks: Env, ns: str) -> None:
    model = arks.ready_model(ns, sample("model.yaml"))
    assert conditions(model) == {
        "StorageCreated": ("True", "CreateSucceeded", "Create model storage successfully(qwen-7b)"),
        "ModelLoaded": ("True", "ModelLoadSucceeded", "Load the model successfully"),
        "Ready": ("True", "Ready", "The model is ready now"),
    }
    # each phase it went through is an Event (their timestamps have one-second precision: compare as a set)
    phases = {r for r in model_events(arks, ns, "qwen-7b") if r in ("StorageCreating", "ModelLoading", "Ready")}
    assert phases == {"StorageCreating", "ModelLoading", "Ready"}
    pvc = arks.get("pvc", "qwen-7b", ns)
    assert pvc is not None
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    [job] = arks.items("jobs", ns, "arks.ai/model=qwen-7b")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--model", "Qwen/Qwen2.5-7B-Instruct-1M", "--models-dir", "/models"]
    assert job["status"].get("succeeded") == 1
    table = arks.kubectl("get", "arksmodel", "qwen-7b", "-n", ns).splitlines()
    assert table[0].split() == ["NAME", "AGE", "MODEL", "PHASE"]
    assert table[1].split()[2:] == ["Qwen/Qwen2.5-7B-Instruct-1M", "Ready"]


def test_private_model_takes_its_token_from_the_secret(arks: Env, ns: str) -> None:
    arks.apply(ns, sample("model-private.yaml", kind="Secret"))
    arks.ready_model(ns, sample("model-private.yaml", kind="ArksModel"))
    [job] = arks.items("jobs", ns, "arks.ai/model=qwen-7b")
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}}} in env
    assert "cmVwbGFjZS1tZQ" not in str(job)  # the token's value never leaves its Secret


def test_failing_download_turns_the_model_failed_with_the_downloaders_words(arks: Env, ns: str) -> None:
    model = rwx_model(FAILING)
    model["spec"]["model"] = MISSING_REPO
    model["spec"]["storage"]["pvc"]["spec"]["accessModes"] = ["ReadWriteOnce"]
    arks.apply(ns, model)

    def failed() -> dict[str, Any] | None:
        got = arks.get("arksmodel", FAILING, ns)
        return got if ((got or {}).get("status") or {}).get("phase") == "Failed" else None

    got = wait_until(failed, 120, "the model to fail")
    status, reason, message = conditions(got)["ModelLoaded"]
    assert (status, reason) == ("False", "ModelLoadFailed")
    assert f"model {MISSING_REPO} not found" in message

    arks.apply(ns, small_app("uses-missing", model=FAILING))
    app = arks.wait_phase("uses-missing", ns, "Failed")
    loaded = conditions(app)["Loaded"]
    assert loaded[:2] == ("False", "ModelLoadFailed")

    # more storage, as a downloader that ran out of space asks: a failed model's claim is resized; this cluster's
    # storage class cannot expand volumes, and the model says so instead of failing as before
    grow = '{"spec":{"storage":{"pvc":{"spec":{"resources":{"requests":{"storage":"60Gi"}}}}}}}'
    arks.kubectl("patch", "arksmodel", FAILING, "-n", ns, "--type=merge", "-p", grow)

    def refused() -> str | None:
        message = conditions(arks.get("arksmodel", FAILING, ns) or {}).get("Ready", ("", "", ""))[2]
        return message if "resizing it to 60Gi was refused" in message else None

    message = wait_until(refused, 60, "the resize's refusal on the model")
    assert "Create model storage failed(missing)" in message, message
    assert "must support resize" in message, message  # the storage class refuses, not the model-loader's RBAC
    assert "cannot patch resource" not in message, message
    # less storage again: a claim never shrinks, and the download is tried once more for this newer generation
    [first] = arks.items("jobs", ns, f"arks.ai/model={FAILING}")
    shrink = '{"spec":{"storage":{"pvc":{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}}}}'
    arks.kubectl("patch", "arksmodel", FAILING, "-n", ns, "--type=merge", "-p", shrink)

    def tried_again() -> list[dict[str, Any]] | None:
        jobs = arks.items("jobs", ns, f"arks.ai/model={FAILING}")
        again = [j for j in jobs if j["metadata"]["uid"] != first["metadata"]["uid"]]
        return again or None

    [again] = wait_until(tried_again, 60, "the download Job started again")
    assert again["metadata"]["name"] == first["metadata"]["name"]
    generation = str((arks.get("arksmodel", FAILING, ns) or {})["metadata"]["generation"])
    assert again["metadata"]["annotations"]["arks.ai/model-generation"] == generation

    def failed_again() -> dict[str, Any] | None:
        got = arks.get("arksmodel", FAILING, ns) or {}
        said = conditions(got).get("ModelLoaded", ("", "", ""))[2]
        return got if got["status"]["phase"] == "Failed" and f"model {MISSING_REPO} not found" in said else None

    wait_until(failed_again, 120, "the download to fail again, in the downloader's words")

    fixed = rwx_model(FAILING)
    fixed["spec"]["storage"]["pvc"]["spec"]["accessModes"] = ["ReadWriteOnce"]
    arks.apply(ns, fixed)  # a corrected model (a new generation) gets a new download Job
    wait_until(
        lambda: (
            len(arks.items("jobs", ns, f"arks.ai/model={FAILING}")) == 1
            and arks.items("jobs", ns, f"arks.ai/model={FAILING}")[0]["spec"]["template"]["spec"]["containers"][0][
                "args"
            ][1]
            == "Qwen/Qwen2.5-7B-Instruct-1M"
        ),
        60,
        "a new download Job for the corrected model",
    )


def test_application_applied_before_its_model_is_ready_waits_in_loading(arks: Env, ns: str) -> None:
    slow = rwx_model("slow")
    slow["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = f"slow-{ns}"  # no volume yet: the download waits
    arks.apply(ns, slow)
    arks.apply(ns, small_app("early", model="slow"))
    arks.wait_phase("early", ns, "Loading")

    def loading() -> bool:
        app = arks.get("arksapplication", "early", ns) or {}
        return conditions(app).get("Loaded", ("", "", ""))[:2] == ("False", "ModelLoading")

    wait_until(loading, 60, "the Loaded condition to say the model is loading")
    assert arks.get("leaderworkerset", "early", ns) is None

    arks.apply(ns, slow_class_volume(ns))
    arks.wait_phase("early", ns, "Running", within=120)


def test_deleting_a_model_in_use_is_reported_and_waits_for_its_users(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("user"))
    arks.wait_phase("user", ns, "Running")
    arks.kubectl("delete", "arksmodel", "qwen-7b", "-n", ns, "--wait=false")

    def reported() -> bool:
        app = arks.get("arksapplication", "user", ns) or {}
        loaded = conditions(app).get("Loaded", ("", "", ""))
        return loaded[1] == "ModelDeleting"

    wait_until(reported, 60, "the application to report its model's deletion")
    assert arks.get("arksmodel", "qwen-7b", ns) is not None  # kept while in use
    assert "ModelInUse" in model_events(arks, ns, "qwen-7b")
    assert arks.phase("user", ns) == "Running"  # the running service is not broken
    arks.kubectl("delete", "arkapp", "user", "-n", ns, "--timeout=60s")
    wait_until(lambda: arks.get("arksmodel", "qwen-7b", ns) is None, 60, "the model to go once unused")


def test_a_claim_deleted_under_running_pods_is_said_held_by_them_and_made_anew_once_they_stop(
    arks: Env, ns: str
) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("user"))
    arks.wait_phase("user", ns, "Running")
    old = (arks.get("pvc", "qwen-7b", ns) or {})["metadata"]["uid"]
    arks.kubectl("delete", "pvc", "qwen-7b", "-n", ns, "--wait=false")

    def told() -> bool:
        model = arks.get("arksmodel", "qwen-7b", ns) or {}
        return conditions(model).get("StorageCreated", ("", "", ""))[1] == "StorageDeleting"

    # Kubernetes keeps it while the application's pod mounts it; the model says so, naming the pod
    wait_until(told, 60, "the model to say its claim is being deleted")
    model = arks.get("arksmodel", "qwen-7b", ns) or {}
    message = conditions(model)["StorageCreated"][2]
    assert "kubernetes.io/pvc-protection" in message, message
    assert "user-0 (applications user)" in message, message
    assert (model.get("status") or {}).get("phase") == "StorageCreating"
    claim = arks.get("pvc", "qwen-7b", ns) or {}
    assert claim["metadata"]["uid"] == old  # held, not gone
    assert "StorageDeleting" in model_events(arks, ns, "qwen-7b")
    app = arks.get("arksapplication", "user", ns) or {}
    assert "The claim qwen-7b is being deleted" in conditions(app)["Loaded"][2]

    arks.kubectl("delete", "arkapp", "user", "-n", ns, "--timeout=60s")  # its pods let go of the claim

    def made_anew() -> bool:
        claim = arks.get("pvc", "qwen-7b", ns) or {}
        return bool(claim) and claim["metadata"]["uid"] != old and not claim["metadata"].get("deletionTimestamp")

    try:
        wait_until(made_anew, 90, "a new claim once the old one is gone")
    except AssertionError as exc:
        claim = arks.get("pvc", "qwen-7b", ns) or {}
        pods = [(p["metadata"]["name"], p["status"].get("phase")) for p in arks.items("pods", ns)]
        model = arks.get("arksmodel", "qwen-7b", ns) or {}
        seen = (claim.get("metadata"), pods, conditions(model))
        raise AssertionError(f"{exc}; claim, pods, model: {seen}") from exc

    def ready_again() -> bool:
        model = arks.get("arksmodel", "qwen-7b", ns) or {}
        return (model.get("status") or {}).get("phase") == "Ready"

    wait_until(ready_again, 120, "the model downloaded into it")


@pytest.mark.parametrize("size", ["30 GB", "1e1.5Gi", "1e3Gi"])
def test_a_claim_size_kubernetes_cannot_read_is_refused_naming_the_field(arks: Env, ns: str, size: str) -> None:
    # the model-loader reads the size by the very grammar the CRD admits (arks_common.api.quantity), Kubernetes'
    model = rwx_model("sized")
    model["spec"]["storage"]["pvc"]["spec"]["resources"]["requests"]["storage"] = size
    refused = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(model), check=False)
    assert refused.returncode != 0, refused.stdout
    assert "spec.storage.pvc.spec.resources.requests.storage" in refused.stderr, refused.stderr
    model["spec"]["storage"]["pvc"]["spec"]["resources"]["requests"]["storage"] = "32e9"
    arks.apply(ns, model)  # an exponent, which Kubernetes takes, is admitted


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", "o" * 96 + "/" + "n" * 97), ("name", "c" * 254)],
    ids=["a repo id past the hub's 193 characters", "a claim name past 253"],
)
def test_a_repo_id_or_claim_name_too_long_is_refused_naming_the_field(
    arks: Env, ns: str, field: str, value: str
) -> None:
    # repeated in every condition of the model and of its applications, a huge one made status too large to store
    model = rwx_model("long")
    spec = model["spec"] if field == "model" else model["spec"]["storage"]["pvc"]
    spec[field] = value
    refused = arks.cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(model), check=False)
    assert refused.returncode != 0, refused.stdout
    assert ("spec.model" if field == "model" else "spec.storage.pvc.name") in refused.stderr, refused.stderr
    assert "Too long" in refused.stderr, refused.stderr
    spec[field] = value[:-1]
    arks.apply(ns, model)  # the longest there are, admitted


def test_a_claim_of_a_storage_class_that_does_not_exist_says_so_naming_the_field(arks: Env, ns: str) -> None:
    model = rwx_model("classless")
    model["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = f"missing-{ns}"
    arks.apply(ns, model)
    arks.apply(ns, small_app("waits", model="classless"))

    def said() -> dict[str, Any] | None:
        got = arks.get("arksmodel", "classless", ns) or {}
        return got if conditions(got).get("ModelLoaded", ("", "", ""))[1] == "StorageClassNotFound" else None

    # before, the model said its download pod could not be scheduled (pod has unbound immediate claims)
    got = wait_until(said, 90, "the model to name the StorageClass that does not exist")
    message = conditions(got)["ModelLoaded"][2]
    assert f"StorageClass 'missing-{ns}' (spec.storage.pvc.spec.storageClassName) does not exist" in message
    assert got["status"]["phase"] == "ModelLoading"  # not Failed: creating the class lets it go on
    assert "StorageClassNotFound" in model_events(arks, ns, "classless")

    def told() -> bool:
        loaded = conditions(arks.get("arksapplication", "waits", ns) or {}).get("Loaded", ("", "", ""))
        return loaded[1] == "ModelLoading" and f"StorageClass 'missing-{ns}'" in loaded[2]

    wait_until(told, 60, "the application to show the model's account")


def test_an_edit_of_a_claims_access_modes_is_said_and_applications_are_placed_by_the_claim(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model("shared"))
    claim = arks.get("pvc", "shared", ns) or {}
    one_pod = '{"spec":{"storage":{"pvc":{"spec":{"accessModes":["ReadWriteOncePod"]}}}}}'
    arks.kubectl("patch", "arksmodel", "shared", "-n", ns, "--type=merge", "-p", one_pod)

    def said() -> dict[str, Any] | None:
        got = arks.get("arksmodel", "shared", ns) or {}
        return got if conditions(got).get("StorageCreated", ("", "", ""))[1] == "AccessModesUnchanged" else None

    got = wait_until(said, 60, "the model to say its claim keeps its access modes")
    status, _, message = conditions(got)["StorageCreated"]
    assert status == "True"
    assert "spec.storage.pvc.spec.accessModes ['ReadWriteOncePod'] is not applied" in message
    assert got["status"]["phase"] == "Ready"  # a serving model is not failed by the edit
    assert got["status"]["claim"] == {"name": "shared", "accessModes": ["ReadWriteMany"]}
    assert "AccessModesUnchanged" in model_events(arks, ns, "shared")
    now = arks.get("pvc", "shared", ns) or {}
    assert now["metadata"]["uid"] == claim["metadata"]["uid"]  # the user's data stays where it was
    assert now["spec"]["accessModes"] == ["ReadWriteMany"]

    # two groups: the spec's ReadWriteOncePod would refuse them; the claim every node mounts takes them
    arks.apply(ns, small_app("spread", model="shared", replicas=2))

    def judged() -> tuple[str, str, str] | None:
        return conditions(arks.get("arksapplication", "spread", ns) or {}).get("Precheck")

    precheck = wait_until(judged, 60, "the planner's verdict")
    assert precheck[:2] == ("True", "PrecheckPass"), precheck


def test_a_class_or_size_edit_of_a_serving_models_claim_is_said_and_it_serves_on(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model("kept"))
    claim = arks.get("pvc", "kept", ns) or {}
    other_class = f'{{"spec":{{"storage":{{"pvc":{{"spec":{{"storageClassName":"slow-{ns}"}}}}}}}}}}'
    arks.kubectl("patch", "arksmodel", "kept", "-n", ns, "--type=merge", "-p", other_class)

    def said(reason: str, text: str) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            got = arks.get("arksmodel", "kept", ns) or {}
            storage = conditions(got).get("StorageCreated", ("", "", ""))
            return got if storage[1] == reason and text in storage[2] else None

        return check

    # before, the edit was ignored in silence: StorageCreated said CreateSucceeded, the claim kept local-path
    got = wait_until(said("StorageClassUnchanged", ""), 60, "the model to say its claim keeps its StorageClass")
    status, _, message = conditions(got)["StorageCreated"]
    assert status == "True"
    assert "its StorageClass stays 'local-path'" in message
    assert f"spec.storage.pvc.spec.storageClassName 'slow-{ns}' is not applied" in message
    assert "give the model a new claim (spec.storage.pvc.name), or delete the model" in message
    assert got["status"]["phase"] == "Ready"  # a serving model is not failed by the edit
    assert "StorageClassUnchanged" in model_events(arks, ns, "kept")
    now = arks.get("pvc", "kept", ns) or {}
    assert now["metadata"]["uid"] == claim["metadata"]["uid"]  # the user's data stays where it was
    assert now["spec"]["storageClassName"] == "local-path"
    # the API server would refuse the change indeed: a claim's class cannot change once set
    to_claim = f'{{"spec":{{"storageClassName":"slow-{ns}"}}}}'
    refused = arks.cluster.kubectl("patch", "pvc", "kept", "-n", ns, "-p", to_claim, check=False)
    assert refused.returncode != 0, refused.stdout
    assert "immutable" in refused.stderr, refused.stderr

    # a larger size too: told with the class, the claim as it was
    larger = '{"spec":{"storage":{"pvc":{"spec":{"resources":{"requests":{"storage":"60Gi"}}}}}}}'
    arks.kubectl("patch", "arksmodel", "kept", "-n", ns, "--type=merge", "-p", larger)
    text = "spec.storage.pvc.spec.resources.requests.storage 60Gi is not applied"
    got = wait_until(said("StorageClassUnchanged", text), 60, "the model to say its claim keeps its size")
    assert "its size stays 30Gi" in conditions(got)["StorageCreated"][2]
    assert got["status"]["phase"] == "Ready"
    assert (arks.get("pvc", "kept", ns) or {})["spec"]["resources"]["requests"]["storage"] == "30Gi"


DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def _class_a_new_claim_gets(arks: Env, ns: str) -> str | None:
    """The class the API server's admission gives a claim that names none now (a dry run: nothing is stored)."""
    probe = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "probe", "namespace": ns},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    made = arks.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=yaml.safe_dump(probe))
    name: str | None = json.loads(made)["spec"].get("storageClassName")
    return name


def test_a_claim_naming_no_class_in_a_cluster_without_a_default_class_says_so(arks: Env, ns: str) -> None:
    # the cluster's default class (local-path) is no default for this test alone: other tests' claims name none
    arks.kubectl("annotate", "storageclass", "local-path", f"{DEFAULT_CLASS}-")
    try:
        wait_until(lambda: _class_a_new_claim_gets(arks, ns) is None, 30, "the admission to see no default class")
        models = [rwx_model("unclassed"), rwx_model("later")]
        for model in models:
            del model["spec"]["storage"]["pvc"]["spec"]["storageClassName"]
        arks.apply(ns, *models)

        def said(name: str, reason: str) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                got = arks.get("arksmodel", name, ns) or {}
                return got if conditions(got).get("ModelLoaded", ("", "", ""))[1] == reason else None

            return check

        # before, the model said it waited for a volume (or that its download pod could not be scheduled)
        got = wait_until(said("unclassed", "NoDefaultStorageClass"), 90, "the model to say there is no default class")
        message = conditions(got)["ModelLoaded"][2]
        assert "the claim names no StorageClass (spec.storage.pvc.spec.storageClassName)" in message
        assert f'no default StorageClass (annotated {DEFAULT_CLASS}: "true")' in message
        assert got["status"]["phase"] == "ModelLoading"
        assert "NoDefaultStorageClass" in model_events(arks, ns, "unclassed")
        assert "storageClassName" not in (arks.get("pvc", "unclassed", ns) or {})["spec"]

        # the status's first remedy: a class named in the spec is set on the unbound claim, whose volume then comes
        named = f'{{"spec":{{"storage":{{"pvc":{{"spec":{{"storageClassName":"slow-{ns}"}}}}}}}}}}'
        arks.kubectl("patch", "arksmodel", "unclassed", "-n", ns, "--type=merge", "-p", named)
        wait_until(
            lambda: (arks.get("pvc", "unclassed", ns) or {})["spec"].get("storageClassName") == f"slow-{ns}",
            60,
            "the claim to take the class the spec names",
        )
        arks.apply(ns, slow_class_volume(ns))

        def ready(name: str) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                got = arks.get("arksmodel", name, ns) or {}
                return got if (got.get("status") or {}).get("phase") == "Ready" else None

            return check

        got = wait_until(ready("unclassed"), 90, "the model to be downloaded into its claim")
        assert conditions(got)["StorageCreated"][1] == "CreateSucceeded"  # the class was taken, not kept

        # the second: a default class again, which Kubernetes' PV controller gives the other claim
        wait_until(said("later", "NoDefaultStorageClass"), 60, "the other model to wait for a default class")
        arks.kubectl("annotate", "--overwrite", "storageclass", "local-path", f"{DEFAULT_CLASS}=true")
        got = wait_until(ready("later"), 120, "the other model to be downloaded into a claim of the default class")
        assert (arks.get("pvc", "later", ns) or {})["spec"]["storageClassName"] == "local-path"
    finally:
        arks.kubectl("annotate", "--overwrite", "storageclass", "local-path", f"{DEFAULT_CLASS}=true")
        wait_until(lambda: _class_a_new_claim_gets(arks, ns) == "local-path", 30, "the default class back")
