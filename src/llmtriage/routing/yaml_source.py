"""YAML with line numbers: errors in a config file point at `file:line field.path`.

The file is composed once into a node tree (which keeps each key's position)
and constructed from that tree, so a pydantic error `loc` can be walked back to
the line that holds the offending key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmtriage.errors import ConfigError

Loc = Sequence[int | str]


@dataclass(frozen=True)
class Issue:
    loc: tuple[int | str, ...]
    message: str


@dataclass(frozen=True)
class YamlSource:
    path: str
    root: yaml.Node | None

    @classmethod
    def read(cls, path: Path) -> tuple[YamlSource, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read routing config {path}: {exc.strerror}") from exc
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, name: str) -> tuple[YamlSource, Any]:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"{name}:{mark.line + 1}" if mark is not None else name
            raise ConfigError(f"{where}: not valid YAML: {exc.problem}") from exc
        finally:
            loader.dispose()
        return cls(name, root), data

    def locate(self, loc: Loc) -> tuple[int | None, str]:
        """Line of the deepest key `loc` reaches, and `loc` as a readable path.

        Path parts that name no key (pydantic's discriminated-union tags) are
        dropped unless they are the last part (a missing field)."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        shown: list[int | str] = []
        for position, part in enumerate(loc):
            last = position == len(loc) - 1
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                match = next(((k, v) for k, v in node.value if k.value == part), None)
                if match is None:
                    if last:
                        shown.append(part)
                    continue
                line, node = match[0].start_mark.line + 1, match[1]
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and part < len(node.value)
            ):
                node = node.value[part]
                line = node.start_mark.line + 1
            shown.append(part)
        return line, format_loc(shown)

    def where(self, loc: Loc) -> str:
        line, path = self.locate(loc)
        place = f"{self.path}:{line}" if line is not None else self.path
        return f"{place} {path}" if path else place

    def error_at(self, loc: Loc, message: str) -> ConfigError:
        return self.error([Issue(tuple(loc), message)])

    def error(self, issues: Iterable[Issue]) -> ConfigError:
        lines = [f"  {self.where(issue.loc)}: {issue.message}" for issue in issues]
        return ConfigError(f"invalid routing config {self.path}:\n" + "\n".join(lines))


def format_loc(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
