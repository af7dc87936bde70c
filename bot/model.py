"""The shared vocabulary of every layer: permissions, object references, who is asking."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class Permission(BaseModel):
    """One Kubernetes permission a run needs, as SubjectAccessReview asks it."""

    model_config = ConfigDict(frozen=True)

    verb: str
    resource: str
    group: str = ""
    subresource: str = ""
    namespace: str | None = None
    name: str | None = None

    def describe(self) -> str:
        """``create pods/eviction in namespace payments`` — the way a denial is told."""
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        if self.group:
            res += f".{self.group}"
        target = f" `{self.name}`" if self.name else ""
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)"
        return f"{self.verb} {res}{target}{where}"


class ObjectRef(BaseModel):
    """A Kubernetes object a step touches."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" + (f" (ns {self.namespace})" if self.namespace else "")


@dataclass(frozen=True)
class Requester:
    """Who asked: their chat identity and the Kubernetes identity they act as.

    ``kube_user`` None means "the credentials of the kubeconfig itself" (the local shell
    without ``--as``): no impersonation, the developer acts as themselves.
    """

    chat_id: str
    display_name: str
    kube_user: str | None
    kube_groups: tuple[str, ...] = ()

    @property
    def impersonates(self) -> bool:
        """True when calls must carry impersonation headers."""
        return self.kube_user is not None

    def describe(self) -> str:
        """``alice (groups: oncall, sre)`` or ``your kubeconfig identity``."""
        if self.kube_user is None:
            return "the kubeconfig's own identity"
        groups = ", ".join(self.kube_groups) or "none"
        return f"{self.kube_user} (groups: {groups})"


@dataclass(frozen=True)
class Weights:
    """A traffic split like 90/10: stable and canary percentages, integers 0–100 summing to 100."""

    stable: int
    canary: int

    def __post_init__(self) -> None:
        if not (0 <= self.stable <= 100 and 0 <= self.canary <= 100) or self.stable + self.canary != 100:
            raise ValueError(f"{self.stable}/{self.canary} is not a split of 100")

    def __str__(self) -> str:
        return f"{self.stable}/{self.canary}"


class WorkloadRef(BaseModel):
    """A resolved workload: its kind (Deployment, StatefulSet, DaemonSet), name and namespace."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"
