"""Download one hub repository revision into its model directory, idempotently, retrying transient failures.

Talks to the Hub through huggingface_hub only; must not parse arguments or write the termination log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from huggingface_hub import HfApi, get_cached_repo_tree, snapshot_download
from huggingface_hub._local_folder import read_download_metadata  # the per-file record of local_dir downloads
from huggingface_hub.errors import CachedRepoTreeNotFoundError

from arks_model_loader.downloader.failures import Context, Failure, IncompleteDownloadError, classify
from arks_model_loader.downloader.log import event
from arks_model_loader.downloader.marker import Marker, read_marker, write_marker
from arks_model_loader.downloader.paths import model_dir

log = logging.getLogger("arks.downloader")

MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class Request:
    repo_id: str
    revision: str
    models_dir: Path
    endpoint: str
    token: str | None  # from HF_TOKEN; passed to huggingface_hub in memory only
    retries: int  # extra attempts after the first, for transient failures only
    backoff_seconds: float  # first wait; doubles each retry
    token_secret: str | None = None  # the Secret's name, for messages

    @property
    def directory(self) -> Path:
        return model_dir(self.models_dir, self.repo_id)

    @property
    def context(self) -> Context:
        return Context(
            repo_id=self.repo_id,
            revision=self.revision,
            endpoint=self.endpoint,
            directory=str(self.directory),
            token_given=self.token is not None,
            token_secret=self.token_secret,
        )


@dataclass(frozen=True)
class Outcome:
    directory: Path
    commit: str
    files: tuple[str, ...]
    skipped: bool  # the marker showed this commit was already downloaded


class DownloadFailedError(Exception):
    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(failure.summary)
        self.failure = failure
        self.attempts = attempts


def download(request: Request, sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Download with retries; raises DownloadFailedError carrying the user-facing failure."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return _attempt(request)
        except Exception as exc:
            failure = classify(exc, request.context)
            if not failure.transient or attempt > request.retries:
                raise DownloadFailedError(failure, attempt) from exc
            delay = min(request.backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
            event(
                log,
                "transient failure, retrying",
                logging.WARNING,
                model=request.repo_id,
                attempt=attempt,
                retry_in_seconds=delay,
                error=failure.detail,
            )
            sleep(delay)


def _attempt(request: Request) -> Outcome:
    directory = request.directory
    # False, not None: with no token of ours, huggingface_hub must not pick up one from a file in the image.
    token: str | bool = request.token or False
    api = HfApi(endpoint=request.endpoint, token=token)

    # Resolve the revision first: it tells a finished download from a stale one, and unlike snapshot_download it
    # raises on an unreachable Hub instead of quietly returning whatever is already on disk.
    commit = api.model_info(request.repo_id, revision=request.revision).sha
    if not commit:
        raise IncompleteDownloadError(f"the Hub returned no commit for revision {request.revision}")

    marker = read_marker(directory)
    if (
        marker is not None
        and marker.matches(request.repo_id, request.revision, commit)
        and not marker.missing_files(directory)
    ):
        event(log, "already downloaded, skipping", model=request.repo_id, commit=commit, dir=str(directory))
        return Outcome(directory, commit, marker.files, skipped=True)
    previous = marker.files if marker is not None else ()
    if marker is not None and marker.complete:
        # Before changing the directory: a partial new download must never look complete, even after a crash.
        write_marker(directory, replace(marker, complete=False))

    event(log, "downloading", model=request.repo_id, revision=request.revision, commit=commit, dir=str(directory))
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    # Keep huggingface_hub's own cache inside the model directory: the pod needs no writable home, and nothing
    # is left outside the volume.
    cache_dir = directory / ".cache" / "huggingface" / "hub"
    snapshot_download(
        request.repo_id,
        revision=commit,
        local_dir=directory,
        cache_dir=cache_dir,
        token=token,
        endpoint=request.endpoint,
    )
    try:
        tree = get_cached_repo_tree(request.repo_id, revision=commit, local_dir=directory, cache_dir=cache_dir)
    except CachedRepoTreeNotFoundError as exc:
        # snapshot_download fell back to the files on disk without listing the commit: we cannot vouch for them.
        raise IncompleteDownloadError(f"no file listing of commit {commit} after download") from exc
    files = tuple(sorted(f.path for f in tree))
    _check_complete(directory, commit, {f.path: f.size for f in tree})
    done = Marker(repo_id=request.repo_id, revision=request.revision, commit=commit, files=files)
    stale = _remove_stale(directory, previous, files)
    write_marker(directory, done)
    event(
        log,
        "downloaded",
        model=request.repo_id,
        commit=commit,
        files=len(files),
        removed_stale=stale,
        seconds=round(time.monotonic() - started, 3),
        dir=str(directory),
    )
    return Outcome(directory, commit, files, skipped=False)


def _check_complete(directory: Path, commit: str, sizes: dict[str, int]) -> None:
    """Every file of the commit is on disk, with its size, and was fetched or checked against this commit.

    snapshot_download keeps an existing local file when it cannot ask the Hub about it (a 403, a lost connection),
    so after an update a file may still be the previous commit's: its per-file download record says which.
    """
    wrong: list[str] = []
    for name, size in sorted(sizes.items()):
        path = directory / name
        record = read_download_metadata(directory, name)
        if not path.is_file() or path.stat().st_size != size or record is None or record.commit_hash != commit:
            wrong.append(name)
    if wrong:
        raise IncompleteDownloadError(
            f"{len(wrong)} of {len(sizes)} file(s) missing or not of commit {commit} after download, e.g. {wrong[0]};"
            " the Hub did not serve them (see the warnings above)"
        )


def _remove_stale(directory: Path, previous: tuple[str, ...], current: tuple[str, ...]) -> int:
    """Delete the files of the previously downloaded commit that the new commit no longer has: a runtime that
    globs `*.safetensors` would otherwise load an old shard with the new ones. Only files the old marker listed
    are touched, so nothing we did not download ourselves (another repository nested below) is ever removed."""
    removed = 0
    for name in sorted(set(previous) - set(current)):
        path = directory / name
        if path.is_file():
            path.unlink()
            removed += 1
    return removed
