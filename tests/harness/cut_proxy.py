"""A TCP proxy on 127.0.0.1 that damages transfers on demand: real network faults for upload tests.

Byte counts are of the client → server direction, all connections together.

- ``arm(after_bytes, stay_down)``: once that many bytes went upstream, every open connection is
  reset (RST). With ``stay_down`` the proxy then resets every new connection too (the target is
  gone); without, it cuts once and lets the retries through.
- ``flip(after_bytes)``: the byte at that position is inverted on its way, once (a corrupting path).
- ``hold(after_bytes)``: forwarding upstream stops there until ``release()``; ``held`` is set once
  data is waiting (a stalled transfer, to act while it is in flight).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from tests.harness.control_plane import LOOPBACK


class CuttingProxy:
    """Forward 127.0.0.1:<port> to ``upstream`` (host, port); cut on demand."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._sent = 0
        self._cut_after: int | None = None
        self._stay_down = False
        self.down = False
        self.cuts = 0
        self._stopped = False
        self._flip_at: int | None = None
        self.flipped = 0
        self._hold_at: int | None = None
        self.held = threading.Event()
        self._released = threading.Event()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> CuttingProxy:
        """Accept connections in a background thread."""
        threading.Thread(target=self._accept, name="cut-proxy", daemon=True).start()
        return self

    def arm(self, after_bytes: int, *, stay_down: bool) -> None:
        """Cut once ``after_bytes`` more bytes went upstream; ``stay_down``: refuse everything afterwards."""
        with self._lock:
            self._sent = 0
            self._cut_after = after_bytes
            self._stay_down = stay_down
            self.down = False

    def flip(self, after_bytes: int) -> None:
        """Invert the upstream byte ``after_bytes`` from now, once."""
        with self._lock:
            self._sent = 0
            self._flip_at = after_bytes

    def hold(self, after_bytes: int) -> None:
        """Stop forwarding upstream once ``after_bytes`` more bytes went, until ``release()``."""
        with self._lock:
            self._sent = 0
            self._hold_at = after_bytes
            self.held.clear()
            self._released.clear()

    def release(self) -> None:
        """Let held data through."""
        self._released.set()

    def stop(self) -> None:
        """Close everything."""
        self._stopped = True
        self._released.set()
        self._listener.close()
        self._cut_all()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    data = self._tamper(data)
                    if self._count(len(data)):
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _tamper(self, data: bytes) -> bytes:
        """Flip the armed byte if it is in ``data``; wait at the armed hold."""
        hold = False
        with self._lock:
            start = self._sent
            if self._flip_at is not None and start <= self._flip_at < start + len(data):
                at = self._flip_at - start
                data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
                self._flip_at = None
                self.flipped += 1
            if self._hold_at is not None and start + len(data) > self._hold_at:
                self._hold_at = None
                hold = True
        if hold:
            self.held.set()
            self._released.wait()
        return data

    def _count(self, n: int) -> bool:
        """Add ``n`` upstream bytes; True (and every connection reset) when that crosses the armed limit."""
        with self._lock:
            self._sent += n
            if self._cut_after is None or self._sent < self._cut_after:
                return False
            self._cut_after = None
            self.cuts += 1
            self.down = self._stay_down
        self._cut_all()
        return True

    def _cut_all(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for s in sockets:
            _reset(s)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a connection reset, as when a network path dies."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
