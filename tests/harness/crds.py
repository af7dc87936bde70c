"""Router (and kwok) CustomResourceDefinitions from their published Go modules, cached per version.

Each set is fetched with ``go mod download -json MODULE@VERSION`` (the Go module proxy holds the
projects' source zips) and the CRD manifests are copied to
``~/.cache/k8s-runbook-bot/crds-<name>-<version>/``, so only the first run on a machine downloads
them. ``python -m tests.harness.crds`` fetches every set (``.ci/run`` does this on a fresh machine).
Tests install the CRDs they need into the real API server with ``install_crds``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.harness.binaries import CACHE_ROOT


@dataclass(frozen=True)
class CrdSet:
    """A module, its version, and the CRD manifest files inside it."""

    module: str
    version: str
    files: tuple[str, ...]


CRD_SETS: dict[str, CrdSet] = {
    "gateway-api": CrdSet(
        "sigs.k8s.io/gateway-api",
        "v1.6.3",
        ("config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",),
    ),
    "contour": CrdSet("github.com/projectcontour/contour", "v1.33.8", ("examples/contour/01-crds.yaml",)),
    "istio": CrdSet("istio.io/api", "v1.32.0", ("kubernetes/customresourcedefinitions.gen.yaml",)),
    # v1.10.2 requires go >= 1.26.10 in its go.mod; v1.10.1 is the newest this machine's Go accepts.
    "argo-rollouts": CrdSet("github.com/argoproj/argo-rollouts", "v1.10.1", ("manifests/crds/rollout-crd.yaml",)),
    "flagger": CrdSet("github.com/fluxcd/flagger", "v1.36.1", ("artifacts/flagger/crd.yaml",)),
    "kwok": CrdSet("sigs.k8s.io/kwok", "v0.8.0", ("kustomize/crd/bases/kwok.x-k8s.io_logs.yaml",)),
}


def crd_dir(name: str) -> Path:
    """The cache folder of one set (filled by ``fetch``)."""
    spec = CRD_SETS[name]
    return CACHE_ROOT / f"crds-{name}-{spec.version}"


def fetch(name: str) -> Path:
    """Download the module once and keep its CRD files; return the folder."""
    spec = CRD_SETS[name]
    folder = crd_dir(name)
    if (folder / "complete").is_file():
        return folder
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    res = subprocess.run(
        ["go", "mod", "download", "-json", f"{spec.module}@{spec.version}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    info = json.loads(res.stdout or "{}")
    if res.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {spec.module}@{spec.version} failed: {info.get('Error') or res.stderr}")
    tmp = Path(tempfile.mkdtemp(prefix=f"crds-{name}-", dir=CACHE_ROOT if CACHE_ROOT.exists() else None))
    for rel in spec.files:
        source = Path(info["Dir"]) / rel
        if not source.is_file():
            raise RuntimeError(f"{spec.module}@{spec.version} has no {rel}")
        shutil.copyfile(source, tmp / Path(rel).name)
    (tmp / "complete").write_text(f"{spec.module}@{spec.version}\n")
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def crd_documents(name: str, plurals: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of a set (only those whose plural is listed, when given)."""
    folder = fetch(name)
    docs: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            if plurals and doc["spec"]["names"]["plural"] not in plurals:
                continue
            docs.append(doc)
    if not docs:
        raise RuntimeError(f"no CRDs {plurals or ''} found in {folder}")
    return docs


def install_crds(api: client.ApiClient, name: str, plurals: tuple[str, ...] = (), timeout: float = 60) -> list[str]:
    """Create (or replace) the CRDs and wait until each is Established; return their names."""
    ext = client.ApiextensionsV1Api(api)
    names = []
    for doc in crd_documents(name, plurals):
        doc.get("metadata", {}).pop("creationTimestamp", None)
        crd_name = doc["metadata"]["name"]
        try:
            ext.create_custom_resource_definition(doc)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            current = ext.read_custom_resource_definition(crd_name)
            doc["metadata"]["resourceVersion"] = current.metadata.resource_version
            ext.replace_custom_resource_definition(crd_name, doc)
        names.append(crd_name)
    deadline = time.monotonic() + timeout
    for crd_name in names:
        while True:
            crd = ext.read_custom_resource_definition(crd_name)
            conditions = (crd.status.conditions if crd.status else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {crd_name} not Established after {timeout:.0f}s")
            time.sleep(0.1)
    return names


if __name__ == "__main__":
    for set_name in CRD_SETS:
        print(fetch(set_name))
