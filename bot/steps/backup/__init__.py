"""etcd-backup's executors: take a backup, list, verify, and print the restore checklist.

The work is done by ``bot.backup`` (the pipeline); these steps plan it, gate it on the
requester's RBAC and turn its results into reports.

Who may do what is decided by the cluster's RBAC, with SubjectAccessReview on a resource that
exists only for this purpose — ``etcdbackups.runbook-bot.io`` (cluster-wide; no CRD needed):
``create`` to take a backup, ``list`` to list, ``get`` to verify a backup or print its restore
checklist. A snapshot holds every Secret of the cluster, so the right to cause one must be
granted on purpose, not implied by any everyday permission. When the etcd client certificate
comes from a Secret, the requester must also be allowed to ``get`` that Secret (it is read as
them): anyone who may read it could snapshot etcd directly, so the bot grants nothing new.
"""

from bot.steps.backup.browse import ListBackups, RestoreChecklist, VerifyBackup
from bot.steps.backup.create import EtcdBackup

__all__ = ["EtcdBackup", "ListBackups", "RestoreChecklist", "VerifyBackup"]
