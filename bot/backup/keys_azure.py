"""Azure Key Vault as a key provider: the data key wrapped with an RSA key (RSA-OAEP-256).

Credentials: ``DefaultAzureCredential`` (workload identity, managed identity…) or a service
principal whose secret is read from a mounted file. The vault answers the first request with a
bearer challenge naming its tenant; azure-keyvault-keys follows it. ``authority`` and
``ca_bundle`` point the SDK at a sovereign cloud — or at the fake vault on 127.0.0.1 in tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm

from bot.backup.envelope import WrappedKey
from bot.backup.keys import AZURE_KEY_VAULT, WrongKeyError
from bot.config.backup import AzureKeyVaultKey
from bot.errors import PermanentError, TemporaryError


class AzureKeyVaultProvider:
    """An RSA key in Azure Key Vault (or Managed HSM)."""

    provider = AZURE_KEY_VAULT

    def __init__(self, cfg: AzureKeyVaultKey) -> None:
        self.key_id = cfg.key_id.rstrip("/")
        self._cfg = cfg
        self._transport: dict[str, Any] = {"connection_verify": str(cfg.ca_bundle)} if cfg.ca_bundle else {}
        self._credential: TokenCredential | None = None

    def _client(self, key_id: str) -> CryptographyClient:
        if self._credential is None:
            cfg = self._cfg
            auth: dict[str, Any] = dict(self._transport)
            if cfg.authority:
                auth.update(authority=cfg.authority, disable_instance_discovery=True)
            if cfg.credential == "client_secret":
                assert cfg.tenant_id
                assert cfg.client_id
                assert cfg.client_secret_file
                try:
                    secret = cfg.client_secret_file.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise PermanentError(f"cannot read the Key Vault client secret file: {exc.strerror}") from None
                self._credential = ClientSecretCredential(cfg.tenant_id, cfg.client_id, secret, **auth)
            else:
                self._credential = DefaultAzureCredential(**auth)
        return CryptographyClient(
            key_id,
            self._credential,
            retry_total=3,
            verify_challenge_resource=self._cfg.verify_challenge_resource,
            **self._transport,
        )

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """Wrap a random data key with the vault key (RSA-OAEP-256)."""
        data_key = os.urandom(32)
        with self._errors("wrap the data key"):
            result = self._client(self.key_id).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, data_key)
        kid = str(result.key_id or self.key_id)  # the versioned key id: unwrap needs that exact version
        return data_key, WrappedKey(AZURE_KEY_VAULT, kid, bytes(result.encrypted_key), dict(context))

    def unwrap(self, key: WrappedKey) -> bytes:
        """Unwrap with the key version the backup names (same vault, this provider's credential)."""
        if key.provider != AZURE_KEY_VAULT:
            raise WrongKeyError(f"this backup's key is from {key.provider} ({key.key_id}), not Azure Key Vault")
        vault = self.key_id.split("/keys/")[0]
        if not key.key_id.startswith(vault + "/keys/"):
            raise WrongKeyError(f"this backup's key {key.key_id} is in another vault than {vault}")
        with self._errors("unwrap the data key"):
            result = self._client(key.key_id).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, key.wrapped)
        return bytes(result.key)

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ClientAuthenticationError as exc:
            first = (exc.message or type(exc).__name__).splitlines()[0][:200]
            raise PermanentError(f"Azure Key Vault authentication failed ({operation}): {first}") from None
        except HttpResponseError as exc:
            code = getattr(exc.error, "code", None) if exc.error else None
            text = f"Azure Key Vault cannot {operation}: HTTP {exc.status_code}" + (f" {code}" if code else "")
            if exc.status_code in (429, 500, 502, 503, 504):
                raise TemporaryError(text, delay=5.0) from None
            if exc.status_code in (400, 403, 404):
                raise WrongKeyError(text) from None
            raise PermanentError(text) from None
        except ServiceRequestError as exc:
            raise TemporaryError(f"cannot reach Azure Key Vault to {operation} ({type(exc).__name__})") from None
