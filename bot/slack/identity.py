"""Look up a Slack user's profile and user-group membership (users.info, usergroups.list)."""

from __future__ import annotations

import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.identity import ChatProfile
from bot.errors import DeniedError


class SlackProfiles:
    """A ProfileLookup over the Slack Web API; user-group membership is cached like profiles."""

    def __init__(self, client: WebClient, need_groups: bool, cache_seconds: int) -> None:
        self._client = client
        self._need_groups = need_groups
        self._ttl = cache_seconds
        self._groups: tuple[float, dict[str, tuple[str, ...]]] | None = None
        self._home: tuple[str | None, str | None] | None = None
        self._lock = threading.Lock()

    def __call__(self, user_id: str) -> ChatProfile:
        """users.info for ``user_id`` plus the IDs of the user groups it belongs to."""
        try:
            user = self._client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            raise DeniedError(f"cannot look up your Slack profile ({exc.response.get('error', 'error')})") from None
        profile = user.get("profile") or {}
        name = profile.get("display_name") or user.get("real_name") or user.get("name") or user_id
        groups = self._memberships().get(user_id, ()) if self._need_groups else ()
        team = user.get("team_id")
        enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
        return ChatProfile(
            user_id=user_id,
            display_name=name,
            email=profile.get("email"),
            user_groups=groups,
            is_bot=bool(user.get("is_bot")),
            deleted=bool(user.get("deleted")),
            guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            team_id=enterprise or team,
            external=bool(user.get("is_stranger")) or not self._at_home(team, enterprise),
        )

    def _at_home(self, team: str | None, enterprise: str | None) -> bool:
        """Is a user of ``team`` / ``enterprise`` a member of the bot's own workspace (auth.test)?"""
        with self._lock:
            home = self._home
        if home is None:
            try:
                auth = self._client.auth_test()
            except SlackApiError as exc:
                raise DeniedError(f"cannot check your Slack team ({exc.response.get('error', 'error')})") from None
            home = (auth.get("team_id"), auth.get("enterprise_id"))
            with self._lock:
                self._home = home
        home_team, home_enterprise = home
        if team is None:
            return True  # users.info of a member of the bot's own workspace may omit team_id
        return team == home_team or (enterprise is not None and enterprise == home_enterprise)

    def _memberships(self) -> dict[str, tuple[str, ...]]:
        now = time.monotonic()
        with self._lock:
            if self._groups and now - self._groups[0] < self._ttl:
                return self._groups[1]
        resp = self._client.usergroups_list(include_users=True)
        members: dict[str, list[str]] = {}
        for group in resp.get("usergroups") or []:
            for uid in group.get("users") or []:
                members.setdefault(uid, []).append(group["id"])
        table = {k: tuple(v) for k, v in members.items()}
        with self._lock:
            self._groups = (now, table)
        return table
