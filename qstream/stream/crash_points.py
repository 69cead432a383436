"""Named crash points for fault-injection tests of failover (never set in production).

``QSTREAM_CRASH_AT=NAME[:N]`` makes the worker SIGKILL itself the N-th time
(default: the first) it passes crash point ``NAME``. Tests use it to die at the
exact moments a random kill only hits by luck, e.g. between sending a result
and recording that it was sent. Points in the code:

``result-recorded``
    A result is recorded as ``publishing`` and flushed, not yet sent.
``result-sent``
    A result was delivered to ``qstream.results``; its task is not yet ``done``.
"""

from __future__ import annotations

import os
import signal

ENV = "QSTREAM_CRASH_AT"
_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process if ``QSTREAM_CRASH_AT`` selects this pass of ``name``."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, _, nth = spec.partition(":")
    if wanted != name:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == int(nth or 1):
        # Like a container's OOM kill: the worker's simulator processes die with it
        # when it leads its process group (as the tests start it).
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
