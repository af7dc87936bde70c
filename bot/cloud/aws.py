"""AWS Auto Scaling groups for replace-node (the only module that imports boto3).

Credentials come from boto3's standard chain (environment, ``cloud.profile``, web identity /
IRSA, instance role); nothing here reads or logs them. ``cloud.endpoint_url`` points the client
at a private endpoint, or at moto on 127.0.0.1 in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from bot.cloud.types import GroupInstance, InstanceRef, NodeGroup
from bot.config.cloud import CloudSettings
from bot.errors import PermanentError, TemporaryError

#: Lifecycle states in which an instance is not on its way in or out.
SETTLED_STATES = frozenset({"InService", "Standby", "Detached"})
THROTTLED = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable"})


class AutoScalingGroups:
    """Node groups backed by EC2 Auto Scaling, for one cluster."""

    def __init__(self, cluster: str, settings: CloudSettings) -> None:
        self.cluster = cluster
        self.region = settings.region or ""
        with self._errors("connect"):
            session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
            self._asg: Any = session.client(
                "autoscaling",
                endpoint_url=settings.endpoint_url,
                config=Config(
                    retries={"mode": "standard", "max_attempts": 5},
                    connect_timeout=10,
                    read_timeout=30,
                    user_agent_extra="k8s-runbook-bot",
                ),
            )

    def group_of(self, ref: InstanceRef) -> NodeGroup | None:
        """The Auto Scaling group of the instance (DescribeAutoScalingInstances), or None."""
        with self._errors("DescribeAutoScalingInstances"):
            found = self._asg.describe_auto_scaling_instances(InstanceIds=[ref.instance_id])
        members = found.get("AutoScalingInstances") or []
        if not members:
            return None
        return self.group(ref, str(members[0]["AutoScalingGroupName"]))

    def group(self, ref: InstanceRef, name: str) -> NodeGroup:
        """The group ``name`` with its desired capacity and every instance's lifecycle state."""
        with self._errors("DescribeAutoScalingGroups"):
            found = self._asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        groups = found.get("AutoScalingGroups") or []
        if not groups:
            raise PermanentError(f"Auto Scaling group {name} no longer exists in {self.region}")
        g = groups[0]
        instances = tuple(
            GroupInstance(
                instance_id=str(i["InstanceId"]),
                state=str(i["LifecycleState"]) + ("/Unhealthy" if i.get("HealthStatus") == "Unhealthy" else ""),
                in_service=i["LifecycleState"] == "InService" and i.get("HealthStatus") != "Unhealthy",
                settled=i["LifecycleState"] in SETTLED_STATES and i.get("HealthStatus") != "Unhealthy",
                zone=i.get("AvailabilityZone"),
            )
            for i in g.get("Instances") or []
        )
        busy = None
        if g.get("Status"):  # set while the group is being deleted
            busy = f"group status {g['Status']}"
        return NodeGroup(
            provider="aws",
            kind="Auto Scaling group",
            name=name,
            key=f"aws:{self.region}:{name}",
            desired=int(g.get("DesiredCapacity", 0)),
            instances=instances,
            busy=busy,
            tags=tuple(sorted((str(t["Key"]), str(t.get("Value", ""))) for t in g.get("Tags") or [])),
        )

    def replace(self, ref: InstanceRef, group: NodeGroup, progress: Callable[[str], None]) -> str:
        """TerminateInstanceInAutoScalingGroup without decrementing the desired capacity."""
        progress(f"terminating {ref.instance_id} in Auto Scaling group {group.name}")
        with self._errors("TerminateInstanceInAutoScalingGroup"):
            out = self._asg.terminate_instance_in_auto_scaling_group(
                InstanceId=ref.instance_id, ShouldDecrementDesiredCapacity=False
            )
        activity = out.get("Activity") or {}
        status = activity.get("StatusCode", "accepted")
        return (
            f"terminated {ref.instance_id} in Auto Scaling group {group.name} (activity {status}); "
            f"desired capacity stays {group.desired}, so the group launches a replacement"
        )

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Translate botocore errors into the bot's taxonomy (AWS messages carry no secrets)."""
        try:
            yield
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
            raise PermanentError(
                f"no AWS credentials for cluster {self.cluster}: give the bot an IAM role (IRSA / instance "
                "profile), AWS_* environment variables or a cloud.profile"
            ) from None
        except botocore.exceptions.ProfileNotFound as exc:
            raise PermanentError(f"cluster {self.cluster}: {exc}") from None
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error") or {}
            code, message = str(err.get("Code", "")), str(err.get("Message", ""))
            text = f"AWS {operation} failed in {self.region}: {code}: {message}".rstrip(": ")
            if code in THROTTLED:
                raise TemporaryError(text, delay=5.0) from None
            raise PermanentError(text) from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError) as exc:
            raise TemporaryError(
                f"cannot reach AWS Auto Scaling in {self.region} for {operation} ({type(exc).__name__})"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise PermanentError(f"AWS {operation} failed: {type(exc).__name__}") from None
