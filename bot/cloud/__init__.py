"""Cloud node groups behind Kubernetes nodes (AWS Auto Scaling, Azure VM scale sets).

``types`` is provider-neutral (instance references, groups, the ``NodeGroups`` protocol);
``factory`` builds a cluster's client; ``aws`` and ``azure`` are the only cloud-SDK importers.
"""

from bot.cloud.factory import CloudClients
from bot.cloud.types import (
    GroupInstance,
    InstanceRef,
    NodeGroup,
    NodeGroups,
    Provider,
    UnknownProviderError,
    parse_provider_id,
)

__all__ = [
    "CloudClients",
    "GroupInstance",
    "InstanceRef",
    "NodeGroup",
    "NodeGroups",
    "Provider",
    "UnknownProviderError",
    "parse_provider_id",
]
