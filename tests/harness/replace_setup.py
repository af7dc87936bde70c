"""Shared setup of the replace-node tests: moto (AWS) and the fake ARM (Azure), RBAC, settings.

Clusters (all one real API server, different clouds and policies):
``prod`` (AWS, production: 1 approval from leads), ``staging`` (AWS, no approval), ``azprod``
(Azure VM scale sets, production), ``aks`` (Azure, AKS: refused), ``bare`` (no cloud).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from kubernetes import client
from moto.server import ThreadedMotoServer

from bot.config.settings import Settings
from tests.harness.fake_arm import FakeArm
from tests.harness.rbac import bind_cluster_role, ensure_cluster_role
from tests.harness.trust_setup import grant, settings_doc

REGION = "us-east-1"
ZONE = "us-east-1a"
AZ_SUB = "00000000-0000-4000-8000-00000000beef"
AZ_RG = "rg-k8s-nodes"
CLUSTER_TAG = "test-cluster"  # the name in the groups' kubernetes.io/cluster/<name> tag
NODE_REPLACER = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["delete"]},
    {"apiGroups": ["karpenter.sh"], "resources": ["nodeclaims"], "verbs": ["get", "list", "delete"]},
]
CONTROL_PLANE = {"node-role.kubernetes.io/control-plane": ""}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on 127.0.0.1 (a free port), with fake credentials in the environment."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_EC2_METADATA_DISABLED")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Aws:
    """boto3 clients against moto, and helpers to build groups."""

    url: str

    def __post_init__(self) -> None:
        self.ec2: Any = boto3.client("ec2", region_name=REGION, endpoint_url=self.url)
        self.asg: Any = boto3.client("autoscaling", region_name=REGION, endpoint_url=self.url)
        self.image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def group(self, name: str, size: int, *, cluster_tag: str | None = CLUSTER_TAG) -> str:
        """An Auto Scaling group of ``size`` instances, tagged as the test cluster's (``cluster_tag=None``: not)."""
        self.ec2.create_launch_template(
            LaunchTemplateName=f"lt-{name}", LaunchTemplateData={"ImageId": self.image, "InstanceType": "m5.large"}
        )
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"lt-{name}", "Version": "$Latest"},
            MinSize=1,
            MaxSize=size + 2,
            DesiredCapacity=size,
            AvailabilityZones=[ZONE],
            Tags=(
                [{"Key": f"kubernetes.io/cluster/{cluster_tag}", "Value": "owned", "PropagateAtLaunch": True}]
                if cluster_tag is not None
                else []
            ),
        )
        return name

    def in_service(self, name: str) -> list[tuple[str, str]]:
        """(instance id, providerID) of the group's InService instances."""
        g = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return [
            (i["InstanceId"], f"aws:///{ZONE}/{i['InstanceId']}")
            for i in g["Instances"]
            if i["LifecycleState"] == "InService"
        ]

    def desired(self, name: str) -> int:
        """The group's desired capacity."""
        return int(
            self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
                "DesiredCapacity"
            ]
        )

    def state(self, instance_id: str) -> str:
        """EC2 state of an instance (running, terminated…)."""
        r = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return str(r["State"]["Name"])

    def lone_instance(self) -> str:
        """An EC2 instance in no Auto Scaling group."""
        out = self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1, InstanceType="m5.large")
        return str(out["Instances"][0]["InstanceId"])


def azure_lister(arm: FakeArm, scale_set: str) -> Any:
    """(instance id, providerID) of a fake scale set's running instances (applies finished operations)."""

    def running() -> list[tuple[str, str]]:
        arm.tick()
        with arm.lock:
            ss = arm.scale_sets[scale_set.lower()]
            return [(i, ss.provider_id(i)) for i, vm in ss.instances.items() if vm.state == "Succeeded"]

    return running


def grant_replacers(api: client.ApiClient) -> None:
    """The trust cast's RBAC, plus: sre may delete nodes and Karpenter NodeClaims."""
    grant(api)
    ensure_cluster_role(api, "node-replacer", NODE_REPLACER)
    bind_cluster_role(api, "node-replacer", group="sre")


@contextmanager
def node_replacers(api: client.ApiClient) -> Iterator[None]:
    """``grant_replacers`` for a block; the node-replacer role and its binding are removed after."""
    grant_replacers(api)
    try:
        yield
    finally:
        rbac = client.RbacAuthorizationV1Api(api)
        for delete, name in (
            (rbac.delete_cluster_role_binding, "node-replacer-sre"),
            (rbac.delete_cluster_role, "node-replacer"),
        ):
            try:
                delete(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise


def aws_cloud(moto_url: str) -> dict[str, Any]:
    """A cluster's ``cloud`` section for AWS Auto Scaling in moto (groups tagged for ``CLUSTER_TAG``)."""
    return {
        "provider": "aws",
        "region": REGION,
        "endpoint_url": moto_url,
        "poll_seconds": 0.5,
        "cluster_tag": CLUSTER_TAG,
    }


def replace_settings(kubeconfig: Path, store_url: str, moto_url: str, arm: FakeArm, secret_file: Path) -> Settings:
    """The cast's settings with cloud clusters (see the module docstring)."""
    doc = settings_doc(kubeconfig, store_url)
    base = {"kubeconfig": str(kubeconfig), "context": doc["clusters"]["staging"]["context"]}
    aws = aws_cloud(moto_url)
    azure = {
        "provider": "azure",
        "subscription_id": AZ_SUB,
        "resource_groups": [AZ_RG],
        "resource_manager": arm.base_url,
        "authority": arm.base_url,
        "credential": "client_secret",
        "tenant_id": arm.tenant,
        "client_id": arm.client_id,
        "client_secret_file": str(secret_file),
        "ca_bundle": str(arm.ca_path),
        "poll_seconds": 0.5,
    }
    doc["clusters"] = {
        "staging": {**base, "environment": "staging", "cloud": aws},
        "prod": {**base, "environment": "production", "cloud": aws},
        "azprod": {**base, "environment": "production", "cloud": azure},
        "aks": {**base, "environment": "staging", "cloud": {**azure, "aks": True}},
        "bare": {**base, "environment": "staging"},
    }
    doc["policies"]["approval_rules"] = [
        {
            "runbooks": ["risk:destructive"],
            "clusters": ["env:production"],
            "approvals": 1,
            "approvers": {"groups": ["leads"]},
        }
    ]
    return Settings(**doc)
