"""Cloud node groups, provider-neutral: what a node's providerID names, and what a group client does.

A Kubernetes Node's ``spec.providerID`` says which cloud instance runs it. ``parse_provider_id``
turns it into an ``InstanceRef``; a ``NodeGroups`` client (AWS Auto Scaling in ``bot.cloud.aws``,
Azure VM scale sets in ``bot.cloud.azure``) finds the instance's group, reads its counts and
replaces the instance keeping the group's capacity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.errors import UserError

Provider = Literal["aws", "azure"]

_AWS = re.compile(r"^(?:aws://(?:/(?P<zone>[^/]*))?/)?(?P<id>i-[0-9a-f]{8,17})$")
_AZURE_VMSS = re.compile(
    r"^azure:///subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachineScaleSets/(?P<vmss>[^/]+)/virtualMachines/(?P<id>[^/]+)$",
    re.IGNORECASE,
)
_AZURE_VM = re.compile(
    r"^azure:///subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachines/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class InstanceRef:
    """The cloud instance behind a Node, as its providerID names it.

    For Azure, ``scale_set`` is None when the VM is a standalone VM (not in a scale set).
    """

    provider: Provider
    instance_id: str
    provider_id: str
    zone: str | None = None
    subscription: str | None = None
    resource_group: str | None = None
    scale_set: str | None = None

    def describe(self) -> str:
        """``EC2 instance i-0abc (us-east-1a)`` / ``VM scale set instance web-vmss/3``."""
        if self.provider == "aws":
            return f"EC2 instance {self.instance_id}" + (f" ({self.zone})" if self.zone else "")
        if self.scale_set:
            return f"VM scale set instance {self.scale_set}/{self.instance_id}"
        return f"Azure VM {self.instance_id} (not in a scale set)"


class UnknownProviderError(UserError):
    """The providerID names no cloud the bot can replace instances in."""


def parse_provider_id(provider_id: str | None) -> InstanceRef:
    """Parse ``aws:///zone/i-…``, ``aws:////i-…``, bare ``i-…`` and Azure VMSS/VM providerIDs."""
    text = (provider_id or "").strip()
    m = _AWS.match(text)
    if m:
        return InstanceRef("aws", m.group("id"), text, zone=m.group("zone") or None)
    m = _AZURE_VMSS.match(text)
    if m:
        return InstanceRef(
            "azure",
            m.group("id"),
            text,
            subscription=m.group("sub"),
            resource_group=m.group("rg"),
            scale_set=m.group("vmss"),
        )
    m = _AZURE_VM.match(text)
    if m:
        return InstanceRef("azure", m.group("name"), text, subscription=m.group("sub"), resource_group=m.group("rg"))
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if not text:
        raise UnknownProviderError("the node has no spec.providerID, so no cloud instance or group is known for it")
    raise UnknownProviderError(
        f"unknown provider `{scheme or text[:60]}`: replace-node supports AWS (aws://) and Azure VM scale sets "
        "(azure://) and Karpenter NodeClaims"
    )


@dataclass(frozen=True)
class GroupInstance:
    """One instance of a group: its id, lifecycle/provisioning state, and whether that state is settled."""

    instance_id: str
    state: str
    in_service: bool
    settled: bool
    zone: str | None = None


@dataclass(frozen=True)
class NodeGroup:
    """An Auto Scaling group or a VM scale set: desired capacity and its instances."""

    provider: Provider
    kind: str  # "Auto Scaling group" | "VM scale set"
    name: str
    key: str  # unique across clouds: the lock key for one-replacement-at-a-time
    desired: int
    instances: tuple[GroupInstance, ...] = field(default_factory=tuple)
    busy: str | None = None  # a group-level operation in progress (e.g. VMSS provisioningState Updating)
    tags: tuple[tuple[str, str], ...] = ()  # the group's cloud tags (AWS: kubernetes.io/cluster/<name>)

    @property
    def in_service(self) -> int:
        """How many instances serve (AWS InService and healthy / Azure Succeeded)."""
        return sum(1 for i in self.instances if i.in_service)

    def unsettled(self) -> list[GroupInstance]:
        """Instances launching, terminating or otherwise in transition."""
        return [i for i in self.instances if not i.settled]

    def describe(self) -> str:
        """``Auto Scaling group web (desired 3, InService 3/3)``."""
        return f"{self.kind} {self.name} (desired {self.desired}, in service {self.in_service}/{len(self.instances)})"

    def ids(self) -> set[str]:
        """Instance ids (lowercase, so Azure's case-insensitive ids compare)."""
        return {i.instance_id.lower() for i in self.instances}


class NodeGroups(Protocol):
    """What replace-node needs from a cloud: find, read and replace-in-place."""

    def group_of(self, ref: InstanceRef) -> NodeGroup | None:
        """The group the instance belongs to, or None when it belongs to none."""
        ...

    def group(self, ref: InstanceRef, name: str) -> NodeGroup:
        """The group ``name`` (read fresh), in the instance's account/subscription."""
        ...

    def replace(self, ref: InstanceRef, group: NodeGroup, progress: Callable[[str], None]) -> str:
        """Terminate the instance so the group launches a replacement; return what was done."""
        ...
