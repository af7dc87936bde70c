"""A small fake Azure Resource Manager over HTTPS on 127.0.0.1, for replace-node's VM scale set calls.

It speaks the wire format azure-identity and azure-mgmt-compute use:

- Microsoft Entra: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and the client-credentials
  ``POST /{tenant}/oauth2/v2.0/token`` (the client secret is checked; a bearer token is issued);
- ARM (bearer token required): ``GET``/``PATCH`` a scale set, ``GET`` (list) its VMs, ``GET`` and
  ``DELETE`` one VM. ``DELETE`` and ``PATCH`` are long-running operations: the answer carries
  ``Azure-AsyncOperation``/``Location`` headers, the operation reads ``InProgress`` until it
  completes (after ``op_seconds``), then ``Succeeded``. Deleting a VM lowers ``sku.capacity`` by
  one, as Azure does; raising the capacity creates new instances when the update completes.

TLS certificates come from ``trustme``; ``ca_path`` is the bundle to hand to the SDK. Azure refuses
bearer tokens over plain HTTP, hence HTTPS even on loopback.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

LOCATION = "westeurope"
_VMSS = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachineScaleSets/(?P<vmss>[^/]+)(?P<vms>/virtualMachines(?:/(?P<iid>[^/]+))?)?$",
    re.IGNORECASE,
)
_OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.Compute/locations/[^/]+/operations/(?P<op>[^/]+)$")


@dataclass
class Instance:
    """One VM of a scale set."""

    instance_id: str
    state: str = "Succeeded"


@dataclass
class ScaleSet:
    """A VM scale set: its capacity and instances."""

    sub: str
    rg: str
    name: str
    capacity: int
    instances: dict[str, Instance] = field(default_factory=dict)
    state: str = "Succeeded"
    next_id: int = 0

    def resource_id(self) -> str:
        """ARM resource id."""
        return (
            f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.Compute/"
            f"virtualMachineScaleSets/{self.name}"
        )

    def provider_id(self, instance_id: str) -> str:
        """The providerID the kubelet of that instance registers (as the Azure cloud provider sets it)."""
        return f"azure://{self.resource_id()}/virtualMachines/{instance_id}"

    def grow(self) -> None:
        """Create instances until the count matches the capacity."""
        while len(self.instances) < self.capacity:
            iid = str(self.next_id)
            self.next_id += 1
            self.instances[iid] = Instance(iid)


@dataclass
class Operation:
    """A long-running operation: done after ``done_at``, then ``effect`` is applied once."""

    done_at: float
    effect: Callable[[], None]
    applied: bool = False


class FakeArm:
    """The fake: start(), then point ``resource_manager``/``authority`` at ``base_url`` with ``ca_path``."""

    def __init__(self, workdir: Path, *, tenant: str = "fake-tenant", client_id: str = "runbook-bot") -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(24)
        self.token = secrets.token_urlsafe(32)
        self.op_seconds = 1.0
        self.scale_sets: dict[str, ScaleSet] = {}
        self.operations: dict[str, Operation] = {}
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, authorized)
        self.lock = threading.RLock()
        self.ca = trustme.CA()
        self.ca_path = workdir / "fake-arm-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen on a free 127.0.0.1 port with a trustme certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="fake-arm", daemon=True).start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    # -- test-side state ------------------------------------------------------------------------
    def add_scale_set(self, sub: str, rg: str, name: str, capacity: int) -> ScaleSet:
        """Create a scale set with ``capacity`` running instances."""
        with self.lock:
            ss = ScaleSet(sub, rg, name, capacity)
            ss.grow()
            self.scale_sets[name.lower()] = ss
            return ss

    def tick(self) -> None:
        """Apply the effects of completed operations."""
        with self.lock:
            now = time.monotonic()
            for op in self.operations.values():
                if not op.applied and now >= op.done_at:
                    op.applied = True
                    op.effect()

    # -- request handling -----------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """Serve one request: (status, JSON body or None, extra headers)."""
        path = urlsplit(raw_path).path
        self.tick()
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            base = f"{self.base_url}/{self.tenant}"
            return (
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "issuer": f"{base}/v2.0",
                    "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                    "tenant_region_scope": "EU",
                },
                {},
            )
        if path.endswith("/oauth2/v2.0/token") and method == "POST":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"}, {}
            return (
                200,
                {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": self.token},
                {},
            )
        authorized = headers.get("authorization") == f"Bearer {self.token}"
        with self.lock:
            self.requests.append((method, path, authorized))
        if not authorized:
            return (
                401,
                {"error": {"code": "AuthenticationFailed", "message": "missing or bad token"}},
                {"WWW-Authenticate": 'Bearer authorization_uri="https://127.0.0.1/", error="invalid_token"'},
            )
        m = _OPERATION.match(path)
        if m:
            return self._operation(m.group("op"), "operationResults" in raw_path)
        m = _VMSS.match(path)
        if not m:
            return 404, {"error": {"code": "NotFound", "message": f"no route {method} {path}"}}, {}
        with self.lock:
            ss = self.scale_sets.get(m.group("vmss").lower())
            if ss is None:
                return (
                    404,
                    {"error": {"code": "ResourceNotFound", "message": f"scale set {m.group('vmss')} not found"}},
                    {},
                )
            if m.group("vms") is None:
                return self._scale_set(method, ss, body)
            return self._vms(method, ss, m.group("iid"))

    def _scale_set(self, method: str, ss: ScaleSet, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if method == "GET":
            return 200, self._vmss_json(ss), {}
        if method == "PATCH":
            update = json.loads(body or b"{}")
            capacity = (update.get("sku") or {}).get("capacity")
            if capacity is None:
                return 400, {"error": {"code": "InvalidParameter", "message": "only sku.capacity is supported"}}, {}
            ss.capacity = int(capacity)
            ss.state = "Updating"

            def done() -> None:
                ss.grow()
                ss.state = "Succeeded"

            headers = self._start_operation(done)
            return 200, self._vmss_json(ss), headers
        return 405, {"error": {"code": "MethodNotAllowed", "message": method}}, {}

    def _vms(self, method: str, ss: ScaleSet, iid: str | None) -> tuple[int, Any, dict[str, str]]:
        if iid is None and method == "GET":
            return 200, {"value": [self._vm_json(ss, i) for i in ss.instances.values()]}, {}
        vm = ss.instances.get(iid or "")
        if vm is None:
            return 404, {"error": {"code": "NotFound", "message": f"instance {iid} not found"}}, {}
        if method == "GET":
            return 200, self._vm_json(ss, vm), {}
        if method == "DELETE":
            vm.state = "Deleting"

            def done() -> None:
                ss.instances.pop(vm.instance_id, None)
                ss.capacity -= 1

            return 202, None, self._start_operation(done)
        return 405, {"error": {"code": "MethodNotAllowed", "message": method}}, {}

    def _start_operation(self, effect: Callable[[], None]) -> dict[str, str]:
        op = secrets.token_hex(8)
        self.operations[op] = Operation(time.monotonic() + self.op_seconds, effect)
        sub = next(iter(self.scale_sets.values())).sub
        url = f"{self.base_url}/subscriptions/{sub}/providers/Microsoft.Compute/locations/{LOCATION}/operations/{op}"
        return {
            "Azure-AsyncOperation": f"{url}?api-version=2026-04-01",
            "Location": f"{url}?api-version=2026-04-01&monitor=true&operationResults=1",
            "Retry-After": "1",
        }

    def _operation(self, op_id: str, location_style: bool) -> tuple[int, Any, dict[str, str]]:
        op = self.operations.get(op_id)
        if op is None:
            return 404, {"error": {"code": "NotFound", "message": "no such operation"}}, {}
        if not op.applied:
            return (
                (202, None, {"Retry-After": "1"})
                if location_style
                else (
                    200,
                    {"name": op_id, "status": "InProgress"},
                    {"Retry-After": "1"},
                )
            )
        return (204, None, {}) if location_style else (200, {"name": op_id, "status": "Succeeded"}, {})

    @staticmethod
    def _vmss_json(ss: ScaleSet) -> dict[str, Any]:
        return {
            "id": ss.resource_id(),
            "name": ss.name,
            "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": LOCATION,
            "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": ss.capacity},
            "properties": {"provisioningState": ss.state, "orchestrationMode": "Uniform"},
        }

    @staticmethod
    def _vm_json(ss: ScaleSet, vm: Instance) -> dict[str, Any]:
        return {
            "id": f"{ss.resource_id()}/virtualMachines/{vm.instance_id}",
            "name": f"{ss.name}_{vm.instance_id}",
            "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            "location": LOCATION,
            "instanceId": vm.instance_id,
            "zones": ["1"],
            "properties": {
                "provisioningState": vm.state,
                "osProfile": {"computerName": f"{ss.name}{int(vm.instance_id):06d}"},
            },
        }


def _handler(arm: FakeArm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, doc, extra = arm.handle(self.command, self.path, headers, body)
            payload = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            if doc is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet; never prints tokens
            return

    return Handler
