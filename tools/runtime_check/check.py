"""`make runtime-check`: every launch command the planner renders, parsed by the runtime release it targets.

For each enabled runtime of a profile set, this installs the runtime's real package at the release the
profile's `image` tag names (vllm/vllm-openai:v0.33.0 -> vllm==0.33.0) into a throwaway env under
${ARKS_CACHE:-~/.cache/arks}/runtime-check/<runtime>-<version> (kept and reused), renders the user guide's
samples with the planner's own `build_plan` (one node and two nodes; leader and worker), takes every
process each container starts (argv items, or each runtime line of an `sh -c` script, with the
LeaderWorkerSet variables filled in), and hands the argvs to `probe.py`, which parses them with the
runtime's own parser in that env. Exits non-zero when any command is refused or a runtime cannot be
installed.

    uv run python tools/runtime_check/check.py [--set NAME] [--version vllm=0.33.0] [--runtime vllm] [--json]

Versions can also come from ARKS_RUNTIME_CHECK_VERSIONS="vllm=0.33.0,sglang=0.5.23,dynamo=1.6.1".
Not part of `make test`: the first run downloads several GB of wheels (torch and CUDA libraries).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from arks_common.api.application import ArksApplication
from arks_common.api.model import ArksModel
from arks_planner.core.plan import build_plan
from arks_planner.core.profiles import (
    DEFAULT_BACKENDS,
    DEFAULT_PROFILES_SET,
    ProfileError,
    RuntimeProfile,
    RuntimeProfiles,
    load_profiles,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SAMPLES = REPO / "deploy" / "samples"
PROBE = HERE / "probe.py"
OVERRIDES = HERE / "overrides.txt"
PYTHON = "3.11"

LWS_VALUES = {"LWS_LEADER_ADDRESS": "10.0.0.1", "LWS_GROUP_SIZE": "2", "LWS_WORKER_INDEX": "1"}
"""What LeaderWorkerSet injects, for the rendered worker of a two-node group (the leader gets index 0)."""

DISCOVERY_ENV = {"ETCD_ENDPOINTS": "http://etcd.dynamo:2379", "NATS_SERVER": "nats://nats.dynamo:4222"}
"""Dynamo's discovery, which its profile requires in spec.instanceSpec.env (the upstream samples' values)."""


@dataclass(frozen=True)
class Package:
    """How a runtime's release is installed: the requirement for `uv pip install`, `{version}` filled in."""

    requirement: str
    extra_for_image: dict[str, str] = field(default_factory=dict)
    """Dynamo: the package extra its image carries (vllm-runtime -> [vllm], sglang-runtime -> [sglang])."""
    companions: tuple[str, ...] = ()
    """More packages the image carries for the commands (SGLang's PD router, PyPI sglang-router)."""


PACKAGES: dict[str, Package] = {
    "vllm": Package("vllm=={version}"),
    "sglang": Package("sglang=={version}", companions=("sglang-router",)),
    "dynamo": Package(
        "ai-dynamo{extra}=={version}",
        extra_for_image={"vllm-runtime": "[vllm]", "sglang-runtime": "[sglang]", "tensorrtllm-runtime": "[trtllm]"},
    ),
}

STAND_IN_MODEL = {
    # A config.json of the guide's model family (Qwen2) with the attention layout of Qwen2.5-7B (28 query
    # heads, 4 KV heads) and tiny sizes: vLLM builds its engine config from it without any weights.
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 224,
    "intermediate_size": 256,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 1024,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
    "hidden_act": "silu",
}


# --- versions and environments ----------------------------------------------------------------------------


def image_version(image: str) -> str:
    """The release an image tag names: `vllm/vllm-openai:v0.33.0` -> `0.33.0` (a digest or no tag: error)."""
    name = image.split("@", 1)[0]
    if ":" not in name.rsplit("/", 1)[-1]:
        raise ValueError(f"image {image!r} has no tag to take the runtime version from")
    tag = name.rsplit(":", 1)[1]
    match = re.fullmatch(r"v?(\d+(?:\.\d+)*(?:[.-]?(?:post|rc|a|b|dev)\d*)*)(?:-.*)?", tag)
    if match is None:
        raise ValueError(f"image tag {tag!r} of {image!r} is not a release version")
    return match.group(1)


