"""Slack user → Kubernetes identity: explicit mapping, or profile email plus user-group mapping.

An explicit mapping names one Slack user ID and is the operator's decision about that person. A
mapping read off the profile (email, user-group membership) only holds for full members of the
bot's own workspace: guests need ``identity.allow_guests`` and members of another team or
enterprise (Slack Connect) need ``identity.allowed_teams``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config.settings import IdentitySettings
from bot.errors import DeniedError, UserError
from bot.model import Requester


@dataclass(frozen=True)
class ChatProfile:
    """What the chat platform says about a user (users.info + user-group membership)."""

    user_id: str
    display_name: str
    email: str | None = None
    user_groups: tuple[str, ...] = ()
    is_bot: bool = False
    deleted: bool = False
    guest: bool = False  # a multi- or single-channel guest (is_restricted / is_ultra_restricted)
    team_id: str | None = None
    external: bool = False  # from another team or enterprise than the bot's own (Slack Connect)


ProfileLookup = Callable[[str], ChatProfile]


class IdentityMapper:
    """Maps chat users to Kubernetes identities; profile lookups are cached for a bounded time."""

    def __init__(
        self,
        settings: IdentitySettings,
        lookup: ProfileLookup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._lookup = lookup
        self._clock = clock
        self._cache: dict[str, tuple[float, ChatProfile]] = {}
        self._lock = threading.Lock()
        self._lookups: dict[str, threading.Lock] = {}  # one users.info at a time per user

    def profile(self, user_id: str) -> ChatProfile:
        """The user's chat profile (cached ``cache_seconds``), or a bare one without a lookup."""
        if self._lookup is None:
            return ChatProfile(user_id=user_id, display_name=user_id)
        with self._lock:
            single_flight = self._lookups.setdefault(user_id, threading.Lock())
        with single_flight:  # a second request for the same person waits for the first's lookup
            now = self._clock()
            with self._lock:
                hit = self._cache.get(user_id)
                if hit and now - hit[0] < self._settings.cache_seconds:
                    return hit[1]
            prof = self._lookup(user_id)
            with self._lock:
                self._cache[user_id] = (now, prof)
            return prof

    def requester(self, user_id: str) -> Requester:
        """The Requester for ``user_id``; DeniedError when the user maps to no Kubernetes identity."""
        s = self._settings
        explicit = s.users.get(user_id)
        need_profile = explicit is None or bool(s.user_groups)
        prof = self.profile(user_id) if need_profile else self._named(user_id)
        if prof.is_bot or prof.deleted:
            raise DeniedError("bots and deactivated users cannot run runbooks")
        if need_profile:
            self._check_membership(prof, explicit is not None)
        extra_groups = [g for ug in prof.user_groups for g in s.user_groups.get(ug, [])]
        if explicit is not None:
            groups = tuple(dict.fromkeys([*explicit.groups, *extra_groups]))
            return Requester(user_id, prof.display_name, explicit.user, groups)
        if s.map_by_email and prof.email:
            domain = prof.email.rsplit("@", 1)[-1].lower()
            if domain in {d.lower() for d in s.email_domains}:
                return Requester(user_id, prof.display_name, prof.email.lower(), tuple(dict.fromkeys(extra_groups)))
        raise DeniedError(
            f"your Slack user ({user_id}) is not mapped to a Kubernetes identity",
            hint="ask the bot's operator to add you under identity.users in the configuration",
        )

    def _named(self, user_id: str) -> ChatProfile:
        """An explicitly mapped user's profile, for the name people read (cached like every lookup).

        The mapping alone decides who they are; a lookup that fails leaves their Slack ID as the name.
        """
        try:
            return self.profile(user_id)
        except (UserError, OSError):
            return ChatProfile(user_id=user_id, display_name=user_id)

    def _check_membership(self, prof: ChatProfile, explicit: bool) -> None:
        """Refuse guests and other teams' members unless configured (an explicit mapping is configured)."""
        s = self._settings
        if explicit:
            return
        if prof.external and prof.team_id not in s.allowed_teams:
            raise DeniedError(
                f"your Slack account belongs to another organisation ({prof.team_id or 'unknown team'}); "
                "only members of this workspace may run runbooks",
                hint="the bot's operator can add the team to identity.allowed_teams, or map your user ID explicitly",
            )
        if prof.guest and not s.allow_guests:
            raise DeniedError(
                "guest accounts cannot run runbooks",
                hint="the bot's operator can set identity.allow_guests, or map your user ID explicitly",
            )
