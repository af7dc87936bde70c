"""Key providers: each backup gets a fresh 256-bit data key, stored only wrapped by a key-encryption key.

* ``aws-kms``: KMS ``GenerateDataKey`` (AES_256) with an encryption context naming the cluster and
  the backup; ``Decrypt`` (with the same context) unwraps. The bot never sees the KMS key itself.
* ``azure-key-vault``: a random data key wrapped with the vault's RSA key (RSA-OAEP-256,
  ``wrapKey``/``unwrapKey``; see ``bot.backup.keys_azure``).
* ``key-file``: a 256-bit key from a mounted Secret; the data key is sealed with AES-256-GCM
  (AAD: the key id and the context). Its id is a fingerprint of the key, never the key.

Unwrapping with another key than the one a backup names fails with ``WrongKeyError`` saying which
key the backup needs — the operator restoring at 2 a.m. learns what to configure.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.backup.envelope import WrappedKey
from bot.config.backup import AwsKmsKey, KeyFileKey, read_key_file
from bot.errors import PermanentError, TemporaryError

AWS_KMS = "aws-kms"
AZURE_KEY_VAULT = "azure-key-vault"
KEY_FILE = "key-file"


class WrongKeyError(PermanentError):
    """The data key cannot be unwrapped with the configured key (another key, or a corrupt header)."""


class KeyProvider(Protocol):
    """Creates wrapped data keys and unwraps them."""

    provider: str
    key_id: str

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """A fresh 32-byte data key and its wrapped form."""
        ...

    def unwrap(self, key: WrappedKey) -> bytes:
        """The data key of ``key``; WrongKeyError when this provider cannot unwrap it."""
        ...


class KeyFileProvider:
    """A key-encryption key read from a file (a mounted Kubernetes Secret)."""

    provider = KEY_FILE

    def __init__(self, cfg: KeyFileKey) -> None:
        try:
            self._kek = read_key_file(cfg.path)
        except ValueError as exc:
            raise PermanentError(str(exc)) from None
        self.key_id = f"{KEY_FILE}:{hashlib.sha256(b'k8s-runbook-bot/key-file/' + self._kek).hexdigest()[:16]}"

    def _aad(self, context: Mapping[str, str]) -> bytes:
        return (self.key_id + json.dumps(dict(context), sort_keys=True)).encode()

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """AES-256-GCM-seal a random data key under the file's key."""
        data_key, nonce = os.urandom(32), os.urandom(12)
        sealed = nonce + AESGCM(self._kek).encrypt(nonce, data_key, self._aad(context))
        return data_key, WrappedKey(KEY_FILE, self.key_id, sealed, dict(context))

    def unwrap(self, key: WrappedKey) -> bytes:
        """Open the sealed data key (the backup must name this key's fingerprint)."""
        if key.key_id != self.key_id:
            raise WrongKeyError(f"this backup was encrypted with {key.key_id}; the configured key is {self.key_id}")
        try:
            return AESGCM(self._kek).decrypt(key.wrapped[:12], key.wrapped[12:], self._aad(key.context))
        except (InvalidTag, ValueError):
            raise WrongKeyError(f"the data key does not open with {self.key_id}: the header is corrupt") from None


class AwsKmsProvider:
    """An AWS KMS key (credentials from boto3's chain: IRSA, instance role, environment, profile)."""

    provider = AWS_KMS

    def __init__(self, cfg: AwsKmsKey) -> None:
        import boto3
        from botocore.config import Config

        self.key_id = cfg.key_id
        self._region = cfg.region
        with self._errors("connect"):
            session = boto3.session.Session(profile_name=cfg.profile, region_name=cfg.region)
            self._kms: Any = session.client(
                "kms",
                endpoint_url=cfg.endpoint_url,
                verify=str(cfg.ca_bundle) if cfg.ca_bundle else None,
                config=Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="k8s-runbook-bot"),
            )

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """``GenerateDataKey`` (AES_256) bound to ``context``."""
        with self._errors("GenerateDataKey"):
            out = self._kms.generate_data_key(KeyId=self.key_id, KeySpec="AES_256", EncryptionContext=dict(context))
        return bytes(out["Plaintext"]), WrappedKey(
            AWS_KMS, str(out["KeyId"]), bytes(out["CiphertextBlob"]), dict(context)
        )

    def unwrap(self, key: WrappedKey) -> bytes:
        """``Decrypt`` with the backup's encryption context."""
        if key.provider != AWS_KMS:
            raise WrongKeyError(f"this backup's key is from {key.provider} ({key.key_id}), not AWS KMS")
        with self._errors("Decrypt"):
            out = self._kms.decrypt(CiphertextBlob=key.wrapped, EncryptionContext=dict(key.context))
        return bytes(out["Plaintext"])

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        import botocore.exceptions

        try:
            yield
        except botocore.exceptions.NoCredentialsError:
            raise PermanentError("no AWS credentials for KMS: give the bot an IAM role or AWS_* variables") from None
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error") or {}
            code, message = str(err.get("Code", "")), str(err.get("Message", ""))
            text = f"AWS KMS {operation} failed in {self._region}: {code}: {message}".rstrip(": ")
            if code in ("InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"):
                raise WrongKeyError(text) from None
            if code in ("ThrottlingException", "KMSInternalException", "DependencyTimeoutException"):
                raise TemporaryError(text, delay=5.0) from None
            raise PermanentError(text) from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError) as exc:
            raise TemporaryError(f"cannot reach AWS KMS in {self._region} ({type(exc).__name__})") from None
