"""Per-cluster cloud settings: which cloud replaces this cluster's nodes, and how to reach it.

``replace-node`` terminates a node's instance through the cloud's own API (AWS Auto Scaling,
Azure VM scale sets). Credentials come from the cloud SDKs' standard chains (AWS: environment,
profile, IRSA/instance role; Azure: ``DefaultAzureCredential``) or, for Azure, an explicit
service principal whose secret is read from a mounted file. Endpoints are configurable so a
private cloud (or a test server on 127.0.0.1) can stand in for the public one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class CloudSettings(BaseModel):
    """``clusters.<name>.cloud``: the provider and its connection details (unused keys stay unset)."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["aws", "azure", "none"] = Field(
        "none", description="where the nodes' instances live; none: replace-node refuses"
    )
    # Which groups belong to this cluster (replace-node refuses any other)
    cluster_tag: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="AWS: the cluster's name in the Auto Scaling group tag kubernetes.io/cluster/<name> "
        "(default: this cluster's name in the configuration)",
    )
    allowed_groups: list[str] = Field(
        default_factory=list, description="groups / scale sets of this cluster that carry no such tag"
    )
    resource_groups: list[str] = Field(
        default_factory=list, description="Azure: the resource groups holding this cluster's scale sets (required)"
    )
    # AWS
    region: str | None = Field(None, pattern=r"^[a-z0-9-]+$", description="AWS region of the Auto Scaling groups")
    endpoint_url: str | None = Field(None, description="AWS endpoint override (a private endpoint, or a test server)")
    profile: str | None = Field(None, description="AWS shared-config profile; default: the standard chain")
    # Azure
    subscription_id: str | None = Field(None, description="Azure subscription; default: the one in the providerID")
    resource_manager: str = Field("https://management.azure.com", description="Azure Resource Manager endpoint")
    authority: str | None = Field(None, description="Microsoft Entra authority host (sovereign/private clouds)")
    credential: Literal["default", "client_secret"] = Field(
        "default", description="default: DefaultAzureCredential; client_secret: the service principal below"
    )
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = Field(None, description="file holding the client secret (a mounted Secret)")
    ca_bundle: Path | None = Field(None, description="CA bundle for a private Azure endpoint's TLS certificate")
    aks: bool = Field(False, description="the cluster is AKS (agent pools are managed by AKS; refused for now)")
    # Behaviour
    poll_seconds: float = Field(5.0, gt=0, le=60, description="how often replace-node polls the cloud while waiting")
    operation_timeout_seconds: float = Field(600.0, gt=0, le=3600, description="limit for one cloud operation")

    @model_validator(mode="after")
    def _consistent(self) -> CloudSettings:
        if self.client_secret_file is not None:
            try:
                value = self.client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read client_secret from {self.client_secret_file}: {exc.strerror}") from exc
            if not value:
                raise ValueError(f"client_secret file {self.client_secret_file} is empty")
            self.client_secret = SecretStr(value)
        if self.provider == "aws" and not self.region:
            raise ValueError("cloud.provider aws needs cloud.region")
        if self.credential == "client_secret" and not (self.tenant_id and self.client_id and self.client_secret):
            raise ValueError("cloud.credential client_secret needs tenant_id, client_id and client_secret(_file)")
        for name in ("endpoint_url", "resource_manager", "authority"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("https://", "http://")):
                raise ValueError(f"cloud.{name} must be an http(s) URL")
        if not self.resource_manager.startswith("https://"):
            raise ValueError("cloud.resource_manager must be https (Azure refuses bearer tokens over plain HTTP)")
        return self
