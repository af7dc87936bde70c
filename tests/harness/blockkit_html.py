"""Block Kit as HTML that looks like Slack draws it, and a PNG of it from headless Chromium.

For the operator's manual (``docs/img``): the blocks are the ones the bot really posts, this only
draws them — header, section (mrkdwn text and fields), context, divider, actions (buttons). mrkdwn:
``*bold*``, ``_italic_``, ```` `code` ````, code blocks, ``<#C…>`` channel links, the emoji the
bot uses (drawn with DejaVu glyphs: this machine has no emoji font).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

EMOJI = {
    ":white_check_mark:": ('<span class="e ok">✔</span>'),
    ":warning:": '<span class="e warn">⚠</span>',
    ":x:": '<span class="e err">✖</span>',
    ":information_source:": '<span class="e info">ℹ</span>',
    ":rotating_light:": '<span class="e err">‼</span>',
}
CHANNELS = {"C0PROD": "prod-ops", "C0STAGING": "staging-ops", "C0AUDIT": "runbook-audit"}
CSS = """
body { margin: 0; background: #fff; font-family: 'DejaVu Sans', sans-serif; font-size: 15px; color: #1d1c1d; }
.msg { display: flex; padding: 16px 20px; width: 720px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #326ce5; color: #fff; font-weight: bold;
          font-size: 13px; display: flex; align-items: center; justify-content: center; margin-right: 10px; flex: none; }
.body { flex: 1; min-width: 0; }
.who { font-weight: bold; } .app { font-size: 10px; background: #e8e8e8; color: #616061; padding: 1px 3px;
       border-radius: 2px; margin-left: 4px; font-weight: bold; vertical-align: 2px; } .ts { color: #616061; font-size: 12px; margin-left: 6px; }
.header { font-size: 17px; font-weight: bold; margin: 6px 0 4px; }
.section { margin: 4px 0; line-height: 1.45; word-wrap: break-word; }
.section, .fields, .context { white-space: pre-wrap; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; margin: 4px 0; }
.context { color: #616061; font-size: 12px; margin: 6px 0; line-height: 1.4; }
.divider { border-top: 1px solid #dddddd; margin: 10px 0; }
.actions { margin: 8px 0; display: flex; flex-wrap: wrap; gap: 8px; }
.btn { border: 1px solid #bbbabb; border-radius: 4px; padding: 3px 12px; font-size: 13px; font-weight: bold; background: #fff; }
.btn.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn.danger { border-color: #e01e5a; color: #e01e5a; }
code { font-family: 'DejaVu Sans Mono', monospace; font-size: 12px; background: #f6f6f6; border: 1px solid #e0e0e0;
       color: #c01343; border-radius: 3px; padding: 0 3px; }
pre { font-family: 'DejaVu Sans Mono', monospace; font-size: 12px; background: #f8f8f8; border: 1px solid #e0e0e0;
      border-radius: 4px; padding: 8px; margin: 4px 0; white-space: pre; overflow: hidden; }
.chan { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
.e { font-weight: bold; } .ok { color: #2eb67d; } .warn { color: #e8a723; } .err { color: #e01e5a; } .info { color: #1264a3; }
.tabs { display: flex; gap: 20px; border-bottom: 1px solid #dddddd; padding: 12px 20px 0; width: 720px; }
.tab { padding-bottom: 8px; color: #616061; font-weight: bold; } .tab.on { color: #1d1c1d; border-bottom: 2px solid #1264a3; }
.home { padding: 8px 20px 16px; width: 720px; }
"""


def mrkdwn(text: str) -> str:
    """Slack mrkdwn (already escaped by the bot: ``&lt;`` ``&gt;`` ``&amp;``) as HTML."""
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    text = re.sub(r"```(.*?)```", lambda m: keep(f"<pre>{m.group(1)}</pre>"), text, flags=re.S)
    text = re.sub(r"`([^`\n]+)`", lambda m: keep(f"<code>{m.group(1)}</code>"), text)
    text = re.sub(
        r"<#(C\w+)>", lambda m: keep(f'<span class="chan">#{CHANNELS.get(m.group(1), m.group(1))}</span>'), text
    )
    text = text.replace("<", "&lt;").replace(">", "&gt;")  # anything else Slack would not draw as markup
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
    for code, glyph in EMOJI.items():
        text = text.replace(code, glyph)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    return mrkdwn(obj["text"]) if obj.get("type") == "mrkdwn" else html.escape(obj["text"])


def block_html(block: dict[str, Any]) -> str:
    """One block."""
    kind = block["type"]
    if kind == "header":
        return f'<div class="header">{_text(block["text"])}</div>'
    if kind == "divider":
        return '<div class="divider"></div>'
    if kind == "context":
        return '<div class="context">' + " ".join(_text(e) for e in block["elements"]) + "</div>"
    if kind == "actions":
        buttons = "".join(
            f'<span class="btn {e.get("style") or ""}">{html.escape(e["text"]["text"])}</span>'
            for e in block["elements"]
        )
        return f'<div class="actions">{buttons}</div>'
    if kind == "section":
        out = f'<div class="section">{_text(block.get("text"))}</div>' if block.get("text") else ""
        if block.get("fields"):
            out += '<div class="fields">' + "".join(f"<div>{_text(f)}</div>" for f in block["fields"]) + "</div>"
        return out
    raise ValueError(f"no drawing for a {kind} block")


def message_html(blocks: list[dict[str, Any]], *, time: str = "9:41 AM") -> str:
    """A page showing one bot message."""
    inner = "".join(block_html(b) for b in blocks)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
        f'<div class="msg"><div class="avatar">k8s</div><div class="body">'
        f'<div><span class="who">k8s</span><span class="app">APP</span><span class="ts">{time}</span></div>'
        f"{inner}</div></div></body></html>"
    )


def home_html(blocks: list[dict[str, Any]]) -> str:
    """A page showing the app's Home tab."""
    inner = "".join(block_html(b) for b in blocks)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
        '<div class="tabs"><span class="tab on">Home</span><span class="tab">About</span></div>'
        f'<div class="home">{inner}</div></body></html>'
    )


def chromium() -> str:
    """Debian's Chromium (``apt-get install chromium``)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("headless Chromium is needed to draw the images: apt-get install chromium")
    return found


def _flags(profile: Path) -> list[str]:
    # Without the background-networking flags Chromium keeps trying to reach Google's hosts.
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
    ]


def screenshot(page: str, out: Path, *, width: int = 760) -> None:
    """Draw ``page`` (HTML) into ``out`` (PNG), as tall as its content."""
    with tempfile.TemporaryDirectory(prefix="blockkit-") as tmp:
        folder = Path(tmp)
        measure = page.replace("</body>", "<script>document.title = 'H' + document.body.scrollHeight;</script></body>")
        (folder / "measure.html").write_text(measure, encoding="utf-8")
        (folder / "page.html").write_text(page, encoding="utf-8")
        dom = subprocess.run(
            [
                chromium(),
                *_flags(folder / "p1"),
                f"--window-size={width},2000",
                "--dump-dom",
                (folder / "measure.html").as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        match = re.search(r"<title>H(\d+)</title>", dom)
        height = int(match.group(1)) if match else 1200
        subprocess.run(
            [
                chromium(),
                *_flags(folder / "p2"),
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                (folder / "page.html").as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no image to {out}")
