"""Handle one command end to end for a surface: the single entry point Slack and the shell share."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.engine.engine import Engine, PreparedRun, error_report, new_ref
from bot.errors import BotError, UserError
from bot.model import Requester
from bot.report import Report

log = logging.getLogger("bot.engine")


@dataclass
class Outcome:
    """What a surface shows: a report, and the prepared run when it awaits confirmation."""

    report: Report
    pending: PreparedRun | None = None
    ok: bool = True


def handle_command(engine: Engine, text: str, requester: Requester, channel: str | None = None) -> Outcome:
    """Parse, plan, authorize and (for read-only runbooks) execute; never raises."""
    ref = new_ref()
    try:
        run = engine.prepare(text, requester, channel)
        engine.authorize(run)
        log.info(
            "command",
            extra={
                "ref": ref,
                "runbook": run.runbook.name,
                "cluster": run.cluster,
                "user": requester.chat_id,
                "run_id": run.run_id,
            },
        )
        if run.needs_confirmation:
            raise UserError(f"`{run.runbook.name}` changes the cluster; confirmation is not available on this surface")
        return Outcome(engine.execute(run))
    except UserError as exc:
        log.info("command refused", extra={"ref": ref, "user": requester.chat_id, "reason": exc.message})
        return Outcome(error_report(exc, ref), ok=False)
    except BotError as exc:
        log.warning("command failed", extra={"ref": ref, "user": requester.chat_id, "reason": str(exc)})
        return Outcome(error_report(exc, ref), ok=False)
    except Exception as exc:
        log.exception("internal error", extra={"ref": ref, "user": requester.chat_id})
        return Outcome(error_report(exc, ref), ok=False)
