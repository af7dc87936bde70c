"""Run buttons (Confirm, Cancel, Approve, Deny, Break glass; Abort, Pause, Resume) and the reason modal.

Confirm, Approve, Abort, Pause and Resume act at once. Deny, Cancel and Break glass first ask for
a reason in a modal (opened inside the ack, while the trigger id is fresh); the decision is made
on submission.
Every click is checked by the run service: stale, replayed or double clicks do nothing but say so.
The same buttons on the App Home tab come here too; a click there has no channel, so its answer
is shown at the top of the clicker's Home instead of as an ephemeral message.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.models.blocks import InputBlock, PlainTextInputElement, PlainTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.engine.bootstrap import Bot
from bot.engine.identity import IdentityMapper
from bot.engine.workflow import Decision
from bot.errors import UserError
from bot.slack.home import HomeTab
from bot.slack.messages import RunMessages

log = logging.getLogger("bot.slack")
ACTION_ID = re.compile(r"^rb_(confirm|cancel|approve|deny|break_glass|abort|pause|resume)$")
NEEDS_REASON = {"deny": "Deny this request", "cancel": "Cancel your request", "break_glass": "Break glass"}
REASON_CALLBACK = "rb_reason"


def _reason_view(kind: str, value: str, channel: str) -> View:
    hint = (
        (
            "Break-glass runs without a second person and is posted loudly to the audit channel. "
            "Say why this cannot wait."
        )
        if kind == "break_glass"
        else "Say why; it is recorded in the audit trail."
    )
    return View(
        type="modal",
        callback_id=REASON_CALLBACK,
        title=PlainTextObject(text=NEEDS_REASON[kind][:24]),
        submit=PlainTextObject(text="Submit"),
        close=PlainTextObject(text="Back"),
        private_metadata=json.dumps({"kind": kind, "value": value, "channel": channel}),
        blocks=[
            SectionBlock(text=PlainTextObject(text=hint)),
            InputBlock(
                block_id="reason",
                label=PlainTextObject(text="Reason"),
                element=PlainTextInputElement(action_id="text", multiline=True, max_length=500),
            ),
        ],
    )


def _reason(view: dict[str, Any]) -> str:
    return str(view["state"]["values"].get("reason", {}).get("text", {}).get("value") or "").strip()


def _kind(body: dict[str, Any]) -> str:
    return ACTION_ID.match(body["actions"][0]["action_id"]).group(1)  # type: ignore[union-attr]


class RunButtons:
    """The listeners of the run buttons and the reason modal."""

    def __init__(self, bot: Bot, mapper: IdentityMapper, messages: RunMessages, home: HomeTab | None = None) -> None:
        self.bot = bot
        self.mapper = mapper
        self.messages = messages
        self.home = home

    def tell(self, channel: str, user_id: str, text: str) -> None:
        """An answer for the clicker only: ephemeral in the channel, or on their Home for a click made there."""
        if channel or self.home is None:
            self.messages.notice(channel, user_id, text)
        else:
            self.home.notice(user_id, text)

    def decide(self, kind: str, value: str, user_id: str, channel: str, reason: str = "") -> None:
        """Map the clicker, make the decision, show what it says (and start the run when it says so)."""
        run_id, _, plan_hash = value.partition(":")
        try:
            actor = self.mapper.requester(user_id)
            decision = self.bot.runs.decide(kind, run_id, plan_hash, actor, reason)
        except UserError as exc:
            self.tell(channel, user_id, exc.message)
            return
        self.apply(decision, channel, user_id)

    def apply(self, decision: Decision, channel: str, user_id: str) -> None:
        """Notice for the clicker, the run's message, and the hand-over to the executor."""
        if decision.notice:
            self.tell(channel, user_id, decision.notice)
        if decision.run_id and decision.report is not None:
            self.messages.update(decision.run_id, decision.report)
        if decision.execute and decision.run_id:
            ticket = self.bot.runs.start(decision.run_id)  # the executor runs it; the notifier updates the message
            if ticket.waits:
                self.messages.update(decision.run_id, self.bot.runs.report_for(decision.run_id, [ticket.words()]))

    def on_click(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Acknowledge at once; open the reason modal first for Deny, Cancel and Break glass."""
        kind = _kind(body)
        if kind in NEEDS_REASON:
            channel = (body.get("channel") or {}).get("id", "")
            value = body["actions"][0]["value"]
            client.views_open(trigger_id=body["trigger_id"], view=_reason_view(kind, value, channel))
        ack()

    def after_click(self, body: dict[str, Any]) -> None:
        """Confirm, Approve, Abort, Pause and Resume are decided after the ack."""
        kind = _kind(body)
        if kind not in NEEDS_REASON:
            channel = (body.get("channel") or {}).get("id", "")
            self.decide(kind, body["actions"][0]["value"], body["user"]["id"], channel)

    def on_submit(self, ack: Ack, view: dict[str, Any]) -> None:
        """A reason is required."""
        if not _reason(view):
            ack(response_action="errors", errors={"reason": "a reason is required"})
            return
        ack()

    def after_submit(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The decision the modal was opened for, with its reason."""
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = _reason(view)
        if reason and meta.get("kind") in NEEDS_REASON:
            self.decide(meta["kind"], meta.get("value", ""), body["user"]["id"], meta.get("channel", ""), reason)


def register_interactions(
    app: App, bot: Bot, mapper: IdentityMapper, messages: RunMessages, *, home: HomeTab | None = None
) -> None:
    """Register the button and modal listeners (for run messages and the App Home alike)."""
    buttons = RunButtons(bot, mapper, messages, home)
    app.action(ACTION_ID)(ack=buttons.on_click, lazy=[buttons.after_click])
    app.view(REASON_CALLBACK)(ack=buttons.on_submit, lazy=[buttons.after_submit])
