"""Section buttons and attachments: rendered per surface, kept through the stored form; plan-level risk."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from slack_sdk.models.blocks import Block

from bot.engine.engine import PreparedRun
from bot.report import Action, Attachment, Report, report_from_dict, report_to_dict
from bot.shell.render import render_text
from bot.shell.repl import save_attachment
from bot.slack.blocks import report_blocks
from bot.steps.base import StepPlan


def triage_like() -> Report:
    r = Report(title="Triage of node n1: NotReady")
    s = r.section("n1 is NotReady")
    s.lines = ["Ready=False"]
    s.actions = [
        Action("run_0", "Cordon", "cordon n1 --cluster prod"),
        Action("run_1", "Drain", "drain n1 --cluster prod", "danger"),
    ]
    r.attachments.append(Attachment("n1.txt", "a\nb\n", "Node n1"))
    return r


def test_section_buttons_render_after_their_section_with_unique_ids() -> None:
    blocks = [b.to_dict() for b in report_blocks(triage_like())]
    assert [b.to_dict() for b in Block.parse_all(blocks)] == blocks
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("rb_run_0", "cordon n1 --cluster prod"),
        ("rb_run_1", "drain n1 --cluster prod"),
    ]
    text = render_text(triage_like())
    assert "runbooks: `cordon n1 --cluster prod`  `drain n1 --cluster prod`" in text
    assert "attached: n1.txt (2 lines)" in text


def test_buttons_and_attachments_survive_the_stored_form() -> None:
    again = report_from_dict(report_to_dict(triage_like()))
    assert again == triage_like()


def test_the_shell_saves_attachments_for_its_owner_only(tmp_path: Path) -> None:
    path = save_attachment(Attachment("../../etc/evil.txt", "secret-free\n"), tmp_path)
    assert path == tmp_path / "evil.txt"
    assert path.read_text() == "secret-free\n"
    assert path.stat().st_mode & 0o777 == 0o600


def run_with(risk: str, *plans: StepPlan) -> PreparedRun:
    steps = [SimpleNamespace(plan=p) for p in plans]
    return PreparedRun("r", SimpleNamespace(risk=risk), "c", "ns", None, {}, steps, None)  # type: ignore[arg-type]


def test_a_plan_may_raise_or_lower_the_runs_risk() -> None:
    assert run_with("change", StepPlan("scale to 3")).risk == "change"
    assert run_with("change", StepPlan("scale to 0", risk="destructive")).risk == "destructive"
    assert run_with("change", StepPlan("status", risk="read")).risk == "read"
    assert not run_with("change", StepPlan("status", risk="read")).needs_confirmation
    assert run_with("destructive", StepPlan("a", risk="read"), StepPlan("b")).risk == "destructive"
