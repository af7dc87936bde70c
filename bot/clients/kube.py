"""The one Kubernetes client factory.

Configuration comes from in-cluster service account, or a kubeconfig file and context
(``$KUBECONFIG`` → ``~/.kube/config`` by default). Runbook calls carry impersonation headers
for the requester — user, every group (one header line per group: the stock client keeps one
value per header name, which would silently drop all groups but one), and extras such as the
run id — so the cluster's RBAC governs each call and its audit log names the human.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config

from bot.clients.retry import RetryPolicy
from bot.clients.retry_rest import RetryingREST
from bot.config.settings import ClusterSettings, Settings
from bot.errors import PermanentError

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
IMPERSONATE_EXTRA = "Impersonate-Extra-"


@dataclass(frozen=True)
class Impersonation:
    """Who the calls act as: a user, its groups and extra fields (e.g. run-id, approvers)."""

    user: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @staticmethod
    def of(user: str, groups: Sequence[str] = (), extra: Mapping[str, Sequence[str]] | None = None) -> Impersonation:
        """Build from plain collections (extras sorted so equal identities share a client)."""
        ext = tuple(sorted((k, tuple(v)) for k, v in (extra or {}).items()))
        return Impersonation(user=user, groups=tuple(groups), extra=ext)

    def header_lines(self) -> list[tuple[str, str]]:
        """The impersonation headers, one (name, value) pair per header line."""
        lines = [(IMPERSONATE_USER, self.user)]
        lines += [(IMPERSONATE_GROUP, g) for g in self.groups]
        for key, values in self.extra:
            # Extra keys are case-insensitive and percent-encoded in the header name.
            name = IMPERSONATE_EXTRA + quote(key.lower(), safe="")
            lines += [(name, quote(v, safe="")) for v in values]
        return lines


class _ImpersonatingREST(RetryingREST):
    """The retrying REST client, sending every impersonation header line (groups included)."""

    def __init__(self, configuration: client.Configuration, policy: RetryPolicy, lines: list[tuple[str, str]]) -> None:
        super().__init__(configuration, policy)
        self._lines = lines

    def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: Any = None,
        body: Any = None,
        post_params: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
    ) -> Any:
        merged = urllib3.HTTPHeaderDict(dict(headers or {}))
        for name in {n for n, _ in self._lines}:
            merged.discard(name)
        for name, value in self._lines:
            merged.add(name, value)
        return super().request(method, url, query_params, merged, body, post_params, _preload_content, _request_timeout)


@dataclass
class KubeAccess:
    """API clients for one cluster, acting as one identity. Hand these to executors."""

    cluster: str
    api_client: client.ApiClient
    timeout: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    _apis: dict[type[Any], Any] = field(default_factory=dict)

    def api(self, api_type: type[Any]) -> Any:
        """An API group object (``client.CoreV1Api``…) bound to this identity."""
        if api_type not in self._apis:
            self._apis[api_type] = api_type(self.api_client)
        return self._apis[api_type]

    @property
    def core(self) -> client.CoreV1Api:
        """CoreV1Api."""
        return self.api(client.CoreV1Api)

    @property
    def apps(self) -> client.AppsV1Api:
        """AppsV1Api."""
        return self.api(client.AppsV1Api)

    def list_raw(self, list_call: Any, *, page_size: int = 500, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Yield every item of a list call as plain JSON dicts, page by page.

        Raw JSON skips the generated model classes: listing 30,000 pods this way is several times
        faster and lighter than building V1Pod objects. Each page is retried by the client's policy
        (bot/clients/retry_rest.py reads the body inside the retry).
        """
        token: str | None = None
        while True:
            resp = list_call(
                limit=page_size, _continue=token, _preload_content=False, _request_timeout=self.timeout, **kwargs
            )
            body = json.loads(resp.data)
            yield from body.get("items") or []
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return


class KubeClients:
    """Builds and caches API clients per (cluster, identity)."""

    MAX_CACHED = 64

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._base: dict[str, client.Configuration] = {}
        self._cache: OrderedDict[tuple[str, Impersonation | None], client.ApiClient] = OrderedDict()
        self._lock = threading.Lock()

    def cluster_settings(self, cluster: str) -> ClusterSettings:
        """The settings of ``cluster`` (a PermanentError when unknown)."""
        try:
            return self._settings.clusters[cluster]
        except KeyError:
            raise PermanentError(f"cluster {cluster!r} is not configured") from None

    def configuration(self, cluster: str) -> client.Configuration:
        """The base (bot identity) configuration of ``cluster``, loaded once."""
        with self._lock:
            if cluster not in self._base:
                self._base[cluster] = _load_configuration(self.cluster_settings(cluster))
            return self._base[cluster]

    def access(self, cluster: str, as_identity: Impersonation | None) -> KubeAccess:
        """Clients for ``cluster`` acting as ``as_identity`` (None: the bot's own credentials)."""
        base = self.configuration(cluster)
        settings = self.cluster_settings(cluster)
        policy = RetryPolicy.from_settings(settings.api_retry)
        key = (cluster, as_identity)
        with self._lock:
            api = self._cache.get(key)
            if api is None:
                api = client.ApiClient(configuration=base)
                api.user_agent = "k8s-runbook-bot/0.1"
                # One retry policy for every request (bot/clients/retry_rest.py decides which may repeat).
                if as_identity is not None:
                    api.rest_client = _ImpersonatingREST(base, policy, as_identity.header_lines())
                else:
                    api.rest_client = RetryingREST(base, policy)
                self._cache[key] = api
                while len(self._cache) > self.MAX_CACHED:
                    _, old = self._cache.popitem(last=False)
                    old.close()
            else:
                self._cache.move_to_end(key)
        return KubeAccess(cluster=cluster, api_client=api, timeout=settings.request_timeout_seconds, retry=policy)

    def close(self) -> None:
        """Close every cached client."""
        with self._lock:
            for api in self._cache.values():
                api.close()
            self._cache.clear()


def _load_configuration(cs: ClusterSettings) -> client.Configuration:
    cfg = client.Configuration()
    try:
        if cs.in_cluster:
            config.load_incluster_config(client_configuration=cfg)
        else:
            config.load_kube_config(
                config_file=str(cs.kubeconfig) if cs.kubeconfig else None,
                context=cs.context,
                client_configuration=cfg,
                persist_config=False,
            )
    except (config.ConfigException, OSError) as exc:
        where = "in-cluster service account" if cs.in_cluster else f"kubeconfig {cs.kubeconfig or '(default)'}"
        ctx = f" context {cs.context!r}" if cs.context else ""
        # The exception text never contains credentials, only names and paths.
        raise PermanentError(f"cannot load {where}{ctx}: {exc}") from None
    # No urllib3 retries (they are immediate, without backoff): bot/clients/retry.py is the one policy.
    cfg.retries = False
    return cfg
