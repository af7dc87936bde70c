"""``runbook-bot``: run (Slack when tokens are configured, else the local shell), serve, shell, check-config,
and the runbook author's reference: steps, schema."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from bot import __version__
from bot.backup.cli import add_backup_parser, run_backup_cli
from bot.config import Settings, default_config_path, load_settings
from bot.config.logs import setup_logging
from bot.config.settings import ClusterSettings
from bot.engine.bootstrap import Bot, build_bot
from bot.errors import ConfigError, DeniedError
from bot.store import LATEST_VERSION

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runbook-bot", description=__doc__)
    p.add_argument("--version", action="version", version=f"k8s-runbook-bot {__version__}")
    config_help = "YAML config (default $RUNBOOK_BOT_CONFIG or config/runbook-bot.yaml)"
    p.add_argument("--config", type=Path, help=config_help)
    # ``--config`` is also accepted after the sub-command (``runbook-bot serve --config FILE``, as
    # operators and the README write it); SUPPRESS keeps a value given before the sub-command.
    config_after = argparse.ArgumentParser(add_help=False)
    config_after.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser(
        "run", parents=[config_after], help="serve Slack if tokens are configured, else start the local shell"
    )
    sub.add_parser("serve", parents=[config_after], help="serve Slack (HTTP Events API or Socket Mode, per slack.mode)")
    sh = sub.add_parser("shell", parents=[config_after], help="run commands in this terminal against a kubeconfig")
    sh.add_argument("--context", help="kubeconfig context (replaces the configured clusters with this one)")
    sh.add_argument("--kubeconfig", type=Path, help="kubeconfig file for --context")
    sh.add_argument("--as", dest="as_user", help="act as a mapped user (Slack ID or Kubernetes user name)")
    sub.add_parser(
        "check-config", parents=[config_after], help="validate the configuration and every runbook; exit 1 on errors"
    )
    steps = sub.add_parser("steps", help="list every step a runbook can call: parameters, permissions")
    steps.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub.add_parser("schema", help="print the JSON Schema of runbook YAML (runbook-bot schema > runbook.schema.json)")
    add_backup_parser(sub)  # runbook-bot backup ...: etcd backups for the operator (bot/backup/cli.py)
    return p


def author_reference(cmd: str, as_json: bool) -> int:
    """``steps`` and ``schema``: generated from the registered steps, no configuration needed."""
    from bot.engine.runbook_schema import runbook_schema
    from bot.engine.step_reference import reference_json, render_text, step_reference
    from bot.steps.registry import default_registry

    registry = default_registry()
    if cmd == "schema":
        print(json.dumps(runbook_schema(registry), indent=2))
    elif as_json:
        print(json.dumps(reference_json(step_reference(registry)), indent=2))
    else:
        print(render_text(step_reference(registry)), end="")
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    path = args.config or default_config_path()
    settings = load_settings(path)
    if getattr(args, "context", None) or getattr(args, "kubeconfig", None):
        name = args.context or "local"
        name = "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower()).strip("-") or "local"
        settings.clusters = {name: ClusterSettings(context=args.context, kubeconfig=args.kubeconfig)}
        settings.default_cluster = name
    return settings


def check_config(args: argparse.Namespace) -> int:
    """Validate everything; print each problem with its file, line and field."""
    try:
        settings = _settings(args)
        bot = build_bot(settings, migrate=False)  # checks change nothing: no migration, no recovery
    except ConfigError as exc:
        print(
            f"configuration is invalid ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}):",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    missing = settings.slack.missing_for_mode() if settings.slack.enabled else []
    for name in missing:
        print(f"  warning: Slack {settings.slack.mode} mode needs {name}", file=sys.stderr)
    print(
        f"configuration OK: {len(settings.clusters)} cluster(s) ({', '.join(settings.clusters)}), "
        f"{len(bot.catalog.names())} runbooks ({', '.join(bot.catalog.names())}), "
        f"Slack {'enabled, ' + settings.slack.mode + ' mode' if settings.slack.enabled else 'disabled (shell only)'}"
    )
    version = bot.store.schema_version()
    if version < LATEST_VERSION:
        print(f"store: schema version {version}; the next `serve` or `shell` migrates it to {LATEST_VERSION}")
    bot.close()
    h = settings.health
    print(
        f"health checks {'on' if h.enabled else 'off'}: every {h.interval_seconds}s, {len(h.routes)} route(s), "
        f"{len(h.digests)} digest(s) ({', '.join(f'{d.key} {d.cron!r} {d.timezone}' for d in h.digests) or 'none'}), "
        f"leader election {'on' if h.leader_election.enabled else 'off'}"
    )
    return 1 if missing else 0


def serve(bot: Bot) -> int:
    """Serve Slack in the configured mode."""
    from bot.slack.app import build_app
    from bot.slack.server import serve_http, serve_socket_mode

    s = bot.settings.slack
    missing = s.missing_for_mode()
    if missing:
        print(f"cannot serve Slack in {s.mode} mode: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    app = build_app(bot)
    draining = threading.Event()

    def drain() -> None:
        draining.set()
        left = bot.runs.shutdown(bot.settings.execution.shutdown_grace_seconds)
        if left:
            log.warning(
                "exiting with runs still executing; another replica marks them interrupted", extra={"runs": left}
            )

    bot.runs.serve()  # periodic recovery of runs whose owner went silent
    health = None
    if bot.settings.health.enabled:
        from bot.slack.alerts import build_health

        health = build_health(bot, app.client)
        health.start()  # campaigns for the lease; only the leader sweeps and posts
    try:
        if s.mode == "socket":
            assert s.app_token is not None
            serve_socket_mode(app, s.app_token.get_secret_value(), s.listen_host, s.listen_port, drain=drain)
        else:
            serve_http(app, s.listen_host, s.listen_port, ready=lambda: not draining.is_set(), drain=drain)
    finally:
        if health is not None:
            health.stop()  # releases the lease: another replica takes over at once
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``runbook-bot`` console script."""
    args = _parser().parse_args(argv)
    cmd = args.cmd or "run"
    if cmd == "check-config":
        return check_config(args)
    if cmd in ("steps", "schema"):
        return author_reference(cmd, getattr(args, "json", False))
    if cmd == "backup":
        try:
            settings = _settings(args)
        except ConfigError as exc:
            print("configuration is invalid:\n" + "\n".join(f"  {p}" for p in exc.problems), file=sys.stderr)
            return 1
        setup_logging(settings.log_level, "text")
        return run_backup_cli(args, settings)
    try:
        settings = _settings(args)
        setup_logging(settings.log_level, settings.log_format if cmd == "serve" or settings.slack.enabled else "text")
        if cmd == "shell" or (cmd == "run" and not settings.slack.enabled):
            logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
        bot = build_bot(settings)
    except ConfigError as exc:
        print("configuration is invalid:\n" + "\n".join(f"  {p}" for p in exc.problems), file=sys.stderr)
        return 1
    try:
        if cmd == "shell" or (cmd == "run" and not settings.slack.enabled):
            from bot.shell.repl import requester_for, run_shell

            try:
                requester = requester_for(bot, getattr(args, "as_user", None))
            except DeniedError as exc:
                print(exc.message, file=sys.stderr)
                return 2
            return run_shell(bot, requester)
        return serve(bot)
    except KeyboardInterrupt:
        return 130
    finally:
        bot.close()


if __name__ == "__main__":
    sys.exit(main())
