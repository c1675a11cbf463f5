"""A small Hugging Face Hub on a loopback port: just the HTTP API huggingface_hub's snapshot_download uses.

It serves repositories the test builds in memory, checks tokens, can fail the next requests with a status, and
records every request. It never offers Xet storage (no `X-Xet-*` headers, no `xetHash`), so clients take the
plain HTTP download path. Not a mock of any client: any Hub client must be able to talk to it.

Endpoints (as huggingface_hub 2.x calls them):
- `GET /api/models/{repo}/revision/{rev}`: repo info, with `sha` (the resolved commit) and `siblings`;
- `GET /api/models/{repo}/tree/{rev}?recursive=…`: the file listing (one page, no `Link` header);
- `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: file metadata (`X-Repo-Commit`, `ETag`, `Content-Length`, and
  `X-Linked-Etag`/`X-Linked-Size` for LFS files) and content.
Anything else (huggingface_hub also asks for `/api/agent-harnesses`, a best-effort registry) gets a 404.
Errors carry the Hub's `X-Error-Code`/`X-Error-Message` headers, which huggingface_hub turns into its own errors.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_API = re.compile(r"^/api/models/(?P<repo>.+?)/(?P<kind>revision|tree)/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
_RESOLVE = re.compile(r"^/(?P<repo>.+?)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    private: bool = False
    commit: str = field(default_factory=lambda: secrets.token_hex(20))

    def is_lfs(self, path: str) -> bool:
        return path.endswith(_LFS_SUFFIXES)

    def resolve(self, revision: str) -> str | None:
        return self.commit if revision in ("main", self.commit) else None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query
    status: int
    authorization: bool  # whether an Authorization header came (never its value)


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.token: str | None = None  # the one valid token; private repos need it
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: list[tuple[int, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ----------------------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: Mapping[str, bytes], private: bool = False) -> HubRepo:
        repo = HubRepo(repo_id, dict(files), private=private)
        self.repos[repo_id] = repo
        return repo

    def fail_next(self, count: int, status: int = 503, path_prefix: str = "/api/models/") -> None:
        """Answer the next `count` requests whose path starts with `path_prefix` with `status`."""
        with self._lock:
            self._failures.extend([(status, path_prefix)] * count)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    # -- observation -----------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def file_gets(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path]

    # -- life cycle ------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "hub not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        hub = self

        class Handler(_Handler):
            fake_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval, so stop() (which waits for the serving loop to notice) takes milliseconds.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-hub", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    # -- used by the handler ---------------------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_failure(self, path: str) -> int | None:
        with self._lock:
            if self._failures and path.startswith(self._failures[0][1]):
                return self._failures.pop(0)[0]
            return None


class _Error(Exception):
    def __init__(self, status: int, code: str | None = None, message: str | None = None) -> None:
        super().__init__(message or code or str(status))
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    fake_hub: FakeHub
    server_version = "FakeHub/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # the request log is the record; keep output quiet
        pass

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        url = urlsplit(self.path)
        status = HTTPStatus.OK
        try:
            failure = self.fake_hub._take_failure(url.path)
            if failure is not None:
                raise _Error(failure, message="injected failure")
            status, headers, content = self._route(url.path, parse_qs(url.query))
        except _Error as err:
            status = HTTPStatus(err.status)
            headers = {"Content-Type": "application/json"}
            if err.code:
                headers["X-Error-Code"] = err.code
            if err.message:
                headers["X-Error-Message"] = err.message
            content = json.dumps({"error": err.message or status.phrase}).encode()
        self.fake_hub._record(
            RecordedRequest(self.command, unquote(url.path), int(status), "Authorization" in self.headers)
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.wfile.write(content)

    def _route(self, path: str, query: dict[str, list[str]]) -> tuple[HTTPStatus, dict[str, str], bytes]:
        if m := _API.match(path):
            repo, commit = self._repo_and_commit(unquote(m["repo"]), unquote(m["rev"]))
            if m["kind"] == "revision":
                return self._json(self._info(repo, commit))
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._json(self._tree(repo, unquote(m["path"] or ""), recursive))
        if m := _RESOLVE.match(path):
            repo, commit = self._repo_and_commit(unquote(m["repo"]), unquote(m["rev"]))
            return self._file(repo, commit, unquote(m["path"]))
        raise _Error(404, message=f"no route for {path}")

    def _repo_and_commit(self, repo_id: str, revision: str) -> tuple[HubRepo, str]:
        hub = self.fake_hub
        auth = self.headers.get("Authorization")
        # The real Hub refuses a wrong token even on a public repo, and hides a private repo from the anonymous.
        if auth is not None and auth != f"Bearer {hub.token}":
            raise _Error(401, message="Invalid credentials in Authorization header")
        repo = hub.repos.get(repo_id)
        if repo is None or (repo.private and auth is None):
            status = 401 if repo is not None else 404
            raise _Error(status, code="RepoNotFound", message="Repository not found")
        commit = repo.resolve(revision)
        if commit is None:
            raise _Error(404, code="RevisionNotFound", message="Invalid rev id: " + revision)
        return repo, commit

    @staticmethod
    def _json(data: object) -> tuple[HTTPStatus, dict[str, str], bytes]:
        return HTTPStatus.OK, {"Content-Type": "application/json"}, json.dumps(data).encode()

    @staticmethod
    def _info(repo: HubRepo, commit: str) -> dict[str, object]:
        return {
            "_id": repo.commit[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "private": repo.private,
            "sha": commit,
            "siblings": [{"rfilename": p} for p in sorted(repo.files)],
        }

    @staticmethod
    def _tree(repo: HubRepo, under: str, recursive: bool) -> list[dict[str, object]]:
        prefix = f"{under.strip('/')}/" if under.strip("/") else ""
        entries: dict[str, dict[str, object]] = {}
        for path, data in sorted(repo.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :].split("/")
            for depth in range(1, len(rest)):  # the directories on the way
                directory = prefix + "/".join(rest[:depth])
                entries.setdefault(directory, {"type": "directory", "oid": "0" * 40, "size": 0, "path": directory})
                if not recursive:
                    break
            if len(rest) > 1 and not recursive:
                continue
            entry: dict[str, object] = {"type": "file", "oid": _git_blob_sha1(data), "size": len(data), "path": path}
            if repo.is_lfs(path):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries[path] = entry
        return list(entries.values())

    @staticmethod
    def _file(repo: HubRepo, commit: str, path: str) -> tuple[HTTPStatus, dict[str, str], bytes]:
        data = repo.files.get(path)
        if data is None:
            raise _Error(404, code="EntryNotFound", message=f"{path} does not exist on {commit}")
        headers = {"Content-Type": "application/octet-stream", "X-Repo-Commit": commit, "Accept-Ranges": "none"}
        if repo.is_lfs(path):
            # The Hub names an LFS file by its sha256 (in X-Linked-Etag); a git file by its blob sha1 (in ETag).
            sha256 = hashlib.sha256(data).hexdigest()
            headers |= {"ETag": f'"{sha256}"', "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data))}
        else:
            headers["ETag"] = f'"{_git_blob_sha1(data)}"'
        return HTTPStatus.OK, headers, data
