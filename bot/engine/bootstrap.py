"""Assemble the bot from its settings: registry, runbook catalog, clients, engine."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clients.kube import KubeClients
from bot.config.settings import Settings
from bot.engine.engine import Engine
from bot.engine.runbooks import RunbookCatalog, builtin_runbook_dir, load_catalog
from bot.steps.registry import StepRegistry, default_registry


@dataclass
class Bot:
    """The assembled core every surface works with."""

    settings: Settings
    registry: StepRegistry
    catalog: RunbookCatalog
    kube: KubeClients
    engine: Engine

    def close(self) -> None:
        """Release client connections."""
        self.kube.close()


def load_runbooks(settings: Settings, registry: StepRegistry) -> RunbookCatalog:
    """Built-in runbooks, then the operator's folders (which may override by name)."""
    return load_catalog([builtin_runbook_dir(), *settings.runbook_dirs], registry)


def build_bot(settings: Settings, registry: StepRegistry | None = None) -> Bot:
    """Build the core; raises ConfigError when runbooks are invalid."""
    registry = registry or default_registry()
    catalog = load_runbooks(settings, registry)
    kube = KubeClients(settings)
    return Bot(settings, registry, catalog, kube, Engine(settings, catalog, registry, kube))
