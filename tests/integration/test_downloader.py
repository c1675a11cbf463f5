"""The model downloader (`arks-model-download`), run for real as a subprocess against a local Hub that serves a
small repository the test makes: files land intact, re-runs are idempotent, and failures say what to change."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from huggingface_hub.utils._http import hf_raise_for_status

from arks_common.conventions import model_path
from arks_model_loader.downloader.failures import Context, Failure, classify, termination_message
from arks_model_loader.downloader.paths import MARKER_NAME, InvalidRepoIdError, model_dir
from support.fake_hub import FakeHub

REPO = "arks-test/tiny-llm"
TOKEN = "hf_right_Token_4f1c9b2e7d"
WRONG_TOKEN = "hf_wrong_Token_0a9e8d7c6b"
DOWNLOADER = Path(sys.executable).parent / "arks-model-download"
RUN_TIMEOUT = 30.0  # seconds for one downloader run; a hang fails the test instead of stalling the suite


def repo_files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "llama", "hidden_size": 64}).encode(),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}}}).encode(),
        "model.safetensors": os.urandom(256 * 1024 + 17),
        "sub/x.txt": "nested file, ünïcode\n".encode(),
    }


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    termination_log: str

    @property
    def everything(self) -> str:
        return self.stdout + self.stderr + self.termination_log


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def download(hub: FakeHub, tmp_path: Path, *args: str, token: str | None = None) -> Run:
    termination_log = tmp_path / "termination-log"
    termination_log.unlink(missing_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),  # nothing of the developer's own Hub set-up leaks in
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    if token is not None:
        env["HF_TOKEN"] = token
    argv = [str(DOWNLOADER), "--models-dir", str(tmp_path / "models"), "--termination-log", str(termination_log)]
    proc = subprocess.run(
        [*argv, "--backoff-seconds", "0.01", *args], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    text = termination_log.read_text(encoding="utf-8") if termination_log.exists() else ""
    return Run(proc.returncode, proc.stdout, proc.stderr, text)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_files_land_intact_under_models_dir_slash_repo_id(hub: FakeHub, tmp_path: Path) -> None:
    files = repo_files()
    repo = hub.add_repo(REPO, files)

    run = download(hub, tmp_path, "--model", REPO)

    assert run.code == 0, run.stderr
    target = tmp_path / "models" / "arks-test" / "tiny-llm"
    for name, data in files.items():
        got = (target / name).read_bytes()
        assert got == data, name
        assert sha256(got) == sha256(data)
    marker = json.loads((target / MARKER_NAME).read_text())
    assert marker == {
        "version": 1,
        "repo_id": REPO,
        "revision": "main",
        "commit": repo.commit,
        "complete": True,
        "files": sorted(files),
    }
    assert run.termination_log == ""
    # The server never offered Xet, and the client never asked for it.
    assert not [r for r in hub.requests if "xet" in r.path.lower()]


def test_a_second_run_finds_the_marker_and_downloads_nothing(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo(REPO, repo_files())
    assert download(hub, tmp_path, "--model", REPO).code == 0
    assert len(hub.file_gets()) == 4
    hub.clear_requests()

    again = download(hub, tmp_path, "--model", REPO)

    assert again.code == 0, again.stderr
    assert hub.file_gets() == []
    assert [r.path for r in hub.requests if r.path.startswith("/api/models/")] == [f"/api/models/{REPO}/revision/main"]
    assert '"already downloaded, skipping"' in again.stderr


def test_an_update_to_a_new_commit_is_never_taken_for_complete_until_it_is(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo(REPO, {**repo_files(), "model-old-shard.safetensors": os.urandom(1000)})
    assert download(hub, tmp_path, "--model", REPO).code == 0
    newer = repo_files()
    hub.add_repo(REPO, newer)
    hub.fail_next(100, 403, path_prefix=f"/{REPO}/resolve/")  # the files of the new commit cannot be fetched

    broken = download(hub, tmp_path, "--model", REPO, "--retries", "0")

    assert broken.code == 1
    assert broken.termination_log.startswith(f"download of model {REPO} is incomplete")
    assert "not of commit" in broken.termination_log
    target = tmp_path / "models" / REPO
    assert json.loads((target / MARKER_NAME).read_text())["complete"] is False
    hub.clear_failures()

    fixed = download(hub, tmp_path, "--model", REPO)

    assert fixed.code == 0, fixed.stderr
    assert json.loads((target / MARKER_NAME).read_text())["complete"] is True
    assert {name: (target / name).read_bytes() for name in newer} == newer
    assert not (target / "model-old-shard.safetensors").exists()  # dropped by the new commit


def test_a_missing_repository_fails_with_a_clear_message(hub: FakeHub, tmp_path: Path) -> None:
    run = download(hub, tmp_path, "--model", "nobody/no-such-model")

    assert run.code == 1
    assert run.termination_log.startswith(
        f"model nobody/no-such-model not found on {hub.url}: check spec.model "
        "(and, for a private model, spec.source.huggingface.tokenSecretRef)"
    )
    assert "RepositoryNotFoundError" in run.termination_log  # the library's own text follows
    assert "no-such-model not found" in run.stderr
    assert not (tmp_path / "models" / "nobody" / "no-such-model" / MARKER_NAME).exists()


def test_a_bad_token_is_refused_clearly_and_never_shown(hub: FakeHub, tmp_path: Path) -> None:
    hub.token = TOKEN
    hub.add_repo(REPO, repo_files(), private=True)

    run = download(hub, tmp_path, "--model", REPO, token=WRONG_TOKEN)

    assert run.code == 1
    assert run.termination_log.startswith(f"access to model {REPO} denied on {hub.url} (HTTP 401): check the token")
    assert "tokenSecretRef" in run.termination_log
    assert WRONG_TOKEN not in run.everything
    assert WRONG_TOKEN.encode() not in all_bytes_under(tmp_path)
    assert all(r.authorization for r in hub.requests if r.path.startswith("/api/models/"))


def test_a_private_repository_without_a_token_points_at_the_token_secret(hub: FakeHub, tmp_path: Path) -> None:
    hub.token = TOKEN
    hub.add_repo(REPO, repo_files(), private=True)

    run = download(hub, tmp_path, "--model", REPO)

    assert run.code == 1
    assert f"model {REPO} not found on {hub.url}" in run.termination_log
    assert "spec.source.huggingface.tokenSecretRef" in run.termination_log


def test_a_private_repository_downloads_with_the_right_token(hub: FakeHub, tmp_path: Path) -> None:
    hub.token = TOKEN
    files = repo_files()
    hub.add_repo(REPO, files, private=True)

    run = download(hub, tmp_path, "--model", REPO, token=TOKEN)

    assert run.code == 0, run.stderr
    target = tmp_path / "models" / REPO
    assert {name: (target / name).read_bytes() for name in files} == files
    assert TOKEN not in run.everything
    assert TOKEN.encode() not in all_bytes_under(tmp_path)  # neither in the volume nor in HF_HOME


def test_a_transient_503_is_retried_and_then_succeeds(hub: FakeHub, tmp_path: Path) -> None:
    files = repo_files()
    hub.add_repo(REPO, files)
    hub.fail_next(1, 503)

    run = download(hub, tmp_path, "--model", REPO)

    assert run.code == 0, run.stderr
    api = [(r.path, r.status) for r in hub.requests if r.path.startswith("/api/models/")]
    assert api[:2] == [(f"/api/models/{REPO}/revision/main", 503), (f"/api/models/{REPO}/revision/main", 200)]
    assert '"transient failure, retrying"' in run.stderr
    assert (tmp_path / "models" / REPO / "model.safetensors").read_bytes() == files["model.safetensors"]


def test_retries_stop_after_the_limit_with_the_servers_error(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo(REPO, repo_files())
    hub.fail_next(100, 503)

    run = download(hub, tmp_path, "--model", REPO, "--retries", "2")

    assert run.code == 1
    assert len([r for r in hub.requests if r.path.startswith("/api/models/")]) == 3
    assert run.termination_log.startswith(f"could not download model {REPO} from {hub.url}: the Hub is unreachable")
    assert "503" in run.termination_log


def test_a_missing_revision_fails_with_a_clear_message(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_repo(REPO, repo_files())

    run = download(hub, tmp_path, "--model", REPO, "--revision", "v9")

    assert run.code == 1
    assert run.termination_log.startswith(f"revision v9 of model {REPO} not found on {hub.url}")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no model at all"),
        pytest.param(["--model", "../../etc"], id="a model id that climbs out of the volume"),
        pytest.param(["--model", REPO, "--retries", "many"], id="retries not a number"),
    ],
)
def test_usage_errors_exit_2_and_say_why(hub: FakeHub, tmp_path: Path, args: list[str]) -> None:
    run = download(hub, tmp_path, *args)

    assert run.code == 2
    assert run.termination_log.startswith("usage error: ")
    assert hub.requests == []


# -- the pure parts: the path convention and the messages ---------------------------------------------------


@pytest.mark.parametrize("repo_id", ["Qwen/Qwen2.5-7B-Instruct-1M", "gpt2", "org/name_with.dots-and_underscores"])
def test_the_downloader_and_the_launch_command_agree_on_the_model_path(repo_id: str) -> None:
    assert str(model_dir("/models", repo_id)) == model_path(repo_id)


@pytest.mark.parametrize("repo_id", ["", "/", "a/b/c", "../x", "a/..", "org/-bad", "a b", "org/na--me"])
def test_ids_that_are_not_hub_repository_ids_are_refused(repo_id: str) -> None:
    with pytest.raises(InvalidRepoIdError):
        model_dir("/models", repo_id)


CTX = Context(REPO, "main", "https://hub.example", "/models/" + REPO, token_given=True, token_secret="hf-token")


def hub_error(status: int, headers: dict[str, str] | None = None) -> Exception:
    """The exception huggingface_hub itself raises for a Hub response (its own hf_raise_for_status)."""
    request = httpx2.Request("GET", f"https://hub.example/api/models/{REPO}/revision/main")
    try:
        hf_raise_for_status(httpx2.Response(status, headers=headers or {}, request=request))
    except Exception as exc:
        return exc
    raise AssertionError("no error raised")


@pytest.mark.parametrize(
    ("error", "summary", "transient"),
    [
        pytest.param(
            hub_error(404, {"X-Error-Code": "RepoNotFound"}),
            f"model {REPO} not found on https://hub.example: check spec.model (and that the token in Secret hf-token",
            False,
            id="a missing repository names spec.model and the token secret",
        ),
        pytest.param(
            hub_error(403, {"X-Error-Code": "GatedRepo"}),
            f"access to model {REPO} denied on https://hub.example: it is a gated model",
            False,
            id="a gated repository asks to accept its terms",
        ),
        pytest.param(
            hub_error(401, {"X-Error-Message": "Invalid credentials in Authorization header"}),
            f"access to model {REPO} denied on https://hub.example (HTTP 401): check the token in Secret hf-token",
            False,
            id="an invalid token points at its secret",
        ),
        pytest.param(
            hub_error(403),
            f"access to model {REPO} denied on https://hub.example (HTTP 403)",
            False,
            id="a forbidden answer is an access problem",
        ),
        pytest.param(
            hub_error(404, {"X-Error-Code": "RevisionNotFound"}),
            f"revision main of model {REPO} not found",
            False,
            id="a missing revision names it",
        ),
        pytest.param(hub_error(503), "could not download", True, id="a 503 is retried"),
        pytest.param(hub_error(429), "could not download", True, id="rate limiting is retried"),
        pytest.param(httpx2.ConnectError("connection refused"), "could not download", True, id="no connection"),
        pytest.param(ValueError("something odd"), f"download of model {REPO} from", False, id="anything else"),
    ],
)
def test_failures_are_told_in_the_users_terms(error: Exception, summary: str, transient: bool) -> None:
    failure = classify(error, CTX)
    assert failure.summary.startswith(summary)
    assert failure.transient is transient
    assert failure.detail.startswith(type(error).__name__)  # the library's own text follows the summary


def test_a_full_disk_says_to_ask_for_more_storage() -> None:
    ctx = CTX
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("while writing model.safetensors") from inner
    except RuntimeError as exc:
        failure = classify(exc, ctx)
    assert failure.summary.startswith(f"no space left on the model volume while downloading model {REPO}")
    assert "spec.storage.pvc.spec.resources.requests.storage" in failure.summary
    assert not failure.transient


def test_a_long_message_keeps_the_summary_and_the_tail_of_the_library_text() -> None:
    detail = "start of a very long library message " + "x" * 10_000 + " the root cause at the end"
    failure = Failure("model m not found", detail, transient=False)

    text = termination_message(failure)

    assert len(text.encode()) <= 4096
    assert text.startswith("model m not found\n…")
    assert text.endswith("the root cause at the end")
