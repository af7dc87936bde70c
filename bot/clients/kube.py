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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client

from bot.clients.cluster_access import load_configuration
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


class KubeAccess:
    """API clients for one cluster, acting as one identity. Hand these to executors.

    The client is built on first use, so a run that never calls the cluster (``help``) works
    without a kubeconfig; a cluster that cannot be loaded fails there with a ClusterUnavailableError.
    """

    def __init__(
        self,
        cluster: str,
        api_client: client.ApiClient | Callable[[], client.ApiClient],
        timeout: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.cluster = cluster
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._api_client = api_client if isinstance(api_client, client.ApiClient) else None
        self._connect = None if isinstance(api_client, client.ApiClient) else api_client
        self._apis: dict[type[Any], Any] = {}

    @property
    def api_client(self) -> client.ApiClient:
        """The ApiClient of this identity (built, and the cluster's configuration loaded, on first use)."""
        if self._api_client is None:
            assert self._connect is not None
            self._api_client = self._connect()
        return self._api_client

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
        """The base (bot identity) configuration of ``cluster``, loaded once (ClusterUnavailableError: why not)."""
        with self._lock:
            if cluster not in self._base:
                self._base[cluster] = load_configuration(cluster, self.cluster_settings(cluster))
            return self._base[cluster]

    def access(self, cluster: str, as_identity: Impersonation | None) -> KubeAccess:
        """Clients for ``cluster`` acting as ``as_identity`` (None: the bot's own credentials).

        Nothing is loaded until the first call: the configuration (kubeconfig) is read then.
        """
        settings = self.cluster_settings(cluster)
        policy = RetryPolicy.from_settings(settings.api_retry)
        return KubeAccess(
            cluster=cluster,
            api_client=lambda: self._api_client(cluster, as_identity, policy),
            timeout=settings.request_timeout_seconds,
            retry=policy,
        )

    def _api_client(self, cluster: str, as_identity: Impersonation | None, policy: RetryPolicy) -> client.ApiClient:
        base = self.configuration(cluster)
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
        return api

    def close(self) -> None:
        """Close every cached client."""
        with self._lock:
            for api in self._cache.values():
                api.close()
            self._cache.clear()
