"""``runbook-bot``: run (Slack when tokens are configured, else the local shell), serve, shell, check-config,
the runbook author's reference (steps, schema) and etcd backups. ``--config FILE`` goes before or after
any sub-command. Whatever stops a command is one line saying what to do, never a traceback."""

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
from bot.engine.preflight import cluster_configuration_problems, probe_clusters, slack_problems
from bot.errors import BotError, ConfigError, DeniedError
from bot.store import LATEST_VERSION

log = logging.getLogger("bot")


CONFIG_HELP = "YAML config (default $RUNBOOK_BOT_CONFIG or config/runbook-bot.yaml); before or after the sub-command"


def _accept_config(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--config`` on ``parser`` and, recursively, on its sub-commands: accepted before or after each word.

    Below the top level the default is SUPPRESS, so a sub-command's parser sets ``config`` only when
    the flag is given there (and never resets one given earlier on the line).
    """
    if top:
        parser.add_argument("--config", type=Path, help=CONFIG_HELP)
    else:
        parser.add_argument("--config", type=Path, help=CONFIG_HELP, default=argparse.SUPPRESS)
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _accept_config(child)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runbook-bot", description=__doc__)
    p.add_argument("--version", action="version", version=f"k8s-runbook-bot {__version__}")
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("run", help="serve Slack if tokens are configured, else start the local shell")
    sub.add_parser("serve", help="serve Slack (HTTP Events API or Socket Mode, per slack.mode)")
    sh = sub.add_parser("shell", help="run commands in this terminal against a kubeconfig")
    sh.add_argument("--context", help="kubeconfig context (replaces the configured clusters with this one)")
    sh.add_argument("--kubeconfig", type=Path, help="kubeconfig file for --context")
    sh.add_argument("--as", dest="as_user", help="act as a mapped user (Slack ID or Kubernetes user name)")
    cc = sub.add_parser(
        "check-config", help="validate the configuration, every runbook and each cluster; exit 1 on errors"
    )
    cc.add_argument("--offline", action="store_true", help="do not load kubeconfigs or contact clusters (CI)")
    steps = sub.add_parser("steps", help="list every step a runbook can call: parameters, permissions")
    steps.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub.add_parser("schema", help="print the JSON Schema of runbook YAML (runbook-bot schema > runbook.schema.json)")
    add_backup_parser(sub)  # runbook-bot backup ...: etcd backups for the operator (bot/backup/cli.py)
    _accept_config(p, top=True)  # steps and schema accept it too (they depend only on the installed bot)
    return p


def _print_invalid(exc: ConfigError) -> int:
    """Print configuration problems: one line for one problem, else a header and one line each; exit code 1."""
    lines = [str(p) for p in exc.problems]
    if len(lines) == 1:
        print(f"configuration is invalid: {lines[0]}", file=sys.stderr)
    else:
        print(f"configuration is invalid ({len(lines)} problems):", file=sys.stderr)
        for line in lines:
            print(f"  {line}", file=sys.stderr)
    return 1


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
    """Validate everything; print each problem with its file, line and field, then how each cluster answers."""
    try:
        settings = _settings(args)
        bot = build_bot(settings, migrate=False)  # checks change nothing: no migration, no recovery
    except ConfigError as exc:
        return _print_invalid(exc)
    probes = [] if args.offline else probe_clusters(settings)
    missing = slack_problems(settings) if settings.slack.enabled else []
    for line in missing:
        print(f"  warning: {line}", file=sys.stderr)
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
    for probe in probes:  # warnings: a cluster is not the configuration's fault where check-config runs (CI)
        if probe.ok:
            print(probe.line)
        else:
            refusal = " (serve refuses to start until this is fixed)" if probe.configuration else ""
            print(f"  warning: {probe.line}{refusal}", file=sys.stderr)
    if args.offline:
        print("clusters: not checked (--offline)")
    return 1 if missing else 0


def serve_refusals(settings: Settings) -> list[str]:
    """What keeps ``serve`` from starting, one line each: Slack settings its mode needs, unusable kubeconfigs."""
    return slack_problems(settings) + cluster_configuration_problems(settings)


def _tell_unreachable_clusters(settings: Settings) -> None:
    """Check every cluster in the background and log one warning for each that does not answer (serving goes on)."""

    def check() -> None:
        for probe in probe_clusters(settings):
            if not probe.ok:
                log.warning(
                    f"{probe.line} — serving anyway: commands on cluster {probe.cluster} fail until it answers, "
                    "and the cluster_unreachable health check reports it"
                )

    threading.Thread(target=check, name="cluster-probe", daemon=True).start()


def serve(bot: Bot) -> int:
    """Serve Slack in the configured mode."""
    from bot.slack.server import serve_http, serve_socket_mode
    from bot.slack.startup import connect_app

    s = bot.settings.slack
    try:
        app = connect_app(bot)
    except BotError as exc:
        print(f"cannot serve: {exc}", file=sys.stderr)
        return 2
    _tell_unreachable_clusters(bot.settings)
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


def _shell(bot: Bot, args: argparse.Namespace) -> int:
    """The local shell; clusters that cannot be loaded are named first (``help`` works without them)."""
    from bot.shell.repl import requester_for, run_shell

    for line in cluster_configuration_problems(bot.settings):
        print(f"warning: {line} (help works without it)", file=sys.stderr)
    try:
        requester = requester_for(bot, getattr(args, "as_user", None))
    except DeniedError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    return run_shell(bot, requester)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``runbook-bot`` console script."""
    args = _parser().parse_args(argv)
    cmd = args.cmd or "run"
    if cmd == "check-config":
        return check_config(args)
    if cmd in ("steps", "schema"):
        return author_reference(cmd, getattr(args, "json", False))
    try:
        settings = _settings(args)
    except ConfigError as exc:
        return _print_invalid(exc)
    if cmd == "backup":
        setup_logging(settings.log_level, "text")
        return run_backup_cli(args, settings)
    serving = cmd == "serve" or (cmd == "run" and settings.slack.enabled)
    setup_logging(settings.log_level, settings.log_format if serving else "text")
    if not serving:
        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    refusals = serve_refusals(settings) if serving else []
    if refusals:
        for line in refusals:
            print(f"cannot serve: {line}", file=sys.stderr)
        return 2
    try:
        bot = build_bot(settings)
    except ConfigError as exc:
        return _print_invalid(exc)
    try:
        return serve(bot) if serving else _shell(bot, args)
    except KeyboardInterrupt:
        return 130
    finally:
        bot.close()


if __name__ == "__main__":
    sys.exit(main())
