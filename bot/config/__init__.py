"""Configuration: one settings model, loaded from YAML, environment and secret files."""

from bot.config.loader import default_config_path, load_settings
from bot.config.settings import (
    ClusterSettings,
    IdentitySettings,
    KubeIdentity,
    Settings,
    SlackSettings,
    StoreSettings,
)

__all__ = [
    "ClusterSettings",
    "IdentitySettings",
    "KubeIdentity",
    "Settings",
    "SlackSettings",
    "StoreSettings",
    "default_config_path",
    "load_settings",
]
