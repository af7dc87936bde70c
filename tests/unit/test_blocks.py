"""Block Kit rendering: valid per slack_sdk's models and within Slack's limits."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, SectionBlock

from bot.report import Report, Tone
from bot.shell.render import render_text
from bot.slack.blocks import MAX_BLOCKS, MAX_TEXT, escape, report_blocks


def roundtrip(blocks: list[Block]) -> list[dict]:  # type: ignore[type-arg]
    """Serialise and re-parse through slack_sdk, which validates every limit it knows."""
    dicts = [b.to_dict() for b in blocks]
    parsed = Block.parse_all(dicts)
    assert [p.to_dict() for p in parsed] == dicts
    return dicts


def test_report_renders_valid_blocks() -> None:
    r = Report(title="Cluster prod: needs attention", tone=Tone.WARN, summary="3 nodes: 2 Ready, 1 NotReady")
    s = r.section("Nodes", tone=Tone.WARN)
    s.fields = [("Ready", "2"), ("NotReady", "1")]
    s.lines = ["node-3: NotReady"]
    r.table(["Reason", "Pods"], [["CrashLoopBackOff", "2"]], title="Pods not running")
    r.context.append("cluster prod · run abc")
    dicts = roundtrip(report_blocks(r))
    assert dicts[0]["type"] == "header"
    assert any("CrashLoopBackOff" in (d.get("text") or {}).get("text", "") for d in dicts)


def test_long_tables_are_cut_with_and_n_more() -> None:
    r = Report(title="Pods")
    r.table(["Pod", "Status"], [[f"ns/pod-{i:05d}", "Running"] for i in range(2000)])
    dicts = roundtrip(report_blocks(r))
    texts = [d["text"]["text"] for d in dicts if d["type"] == "section"]
    assert all(len(t) <= MAX_TEXT for t in texts)
    assert any("… and " in t and " more" in t for t in texts)


def test_block_count_is_capped_at_fifty() -> None:
    r = Report(title="Many sections")
    for i in range(100):
        r.section(f"part {i}").lines.append("x")
    blocks = report_blocks(r)
    assert len(blocks) == MAX_BLOCKS
    assert "more blocks" in blocks[-1].to_dict()["elements"][0]["text"]
    roundtrip(blocks)


def test_user_text_is_escaped_so_it_cannot_ping_or_link() -> None:
    r = Report(title="x", summary="<!channel> <http://evil|click> & co")
    section = report_blocks(r)[1]
    assert isinstance(section, SectionBlock)
    text = section.to_dict()["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    assert escape("a<b>&") == "a&lt;b&gt;&amp;"


def test_overlong_title_and_fields_are_clipped() -> None:
    r = Report(title="t" * 400)
    r.section("s").fields = [(f"k{i}", "v" * 5000) for i in range(20)]
    roundtrip(report_blocks(r))


def test_terminal_rendering_shows_tables_and_empties() -> None:
    r = Report(title="Nodes", summary="2 nodes")
    r.table(["Node", "Status"], [["node-1", "Ready"], ["node-2", "NotReady"]])
    r.table(["Pod"], [], title="Pods", empty="no pods")
    text = render_text(r)
    assert "NODE" in text
    assert "node-2  NotReady" in text
    assert "(no pods)" in text
