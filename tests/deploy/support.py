"""Readers for the deployment files (Dockerfile, .dockerignore, kustomize) and the
settings `llmtriage serve` would end up with in the container they describe.

No Docker or kubectl here: the Dockerfile and the kustomization are parsed by hand, with
only the features these files use; anything else makes the readers fail loudly, so a
new feature cannot slip past the tests unread.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmtriage.server import settings as settings_module
from llmtriage.server.settings import ServeSettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
KUBERNETES = ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
SECRET_EXAMPLE = KUBERNETES / "secret.example.yaml"


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the logical line, continuations joined
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs in order (later wins); `$VAR` references left as written."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, sep, value = token.partition("=")
                assert sep, f"line {instruction.line}: ENV without '=' ({token!r})"
                values[key] = value
        return values


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    """The Dockerfile's stages (global ARGs before the first FROM are dropped)."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    assert not buffer, "the Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, args = text.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), number)
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--")]  # --platform=...
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif stages:
            stages[-1].instructions.append(instruction)
        else:
            assert instruction.keyword == "ARG", f"line {number}: {keyword} before FROM"
    return stages


def exec_form(instruction: Instruction) -> list[str]:
    """A JSON-array (exec form) argument list; shell form is refused."""
    value = json.loads(instruction.args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), instruction
    return value


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """COPY's --flags, sources and destination."""
    words = shlex.split(instruction.args)
    flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


# --- .dockerignore --------------------------------------------------------------------------


def dockerignore_patterns(path: Path = DOCKERIGNORE) -> list[tuple[bool, str]]:
    """(is_exception, pattern) in file order, cleaned as Docker cleans them."""
    patterns = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        patterns.append((exception, pattern))
    return patterns


def _component(glob: str) -> str:
    """One path component's glob (`*`, `?`, `[...]`) as a regex that stays inside it."""
    out, i = "", 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            body = glob[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return out


def _regex(pattern: str) -> re.Pattern[str]:
    """Docker's matching: Go filepath.Match per component, `**` for any number of them."""
    parts = pattern.split("/")
    pieces = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            pieces.append(".*" if last else "(?:.*/)?")
        else:
            pieces.append(_component(part) + ("" if last else "/"))
    return re.compile("".join(pieces))


def excluded(path: str, patterns: Sequence[tuple[bool, str]]) -> bool:
    """Whether `path` (relative, '/'-separated) stays out of the build context: the last
    pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for exception, pattern in patterns:
        if any(_regex(pattern).fullmatch(c) for c in candidates):
            result = not exception
    return result


# --- kustomize ------------------------------------------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "images"}  # all this reader applies


def kustomize(directory: Path = BASE) -> list[dict[str, Any]]:
    """The objects `kubectl apply -k directory` would send, for a kustomization that only
    lists `resources` (files, or folders with their own kustomization.yaml)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    assert not unknown, f"{directory}: this reader does not apply {sorted(unknown)}"
    assert kustomization["kind"] == "Kustomization"
    objects: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        target = (directory / entry).resolve()
        if target.is_dir():
            objects += kustomize(target)
        else:
            objects += [doc for doc in yaml.safe_load_all(target.read_text()) if doc]
    for image in kustomization.get("images", []):  # `kustomize edit set image`
        _set_image(objects, image)
    return objects


def _set_image(objects: list[dict[str, Any]], image: Mapping[str, str]) -> None:
    assert set(image) <= {"name", "newName", "newTag", "digest"}, image
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, _, tag = container["image"].rpartition(":")
            if not name or "/" in tag:  # no tag (a registry port is not one)
                name, tag = container["image"], ""
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            else:
                container["image"] = f"{name}:{image.get('newTag', tag)}"


def one(objects: Sequence[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels, or the Service's plain map) against labels."""
    assert set(selector) <= {"matchLabels"} or "matchLabels" not in selector, selector
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


# --- settings -------------------------------------------------------------------------------


def settings_env_names() -> set[str]:
    """Every environment variable the service's settings read: one per ServeSettings field
    (env_prefix + name; pydantic-settings matches case-insensitively) plus the
    settings-file variable."""
    prefix = ServeSettings.model_config.get("env_prefix", "")
    assert not ServeSettings.model_config.get("case_sensitive", False)
    names = set()
    for name, info in ServeSettings.model_fields.items():
        assert info.validation_alias is None and info.alias is None, name  # not handled here
        names.add(f"{prefix}{name}".upper())
    return names | {settings_module.CONFIG_ENV.upper()}


class _Captured(Exception):
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.upper().startswith("LLMTRIAGE_")]:
            del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def serve_settings(argv: Sequence[str], env: Mapping[str, str]) -> ServeSettings:
    """The settings `llmtriage <argv>` resolves under `env`: the real CLI parser and the
    real `serve` handler, stopped right after its `load_settings` call."""
    from llmtriage import cli
    from llmtriage.server import cli as server_cli

    assert argv and Path(argv[0]).name == "llmtriage", argv
    real = server_cli.load_settings

    def capture(**kwargs: Any) -> ServeSettings:
        raise _Captured(real(**kwargs))

    with _environment(env):
        args = cli.build_parser().parse_args(list(argv[1:]))
        assert args.handler is server_cli.serve, f"{argv} does not run `llmtriage serve`"
        server_cli.load_settings = capture
        try:
            args.handler(args)
        except _Captured as done:
            return done.settings
        finally:
            server_cli.load_settings = real
    raise AssertionError("serve() returned without loading its settings")