def requirement(runtime: str, version: str, image: str) -> str:
    package = PACKAGES[runtime]
    repository = image.split("@", 1)[0].rsplit(":", 1)[0].rsplit("/", 1)[-1]
    extra = package.extra_for_image.get(repository, "")
    return " ".join([package.requirement.format(version=version, extra=extra), *package.companions])


def cache_root() -> Path:
    return Path(os.environ.get("ARKS_CACHE") or Path.home() / ".cache" / "arks") / "runtime-check"


def find_uv() -> str:
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(cache_root().parent / "uv" / "bin" / "uv")):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("runtime-check: uv not found (run `make deps` first, or set UV)")


@dataclass
class RuntimeEnv:
    runtime: str
    version: str
    requirement: str
    path: Path
    error: str | None = None

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def stamp(self) -> Path:
        return self.path / ".arks-runtime-check"


def ensure_env(runtime: str, version: str, req: str, reinstall: bool) -> RuntimeEnv:
    """The runtime's env, installed once (a stamp names the requirement) and reused after."""
    extra = req.split("==", 1)[0].partition("[")[2].rstrip("]")
    # Dynamo's default image is the vLLM one; another backend's extra gets an env of its own.
    name = f"{runtime}-{version}" + (f"-{extra}" if extra and extra != "vllm" else "")
    env = RuntimeEnv(runtime, version, req, cache_root() / name)
    if not reinstall and env.stamp.exists() and env.stamp.read_text().strip() == req and env.python.exists():
        return env
    uv = find_uv()
    print(f"runtime-check: installing {req} into {env.path} (first run: several GB) ...", flush=True)
    shutil.rmtree(env.path, ignore_errors=True)
    run_env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    steps = [
        [uv, "venv", "--quiet", "--python", f"python{PYTHON}", str(env.path)],
        [uv, "pip", "install", "--python", str(env.python), "--overrides", str(OVERRIDES), *req.split()],
    ]
    for step in steps:
        proc = subprocess.run(step, env=run_env, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
            env.error = " / ".join(line.strip() for line in lines[-4:] if "environment at:" not in line)
            env.error = env.error or f"{step[1]} exited {proc.returncode}"
            return env
    env.stamp.write_text(req + "\n")
    return env


# --- rendering --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str
    """The sample file (and the variant) the application comes from."""
    app: ArksApplication


def _load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(doc, dict)]


def guide_model() -> ArksModel:
    path = SAMPLES / "quickstart" / "model.yaml"
    doc = next(d for d in _load_yaml_docs(path) if d.get("kind") == "ArksModel")
    doc.setdefault("metadata", {}).setdefault("namespace", "default")
    return ArksModel.model_validate(doc)


def sample_backend(doc: dict[str, Any]) -> str | None:
    """The engine backend a sample asks for: Dynamo's `spec.dynamo.backend` (vllm by default), else None."""
    spec = doc.get("spec", {})
    if spec.get("runtime") != "dynamo":
        return None
    return str((spec.get("dynamo") or {}).get("backend") or "vllm")


