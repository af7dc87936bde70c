"""Why a cluster cannot be used, in one line that says what to do — never a traceback.

Three things stand between the bot and a cluster: a kubeconfig (or the pod's service account), the
network path to the API server, and credentials the server accepts. ``load_configuration`` reads
the first and explains a missing file, a missing context or a broken file; ``unreachable`` and
``unauthorized`` explain the other two (the engine's error boundary uses them); ``probe_cluster``
checks all three at once with one ``GET /version`` and no retries (``check-config``, ``serve``).
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from bot.clients.retry import exception_chain
from bot.config.settings import ClusterSettings
from bot.errors import ClusterUnavailableError, ClusterUnreachableError

DEFAULT_KUBECONFIG = "~/.kube/config"
PROBE_TIMEOUT_SECONDS = 5.0


def kubeconfig_source(cluster: str, cs: ClusterSettings) -> tuple[list[Path], str]:
    """The kubeconfig file(s) a cluster reads and where that choice comes from (for messages)."""
    if cs.kubeconfig is not None:
        return [cs.kubeconfig], f"clusters.{cluster}.kubeconfig"
    env = os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    if paths:
        return paths, "$KUBECONFIG"
    return [Path(DEFAULT_KUBECONFIG).expanduser()], f"the default {DEFAULT_KUBECONFIG}"


def load_configuration(cluster: str, cs: ClusterSettings) -> client.Configuration:
    """The client configuration of ``cluster`` (the bot's own identity); ClusterUnavailableError says why not."""
    cfg = client.Configuration()
    if cs.in_cluster:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except (config.ConfigException, OSError) as exc:
            raise ClusterUnavailableError(
                f"cluster {cluster}: in_cluster is set but this process has no in-cluster service account "
                f"({exc}) — run the bot in a pod of that cluster, or set clusters.{cluster}.kubeconfig instead"
            ) from None
    else:
        _load_kubeconfig(cluster, cs, cfg)
    # No urllib3 retries (they are immediate, without backoff): bot/clients/retry.py is the one policy.
    cfg.retries = False
    return cfg


def _load_kubeconfig(cluster: str, cs: ClusterSettings, cfg: client.Configuration) -> None:
    paths, source = kubeconfig_source(cluster, cs)
    shown = os.pathsep.join(str(p.absolute()) for p in paths)  # relative paths are read from the working directory
    if not any(p.is_file() for p in paths):
        raise ClusterUnavailableError(
            f"cluster {cluster}: no kubeconfig at {shown} ({source}) — mount one there or point "
            f"clusters.{cluster}.kubeconfig (or $KUBECONFIG) at one; inside that cluster, set "
            f"clusters.{cluster}.in_cluster: true instead"
        )
    try:
        config.load_kube_config(
            config_file=str(cs.kubeconfig) if cs.kubeconfig else None,
            context=cs.context,
            client_configuration=cfg,
            persist_config=False,
        )
    except Exception as exc:  # noqa: BLE001 - the loader raises TypeError/KeyError/… on malformed files: one line each
        raise ClusterUnavailableError(_kubeconfig_problem(cluster, cs, shown, exc)) from None


def _kubeconfig_problem(cluster: str, cs: ClusterSettings, shown: str, exc: Exception) -> str:
    """A kubeconfig that exists but cannot be used: a context it lacks, or a broken file."""
    text = " ".join(str(exc).split())  # names and paths only: the loader never puts credentials in messages
    if cs.context and f"name {cs.context} in" in text:
        try:
            contexts, _ = config.list_kube_config_contexts(str(cs.kubeconfig) if cs.kubeconfig else None)
            names = ", ".join(c["name"] for c in contexts) or "none"
        except Exception:  # noqa: BLE001 - only to list the alternatives; the main message stands without them
            names = "unknown"
        return (
            f"cluster {cluster}: kubeconfig {shown} has no context {cs.context!r} (it has: {names}) — "
            f"set clusters.{cluster}.context to one of them"
        )
    if "No configuration found" in text:
        return (
            f"cluster {cluster}: kubeconfig {shown} is empty or not a kubeconfig — "
            f"check it with `kubectl --kubeconfig {shown} config view`"
        )
    if "current-context" in text:
        return (
            f"cluster {cluster}: kubeconfig {shown} names no current context and clusters.{cluster}.context is "
            f"not set — set clusters.{cluster}.context"
        )
    return (
        f"cluster {cluster}: kubeconfig {shown} cannot be used ({text or type(exc).__name__}) — "
        f"check it with `kubectl --kubeconfig {shown} config view`"
    )


def _address(chain: list[BaseException]) -> str:
    """``host:port`` of the API server, from the connection pool or connection urllib3 names."""
    for e in chain:
        holder: object = None
        if isinstance(e, urllib3.exceptions.NewConnectionError):
            holder = e.conn
        elif isinstance(e, urllib3.exceptions.PoolError):  # MaxRetryError among them
            holder = e.pool
        host, port = getattr(holder, "host", None), getattr(holder, "port", None)
        if host:
            return f"{host}:{port}" if port else str(host)
    return ""


# (exception types, what happened, what to check) — the first match in this order wins.
_CAUSES: tuple[tuple[tuple[type[BaseException], ...], str, str], ...] = (
    (
        (ssl.SSLCertVerificationError,),
        "its TLS certificate is not trusted",
        "check the kubeconfig's certificate-authority(-data) for this server",
    ),
    (
        (ConnectionRefusedError,),
        "connection refused",
        "is the API server running, and is the kubeconfig's server address right?",
    ),
    (
        (urllib3.exceptions.NameResolutionError, socket.gaierror),
        "its host name does not resolve",
        "check the server address in the kubeconfig and this host's DNS",
    ),
    (
        (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError, TimeoutError),
        "timed out",
        "check the network path to it (firewall, VPN, NetworkPolicy egress)",
    ),
    (
        (ConnectionError, urllib3.exceptions.ProtocolError, ssl.SSLError),
        "the connection failed",
        "check that the address is the API server's and that it is up",
    ),
)


def unreachable(cluster: str, exc: BaseException) -> ClusterUnreachableError:
    """The error for an API server that cannot be reached: where, why, and what to check."""
    chain = list(exception_chain(exc))
    address = _address(chain)
    where = f" at {address}" if address else ""
    for types, what, check in _CAUSES:
        if any(isinstance(e, types) for e in chain):
            return ClusterUnreachableError(f"cluster {cluster}: cannot reach the API server{where} ({what}) — {check}")
    name = type(chain[-1] if chain else exc).__name__
    return ClusterUnreachableError(
        f"cluster {cluster}: cannot reach the API server{where} ({name}) — check that the cluster is up and reachable"
    )


def unauthorized(cluster: str) -> ClusterUnavailableError:
    """The error for a 401: the API server does not accept the bot's own credentials."""
    return ClusterUnavailableError(
        f"cluster {cluster}: the API server refused the bot's credentials (401 Unauthorized) — the kubeconfig's "
        "token or client certificate is wrong or expired: renew it (`kubectl auth whoami` with the same kubeconfig "
        "shows whether it works)"
    )


def failure_line(cluster: str, exc: BaseException) -> str:
    """One line for any failure to use ``cluster``: its configuration, a 401, another HTTP status, the network."""
    if isinstance(exc, ClusterUnavailableError | ClusterUnreachableError):
        return str(exc)
    if isinstance(exc, ApiException) and exc.status == 401:
        return str(unauthorized(cluster))
    if isinstance(exc, ApiException) and exc.status:
        return f"cluster {cluster}: the API server answered {exc.status} {exc.reason or ''}".rstrip()
    return str(unreachable(cluster, exc))


@dataclass(frozen=True)
class ClusterProbe:
    """One cluster checked: usable (with the server's version) or the one line saying why not."""

    cluster: str
    ok: bool
    line: str
    configuration: bool = False  # the problem is the bot's own configuration (it will not fix itself)


def probe_cluster(cluster: str, cs: ClusterSettings, timeout: float = PROBE_TIMEOUT_SECONDS) -> ClusterProbe:
    """Load the cluster's configuration and ask ``GET /version`` once (no retries, ``timeout`` seconds)."""
    try:
        cfg = load_configuration(cluster, cs)
    except ClusterUnavailableError as exc:
        return ClusterProbe(cluster, False, str(exc), configuration=True)
    api = client.ApiClient(configuration=cfg)
    try:
        info = client.VersionApi(api).get_code(_request_timeout=timeout)
    except ApiException as exc:
        if exc.status == 401:
            return ClusterProbe(cluster, False, str(unauthorized(cluster)))
        if exc.status:
            return ClusterProbe(cluster, True, f"cluster {cluster}: reachable at {cfg.host} (/version: {exc.status})")
        return ClusterProbe(cluster, False, str(unreachable(cluster, exc)))
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return ClusterProbe(cluster, False, str(unreachable(cluster, exc)))
    finally:
        api.close()
    return ClusterProbe(cluster, True, f"cluster {cluster}: reachable at {cfg.host}, Kubernetes {info.git_version}")
