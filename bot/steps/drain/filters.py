"""kubectl drain's pod filters, as pure functions over raw pod JSON.

Order and meaning follow kubectl: mirror pods are skipped; DaemonSet pods are skipped with
--ignore-daemonsets (an orphaned one — its DaemonSet is gone — needs --force); finished pods are
always evictable; pods with emptyDir need --delete-emptydir-data; pods with no controller need
--force. Anything refused stops the drain before the first eviction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


@dataclass(frozen=True)
class DrainOptions:
    """The drain flags that change which pods may be evicted."""

    force: bool = False
    delete_emptydir_data: bool = False
    ignore_daemonsets: bool = True


@dataclass
class PodVerdicts:
    """Pods sorted by what the drain does with them."""

    evict: list[Obj] = field(default_factory=list)
    skipped: list[tuple[Obj, str]] = field(default_factory=list)
    refused: list[tuple[Obj, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def pod_key(pod: Obj) -> str:
    """``namespace/name``."""
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def controller_of(pod: Obj) -> Obj | None:
    """The controlling owner reference, if any."""
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def _finished(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def _has_emptydir(pod: Obj) -> bool:
    return any("emptyDir" in v for v in pod.get("spec", {}).get("volumes") or [])


def _daemonset_pod(
    pod: Obj, owner: Obj, opts: DrainOptions, daemonset_exists: Callable[[str, str], bool], out: PodVerdicts
) -> None:
    """kubectl's rules for a DaemonSet pod: kept with --ignore-daemonsets; orphaned ones need --force."""
    meta = pod.get("metadata", {})
    if not daemonset_exists(meta.get("namespace", ""), owner.get("name", "")):
        if opts.force:
            out.evict.append(pod)
            out.warnings.append(f"{pod_key(pod)}: its DaemonSet is gone; evicting because of --force")
        else:
            out.refused.append((pod, "its DaemonSet no longer exists (orphaned); use --force"))
    elif opts.ignore_daemonsets:
        out.skipped.append((pod, "DaemonSet pod (kept, as --ignore-daemonsets)"))
    else:
        out.refused.append((pod, "managed by a DaemonSet; use --ignore-daemonsets"))


def classify(pods: list[Obj], opts: DrainOptions, daemonset_exists: Callable[[str, str], bool]) -> PodVerdicts:
    """Sort the pods of a node the way kubectl drain does.

    ``daemonset_exists(namespace, name)`` tells whether a DaemonSet owner still exists.
    """
    out = PodVerdicts()
    for pod in pods:
        meta = pod.get("metadata", {})
        if meta.get("deletionTimestamp"):
            out.skipped.append((pod, "already terminating"))
            continue
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            out.skipped.append((pod, "mirror (static) pod"))
            continue
        owner = controller_of(pod)
        if owner is not None and owner.get("kind") == "DaemonSet":
            _daemonset_pod(pod, owner, opts, daemonset_exists, out)
            continue
        if _finished(pod):
            out.evict.append(pod)
            continue
        refusals = []
        if _has_emptydir(pod) and not opts.delete_emptydir_data:
            refusals.append("uses emptyDir (its local data would be lost); use --delete-emptydir-data")
        if owner is None and not opts.force:
            refusals.append("has no controller (it would not be recreated); use --force")
        if refusals:
            out.refused.append((pod, "; ".join(refusals)))
            continue
        if owner is None:
            out.warnings.append(f"{pod_key(pod)}: no controller; deleted for good because of --force")
        if _has_emptydir(pod):
            out.warnings.append(f"{pod_key(pod)}: emptyDir data will be deleted")
        out.evict.append(pod)
    return out