def guide_samples(runtime: str, backend: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The guide's application samples for `runtime` (and engine backend); a runtime the guide has none for
    (Dynamo) gets the vLLM sample with its runtime switched, plus the discovery environment its profile requires."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(SAMPLES.glob("application-*.yaml")):
        for doc in _load_yaml_docs(path):
            if doc.get("kind") == "ArksApplication":
                docs.append((path.stem, doc))
    own = [
        (name, doc)
        for name, doc in docs
        if doc.get("spec", {}).get("runtime") == runtime and sample_backend(doc) == backend
    ]
    if any("prefill" not in doc["spec"] for _, doc in own):
        return own
    base = [(name, doc) for name, doc in docs if doc.get("spec", {}).get("runtime") == "vllm"]
    derived = []
    for name, doc in base:
        copy = json.loads(json.dumps(doc))
        copy["spec"]["runtime"] = runtime
        copy["metadata"]["name"] = f"{copy['metadata']['name']}-{runtime}"
        env = copy["spec"].setdefault("instanceSpec", {}).setdefault("env", [])
        env.extend({"name": k, "value": v} for k, v in DISCOVERY_ENV.items())
        derived.append((f"{name}[runtime={runtime}]", copy))
    return [*derived, *own]


def variants(runtime: str, backend: str | None = None) -> list[Sample]:
    """Every guide sample for `runtime` (and engine backend) with one and two nodes."""
    samples: list[Sample] = []
    for name, doc in guide_samples(runtime, backend):
        for nodes in (1, 2):
            copy = json.loads(json.dumps(doc))
            copy.setdefault("metadata", {}).setdefault("namespace", "default")
            if "prefill" in copy["spec"]:
                # PD (docs/pd.md): both engine roles at this many nodes, each rank count divisible by it.
                for role in ("prefill", "decode"):
                    part = copy["spec"][role]
                    part.setdefault("instanceSpec", {})["replicas"] = nodes
                    part["tensorParallelSize"] = (part.get("tensorParallelSize") or 1) * nodes
            else:
                copy["spec"].setdefault("instanceSpec", {})["replicas"] = nodes
            label = f"{name} ({nodes} node{'s' if nodes > 1 else ''})"
            samples.append(Sample(label, ArksApplication.model_validate(copy)))
    return samples


def containers(app: ArksApplication, model: ArksModel, profiles: RuntimeProfiles) -> list[tuple[str, dict[str, Any]]]:
    """(pod role, container) of each of the plan's LeaderWorkerSets (one, or router, prefill and decode):
    the leader template, then the worker template; a one-pod group has only the workerTemplate, which LWS
    uses for its leader. A PD role's pods are `<role>/leader`, `<role>/worker`."""
    out: list[tuple[str, dict[str, Any]]] = []
    for lws in build_plan(app, model, profiles).objects:
        if lws.get("kind") != "LeaderWorkerSet":
            continue
        role = lws["metadata"]["labels"].get("arks.ai/role", "serve")
        prefix = "" if role == "serve" else f"{role}/"
        template = lws["spec"]["leaderWorkerTemplate"]
        if "leaderTemplate" in template:
            out += [(f"{prefix}leader", c) for c in template["leaderTemplate"]["spec"]["containers"]]
            out += [(f"{prefix}worker", c) for c in template["workerTemplate"]["spec"]["containers"]]
        else:
            out += [(f"{prefix}leader", c) for c in template["workerTemplate"]["spec"]["containers"]]
    return out


# --- commands out of containers ---------------------------------------------------------------------------

_KUBELET_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_SHELL_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SHELL_OPERATORS = {";", "&", "&&", "||", "|", "(", ")", ";;", "|&"}
_SHELL_PREFIXES = {"exec", "then", "do", "else", "elif", "if", "while", "until", "!", "time", "nohup", "{"}
_REDIRECTS = re.compile(r"^\d*(?:>>?|<|>&|<&|&>>?)$")


@dataclass(frozen=True)
class Command:
    kind: str
    argv: list[str]
    """The runtime's arguments, without the program (`vllm serve`, `python3 -m dynamo.vllm`)."""
    program: str


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion of command and args (unknown names stay as written)."""
    return _KUBELET_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def shell_expand_lws(text: str, env: dict[str, str]) -> str:
    """$VAR / ${VAR} of the LWS variables inside a script (the shell would expand them from the pod env)."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env[name] if name in LWS_VALUES and name in env else match.group(0)

    return _SHELL_VAR.sub(sub, text)


def classify(words: list[str]) -> Command | None:
    """The runtime process a simple command starts, or None when it starts something else."""
    if not words:
        return None
    program = os.path.basename(words[0])
    if program == "vllm" and words[1:2] == ["serve"]:
        return Command("vllm-serve", words[2:], "vllm serve")
    if program == "sglang" and words[1:2] == ["serve"]:
        return Command("sglang", words[2:], "sglang serve")
    if re.fullmatch(r"python(\d+(\.\d+)?)?", program) and len(words) >= 3 and words[1] == "-m":
        module = words[2]
        kinds = {
            "vllm.entrypoints.openai.api_server": "vllm-api-server",
            "vllm.entrypoints.cli.main": "vllm-serve",
            "sglang.launch_server": "sglang",
            "dynamo.vllm": "dynamo-vllm",
            "dynamo.sglang": "dynamo-sglang",
            "dynamo.frontend": "dynamo-frontend",
            "sglang_router.launch_router": "sglang-router",
        }
        if module in kinds:
            rest = words[3:]
            if kinds[module] == "vllm-serve":
                if rest[:1] != ["serve"]:
                    return None
                rest = rest[1:]
            return Command(kinds[module], rest, f"python3 -m {module}")
    return None


def simple_commands(script: str) -> list[list[str]]:
    """The simple commands of a POSIX shell script, as words, with operators, redirections, leading
    keywords and variable assignments removed (enough for the runtimes' launch lines)."""
    joined = re.sub(r"\\\n", " ", script)
    out: list[list[str]] = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:
            continue
        current: list[str] = []
        skip_next = False
        for token in tokens:
            if skip_next:
                skip_next = False
                continue
            if token in _SHELL_OPERATORS:
                out.append(current)
                current = []
                continue
            if _REDIRECTS.match(token) or token in {">", ">>", "<", ">&", "<&"}:
                if current and current[-1].isdigit():
                    current.pop()
                skip_next = True
                continue
            if not current and (token in _SHELL_PREFIXES or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token)):
                continue
            current.append(token)
        out.append(current)
    return [words for words in out if words]


