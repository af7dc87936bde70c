"""Alert and digest messages: the facts they carry, their buttons, and Block Kit limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import Block

from bot.health.alerting.alert_messages import alert_report
from bot.health.checks.digest import ClusterGlance, digest_report
from bot.health.checks.findings import BackupStatus
from bot.slack.blocks import MAX_BLOCKS, MAX_TEXT, report_blocks
from bot.store import AlertRecord, RunRecord

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def alert(i: int = 0, **kw: object) -> AlertRecord:
    values: dict[str, object] = {
        "id": f"a{i:04d}",
        "key": f"prod/node_not_ready/node/n{i}",
        "cluster": "prod",
        "check_name": "node_not_ready",
        "subject": f"node/n{i}",
        "severity": "critical" if i % 7 == 0 else "warning",
        "state": "firing",
        "summary": f"node n{i} is NotReady " + "x" * 80,
        "details": {
            "lines": [],
            "actions": [
                {
                    "runbook": "drain",
                    "command": f"drain n{i} --cluster prod",
                    "label": f"Drain n{i}",
                    "style": "danger",
                },
                {"runbook": "replace-node", "command": f"replace-node n{i}", "label": "Replace", "style": "danger"},
            ],
        },
        "since": NOW - timedelta(minutes=40),
        "first_seen": NOW - timedelta(minutes=40),
        "last_seen": NOW,
        "fired_at": NOW - timedelta(minutes=25),
    }
    values.update(kw)
    return AlertRecord(**values)  # type: ignore[arg-type]


def dicts(report: object) -> list[dict]:
    blocks = [b.to_dict() for b in report_blocks(report)]  # type: ignore[arg-type]
    assert [p.to_dict() for p in Block.parse_all(blocks)] == blocks
    return blocks


def texts(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        for key in ("text",):
            if isinstance(b.get(key), dict):
                out.append(b[key]["text"])
        out += [f["text"] for f in b.get("fields") or []]
        out += [
            e.get("text", "") if isinstance(e.get("text"), str) else e["text"]["text"] for e in b.get("elements") or []
        ]
    return "\n".join(out)


def test_a_firing_alert_says_what_where_since_why_and_which_runbook() -> None:
    blocks = dicts(alert_report(alert(3), NOW, lambda name: name == "drain"))
    text = texts(blocks)
    assert "[warning] Node NotReady: node/n3 on prod" in text
    assert "cluster prod" in text
    assert "2025-03-03 08:20 UTC (40m ago)" in text
    assert "Why it matters" in text
    assert "`drain n3 --cluster prod`" in text
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in buttons] == [
        "rb_alert_run_0",
        "rb_alert_ack",
        "rb_alert_silence_1h",
        "rb_alert_silence_4h",
        "rb_alert_silence_24h",
    ], "replace-node is not offered when that runbook does not exist"
    assert buttons[0]["value"] == "a0003:0"
    assert buttons[0]["style"] == "danger"


def test_a_resolved_alert_has_no_buttons() -> None:
    done = alert(3, state="resolved", resolved_at=NOW)
    blocks = dicts(alert_report(done, NOW, lambda name: True))
    assert "Resolved: Node NotReady" in texts(blocks)
    assert not [b for b in blocks if b["type"] == "actions"]


def test_a_digest_with_hundreds_of_alerts_and_runs_stays_within_block_kit_limits() -> None:
    firing = [alert(i) for i in range(300)]
    runs = [
        RunRecord(
            id=f"r{i}",
            runbook="cordon",
            risk="change",
            cluster="prod",
            namespace="default",
            command=f"cordon n{i} " + "y" * 60,
            requester_chat_id="U1",
            requester_name="alice",
            kube_user="alice",
            kube_groups=[],
            state="succeeded",
            plan={},
            plan_hash="h",
        )
        for i in range(120)
    ]
    glances = [ClusterGlance(f"c{i}", nodes=10, ready=9, pods=100, unhealthy_pods=3) for i in range(40)]
    backups = {"c0": BackupStatus(NOW - timedelta(hours=30), "store", timedelta(hours=26)), "c1": None}
    report = digest_report(
        "Health digest — Mon 03 Mar 10:00 Europe/Madrid",
        now=NOW,
        glances=glances,
        firing=firing,
        runs=runs,
        runs_since=NOW - timedelta(days=3),
        backups=backups,
    )
    blocks = dicts(report)
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_TEXT for b in blocks if b["type"] == "section" and b.get("text"))
    text = texts(blocks)
    assert "300 alerts firing (43 critical)" in text
    assert "… and 285 more firing alerts" in text
    assert "… and 25 more clusters" in text
    assert "… and 105 more runs" in text
    assert "[warning]" not in text.split("Firing alerts")[1].split("… and")[0], "critical alerts first"
    assert "c0: last successful backup 1d6h ago — OVERDUE" in text
