"""The restore checklist: the exact steps to restore one backup on one control-plane layout.

Restoring etcd is never automated — it stops the whole control plane — but at 2 a.m. the operator
should not have to look anything up. The checklist names the backup, the command that downloads
and decrypts it, the checks to run on the file, how this layout's API servers and etcd are
stopped, the ``etcdutl snapshot restore`` command (``--bump-revision 1000000000
--mark-compacted``: clients and controllers see revisions move forward and re-list, instead of
trusting caches newer than the restored state), the data-dir swap, the restart and the checks
afterwards. Steps that run a command carry it as an argument list (``argv``): the tests run
those commands against a real etcd, and the text shown is ``shlex.join`` of the same lists.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from bot.backup.manifest import BackupManifest

BUMP_REVISION = "1000000000"


@dataclass(frozen=True)
class Layout:
    """Where one control-plane layout keeps etcd, and how its API servers and etcd stop and start."""

    name: str
    data_dir: str
    client_port: int
    stop: tuple[str, ...]
    start: tuple[str, ...]
    etcdctl_tls: str
    notes: tuple[str, ...] = ()


LAYOUTS: dict[str, Layout] = {
    "kubeadm": Layout(
        "kubeadm (static pods)",
        "/var/lib/etcd",
        2379,
        (
            "sudo mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/manifests/etcd.yaml "
            "/etc/kubernetes/",
            "sudo crictl ps --name 'kube-apiserver|etcd'   # wait until both are gone",
        ),
        (
            "sudo mv /etc/kubernetes/etcd.yaml /etc/kubernetes/manifests/   # wait for etcd to be healthy",
            "sudo mv /etc/kubernetes/kube-apiserver.yaml /etc/kubernetes/manifests/",
        ),
        "--cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
        "--key /etc/kubernetes/pki/etcd/healthcheck-client.key",
    ),
    "aks-engine": Layout(
        "aks-engine (etcd as a systemd service, API server as a static pod)",
        "/var/lib/etcddisk",
        2379,
        (
            "sudo mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/",
            "sudo systemctl stop etcd",
        ),
        (
            "sudo chown -R etcd:etcd /var/lib/etcddisk && sudo systemctl start etcd",
            "sudo mv /etc/kubernetes/kube-apiserver.yaml /etc/kubernetes/manifests/",
        ),
        "--cacert /etc/kubernetes/certs/ca.crt --cert /etc/kubernetes/certs/etcdclient.crt "
        "--key /etc/kubernetes/certs/etcdclient.key",
        ("masters are standalone VMs (not a scale set): do every step on each master",),
    ),
    "kops": Layout(
        "kops (etcd-manager)",
        "<etcd-manager data dir: sudo ls -d /mnt/master-vol-*/data/*>",
        4001,
        (
            "sudo mv /etc/kubernetes/manifests/kube-apiserver.manifest "
            "/etc/kubernetes/manifests/etcd-manager-main.manifest /etc/kubernetes/",
            "sudo crictl ps --name 'kube-apiserver|etcd-manager'   # wait until both are gone",
        ),
        (
            "sudo mv /etc/kubernetes/etcd-manager-main.manifest /etc/kubernetes/manifests/",
            "sudo mv /etc/kubernetes/kube-apiserver.manifest /etc/kubernetes/manifests/",
        ),
        "--cacert /etc/kubernetes/pki/kube-apiserver/etcd-ca.crt "
        "--cert /etc/kubernetes/pki/kube-apiserver/etcd-client.crt "
        "--key /etc/kubernetes/pki/kube-apiserver/etcd-client.key",
        (
            "etcd-manager also keeps its own backups in the kops state store; if one of the same moment exists, "
            "`etcd-manager-ctl --backup-store=<state store>/backups/etcd/main restore-backup <name>` is the "
            "etcd-manager-native alternative to steps 3-6",
        ),
    ),
    "other": Layout(
        "other",
        "<etcd data dir>",
        2379,
        ("stop every kube-apiserver, then every etcd member",),
        ("start every etcd member and wait for a healthy cluster, then start the API servers",),
        "--cacert <etcd ca> --cert <client cert> --key <client key>",
    ),
}


@dataclass
class ChecklistStep:
    """One step: what to do, the commands to type (``argv``: runnable argument lists), and notes."""

    title: str
    argv: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def text(self) -> list[str]:
        """The step's lines as shown: each command, then the notes."""
        return [shlex.join(a) for a in self.argv] + self.lines


