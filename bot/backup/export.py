"""API export, for clusters without etcd access (EKS, AKS, GKE): every listable object, as an encrypted tar.

Discovery (``/api``, ``/apis``, preferred version of each group) → every resource that supports
``list`` (subresources and ``backup.clusters.*.export_exclude`` left out) → listed page by page
→ one JSON file per object in a tar streamed straight into the same encrypting ``.part`` file as
an etcd snapshot, so Secrets are encrypted exactly like everything else and nothing is held in
memory beyond one page. Objects keep their ``apiVersion``/``kind``; ``metadata.managedFields``
is dropped. The archive ends with ``index.json``: counts per resource and what was skipped (a
resource the identity may not list is skipped and named, never silently missing).

Archive layout: ``<group or core>/<version>/<resource>/<namespace or _cluster>/<name>.json``.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.backup.pipeline import BackupOutcome, _publish, key_context, new_checked_data_key, stage_path
from bot.backup.setup import ClusterBackups, ProgressReporter
from bot.backup.staging import EncryptingSink, stage
from bot.errors import AbortedError, PermanentError

if TYPE_CHECKING:
    from bot.clients.kube import KubeAccess


@dataclass(frozen=True)
class ApiResource:
    """One listable resource of the preferred version of its group."""

    group: str
    version: str
    name: str
    kind: str
    namespaced: bool

    @property
    def path(self) -> str:
        """The list URL (all namespaces)."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        return f"{base}/{self.name}"

    @property
    def qualified(self) -> str:
        """``deployments.apps`` / ``secrets``."""
        return self.name + (f".{self.group}" if self.group else "")

    @property
    def api_version(self) -> str:
        """``apps/v1`` / ``v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version


def get_json(kube: KubeAccess, path: str, query: list[tuple[str, Any]] | None = None) -> tuple[int, Any]:
    """GET ``path`` as the access's identity: (HTTP status, parsed body or None)."""
    from kubernetes.client.exceptions import ApiException

    try:
        resp = kube.api_client.call_api(
            path,
            "GET",
            query_params=query or [],
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=kube.timeout,
        )
    except ApiException as exc:
        return int(exc.status or 0), None
    raw = resp[0] if isinstance(resp, tuple) else resp  # (response, status, headers) or the response alone
    return int(raw.status), json.loads(raw.data)


def discover(kube: KubeAccess, exclude: list[str]) -> list[ApiResource]:
    """Every listable resource (preferred version per group), sorted; PermanentError if discovery fails."""
    groups: list[tuple[str, str]] = [("", "v1")]
    status, body = get_json(kube, "/apis")
    if status != 200 or body is None:
        raise PermanentError(f"API discovery (/apis) answered HTTP {status}")
    for group in body.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("version")
        if preferred:
            groups.append((str(group["name"]), str(preferred)))
    found = []
    for group, version in groups:
        path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        status, doc = get_json(kube, path)
        if status != 200 or doc is None:
            continue  # an aggregated API that is down: its resources are not listable now
        for r in doc.get("resources") or []:
            res = ApiResource(group, version, str(r["name"]), str(r.get("kind", "")), bool(r.get("namespaced")))
            if "/" in res.name or "list" not in (r.get("verbs") or []):
                continue
            if res.name in exclude or res.qualified in exclude:
                continue
            found.append(res)
    return sorted(found, key=lambda r: (r.group, r.name))


def has_velero(kube: KubeAccess) -> bool:
    """Whether the Velero ``backups.velero.io`` resource is served (the CRD is installed)."""
    status, doc = get_json(kube, "/apis/velero.io/v1")
    return status == 200 and any(r.get("name") == "backups" for r in (doc or {}).get("resources") or [])


def _pages(kube: KubeAccess, res: ApiResource) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    token: str | None = None
    while True:
        query: list[tuple[str, Any]] = [("limit", 500)] + ([("continue", token)] if token else [])
        status, body = get_json(kube, res.path, query)
        if status != 200 or body is None:
            yield status, []
            return
        yield status, list(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return


@dataclass
class ExportCounts:
    """What went into the archive."""

    objects: int = 0
    per_resource: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def write_archive(
    sink: EncryptingSink,
    kube: KubeAccess,
    resources: list[ApiResource],
    abort: threading.Event,
    tick: Callable[[int], None],
) -> ExportCounts:
    """Stream every object of ``resources`` into a tar in ``sink``."""
    counts = ExportCounts()
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for res in resources:
            for status, items in _pages(kube, res):
                if abort.is_set():
                    raise AbortedError("aborted during the API export; nothing was stored")
                if status != 200:
                    counts.skipped.append(f"{res.qualified}: HTTP {status}" + (" (forbidden)" if status == 403 else ""))
                    break
                for item in items:
                    item.setdefault("apiVersion", res.api_version)
                    item.setdefault("kind", res.kind)
                    meta = item.get("metadata") or {}
                    meta.pop("managedFields", None)
                    where = meta.get("namespace") or "_cluster"
                    name = f"{res.group or 'core'}/{res.version}/{res.name}/{where}/{meta.get('name', 'unnamed')}.json"
                    _add(tar, name, json.dumps(item, sort_keys=True).encode())
                    counts.objects += 1
                    counts.per_resource[res.qualified] = counts.per_resource.get(res.qualified, 0) + 1
                tick(counts.objects)
        index = {"resources": counts.per_resource, "skipped": counts.skipped, "objects": counts.objects}
        _add(tar, "index.json", json.dumps(index, indent=2, sort_keys=True).encode())
    return counts


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def api_export(
    setup: ClusterBackups,
    kube: KubeAccess,
    *,
    target: str | None,
    report: ProgressReporter,
    abort: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupOutcome:
    """Export every listable object as ``kube``'s identity, encrypted, to ``target``; apply retention."""
    began = time.monotonic()
    resources = discover(kube, setup.cfg.export_exclude)
    report.say(f"exporting {len(resources)} resource types")
    created = clock()
    data_key, wrapped = new_checked_data_key(setup, key_context(setup.cluster, "api-export", created))
    holder: list[ExportCounts] = []

    def produce(sink: EncryptingSink) -> None:
        holder.append(write_archive(sink, kube, resources, abort, lambda n: report.counted(n, "objects exported")))

    staged = stage(
        stage_path(setup, created, ".tar.enc"), data_key, wrapped, "api-export", produce, snapshot_trailer=False
    )
    del data_key
    counts = holder[0]
    report.say(
        f"exported {counts.objects} objects" + (f"; skipped {len(counts.skipped)} resources" if counts.skipped else "")
    )
    return _publish(
        setup,
        staged,
        target,
        created,
        None,
        None,
        report,
        abort,
        began,
        time.monotonic() - began,
        resources=counts.objects,
        skipped=counts.skipped,
    )
