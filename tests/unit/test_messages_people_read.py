"""Messages people read: names instead of Slack IDs, times they can place, a reference only when
something unexpected happened, and the approval rule a plan falls under."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config.settings import IdentitySettings, Settings
from bot.durations import clock_time
from bot.engine.approval_text import approval_line
from bot.engine.engine import error_report
from bot.engine.identity import ChatProfile, IdentityMapper
from bot.engine.plans import requested_by, run_report
from bot.errors import (
    ClusterUnavailableError,
    ClusterUnreachableError,
    DeniedError,
    ExecutionError,
    NotFoundError,
    ParseError,
)
from bot.model import Requester
from bot.report import Report
from bot.shell.render import render_text
from bot.store import RunRecord, RunState

NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


# -- names -----------------------------------------------------------------------------------------
def test_an_explicitly_mapped_user_is_named_by_their_slack_profile_looked_up_once() -> None:
    calls: list[str] = []

    def users_info(uid: str) -> ChatProfile:
        calls.append(uid)
        return ChatProfile(uid, "Alice Doe")

    mapper = IdentityMapper(IdentitySettings(users={"U0ALICE": {"user": "alice", "groups": ["sre"]}}), users_info)
    first, second = mapper.requester("U0ALICE"), mapper.requester("U0ALICE")
    assert first.display_name == second.display_name == "Alice Doe"
    assert calls == ["U0ALICE"], "cached for identity.cache_seconds"
    assert requested_by(first) == "Alice Doe as alice (groups: sre)"


def test_a_failed_lookup_keeps_the_mapping_and_names_the_kubernetes_identity() -> None:
    def users_info(uid: str) -> ChatProfile:
        raise DeniedError("cannot look up your Slack profile (ratelimited)")

    mapper = IdentityMapper(IdentitySettings(users={"U0ALICE": {"user": "alice", "groups": ["sre"]}}), users_info)
    alice = mapper.requester("U0ALICE")
    assert alice.kube_user == "alice"
    assert alice.display_name == "U0ALICE"
    assert requested_by(alice) == "alice (groups: sre)", "never 'U0ALICE as alice'"
    local = Requester("local", "you (local shell)", None)
    assert requested_by(local) == "you (local shell) as the kubeconfig's own identity"


# -- times -----------------------------------------------------------------------------------------
def test_times_carry_the_date_when_not_today() -> None:
    assert clock_time(NOON + timedelta(minutes=15), NOON) == "12:15 UTC"
    assert clock_time(NOON + timedelta(hours=13), NOON) == "2026-03-04 01:00 UTC"
    assert clock_time(NOON - timedelta(hours=13), NOON, seconds=True) == "2026-03-02 23:00:00 UTC"
    assert clock_time(NOON.astimezone(UTC) + timedelta(hours=2), NOON) == "14:00 UTC"


def _awaiting(expires_at: datetime) -> RunRecord:
    plan = {"title": "drain on prod", "parts": [], "context": []}
    return RunRecord(
        id="r1",
        runbook="drain",
        risk="destructive",
        cluster="prod",
        namespace="default",
        command="drain n1",
        requester_chat_id="U0ALICE",
        requester_name="Alice Doe",
        kube_user="alice",
        kube_groups=["sre"],
        state=RunState.AWAITING_APPROVAL,
        plan=plan,
        plan_hash="h",
        approvals_required=1,
        expires_at=expires_at,
    )


def test_a_wait_that_ends_another_day_says_which_day() -> None:
    later_today = render_text(run_report(_awaiting(NOON + timedelta(minutes=15)), [], now=NOON))
    assert "Waiting for approval until 12:15 UTC." in later_today
    tomorrow = render_text(run_report(_awaiting(NOON + timedelta(hours=13)), [], now=NOON))
    assert "Waiting for approval until 2026-03-04 01:00 UTC." in tomorrow


# -- references --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("runbook", "frobnicate", ["help"]),
        ParseError("`drain` needs <node>"),
        DeniedError("mallory may not patch nodes `n1` (cluster-wide) on cluster prod"),
        ClusterUnreachableError("cluster prod: cannot reach the API server at 10.0.0.1:6443 (timed out) — check"),
        ClusterUnavailableError("cluster prod: no kubeconfig at /k (clusters.prod.kubeconfig) — mount one"),
    ],
)
def test_an_explained_error_carries_no_reference(error: Exception) -> None:
    report = error_report(error, "1a2b3c4d")
    assert "1a2b3c4d" not in render_text(report)


@pytest.mark.parametrize("error", [ExecutionError("cluster prod: the API server answered 422"), KeyError("x")])
def test_an_unexpected_error_carries_its_reference(error: Exception) -> None:
    report: Report = error_report(error, "1a2b3c4d")
    assert report.context == ["ref 1a2b3c4d"]


# -- approval rules ------------------------------------------------------------------------------------
def _settings(**policies: object) -> Settings:
    clusters = {"prod": {"environment": "production"}, "staging": {"environment": "staging"}}
    return Settings.model_validate({"clusters": clusters, "default_cluster": "staging", "policies": policies})


def test_the_plan_names_the_rule_that_applies_and_who_approves() -> None:
    s = _settings(
        approval_rules=[
            {"runbooks": ["canary"], "clusters": ["*"], "approvals": 0},
            {"runbooks": ["risk:destructive"], "clusters": ["env:production"], "approvers": {"groups": ["leads"]}},
            {"runbooks": ["drain", "scale"], "clusters": ["staging"], "approvals": 2, "approvers": {"users": ["bob"]}},
        ]
    )
    rule = s.policies.rule_for("drain", "destructive", "prod", "production")
    assert approval_line(s, rule, "drain", "destructive", "prod") == (
        "needs 1 approval from group leads: rule 2 (destructive runbooks on env:production)"
    )
    rule = s.policies.rule_for("scale", "change", "staging", "staging")
    assert approval_line(s, rule, "scale", "change", "staging") == (
        "needs 2 approvals from bob: rule 3 (runbooks drain, scale on cluster staging)"
    )
    rule = s.policies.rule_for("canary", "change", "prod", "production")
    assert approval_line(s, rule, "canary", "change", "prod") == (
        "no approval needed: rule 1 (runbook canary on every cluster) asks for none"
    )
    rule = s.policies.rule_for("cordon", "change", "staging", "staging")
    assert approval_line(s, rule, "cordon", "change", "staging") == (
        "no approval needed: no approval rule matches cordon (change) on staging (env:staging)"
    )


def test_without_configured_rules_the_default_rule_is_named() -> None:
    s = _settings()
    rule = s.policies.rule_for("drain", "destructive", "prod", "production")
    assert approval_line(s, rule, "drain", "destructive", "prod") == (
        "needs 1 approval from anyone mapped but the requester: the default rule "
        "(destructive runbooks on env:production)"
    )
