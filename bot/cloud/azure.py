"""Azure VM scale sets for replace-node (the only module that imports the Azure SDKs).

Credentials: ``DefaultAzureCredential`` (workload identity, managed identity, environment…) or
an explicit service principal (``cloud.credential: client_secret``, secret from a mounted file).
Nothing here logs a token or a secret. ``cloud.resource_manager``/``cloud.authority``/
``cloud.ca_bundle`` point the SDK at a private cloud — or at the fake ARM on 127.0.0.1 in tests.

Replacing an instance deletes it from its scale set (which lowers ``sku.capacity`` by one) and then
sets the capacity back, so the scale set creates a fresh instance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.polling import LROPoller
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Sku, VirtualMachineScaleSetUpdate

from bot.cloud.types import GroupInstance, InstanceRef, NodeGroup
from bot.config.cloud import CloudSettings
from bot.errors import PermanentError, TemporaryError, UserError

TRANSITIONS = frozenset({"creating", "updating", "deleting", "migrating"})


class ScaleSets:
    """Node groups backed by Azure VM scale sets, for one cluster."""

    def __init__(self, cluster: str, settings: CloudSettings) -> None:
        self.cluster = cluster
        self._settings = settings
        self._credential: TokenCredential | None = None
        self._clients: dict[str, ComputeManagementClient] = {}
        self._lock = threading.Lock()

    # -- NodeGroups ---------------------------------------------------------------------------
    def group_of(self, ref: InstanceRef) -> NodeGroup | None:
        """The scale set named by the providerID (None for a standalone VM)."""
        if not ref.scale_set:
            return None
        return self.group(ref, ref.scale_set)

    def group(self, ref: InstanceRef, name: str) -> NodeGroup:
        """The scale set ``name`` with its capacity and every instance's provisioning state."""
        compute, rg = self._compute(ref), _rg(ref)
        with self._errors(f"read scale set {name}"):
            vmss = compute.virtual_machine_scale_sets.get(rg, name)
            vms = list(compute.virtual_machine_scale_set_vms.list(rg, name))
        instances = []
        for vm in vms:
            state = str((vm.properties.provisioning_state if vm.properties else None) or "Unknown")
            instances.append(
                GroupInstance(
                    instance_id=str(vm.instance_id),
                    state=state,
                    in_service=state.lower() == "succeeded",
                    settled=state.lower() not in TRANSITIONS,
                    zone=vm.zones[0] if vm.zones else None,
                )
            )
        vmss_state = str((vmss.properties.provisioning_state if vmss.properties else None) or "")
        return NodeGroup(
            provider="azure",
            kind="VM scale set",
            name=str(vmss.name or name),
            key=f"azure:{self._subscription(ref)}/{rg}/{name}".lower(),
            desired=int(vmss.sku.capacity or 0) if vmss.sku else 0,
            instances=tuple(instances),
            busy=f"scale set provisioning state {vmss_state}" if vmss_state.lower() in TRANSITIONS else None,
        )

    def replace(self, ref: InstanceRef, group: NodeGroup, progress: Callable[[str], None]) -> str:
        """Delete the instance (capacity drops by one), then set the capacity back to what it was."""
        compute, rg, name = self._compute(ref), _rg(ref), group.name
        with self._errors(f"read scale set {name}"):
            before = compute.virtual_machine_scale_sets.get(rg, name)
        capacity = int(before.sku.capacity or 0) if before.sku else 0
        progress(f"deleting instance {ref.instance_id} of scale set {name}")
        with self._errors(f"delete instance {ref.instance_id} of scale set {name}"):
            self._wait(
                compute.virtual_machine_scale_set_vms.begin_delete(rg, name, ref.instance_id), progress, "delete"
            )
        try:
            with self._errors(f"restore the capacity of scale set {name}"):
                after = compute.virtual_machine_scale_sets.get(rg, name)
                now = int(after.sku.capacity or 0) if after.sku else 0
                if now >= capacity:
                    return f"deleted instance {ref.instance_id} of scale set {name}; capacity stayed {now}"
                progress(f"restoring the capacity of scale set {name} from {now} to {capacity}")
                sku = Sku(name=after.sku.name if after.sku else None, tier=after.sku.tier if after.sku else None)
                sku.capacity = capacity
                poller = compute.virtual_machine_scale_sets.begin_update(
                    rg, name, VirtualMachineScaleSetUpdate(sku=sku)
                )
                self._wait(poller, progress, "capacity update")
        except (PermanentError, TemporaryError) as exc:
            raise PermanentError(
                f"instance {ref.instance_id} was deleted but the capacity of scale set {name} was NOT restored "
                f"to {capacity}: {exc}. Restore it with `az vmss scale -g {rg} -n {name} --new-capacity {capacity}`"
            ) from None
        return f"deleted instance {ref.instance_id} of scale set {name}; capacity restored from {now} to {capacity}"

    # -- plumbing -----------------------------------------------------------------------------
    def _subscription(self, ref: InstanceRef) -> str:
        configured = self._settings.subscription_id
        if configured and ref.subscription and configured.lower() != ref.subscription.lower():
            raise UserError(
                f"the node's instance is in subscription {ref.subscription}, but cluster {self.cluster} is "
                f"configured for subscription {configured}; nothing was done"
            )
        sub = configured or ref.subscription
        if not sub:
            raise UserError(f"no Azure subscription known for cluster {self.cluster}: set cloud.subscription_id")
        return sub

    def _compute(self, ref: InstanceRef) -> ComputeManagementClient:
        sub = self._subscription(ref)
        with self._lock:
            client = self._clients.get(sub.lower())
            if client is None:
                s = self._settings
                extra: dict[str, Any] = {"connection_verify": str(s.ca_bundle)} if s.ca_bundle else {}
                client = ComputeManagementClient(
                    self._credential_for(extra),
                    sub,
                    base_url=s.resource_manager,
                    credential_scopes=[s.resource_manager.rstrip("/") + "/.default"],
                    polling_interval=s.poll_seconds,
                    retry_total=3,
                    **extra,
                )
                self._clients[sub.lower()] = client
            return client

    def _credential_for(self, extra: dict[str, Any]) -> TokenCredential:
        if self._credential is None:
            s = self._settings
            auth: dict[str, Any] = dict(extra)
            if s.authority:
                auth.update(authority=s.authority, disable_instance_discovery=True)
            if s.credential == "client_secret":
                assert s.tenant_id
                assert s.client_id
                assert s.client_secret is not None
                self._credential = ClientSecretCredential(
                    s.tenant_id, s.client_id, s.client_secret.get_secret_value(), **auth
                )
            else:
                self._credential = DefaultAzureCredential(**auth)
        return self._credential

    def _wait(self, poller: LROPoller[Any], progress: Callable[[str], None], what: str) -> None:
        deadline = time.monotonic() + self._settings.operation_timeout_seconds
        started = time.monotonic()
        while not poller.done():
            if time.monotonic() >= deadline:
                raise TemporaryError(
                    f"the {what} operation was still {poller.status()} after "
                    f"{self._settings.operation_timeout_seconds:.0f}s"
                )
            poller.wait(timeout=min(self._settings.poll_seconds, 5.0))
            progress(f"{what}: {poller.status()} ({time.monotonic() - started:.0f}s)")
        poller.result()  # raises the operation's error, if it failed

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Translate azure-core errors into the bot's taxonomy (messages carry no tokens)."""
        try:
            yield
        except ClientAuthenticationError as exc:
            first = (exc.message or type(exc).__name__).splitlines()[0][:200]
            raise PermanentError(
                f"Azure authentication failed for cluster {self.cluster} ({operation}): {first}"
            ) from None
        except ResourceNotFoundError:
            raise PermanentError(f"Azure: cannot {operation}: not found") from None
        except HttpResponseError as exc:
            code = getattr(exc.error, "code", None) if exc.error else None
            detail = (getattr(exc.error, "message", None) if exc.error else None) or exc.reason or ""
            text = f"Azure: cannot {operation}: HTTP {exc.status_code}" + (f" {code}" if code else "")
            text += f": {str(detail)[:300]}" if detail else ""
            if exc.status_code in (429, 500, 502, 503, 504):
                raise TemporaryError(text, delay=5.0) from None
            raise PermanentError(text) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise TemporaryError(f"cannot reach Azure Resource Manager to {operation} ({type(exc).__name__})") from None


def _rg(ref: InstanceRef) -> str:
    if not ref.resource_group:
        raise PermanentError(f"providerID {ref.provider_id} names no resource group")
    return ref.resource_group
