"""YAML loading that remembers where each value came from, so errors can name file and line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError, ConfigProblem


@dataclass
class LocatedYaml:
    """A parsed YAML document plus its node tree, to map a field path back to a line."""

    path: Path
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node along ``loc`` that exists in the document."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for key in loc:
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if getattr(k, "value", None) == str(key)), None)
                if match is None:
                    break
                node = match
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
            else:
                break
            line = node.start_mark.line + 1
        return line


def load_located(path: Path) -> LocatedYaml:
    """Parse ``path`` (one YAML document) or raise ``ConfigError`` naming the line of the fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read file: {exc.strerror}")]) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigProblem(str(path), "", f"invalid YAML: {problem}", line)]) from exc
    return LocatedYaml(path=path, data=data if data is not None else {}, root=root)


def format_loc(loc: Sequence[str | int]) -> str:
    """``("clusters", "prod", "context")`` -> ``clusters.prod.context``; list indexes as ``[i]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
