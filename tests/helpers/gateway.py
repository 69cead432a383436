"""Run the HTTP gateway in process: uvicorn on 127.0.0.1, port 0, in a thread of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from qstream.config import WorkerConfig
from qstream.gateway.app import create_app
from qstream.gateway.service import Gateway


@contextmanager
def running_gateway(broker_url: str, timeout_s: float = 60.0, **settings: object,
                    ) -> Iterator[str]:
    """A fresh gateway (new app, new index rebuilt from the topics) serving until exit;
    yields its base URL once ``/readyz`` answers 200."""
    app = create_app(Gateway(WorkerConfig(broker=broker_url, **settings)))  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("the gateway did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        while httpx.get(f"{base}/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise AssertionError(f"the gateway is not ready: {httpx.get(f'{base}/readyz').text}")
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(30)
