"""The serving image's Dockerfile: hadolint-clean, and consistent with the application
it packages (its settings, its CLI, its readiness route, its dependency extras)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from llmtriage.server.app import create_app
from llmtriage.server.settings import ServeSettings
from tests.deploy.support import (
    DOCKERFILE,
    ROOT,
    Stage,
    copy_parts,
    dockerignore_patterns,
    excluded,
    exec_form,
    parse_dockerfile,
    serve_settings,
    settings_env_names,
)
from tests.server.loopback import Loopback

# What the serving image must never contain (README: the server never imports them).
HEAVY = {"torch", "scikit-learn", "scipy", "sentence-transformers", "transformers", "pandas"}


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint not found: pip install -c constraints.txt -e '.[dev]'")
    return found


def _lint(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (not findings), result.stderr
    return findings


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile()


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_hadolint_finds_nothing() -> None:
    findings = _lint(DOCKERFILE)
    assert findings == [], "\n".join(
        f"line {f['line']} {f['code']}: {f['message']}" for f in findings
    )


def test_hadolint_run_reports_what_it_finds(tmp_path: Path) -> None:
    """The lint above would fail: the same invocation flags a flawed Dockerfile."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\n")
    codes = {f["code"] for f in _lint(bad)}
    assert {"DL3007", "DL3013"} <= codes


def test_multi_stage_and_the_runtime_user_is_not_root(stages: list[Stage], runtime: Stage) -> None:
    assert len(stages) >= 2
    users = runtime.all("USER")
    assert users, "the final stage sets no USER: the service would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    assert users[-1].line > max(i.line for i in runtime.all("RUN")), "RUN after USER"
    created = re.findall(r"useradd\b.*?--uid (\d+)", " ".join(r.args for r in runtime.all("RUN")))
    assert user in created, f"USER {user} is not the user the final stage creates ({created})"


def test_runtime_stage_installs_only_the_serve_extra(stages: list[Stage], runtime: Stage) -> None:
    # Nothing is installed in the runtime stage: it copies the builder's venv.
    assert not any(re.search(r"\bpip\b|apt-get|uv ", r.args) for r in runtime.all("RUN"))
    venv_copies = [copy_parts(c) for c in runtime.all("COPY") if "--from" in c.args]
    builders = {flags["from"] for flags, _, _ in venv_copies}
    builder = next(s for s in stages if s.name in builders)
    installs = [r.args for r in builder.all("RUN") if re.search(r"\bpip install\b", r.args)]
    assert len(installs) == 1, installs
    assert re.search(r"(-c|--constraint) constraints.txt", installs[0])
    extras = re.findall(r"""["']?\.\[([^\]]*)\]""", installs[0])
    assert extras and {e.strip() for e in extras[0].split(",")} == {"serve"}, installs[0]
    assert not re.search(r"\btrain\b|\btorch\b", installs[0]), installs[0]


