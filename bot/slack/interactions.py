"""Run buttons (Confirm, Cancel, Approve, Deny, Break glass) and the reason modal.

Confirm and Approve act at once. Deny, Cancel and Break glass first ask for a reason in a modal
(opened inside the ack, while the trigger id is fresh); the decision is made on submission.
Every click is checked by the run service: stale, replayed or double clicks do nothing but say so.
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
from bot.slack.messages import RunMessages

log = logging.getLogger("bot.slack")
ACTION_ID = re.compile(r"^rb_(confirm|cancel|approve|deny|break_glass|abort)$")
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


def register_interactions(app: App, bot: Bot, mapper: IdentityMapper, messages: RunMessages) -> None:
    """Register the button and modal listeners."""

    def decide(kind: str, value: str, user_id: str, channel: str, reason: str = "") -> None:
        run_id, _, plan_hash = value.partition(":")
        try:
            actor = mapper.requester(user_id)
            decision = bot.runs.decide(kind, run_id, plan_hash, actor, reason)
        except UserError as exc:
            messages.notice(channel, user_id, exc.message)
            return
        apply(decision, channel, user_id)

    def apply(decision: Decision, channel: str, user_id: str) -> None:
        if decision.notice:
            messages.notice(channel, user_id, decision.notice)
        if decision.run_id and decision.report is not None:
            messages.update(decision.run_id, decision.report)
        if decision.execute and decision.run_id:
            run_id = decision.run_id
            final = bot.runs.execute(
                run_id, progress=lambda msg: messages.update(run_id, bot.runs.report_for(run_id, [msg]), progress=True)
            )
            messages.update(run_id, final)
            rec = bot.runs.store.get_run(run_id)
            if rec is not None and rec.outcome:
                messages.thread(run_id, f"{rec.state}: {rec.outcome}")

    def on_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        action = body["actions"][0]
        kind = ACTION_ID.match(action["action_id"]).group(1)  # type: ignore[union-attr]
        if kind in NEEDS_REASON:
            channel = (body.get("channel") or {}).get("id", "")
            client.views_open(trigger_id=body["trigger_id"], view=_reason_view(kind, action["value"], channel))
        ack()

    def after_click(body: dict[str, Any]) -> None:
        action = body["actions"][0]
        kind = ACTION_ID.match(action["action_id"]).group(1)  # type: ignore[union-attr]
        if kind in NEEDS_REASON:
            return
        decide(kind, action["value"], body["user"]["id"], (body.get("channel") or {}).get("id", ""))

    def on_submit(ack: Ack, view: dict[str, Any]) -> None:
        reason = (view["state"]["values"].get("reason", {}).get("text", {}).get("value") or "").strip()
        if not reason:
            ack(response_action="errors", errors={"reason": "a reason is required"})
            return
        ack()

    def after_submit(body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = (view["state"]["values"].get("reason", {}).get("text", {}).get("value") or "").strip()
        if not reason or meta.get("kind") not in NEEDS_REASON:
            return
        decide(meta["kind"], meta.get("value", ""), body["user"]["id"], meta.get("channel", ""), reason)

    app.action(ACTION_ID)(ack=on_click, lazy=[after_click])
    app.view(REASON_CALLBACK)(ack=on_submit, lazy=[after_submit])
