"""The artifacts replace-node's steps hand each other (stored with the run, typed)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReplacementRecord(BaseModel):
    """What the terminate step did and what the wait step needs: the group's members before it."""

    node: str
    node_uid: str
    group: str = Field(description="the group in words: `Auto Scaling group web`, `Karpenter NodePool default`")
    provider: str | None = None
    provider_id: str | None = None
    instance: str | None = None
    group_name: str | None = None
    nodepool: str | None = None
    nodeclaim_uid: str | None = None
    nodes_before: list[str] = Field(default_factory=list, description="UIDs of the group's Nodes before")
    instances_before: list[str] = Field(default_factory=list, description="instance ids of the group before")


class ReplacementReady(BaseModel):
    """The node that replaced ``node``."""

    node: str
    new_node: str
    instance: str | None = None
