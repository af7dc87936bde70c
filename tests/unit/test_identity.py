"""Slack user → Kubernetes identity."""

from __future__ import annotations

import pytest

from bot.config.settings import IdentitySettings
from bot.engine.identity import ChatProfile, IdentityMapper
from bot.errors import DeniedError


def settings(**kw: object) -> IdentitySettings:
    return IdentitySettings.model_validate(kw)


def test_explicit_mapping_with_usergroup_groups_added() -> None:
    s = settings(users={"U1": {"user": "alice", "groups": ["oncall"]}}, user_groups={"S1": ["sre", "oncall"]})
    mapper = IdentityMapper(s, lambda uid: ChatProfile(uid, "Alice", user_groups=("S1",)))
    req = mapper.requester("U1")
    assert req.kube_user == "alice"
    assert req.kube_groups == ("oncall", "sre")
    assert req.impersonates


def test_email_mapping_only_for_allowed_domains() -> None:
    s = settings(map_by_email=True, email_domains=["example.com"])
    mapper = IdentityMapper(s, lambda uid: ChatProfile(uid, uid, email=f"{uid.lower()}@Example.com"))
    assert mapper.requester("Carol").kube_user == "carol@example.com"
    other = IdentityMapper(s, lambda uid: ChatProfile(uid, uid, email="mallory@evil.test"))
    with pytest.raises(DeniedError, match="not mapped"):
        other.requester("U9")


def test_unmapped_user_is_refused_with_a_hint() -> None:
    with pytest.raises(DeniedError) as err:
        IdentityMapper(settings(), lambda uid: ChatProfile(uid, uid)).requester("U404")
    assert err.value.hint is not None and "identity.users" in err.value.hint


def test_bots_and_deactivated_users_are_refused() -> None:
    s = settings(users={"U1": {"user": "alice"}}, user_groups={"S1": ["x"]})
    with pytest.raises(DeniedError, match="bots"):
        IdentityMapper(s, lambda uid: ChatProfile(uid, uid, is_bot=True)).requester("U1")


def test_profile_lookups_are_cached_for_a_bounded_time() -> None:
    calls: list[str] = []
    now = [0.0]

    def lookup(uid: str) -> ChatProfile:
        calls.append(uid)
        return ChatProfile(uid, uid, email="a@example.com")

    mapper = IdentityMapper(
        settings(map_by_email=True, email_domains=["example.com"], cache_seconds=60), lookup, clock=lambda: now[0]
    )
    mapper.requester("U1")
    mapper.requester("U1")
    assert calls == ["U1"]
    now[0] = 61
    mapper.requester("U1")
    assert calls == ["U1", "U1"]
