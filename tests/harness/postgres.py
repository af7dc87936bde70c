"""A real, throw-away PostgreSQL server for the store tests, from Debian's ``postgresql`` package.

``PostgresServer`` runs ``initdb`` into a temporary folder and starts ``postgres`` on a free
127.0.0.1 port (unix socket in the same folder, fsync off), waits until it accepts connections,
and creates databases on demand (``new_database``). PostgreSQL refuses to run as root, so when
the tests run as root the server runs as the unprivileged ``postgres`` user (created with
``useradd`` if missing) and the folder is handed to it. ``stop()`` shuts it down (fast mode)
and removes the folder.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import psycopg
from psycopg import sql

from tests.harness.control_plane import LOOPBACK, free_port

#: Where Debian's packages put the server binaries, one folder per major version.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresError(RuntimeError):
    """The PostgreSQL server could not be found, initialised or started."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding ``initdb`` and ``postgres``."""
    found = [
        d
        for d in Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/"))
        if (d / "postgres").is_file() and (d / "initdb").is_file()
    ]
    if not found:
        raise PostgresError(
            f"no PostgreSQL server binaries in {DEBIAN_BIN_GLOB}: apt-get install postgresql (bash .ci/run does)"
        )
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def _run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root (created if missing); else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SUPERUSER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SUPERUSER)


def _reachable_by_others(path: Path) -> bool:
    """True if every ancestor of ``path`` lets other users through (o+x), so the server user can reach it."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGKILL the server if pytest dies without stopping it (set after the uid change, so it sticks)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class PostgresServer:
    """A PostgreSQL server on 127.0.0.1 with trust authentication for ``postgres``.

    Use as a context manager, or call ``start()`` and ``stop()``. After start: ``port``, ``url``
    (the ``postgres`` database), ``version`` and ``startup_seconds``.
    """

    def __init__(self, bin_dir: Path | None = None, *, timeout: float = 60.0) -> None:
        """Prepare (not start) a server using ``bin_dir`` (default: the newest Debian install)."""
        self.bin_dir = bin_dir
        self.timeout = timeout
        self.port = 0
        self.version = ""
        self.startup_seconds = 0.0
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._user = _run_as_user()

    def __enter__(self) -> PostgresServer:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the server and remove its files."""
        self.stop()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL (psycopg 3) of database ``name`` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@{LOOPBACK}:{self.port}/{name}"

    def new_database(self, name: str) -> str:
        """Create an empty database ``name`` (lower-case letters, digits, ``_``) and return its URL."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}")
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """initdb, start ``postgres`` and wait until it accepts connections (``PostgresError`` if not)."""
        began = time.monotonic()
        bin_dir = self.bin_dir or find_bin_dir()
        self.bin_dir = bin_dir
        parent = Path(tempfile.gettempdir())
        if self._user is not None and not _reachable_by_others(parent):
            parent = Path("/tmp")
        self._tmp = Path(tempfile.mkdtemp(prefix="k8s-runbook-bot-pg-", dir=parent))
        atexit.register(self.stop)
        try:
            self._initdb(bin_dir)
            for attempt in range(3):  # the free port may be taken between choosing and binding it
                self.port = free_port()
                if self._start_postgres(bin_dir, last=attempt == 2):
                    break
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Shut the server down (fast: SIGINT, then SIGKILL) and remove its folder."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients, unlike SIGTERM ("smart")
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        atexit.unregister(self.stop)

    # ------------------------------------------------------------------------------- helpers
    def _as_server_user(self) -> dict[str, object]:
        """``subprocess`` arguments that run a command as the server's user, in its folder."""
        assert self._tmp is not None
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        args: dict[str, object] = {"cwd": self._tmp, "env": env, "stdin": subprocess.DEVNULL}
        if self._user is not None:
            args.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
            env["HOME"] = str(self._tmp)
        return args

    def _initdb(self, bin_dir: Path) -> None:
        assert self._tmp is not None
        data, sockets = self._tmp / "data", self._tmp / "sockets"
        sockets.mkdir()
        if self._user is not None:
            for path in (self._tmp, sockets):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        self._tmp.chmod(0o700)
        done = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            check=False,
            **self._as_server_user(),  # type: ignore[call-overload]
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise PostgresError(f"initdb failed with code {done.returncode}:\n{output[-3000:]}")

    def _start_postgres(self, bin_dir: Path, *, last: bool) -> bool:
        """Start the server on ``self.port``; False if the port was taken (and ``last`` is False)."""
        assert self._tmp is not None
        log_path = self._tmp / f"postgres-{self.port}.log"
        self._log = log_path.open("wb")
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self._tmp / "sockets"),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            "timezone": "UTC",
        }
        command = [str(bin_dir / "postgres"), "-D", str(self._tmp / "data")]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        self._proc = subprocess.Popen(  # type: ignore[call-overload]
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            **self._as_server_user(),
        )
        deadline = time.monotonic() + self.timeout
        last_error = ""
        while time.monotonic() < deadline:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                log = log_path.read_text(errors="replace")
                self._proc = None
                self._log.close()
                if "could not bind" in log and not last:
                    return False
                raise PostgresError(f"postgres exited with code {code}; its log:\n{log[-3000:]}")
            try:
                with self._connect() as conn:
                    row = conn.execute("SHOW server_version").fetchone()
                    self.version = str(row[0]) if row else "?"
                return True
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
            time.sleep(0.05)
        log = log_path.read_text(errors="replace")
        raise PostgresError(
            f"postgres did not accept connections within {self.timeout:.0f}s ({last_error}); its log:\n{log[-3000:]}"
        )

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=LOOPBACK, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True, connect_timeout=5
        )
