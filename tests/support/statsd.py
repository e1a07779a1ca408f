"""A statsd server for the tests: a UDP socket that keeps every metric line it receives."""

from __future__ import annotations

import socket
import threading


class StatsdListener:
    """Receives statsd packets (``name:value|type[|@rate][|#tags]``) on 127.0.0.1."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.5)
        self.port: int = self._socket.getsockname()[1]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.lines.extend(
                    line for line in data.decode(errors="replace").splitlines() if line
                )

    def names(self) -> set[str]:
        """Every metric name received so far."""
        with self._lock:
            return {line.split(":", 1)[0] for line in self.lines}

    def close(self) -> None:
        self._stop.set()
        self._socket.close()
