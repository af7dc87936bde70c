"""Load and validate the settings, reporting every problem with file, line and field.

Some settings can only be validated by a higher layer (the health checks' own fields, known to
their registry): such a layer passes a ``SettingsValidator`` — to ``load_settings``, or to
``check_settings`` on settings already loaded (bootstrap does) — and its problems are located
in the file like pydantic's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.config.settings import Settings
from bot.config.yaml_source import LocatedYaml, format_loc, load_located
from bot.errors import ConfigError, ConfigProblem

CONFIG_ENV = "RUNBOOK_BOT_CONFIG"
#: Checks settings a higher layer knows how to validate: (field path, reason) of each problem.
SettingsValidator = Callable[[Settings], Iterable[tuple[Sequence[str | int], str]]]


def default_config_path() -> Path | None:
    """``$RUNBOOK_BOT_CONFIG`` if set, else ``config/runbook-bot.yaml`` when it exists, else None."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config/runbook-bot.yaml")
    return local if local.is_file() else None


def load_settings(path: Path | None = None, validators: Sequence[SettingsValidator] = ()) -> Settings:
    """Read the YAML file (if any), apply environment overrides and validate (also with ``validators``).

    Raises ``ConfigError`` listing every problem, each located in the file when it came from it.
    """
    located: LocatedYaml | None = load_located(path) if path is not None else None
    data = located.data if located is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(str(path), "", "the configuration must be a YAML mapping", 1)])
    if located is not None:
        # Relative paths in the file are relative to the file, not to the working directory.
        data = _anchor_paths(data, located.path.parent)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, located, path)) from None
    settings.located = located
    check_settings(settings, validators)
    return settings


def check_settings(settings: Settings, validators: Sequence[SettingsValidator]) -> None:
    """Run ``validators`` on loaded settings; ConfigError with every problem, located in their file."""
    located = settings.located
    problems = [
        ConfigProblem(
            str(located.path) if located is not None else "environment",
            format_loc(loc),
            message,
            located.line_of(loc) if located is not None else None,
        )
        for validate in validators
        for loc, message in validate(settings)
    ]
    if problems:
        raise ConfigError(problems)


def _anchor_paths(data: dict[str, object], base: Path) -> dict[str, object]:
    dirs = data.get("runbook_dirs")
    if isinstance(dirs, list):
        data = {**data, "runbook_dirs": [str(base / d) if isinstance(d, str) else d for d in dirs]}
    return data


def _problems(exc: ValidationError, located: LocatedYaml | None, path: Path | None) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [p for p in err["loc"] if isinstance(p, str | int)]
        where = format_loc(loc)
        line = located.line_of(loc) if located is not None else None
        source = str(path) if path is not None else "environment"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling)"
        problems.append(ConfigProblem(source, where, message, line))
    return problems
