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
    assert err.value.hint is not None
    assert "identity.users" in err.value.hint


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


@pytest.mark.parametrize(
    "identity",
    [
        {"users": {"U1": {"user": "system:admin"}}},
        {"users": {"U1": {"user": "root", "groups": ["system:masters"]}}},
        {"user_groups": {"S1": ["sre", "system:nodes"]}},
        {"user_groups": {"S1": ["system:serviceaccounts"]}},
    ],
)
def test_mapping_into_system_users_or_groups_is_refused(identity: dict[str, object]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="system: users and groups belong to Kubernetes itself"):
        settings(**identity)


def _by_email(**kw: object) -> IdentitySettings:
    return settings(map_by_email=True, email_domains=["example.com"], **kw)


def test_guests_mapped_by_email_are_refused_unless_allowed() -> None:
    guest = ChatProfile("U7", "Gail", email="gail@example.com", guest=True)
    with pytest.raises(DeniedError, match="guest accounts cannot run runbooks"):
        IdentityMapper(_by_email(), lambda uid: guest).requester("U7")
    assert IdentityMapper(_by_email(allow_guests=True), lambda uid: guest).requester("U7").kube_user == (
        "gail@example.com"
    )


def test_members_of_another_organisation_are_refused_unless_their_team_is_allowed() -> None:
    stranger = ChatProfile("U8", "Sam", email="sam@example.com", team_id="T0OTHER", external=True)
    with pytest.raises(DeniedError, match="another organisation"):
        IdentityMapper(_by_email(), lambda uid: stranger).requester("U8")
    allowed = IdentityMapper(_by_email(allowed_teams=["T0OTHER"]), lambda uid: stranger)
    assert allowed.requester("U8").kube_user == "sam@example.com"


def test_an_explicitly_mapped_guest_is_the_operators_decision() -> None:
    s = settings(users={"U7": {"user": "gail"}}, user_groups={"S1": ["sre"]})
    guest = ChatProfile("U7", "Gail", guest=True, user_groups=("S1",), team_id="T0OTHER", external=True)
    req = IdentityMapper(s, lambda uid: guest).requester("U7")
    assert (req.kube_user, req.kube_groups) == ("gail", ("sre",))