def test_serve_extra_pulls_in_no_training_dependency() -> None:
    """Walk the installed metadata from llmtriage[serve] (requirements as pyproject.toml
    states them): none of the heavy training libraries is reachable."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"]]
    pending += [Requirement(r) for r in project["optional-dependencies"]["serve"]]
    seen: dict[str, str] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen[name] = str(requirement)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (a platform-specific dependency)
        for text in requires:
            dependency = Requirement(text)
            extras = requirement.extras or {""}
            if dependency.marker is None or any(
                dependency.marker.evaluate({"extra": extra}) for extra in extras
            ):
                pending.append(dependency)
    assert "fastapi" in seen and "uvicorn" in seen  # the walk did reach the serve extra
    train = {
        canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["train"]
    }
    assert "torch" in train  # HEAVY is about what the train extra brings
    assert not {canonicalize_name(h) for h in HEAVY} & set(seen), sorted(seen)


def test_image_settings_are_settings_the_service_reads(runtime: Stage) -> None:
    env = runtime.env()
    names = {n for n in env if n.startswith("LLMTRIAGE_")}
    assert names and names <= settings_env_names(), names - settings_env_names()


def test_image_command_serves_on_the_exposed_port_with_the_documented_model(
    runtime: Stage,
) -> None:
    env = {k: v for k, v in runtime.env().items() if k.startswith("LLMTRIAGE_")}
    argv = exec_form(runtime.all("ENTRYPOINT")[-1]) + exec_form(runtime.all("CMD")[-1])
    settings = serve_settings(argv, env)
    exposed = {int(p.split("/")[0]) for e in runtime.all("EXPOSE") for p in e.args.split()}
    assert exposed == {settings.port}
    assert settings.host == "0.0.0.0"  # 127.0.0.1 would be unreachable from outside
    # The artifact `make train` writes (the settings' default, models/default) is what the
    # runtime copies to the folder the image's LLMTRIAGE_MODEL names.
    default = ServeSettings.model_fields["model"].default
    model_copies = [copy_parts(c) for c in runtime.all("COPY")]
    destinations = [Path(dest) for _, _, dest in model_copies if "models" in dest]
    assert len(destinations) == 1, model_copies
    assert settings.model == destinations[0] / default.relative_to("models")
    readme = (ROOT / "README.md").read_text()
    assert str(settings.model) in readme, "README does not document the artifact path"


def _healthcheck(runtime: Stage) -> list[str]:
    (instruction,) = runtime.all("HEALTHCHECK")
    _, _, command = instruction.args.partition("CMD ")
    assert command, "HEALTHCHECK without CMD"
    argv = json.loads(command)
    assert argv[0] == "python"  # the image has python; curl and wget it may not have
    return [sys.executable, *argv[1:]]


def _run(argv: list[str], port: int) -> int:
    env = {**os.environ, "LLMTRIAGE_PORT": str(port)}
    return subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False).returncode


def test_healthcheck_passes_when_ready_and_fails_when_not(
    runtime: Stage, tiny_artifact: Path, tmp_path: Path
) -> None:
    """The image's HEALTHCHECK command against the real app: 0 once the artifact is loaded,
    non-zero while the app is up but not ready (its liveness route still answers 200)."""
    argv = _healthcheck(runtime)
    ready = ServeSettings(model=tiny_artifact)
    with Loopback(create_app(ready), ready) as server:
        assert _run(argv, server.port) == 0
    missing = ServeSettings(model=tmp_path / "absent")
    with Loopback(create_app(missing), missing) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert _run(argv, server.port) != 0
    # Nothing listening: fails too.
    assert _run(argv, server.port) != 0


def test_build_context_holds_what_the_build_copies_and_nothing_else() -> None:
    patterns = dockerignore_patterns()
    sources: set[str] = set()
    for stage in parse_dockerfile():
        for copy in stage.all("COPY"):
            flags, paths, _ = copy_parts(copy)
            if "from" not in flags:
                sources.update(paths)
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the repository"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        kept = [f for f in files if not excluded(f.relative_to(ROOT).as_posix(), patterns)]
        assert kept, f"COPY {source}: .dockerignore leaves nothing of it"
        if source != "models":  # models/: only the artifact (checked below)
            code = [f for f in files if f.suffix in {".py", ".yaml", ".toml", ".txt", ".md"}]
            assert set(code) <= set(kept), f"COPY {source}: .dockerignore drops sources"
    # Every other top-level entry (data/, .venv/, .git/, tests/, notebooks/...) stays out.
    copied_roots = {Path(s).parts[0] for s in sources}
    for entry in ROOT.iterdir():
        if entry.name not in copied_roots and entry.name != "Dockerfile":
            probe = f"{entry.name}/x" if entry.is_dir() else entry.name
            assert excluded(probe, patterns), f"{entry.name} would be sent to the build"
    # Of models/, only the artifact the image serves (not embedders, caches or eval/).
    assert not excluded("models/default/manifest.json", patterns)
    assert excluded("models/embedders/minilm-l6-m2v-256/model.safetensors", patterns)
    assert excluded("models/default/eval/report.md", patterns)
    assert excluded("src/llmtriage/__pycache__/cli.cpython-311.pyc", patterns)
