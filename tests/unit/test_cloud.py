"""Cloud pieces of replace-node that need no cloud: providerID parsing and the cloud settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cloud import CloudClients, UnknownProviderError, parse_provider_id
from bot.config.cloud import CloudSettings
from bot.config.settings import Settings
from bot.errors import UserError

VMSS = (
    "azure:///subscriptions/sub-1/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Compute/"
    "virtualMachineScaleSets/aks-nodepool1-12345-vmss/virtualMachines/7"
)


@pytest.mark.parametrize(
    ("provider_id", "instance", "zone"),
    [
        ("aws:///us-east-1a/i-0123456789abcdef0", "i-0123456789abcdef0", "us-east-1a"),
        ("aws:////i-0123456789abcdef0", "i-0123456789abcdef0", None),
        ("i-0abc1234", "i-0abc1234", None),
    ],
)
def test_every_aws_provider_id_form_names_the_instance(provider_id: str, instance: str, zone: str | None) -> None:
    ref = parse_provider_id(provider_id)
    assert (ref.provider, ref.instance_id, ref.zone) == ("aws", instance, zone)


def test_azure_scale_set_provider_id_names_the_scale_set_and_instance_case_insensitively() -> None:
    ref = parse_provider_id(
        VMSS.replace("resourceGroups", "resourcegroups").replace("Microsoft.Compute", "microsoft.compute")
    )
    assert (ref.provider, ref.subscription, ref.resource_group, ref.scale_set, ref.instance_id) == (
        "azure",
        "sub-1",
        "MC_rg_aks_westeurope",
        "aks-nodepool1-12345-vmss",
        "7",
    )


def test_azure_standalone_vm_has_no_scale_set() -> None:
    ref = parse_provider_id(
        "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/k8s-master-0"
    )
    assert ref.scale_set is None
    assert ref.instance_id == "k8s-master-0"
    assert "not in a scale set" in ref.describe()


@pytest.mark.parametrize(
    ("provider_id", "message"),
    [
        ("gce://p/z/vm", "unknown provider `gce`"),
        ("kind://docker/kind/kind-worker", "unknown provider `kind`"),
        ("", "no spec.providerID"),
        (None, "no spec.providerID"),
        ("aws:///us-east-1a/i-NOTHEX", "unknown provider `aws`"),
    ],
)
def test_unknown_provider_ids_are_refused(provider_id: str | None, message: str) -> None:
    with pytest.raises(UnknownProviderError, match=re.escape(message)):
        parse_provider_id(provider_id)


def test_cloud_settings_validate_what_each_provider_needs(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"needs cloud\.region"):
        CloudSettings(provider="aws")
    with pytest.raises(ValidationError, match="needs tenant_id, client_id"):
        CloudSettings(provider="azure", credential="client_secret", tenant_id="t")
    with pytest.raises(ValidationError, match="must be https"):
        CloudSettings(provider="azure", resource_manager="http://127.0.0.1:1")
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    cs = CloudSettings(
        provider="azure", credential="client_secret", tenant_id="t", client_id="c", client_secret_file=secret
    )
    assert cs.client_secret is not None
    assert cs.client_secret.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(cs)
    assert "s3cr3t" not in cs.model_dump_json()


def test_a_cluster_whose_cloud_differs_from_the_node_is_refused_before_any_client_is_built() -> None:
    settings = Settings(clusters={"a": {"cloud": {"provider": "aws", "region": "eu-west-1"}}, "b": {}})
    clouds = CloudClients(settings)
    with pytest.raises(UserError, match="runs on AZURE but cluster a is configured for AWS"):
        clouds.groups("a", "azure")
    with pytest.raises(UserError, match="cluster b has no cloud configured"):
        clouds.groups("b", "aws")
