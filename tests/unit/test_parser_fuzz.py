"""Parser fuzz (Hypothesis): whatever a person types after /k8s, the answer is a bound invocation or a
``UserError`` saying what is wrong — never another exception. ``CI=true`` runs 10,000 examples per test."""

from __future__ import annotations

import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config.settings import Settings
from bot.engine.engine import Engine
from bot.engine.params import ParamSpec, parse_value
from bot.engine.runbook_loading import load_catalog
from bot.engine.runbooks import builtin_runbook_dir
from bot.errors import ParseError, UserError
from bot.steps.registry import default_registry

EXAMPLES = 10_000 if os.environ.get("CI", "").lower() == "true" else 1_000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_registry = default_registry()
_catalog = load_catalog([builtin_runbook_dir()], _registry)
ENGINE = Engine(Settings(), _catalog, _registry, kube=None)  # type: ignore[arg-type]  # parse never reaches a cluster
NAMES = sorted(_catalog.names())
FLAGS = sorted({f"--{p.replace('_', '-')}" for rb in _catalog.all() for p in rb.params} | {"--cluster", "-n", "-c"})
VALUES = st.one_of(
    st.text(alphabet=string.printable, max_size=30),
    st.sampled_from(["90/10", "10m", "99999999999h", "node-1", "-5/105", "x/y", "90/10/0", "true", "1e9", "", "\n"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
TOKEN = st.one_of(
    st.sampled_from(FLAGS), VALUES, st.sampled_from(FLAGS).flatmap(lambda f: VALUES.map(f"{f}={{}}".format))
)


def _parse_or_user_error(text: str) -> None:
    try:
        ENGINE.parse(text)
    except UserError as exc:
        reason = str(exc)
    else:
        return
    assert reason, "a refusal always says why"


@FUZZ
@given(st.text(max_size=300))
def test_any_text_is_parsed_or_refused_with_a_reason(text: str) -> None:
    _parse_or_user_error(text)


@FUZZ
@given(st.sampled_from(NAMES), st.lists(TOKEN, max_size=8))
def test_any_command_line_of_a_real_runbook_is_parsed_or_refused(name: str, tokens: list[str]) -> None:
    quoted = " ".join("'" + t.replace("'", "") + "'" if " " in t else t for t in tokens)
    _parse_or_user_error(f"{name} {quoted}")


@pytest.mark.parametrize("text", ["drain node-1 --timeout 99999999999h", "drain node-1 --timeout 1000000d"])
def test_an_overlong_duration_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError, match="too long"):
        ENGINE.parse(text)


@pytest.mark.parametrize("kind", ["node", "pod", "namespace", "runbook", "workload"])
def test_names_refuse_a_trailing_newline(kind: str) -> None:
    with pytest.raises(ParseError):
        parse_value("x", ParamSpec(type=kind), "node-1\n")  # type: ignore[arg-type]
