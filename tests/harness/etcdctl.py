"""``etcdctl`` (the etcd-backup benchmark's reference: ``etcdctl snapshot save``), built once per machine.

Built from its published Go module into ``~/.cache/k8s-runbook-bot/etcdctl-<version>/`` — its own
cache folder, so the control-plane binaries' cache key is untouched. ``go install etcdctl@v`` is
refused (etcdctl's go.mod has replace directives), so it is built inside a small wrapper module
that requires it, as ``binaries.py`` does for etcdutl. ``python -m tests.harness.etcdctl`` builds it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tests.harness.binaries import CACHE_ROOT, ETCD_VERSION, _go_env, _run


def etcdctl_dir() -> Path:
    """The cache folder of this etcdctl version."""
    return CACHE_ROOT / f"etcdctl-{ETCD_VERSION}"


def ensure_etcdctl() -> Path:
    """The etcdctl binary, built on first use."""
    exe = etcdctl_dir() / "etcdctl"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build etcdctl and is not on PATH")
    exe.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="etcdctl-build-") as tmp:
        mod = Path(tmp)
        (mod / "go.mod").write_text("module etcdctlwrap\n\ngo 1.26\n")
        env = _go_env()
        _run(["go", "get", f"go.etcd.io/etcd/etcdctl/v3@{ETCD_VERSION}"], mod, env)
        partial = exe.with_name("etcdctl.part")
        _run(
            ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), "go.etcd.io/etcd/etcdctl/v3"],
            mod,
            env,
        )
        partial.replace(exe)
    return exe


if __name__ == "__main__":
    print(ensure_etcdctl())
