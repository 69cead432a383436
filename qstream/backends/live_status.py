"""Live queue and status of a remote device: refreshed in a thread, never blocking.

Shared by the remote adapters (:mod:`qstream.backends.ibm_runtime`,
:mod:`qstream.backends.braket_remote`): the scheduler asks ``pending_jobs()`` and
``operational()`` on the event loop, so they return the values of the last refresh
and, when those are older than ``refresh_s``, start a new refresh in the adapter's
thread pool. A failed refresh is logged and the last values stay.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor

from qstream.errors import BackendError
from qstream.secrets import Credentials

log = logging.getLogger("qstream.backends.remote")


def redacted(text: str, credentials: Credentials | None) -> str:
    """``text`` with every form of the credentials replaced by ``'***'``."""
    from qstream.secrets import RedactingFilter

    return RedactingFilter(credentials.secrets() if credentials else []).redact(text)


class LiveStatus:
    """Mixin: ``pending_jobs()`` and ``operational()`` from a background refresh.

    The adapter sets ``refresh_s``, ``_threads`` (an executor) and ``_lock``, calls
    :meth:`_init_live_status` in its ``__init__`` and implements :meth:`refresh`,
    which ends by calling :meth:`_refreshed` under ``_lock``.
    """

    refresh_s: float
    _threads: Executor
    _lock: threading.Lock

    def _init_live_status(self) -> None:
        self._pending, self._operational = 0, True
        self._refreshed_at = float("-inf")
        self._refreshing = False

    def refresh(self) -> None:
        """Re-read the device's queue and status now (blocking: call it off the loop)."""
        raise NotImplementedError

    def _refreshed(self, pending: int, operational: bool) -> None:
        """Record a refresh's values (call with ``_lock`` held)."""
        self._pending, self._operational = int(pending), bool(operational)
        self._refreshed_at = time.monotonic()

    def _maybe_refresh(self) -> None:
        """Start a refresh in a thread when the last one is older than ``refresh_s``."""
        with self._lock:
            if self._refreshing or time.monotonic() - self._refreshed_at < self.refresh_s:
                return
            self._refreshing = True

        def run() -> None:
            try:
                self.refresh()
            except BackendError as exc:
                log.warning("%s", exc)
            finally:
                with self._lock:
                    self._refreshing = False
        self._threads.submit(run)

    def pending_jobs(self) -> int:
        """Jobs queued on the device at the last refresh (never blocks)."""
        self._maybe_refresh()
        return self._pending

    def operational(self) -> bool:
        """Whether the device was up at the last refresh (never blocks)."""
        self._maybe_refresh()
        return self._operational