def container_commands(container: dict[str, Any], lws: dict[str, str]) -> tuple[list[Command], list[str]]:
    """The runtime processes a container starts, and the other commands of its script (not checked)."""
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    env_all = {**env, **lws}
    command = [kubelet_expand(item, env_all) for item in container.get("command", [])]
    args = [kubelet_expand(item, env_all) for item in container.get("args", [])]
    argv = command + args
    shell = len(argv) >= 3 and os.path.basename(argv[0]) in {"sh", "bash", "dash"} and argv[1] in {"-c", "-ec", "-xc"}
    if not shell:
        found = classify(argv)
        return ([found], []) if found else ([], [shlex.join(argv)])
    commands: list[Command] = []
    others: list[str] = []
    for words in simple_commands(shell_expand_lws(argv[2], env_all)):
        found = classify(words)
        if found is not None:
            commands.append(found)
        elif words[0] not in {"sleep", "echo", "kill", "exit", "wait", "done", "fi", "true", "false", "}"}:
            others.append(shlex.join(words))
    return commands, others


# --- the check --------------------------------------------------------------------------------------------


@dataclass
class Row:
    runtime: str
    version: str
    sample: str
    role: str
    program: str
    status: str
    detail: str
    argv: list[str] = field(default_factory=list)


def lws_env(role: str, nodes: int) -> dict[str, str]:
    values = dict(LWS_VALUES)
    values["LWS_GROUP_SIZE"] = str(nodes)
    values["LWS_WORKER_INDEX"] = "0" if role.endswith("leader") else LWS_VALUES["LWS_WORKER_INDEX"]
    return values


