"""A bot process for the restart test: confirm one planned run as its requester and execute it here.

``python -m tests.harness.progression_worker SETTINGS_JSON CLOCK_FILE RUN_ID PLAN_HASH CHAT_ID``

The bot reads the shared ``FileClock`` (the test moves it), so the test can kill this process
(SIGKILL: no shutdown, no hand-back — its heartbeat simply stops) in the middle of a progression
and let another bot's recovery take the run over.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.config.settings import Settings
from bot.engine.bootstrap import build_bot
from bot.engine.identity import IdentityMapper
from tests.harness.progression_setup import FileClock


def main(argv: list[str]) -> int:
    """Confirm and execute the run; print its final state (a killed process prints nothing)."""
    settings_file, clock_file, run_id, plan_hash, chat_id = argv
    settings = Settings(**json.loads(Path(settings_file).read_text()))
    bot = build_bot(settings, clock=FileClock(Path(clock_file)))
    requester = IdentityMapper(settings.identity).requester(chat_id)
    decision = bot.runs.confirm(run_id, plan_hash, requester)
    if not decision.execute:
        print(f"not confirmed: {decision.notice}", flush=True)
        return 1
    print(f"executing {run_id} as {bot.runs.owner_id}", flush=True)
    bot.runs.execute(run_id)
    rec = bot.store.get_run(run_id)
    print(f"finished: {rec.state if rec else '?'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