@dataclass
class RestoreValues:
    """The per-member values the operator fills in (the tests use real ones)."""

    snapshot: str = "snapshot.db"
    member: str = "<member name, e.g. the node name>"
    peer_url: str = "https://<member ip>:2380"
    initial_cluster: str = "<name1>=https://<ip1>:2380,<name2>=https://<ip2>:2380,..."
    cluster_token: str = "<new token, e.g. etcd-restored-1>"  # noqa: S105 - a placeholder, not a secret
    data_dir: str | None = None  # default: the layout's
    restored_dir: str | None = None  # default: <data dir>-restored


def restore_checklist(
    manifest: BackupManifest, layout_name: str, values: RestoreValues | None = None
) -> list[ChecklistStep]:
    """The steps to restore ``manifest`` on a ``layout_name`` control plane."""
    v = values or RestoreValues()
    layout = LAYOUTS.get(layout_name, LAYOUTS["other"])
    data_dir = v.data_dir or layout.data_dir
    restored = v.restored_dir or f"{data_dir.rstrip('/')}-restored"
    snap = v.snapshot
    return [
        ChecklistStep(
            "1. Download and decrypt the backup (where the bot's configuration and key access are)",
            [
                ["runbook-bot", "backup", "fetch", manifest.id, "--cluster", manifest.cluster, "--decrypt", "-o", snap],
                ["sha256sum", snap],
                ["etcdutl", "snapshot", "status", snap, "-w", "table"],
            ],
            [
                f"sha256sum must print {manifest.plaintext_sha256}",
                f"status must show revision {manifest.revision}; then copy {snap} to every control-plane node",
            ],
        ),
        ChecklistStep(
            f"2. Stop the API servers, then etcd, on EVERY control-plane node ({layout.name})",
            lines=list(layout.stop),
        ),
        ChecklistStep(
            "3. Restore the snapshot into a new data dir, on each member with ITS name and peer URL",
            [
                [
                    "etcdutl",
                    "snapshot",
                    "restore",
                    snap,
                    "--data-dir",
                    restored,
                    "--name",
                    v.member,
                    "--initial-cluster",
                    v.initial_cluster,
                    "--initial-cluster-token",
                    v.cluster_token,
                    "--initial-advertise-peer-urls",
                    v.peer_url,
                    "--bump-revision",
                    BUMP_REVISION,
                    "--mark-compacted",
                ]
            ],
            ["run as root (the data dir must be owned like the old one); the same snapshot file on every member"],
        ),
        ChecklistStep(
            "4. Swap the data dirs (keep the old one until the cluster is verified)",
            [["mv", data_dir, f"{data_dir.rstrip('/')}.before-{manifest.id}"], ["mv", restored, data_dir]],
        ),
        ChecklistStep("5. Start etcd on every member, then the API servers", lines=list(layout.start)),
        ChecklistStep(
            "6. Verify",
            lines=[
                f"ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:{layout.client_port} {layout.etcdctl_tls} "
                "endpoint status -w table   # every member, same revision",
                "kubectl get --raw='/readyz?verbose' && kubectl get nodes",
                "restart kube-controller-manager, kube-scheduler and the kubelets (their caches predate the restore)",
                "take a new backup at once: /k8s etcd-backup",
                *layout.notes,
            ],
        ),
    ]
