"""Assemble the bot from its settings: registry, runbook catalog, clients, engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.clients.kube import KubeClients
from bot.config.loader import check_settings
from bot.config.settings import Settings
from bot.engine.engine import Engine
from bot.engine.runbook_loading import load_catalog
from bot.engine.runbooks import RunbookCatalog, builtin_runbook_dir
from bot.engine.workflow import RunService
from bot.health.checks import HEALTH_CHECKS
from bot.steps.registry import StepRegistry, default_registry
from bot.store import Store, utc_now


@dataclass
class Bot:
    """The assembled core every surface works with."""

    settings: Settings
    registry: StepRegistry
    catalog: RunbookCatalog
    kube: KubeClients
    engine: Engine
    store: Store
    runs: RunService

    def close(self) -> None:
        """Release client connections and the store."""
        self.kube.close()
        self.store.close()


def load_runbooks(settings: Settings, registry: StepRegistry) -> RunbookCatalog:
    """Built-in runbooks, then the operator's folders (which may override by name)."""
    return load_catalog([builtin_runbook_dir(), *settings.runbook_dirs], registry)


def build_bot(
    settings: Settings,
    registry: StepRegistry | None = None,
    *,
    migrate: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> Bot:
    """Build the core; raises ConfigError when settings the registries validate, runbooks or the store are invalid.

    Building recovers nothing: runs of other processes are settled only by a serving replica's
    periodic recovery, and only once their owner stopped heart-beating. Without ``migrate`` (as
    ``check-config`` builds it) the store's schema is left as it is. ``clock`` (tests) is the one
    clock of the store's stamps (heartbeats) and the run service (expiry, staleness, waiting steps).
    """
    check_settings(settings, [HEALTH_CHECKS.settings_problems])
    registry = registry or default_registry()
    catalog = load_runbooks(settings, registry)
    stamps = clock or utc_now
    store = Store.open(settings.store.url, clock=stamps) if migrate else Store(settings.store.url, clock=stamps)
    kube = KubeClients(settings)
    engine = Engine(settings, catalog, registry, kube)
    runs = RunService(engine, store, settings, stamps)
    return Bot(settings, registry, catalog, kube, engine, store, runs)
