"""etcd-backup's pipeline: streamed, checked, encrypted backups to S3, Azure Blob or a directory.

Layer: below the executors (``bot.steps.backup`` plans and runs it), beside the clients; it may
import boto3, azure and grpc. Modules, one idea each:

- ``etcd_client`` — Maintenance.Status/Snapshot over gRPC (the official messages, ``proto/``)
- ``envelope`` — the encrypted format (AES-256-GCM chunks, STREAM nonces; documented there)
- ``keys`` / ``keys_azure`` — data keys wrapped by AWS KMS, Azure Key Vault or a key file
- ``staging`` — stream → encrypted ``.part`` (0600) → fsync → etcd trailer check → rename
- ``storage`` / ``storage_s3`` / ``storage_azure`` — targets: upload in parts, confirm, manifests
- ``manifest`` — ids, object names, the manifest written last (what makes a backup listed)
- ``pipeline`` — etcd backup, listing, retention; ``export`` — API export; ``velero`` — Velero mode
- ``readback`` — fetch, decrypt, verify; ``restore`` — the restore checklist
- ``runner`` — one backup in its mode, recorded in the store; ``schedule`` — the leader's cron jobs
- ``cli`` — ``runbook-bot backup ...`` for the operator
"""