def parse_versions(items: list[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            runtime, sep, version = part.partition("=")
            if not sep or not version:
                raise SystemExit(f"runtime-check: --version wants RUNTIME=VERSION, got {part!r}")
            versions[runtime.strip()] = version.strip().lstrip("v")
    return versions


def run_probe(env: RuntimeEnv, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    stand_in = env.path / "stand-in-model"
    stand_in.mkdir(exist_ok=True)
    (stand_in / "config.json").write_text(json.dumps(STAND_IN_MODEL, indent=2))
    with tempfile.TemporaryDirectory(prefix="arks-runtime-check-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps(requests))
        log = env.path / "probe.log"
        with log.open("w") as out:
            proc = subprocess.run(
                [str(env.python), str(PROBE), str(request), str(result), "--stand-in-model", str(stand_in)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false"},
                cwd=tmp,
            )
        results: dict[str, dict[str, Any]] = json.loads(result.read_text()) if result.exists() else {}
        if proc.returncode != 0:
            tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
            for r in requests:
                results.setdefault(
                    r["id"], {"status": "error", "reason": f"probe exited {proc.returncode}: " + " / ".join(tail)}
                )
        return results


def check_runtime(
    runtime: str,
    profile: RuntimeProfile,
    profiles: RuntimeProfiles,
    model: ArksModel,
    version: str,
    reinstall: bool,
    dry_run: bool = False,
) -> list[Row]:
    req = requirement(runtime, version, profile.image)
    backend = profile.backend or DEFAULT_BACKENDS.get(runtime)
    label = runtime if backend is None or backend == "vllm" else f"{runtime}[{backend}]"
    rows: list[Row] = []
    requests: list[dict[str, Any]] = []
    for sample in variants(runtime, backend):
        spec = sample.app.spec
        if spec.disaggregated() and profile.disaggregation is None:
            continue  # this profile set serves the runtime aggregated only (precheck refuses its PD samples)
        nodes = (spec.prefill.instance_spec if spec.prefill is not None else spec.instance_spec).replicas
        for role, container in containers(sample.app, model, profiles):
            commands, others = container_commands(container, lws_env(role, nodes))
            container_env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
            for command in commands:
                ident = str(len(rows))
                rows.append(Row(label, version, sample.name, role, command.program, "pending", "", command.argv))
                request: dict[str, Any] = {"id": ident, "kind": command.kind, "argv": command.argv}
                requests.append(request | {"env": container_env, "ports": ports})
            for other in others:
                rows.append(Row(label, version, sample.name, role, other.split()[0], "not a runtime", other))
            if not commands and not others:
                rows.append(Row(label, version, sample.name, role, "-", "no command", "container has no command"))
    if dry_run:
        for row in rows:
            if row.status == "pending":
                row.status, row.detail = "rendered", shlex.join(row.argv)
        return rows
    env = ensure_env(runtime, version, req, reinstall)
    if env.error is not None:
        for row in rows:
            if row.status == "pending":
                row.status, row.detail = "not installable", f"{req}: {env.error}"
        return rows
    results = run_probe(env, requests)
    for request in requests:
        row = rows[int(request["id"])]
        outcome = results.get(str(request["id"]), {"status": "error", "reason": "no result"})
        row.status = str(outcome.get("status", "error"))
        row.detail = " ".join(str(outcome.get("reason") or outcome.get("validation") or "").split())
    return rows


def cross_check_sglang_engine_flags(
    rows: list[Row], profiles: RuntimeProfiles, versions: dict[str, str], reinstall: bool
) -> list[Row]:
    """dynamo.sglang hands every flag it does not know to SGLang's ServerArgs parser, and the image carries the
    SGLang ai-dynamo pins (0.5.21 for 1.6.1). The same engine flags are parsed again, resolved and checked by
    the SGLang release of the `sglang` profile (python -m sglang.launch_server's parser), so a newer SGLang in
    a custom image is known to take them too."""
    engine_rows = [r for r in rows if r.program == "python3 -m dynamo.sglang" and r.status == "accepted"]
    sglang = profiles.profile_for("sglang")
    if not engine_rows or sglang is None:
        return []
    version = versions.get("sglang") or image_version(sglang.image)
    env = ensure_env("sglang", version, requirement("sglang", version, sglang.image), reinstall)
    label, program = f"{engine_rows[0].runtime}->sglang", "sglang ServerArgs (engine flags)"
    out = [Row(label, version, r.sample, r.role, program, "pending", "", r.argv) for r in engine_rows]
    if env.error is not None:
        for row in out:
            row.status, row.detail = "not installable", env.error
        return out
    requests = [{"id": str(i), "kind": "sglang", "argv": row.argv, "env": {}} for i, row in enumerate(out)]
    results = run_probe(env, requests)
    for i, row in enumerate(out):
        outcome = results.get(str(i), {"status": "error", "reason": "no result"})
        row.status = str(outcome.get("status", "error"))
        row.detail = " ".join(str(outcome.get("reason") or outcome.get("validation") or "").split())
    return out


FAILING = {"refused", "not installable", "error"}


def print_table(rows: list[Row], verbose: bool) -> None:
    headers = ["runtime", "version", "sample", "role", "process", "result"]
    table = []
    for row in rows:
        terse = not row.detail or (row.status in {"accepted", "rendered"} and not verbose)
        result = row.status if terse else f"{row.status}: {row.detail}"
        table.append([row.runtime, row.version, row.sample, row.role, row.program, result])
    widths = [max(len(h), *(len(r[i]) for r in table)) if table else len(h) for i, h in enumerate(headers[:-1])]
    line = "  ".join(h.ljust(w) for h, w in zip(headers[:-1], widths, strict=True)) + "  " + headers[-1]
    print(line)
    print("-" * min(len(line) + 40, 160))
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
        if verbose:
            argv = next(x.argv for x in rows if [x.runtime, x.version, x.sample, x.role, x.program] == r[:-1])
            if argv:
                print(" " * 4 + "argv: " + shlex.join(argv))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runtime-check", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--set",
        default=os.environ.get("ARKS_RUNTIME_PROFILES_SET", DEFAULT_PROFILES_SET),
        help="the shipped profile set to render (default: %(default)s)",
    )
    parser.add_argument("--profiles-override", type=Path, help="an installation's profile override YAML to merge")
    parser.add_argument(
        "--version",
        action="append",
        default=[],
        metavar="RUNTIME=VERSION",
        help="check RUNTIME at VERSION instead of its image tag's (repeatable or comma-separated)",
    )
    parser.add_argument("--runtime", action="append", default=[], help="only these runtimes (repeatable)")
    parser.add_argument("--reinstall", action="store_true", help="reinstall the runtimes' envs")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--dry-run", action="store_true", help="render and extract the commands; install nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every argv and every validation note")
    options = parser.parse_args(argv)

    override = options.profiles_override.read_text(encoding="utf-8") if options.profiles_override else None
    try:
        profiles = load_profiles(override, options.set)
    except ProfileError as exc:
        print(f"runtime-check: {exc}", file=sys.stderr)
        return 2
    versions = parse_versions([os.environ.get("ARKS_RUNTIME_CHECK_VERSIONS", ""), *options.version])
    model = guide_model()
    rows: list[Row] = []
    # every runtime's profile, then each of its other engine backends (Dynamo's SGLang backend)
    checked_profiles = [(r, p) for r, base in profiles.runtimes.items() for p in (base, *base.backends.values())]
    for runtime, profile in checked_profiles:
        if not profile.enabled or (options.runtime and runtime not in options.runtime):
            continue
        if runtime not in PACKAGES:
            rows.append(Row(runtime, "?", "-", "-", "-", "error", f"no package known for runtime {runtime}"))
            continue
        try:
            version = versions.get(runtime) or image_version(profile.image)
        except ValueError as exc:
            rows.append(Row(runtime, "?", "-", "-", "-", "error", f"{exc}; give --version {runtime}=VERSION"))
            continue
        declared = getattr(profile, "version", None)
        if runtime not in versions and declared and declared.lstrip("v") != version:
            print(
                f"runtime-check: warning: {runtime} profile says version {declared} but its image {profile.image} "
                f"names {version}; checking {version}",
                file=sys.stderr,
            )
        rows.extend(check_runtime(runtime, profile, profiles, model, version, options.reinstall, options.dry_run))
    if not options.dry_run:
        rows.extend(cross_check_sglang_engine_flags(rows, profiles, versions, options.reinstall))

    if options.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
    else:
        print(
            f"\nprofile set {options.set!r}; LWS: leader {LWS_VALUES['LWS_LEADER_ADDRESS']}, worker index "
            f"{LWS_VALUES['LWS_WORKER_INDEX']}\n"
        )
        print_table(rows, options.verbose)
    if options.dry_run:
        print(f"\nruntime-check: {sum(row.status == 'rendered' for row in rows)} runtime commands rendered (dry run)")
        return 0
    failed = [row for row in rows if row.status in FAILING]
    checked = [row for row in rows if row.status not in {"not a runtime", "no command"}]
    print(
        f"\nruntime-check: {len(checked) - len(failed)} of {len(checked)} runtime commands accepted"
        + (f", {len(failed)} not" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
