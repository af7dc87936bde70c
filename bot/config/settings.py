"""The one settings model: YAML file + ``RUNBOOK_BOT_*`` environment overrides + secret files.

Precedence, highest first: environment variables (``RUNBOOK_BOT_SLACK__BOT_TOKEN``; ``__``
separates nested fields), then the YAML file. Every secret may instead be given as a file path
(``bot_token_file``), which is how Kubernetes mounts Secrets; file contents are read at load time
and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.config.access import AccessSettings
from bot.config.backup import BackupSettings
from bot.config.canary import CanarySettings
from bot.config.cloud import CloudSettings
from bot.config.execution import ExecutionSettings, RetentionSettings
from bot.config.health import HealthSettings
from bot.config.workloads import WorkloadSettings
from bot.config.yaml_source import LocatedYaml
from bot.selectors import cluster_matches

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _read_secret(path: Path | None, field_name: str) -> SecretStr | None:
    if path is None:
        return None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {field_name} from {path}: {exc.strerror}") from exc
    if not value:
        raise ValueError(f"{field_name} file {path} is empty")
    return SecretStr(value)


class SlackSettings(_Strict):
    """How the bot talks to Slack. Without a bot token, only the local shell is available."""

    mode: Literal["socket", "http"] = Field("http", description="Socket Mode (app token) or HTTP Events API")
    bot_token: SecretStr | None = Field(None, description="xoxb- token")
    bot_token_file: Path | None = None
    app_token: SecretStr | None = Field(None, description="xapp- token, Socket Mode only")
    app_token_file: Path | None = None
    signing_secret: SecretStr | None = Field(None, description="verifies HTTP requests")
    signing_secret_file: Path | None = None
    api_base_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    listen_host: str = Field("0.0.0.0", description="HTTP listener address (also serves probes)")  # noqa: S104
    listen_port: int = Field(3000, ge=1, le=65535)
    command: str = Field("/k8s", pattern=r"^/[a-z0-9_-]+$")
    audit_channel: str | None = Field(None, description="channel ID receiving the audit trail")
    ack_workers: int = Field(
        16,
        ge=2,
        le=256,
        description="threads doing the work after each ack (planning, read-only runbooks, clicks); acks are "
        "answered on the receiving thread and runs execute on their own pool",
    )

    @model_validator(mode="after")
    def _secrets_from_files(self) -> SlackSettings:
        for name in ("bot_token", "app_token", "signing_secret"):
            from_file = _read_secret(getattr(self, f"{name}_file"), name)
            if from_file is not None:
                setattr(self, name, from_file)
        if not self.api_base_url.endswith("/"):
            self.api_base_url += "/"
        return self

    @property
    def enabled(self) -> bool:
        """True when a bot token is configured (otherwise only the shell can run)."""
        return self.bot_token is not None

    def missing_for_mode(self) -> list[str]:
        """Names of the settings the configured mode still needs."""
        missing = [] if self.bot_token else ["slack.bot_token"]
        if self.mode == "socket" and not self.app_token:
            missing.append("slack.app_token")
        if self.mode == "http" and not self.signing_secret:
            missing.append("slack.signing_secret")
        return missing


class ApiRetrySettings(_Strict):
    """How failed calls to a cluster's API server are retried (bot/clients/retry.py): reads,
    SubjectAccessReviews, evictions and watches; writes that are not idempotent only when nothing was sent."""

    deadline_seconds: float = Field(30.0, gt=0, le=3600, description="give up one call after this long")
    initial_backoff_seconds: float = Field(0.25, gt=0, le=60, description="first wait; doubles per attempt")
    max_backoff_seconds: float = Field(8.0, gt=0, le=300, description="longest wait between attempts")
    max_retry_after_seconds: float = Field(30.0, ge=0, le=600, description="longest server Retry-After honoured")


class ClusterSettings(_Strict):
    """One cluster the bot can act on: how to reach it and what policies apply."""

    kubeconfig: Path | None = Field(None, description="kubeconfig file; default $KUBECONFIG or ~/.kube/config")
    context: str | None = Field(None, description="kubeconfig context; default the current context")
    in_cluster: bool = Field(False, description="use the pod's service account instead of a kubeconfig")
    environment: str = Field("staging", description="label used by policies, e.g. staging / production")
    default_namespace: str = Field("default", pattern=NAME_PATTERN)
    channels: list[str] = Field(default_factory=list, description="Slack channel IDs defaulting to this cluster")
    request_timeout_seconds: float = Field(30.0, gt=0, le=300)
    api_retry: ApiRetrySettings = Field(default_factory=ApiRetrySettings, description="retries of API calls")
    cloud: CloudSettings = Field(default_factory=CloudSettings, description="cloud of the nodes (replace-node)")

    @field_validator("kubeconfig")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _one_way_in(self) -> ClusterSettings:
        if self.in_cluster and (self.kubeconfig or self.context):
            raise ValueError("in_cluster cannot be combined with kubeconfig/context")
        return self


class KubeIdentity(_Strict):
    """The Kubernetes user and groups a Slack user acts as."""

    user: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)

    @field_validator("user", "groups")
    @classmethod
    def _no_system_identities(cls, value: str | list[str]) -> str | list[str]:
        refuse_system_identities([value] if isinstance(value, str) else value)
        return value


def refuse_system_identities(names: list[str]) -> None:
    """ValueError for any ``system:`` user or group (system:masters bypasses RBAC; the rest are components)."""
    for name in names:
        if name.startswith("system:"):
            raise ValueError(
                f"mapping a Slack user into {name} is refused: system: users and groups belong to Kubernetes "
                "itself (system:masters bypasses RBAC)"
            )


class IdentitySettings(_Strict):
    """Slack user → Kubernetes identity: explicit users, or profile email, plus group mapping."""

    users: dict[str, KubeIdentity] = Field(default_factory=dict, description="Slack user ID → identity")
    user_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Slack user-group ID → Kubernetes groups for its members"
    )
    map_by_email: bool = Field(False, description="unlisted users act as their Slack profile email")
    email_domains: list[str] = Field(default_factory=list, description="accepted email domains (required)")
    cache_seconds: int = Field(300, ge=0, le=3600, description="lifetime of users.info lookups")
    allow_guests: bool = Field(
        False, description="let guests (multi- and single-channel) be mapped by email or user group"
    )
    allowed_teams: list[str] = Field(
        default_factory=list,
        description="other Slack teams/enterprises (IDs) whose members may be mapped by email or user group "
        "(Slack Connect); by default only the bot's own workspace",
    )

    @field_validator("user_groups")
    @classmethod
    def _no_system_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for groups in value.values():
            refuse_system_identities(groups)
        return value

    @model_validator(mode="after")
    def _email_needs_domains(self) -> IdentitySettings:
        if self.map_by_email and not self.email_domains:
            raise ValueError("map_by_email needs at least one entry in email_domains")
        return self


class StoreSettings(_Strict):
    """Where runs, approvals, audit and alert state are kept."""

    url: str = Field(
        "sqlite:///runbook-bot.sqlite3", description="SQLAlchemy URL: sqlite:///file or postgresql+psycopg://"
    )
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError("store.url must be a sqlite: or postgresql URL")
        return value


class ApproverSet(_Strict):
    """Who may approve: Slack user IDs or Kubernetes user names, and Kubernetes groups."""

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    @property
    def anyone(self) -> bool:
        """True when no set is configured: any mapped user but the requester (still RBAC-checked)."""
        return not self.users and not self.groups


class ApprovalRule(_Strict):
    """When a second person must approve. Rules are matched in order; the first match applies.

    ``runbooks`` holds runbook names or ``risk:<level>``; ``clusters`` holds cluster names or
    ``env:<environment>``; ``*`` matches everything. ``approvals: 0`` means no approval.
    """

    runbooks: list[str] = Field(default_factory=lambda: ["*"])
    clusters: list[str] = Field(default_factory=lambda: ["*"])
    approvals: int = Field(1, ge=0, le=5)
    approvers: ApproverSet = Field(default_factory=ApproverSet)
    expires_minutes: int = Field(15, ge=1, le=24 * 60)

    def matches(self, runbook: str, risk: str, cluster: str, environment: str) -> bool:
        """Does this rule apply to ``runbook`` (of ``risk``) on ``cluster`` (in ``environment``)?"""
        rb_ok = any(p in ("*", runbook, f"risk:{risk}") for p in self.runbooks)
        cl_ok = cluster_matches(self.clusters, cluster, environment)
        return rb_ok and cl_ok


class BreakGlassSettings(_Strict):
    """Members of these Kubernetes groups may run without a second person, with a typed reason."""

    groups: list[str] = Field(default_factory=list)
    min_reason_length: int = Field(10, ge=1, le=500)


class PolicySettings(_Strict):
    """Confirmation and approval policy."""

    approval_rules: list[ApprovalRule] = Field(
        default_factory=lambda: [ApprovalRule(runbooks=["risk:destructive"], clusters=["env:production"], approvals=1)],
        description="first match wins; default: destructive runbooks on production need 1 approval",
    )
    break_glass: BreakGlassSettings = Field(default_factory=BreakGlassSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    confirm_expires_minutes: int = Field(15, ge=1, le=24 * 60, description="a plan not confirmed in time expires")

    def rule_for(self, runbook: str, risk: str, cluster: str, environment: str) -> ApprovalRule:
        """The first matching rule, or a no-approval rule."""
        for rule in self.approval_rules:
            if rule.matches(runbook, risk, cluster, environment):
                return rule
        return ApprovalRule(approvals=0)


class Settings(BaseSettings):
    """Everything the bot is configured with (YAML, then ``RUNBOOK_BOT_*`` environment on top)."""

    model_config = SettingsConfigDict(
        env_prefix="RUNBOOK_BOT_", env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )

    clusters: dict[str, ClusterSettings] = Field(
        default_factory=lambda: {"local": ClusterSettings()},
        description="cluster name → settings; default one cluster from the current kubeconfig",
    )
    default_cluster: str | None = None
    slack: SlackSettings = Field(default_factory=SlackSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    policies: PolicySettings = Field(default_factory=PolicySettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings, description="etcd-backup (bot/config/backup.py)")
    canary: CanarySettings = Field(default_factory=CanarySettings, description="canary apps and their routers")
    workloads: WorkloadSettings = Field(default_factory=WorkloadSettings, description="scale guard rails, logs")
    runbook_dirs: list[Path] = Field(default_factory=list, description="operator runbook folders")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    _located: LocatedYaml | None = PrivateAttr(None)

    @property
    def located(self) -> LocatedYaml | None:
        """The YAML file these settings were loaded from (to locate later problems in it), if any."""
        return self._located

    @located.setter
    def located(self, value: LocatedYaml | None) -> None:
        self._located = value

    @field_validator("clusters")
    @classmethod
    def _cluster_names(cls, value: dict[str, ClusterSettings]) -> dict[str, ClusterSettings]:
        import re

        if not value:
            raise ValueError("at least one cluster is required")
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"cluster name {name!r} must be lowercase letters, digits and '-'")
        return value

    @model_validator(mode="after")
    def _defaults_exist(self) -> Settings:
        if self.default_cluster is None:
            self.default_cluster = next(iter(self.clusters))
        elif self.default_cluster not in self.clusters:
            raise ValueError(f"default_cluster {self.default_cluster!r} is not one of {sorted(self.clusters)}")
        seen: dict[str, str] = {}
        for name, cluster in self.clusters.items():
            for channel in cluster.channels:
                if channel in seen:
                    raise ValueError(f"channel {channel} is the default of both {seen[channel]} and {name}")
                seen[channel] = name
        unknown = self.health.unknown_clusters(set(self.clusters))
        if unknown:
            raise ValueError(f"health settings name unknown cluster(s): {', '.join(unknown)}")
        unknown = self.backup.unknown_clusters(set(self.clusters))
        if unknown:
            raise ValueError(f"backup settings name unknown cluster(s): {', '.join(unknown)}")
        return self

    def cluster_for_channel(self, channel_id: str | None) -> str:
        """The cluster a command in ``channel_id`` targets when it names none."""
        for name, cluster in self.clusters.items():
            if channel_id and channel_id in cluster.channels:
                return name
        assert self.default_cluster is not None
        return self.default_cluster

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over the YAML file, which arrives as init arguments."""
        return (env_settings, init_settings)
