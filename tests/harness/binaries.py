"""Build (or reuse) the real control-plane binaries the integration tests run against.

Nothing on PyPI, npm or Debian ships kube-apiserver, so the binaries are built from their
published Go modules and cached outside the repository, keyed by version, so only the first
run on a machine pays for the build. ``KUBEBUILDER_ASSETS`` (the envtest convention) wins
when it names a folder that already holds every binary.

Run ``python -m tests.harness.binaries`` to build ahead of the test run; it prints the folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"

KUBERNETES_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
REQUIRED = (*KUBERNETES_BINARIES, "etcd", "etcdutl", "kwok", "helm")

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "k8s-runbook-bot"


def cache_dir() -> Path:
    """The folder for this exact set of versions."""
    key = f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_kwok-{KWOK_VERSION}_helm-{HELM_VERSION}"
    return CACHE_ROOT / "bin" / key


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in REQUIRED)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    print("+", " ".join(args), f"(in {cwd})", file=sys.stderr, flush=True)
    subprocess.run(args, cwd=cwd, env=env, check=True)


def _go_env(gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    env["CGO_ENABLED"] = "0"
    env["GOTOOLCHAIN"] = "local"
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


def _proxy() -> str:
    out = subprocess.run(["go", "env", "GOPROXY"], capture_output=True, text=True, check=True)
    first = out.stdout.strip().split(",")[0]
    return first if first.startswith("http") else "https://proxy.golang.org"


def _staging_replaces(version: str) -> list[str]:
    """``replace`` lines mapping each k8s.io staging module to its published v0.X.Y tag."""
    url = f"{_proxy()}/k8s.io/kubernetes/@v/{version}.mod"
    with urllib.request.urlopen(url, timeout=120) as resp:
        gomod = resp.read().decode()
    staging_version = "v0." + version[len("v1.") :]
    modules = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", gomod, flags=re.M)
    if not modules:
        raise RuntimeError(f"no staging modules found in k8s.io/kubernetes {version} go.mod")
    return [f"replace {m} => {m} {staging_version}" for m in sorted(set(modules))]


def _build_kubernetes(out: Path, work: Path) -> None:
    mod = work / "kubernetes"
    mod.mkdir(parents=True, exist_ok=True)
    minor = KUBERNETES_VERSION.split(".")[1]
    (mod / "go.mod").write_text(
        "module k8sbuild\n\ngo 1.26\n\n"
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}\n\n" + "\n".join(_staging_replaces(KUBERNETES_VERSION)) + "\n"
    )
    # cmd packages cannot be imported, so a tools file is not possible: resolve by `go get`.
    env = _go_env()
    pkgs = [f"k8s.io/kubernetes/cmd/{b}" for b in KUBERNETES_BINARIES]
    _run(["go", "get", *[f"{p}@{KUBERNETES_VERSION}" for p in pkgs]], mod, env)
    ldflags = (
        f"-s -w -X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}"
        f" -X k8s.io/component-base/version.gitMajor=1"
        f" -X k8s.io/component-base/version.gitMinor={minor}"
        f" -X k8s.io/client-go/pkg/version.gitVersion={KUBERNETES_VERSION}"
    )
    _run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out) + "/", *pkgs], mod, env)


def _build_etcd(out: Path, work: Path) -> None:
    """etcd from a wrapper calling ``etcdmain.Main``; etcdutl built from the same module graph.

    ``go install etcdutl@v`` is refused because etcdutl's go.mod has replace directives, so both
    are built inside one wrapper module that requires them.
    """
    mod = work / "etcd"
    (mod / "cmd" / "etcd").mkdir(parents=True, exist_ok=True)
    (mod / "go.mod").write_text(f"module etcdwrap\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n")
    (mod / "cmd" / "etcd" / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
        "func main() { etcdmain.Main(os.Args) }\n"
    )
    env = _go_env()
    _run(
        ["go", "get", f"go.etcd.io/etcd/etcdutl/v3@{ETCD_VERSION}", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}"],
        mod,
        env,
    )
    _run(["go", "mod", "tidy"], mod, env)
    _run(["go", "get", f"go.etcd.io/etcd/etcdutl/v3@{ETCD_VERSION}"], mod, env)
    flags = ["-trimpath", "-ldflags", "-s -w"]
    _run(["go", "build", *flags, "-o", str(out / "etcd"), "./cmd/etcd"], mod, env)
    _run(["go", "build", *flags, "-o", str(out / "etcdutl"), "go.etcd.io/etcd/etcdutl/v3"], mod, env)


def _install(out: Path, work: Path, pkg: str) -> None:
    _run(["go", "install", "-trimpath", "-ldflags", "-s -w", pkg], work, _go_env(out))


def build(out: Path) -> Path:
    """Build every missing binary into ``out`` (atomically per tool) and return it."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="k8s-runbook-bot-build-") as tmp:
        work = Path(tmp)
        if not all((out / b).exists() for b in KUBERNETES_BINARIES):
            _build_kubernetes(out, work)
        if not (out / "etcd").exists() or not (out / "etcdutl").exists():
            _build_etcd(out, work)
        if not (out / "kwok").exists():
            _install(out, work, f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}")
        if not (out / "helm").exists():
            _install(out, work, f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}")
    missing = [b for b in REQUIRED if not (out / b).exists()]
    if missing:
        raise RuntimeError(f"build finished but these binaries are missing from {out}: {missing}")
    (out / "versions.json").write_text(
        json.dumps(
            {"kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "kwok": KWOK_VERSION, "helm": HELM_VERSION},
            indent=2,
        )
    )
    return out


def gateway_api_crds() -> Path:
    """The cached folder of the Gateway API CRDs (see ``tests.harness.crds``: one place for every CRD set)."""
    from tests.harness.crds import fetch

    return fetch("gateway-api")


def ensure_binaries() -> Path:
    """Return a folder holding every required binary, building it on first use."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and _has_all(Path(assets)):
        return Path(assets)
    folder = cache_dir()
    if _has_all(folder):
        return folder
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build the test control plane binaries and is not on PATH")
    return build(folder)


if __name__ == "__main__":
    print(ensure_binaries())
