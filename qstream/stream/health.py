"""Liveness and readiness of a worker or executor process: a heartbeat file.

A ``qstream worker`` or ``qstream executor`` started with ``QSTREAM_HEALTH_FILE=PATH``
rewrites PATH every ``QSTREAM_HEALTH_INTERVAL_S`` wall seconds (default 5) from a Faust
timer, that is from its running event loop: a process that has not started its app yet,
or whose loop is blocked, stops refreshing the file. ``qstream health`` (an exec probe
for Kubernetes, see ``deploy/k8s/``) exits 0 while the file is younger than
``--max-age-s``.

The file holds the Unix time of the last beat, as text; it is written to a temporary
file and renamed, so a probe never reads half a write. The check uses the file's own
content, not its modification time, so that a copied or restored file is not mistaken
for a live process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import faust

    from qstream.config import WorkerConfig


def beat(path: str | os.PathLike[str], now_s: float | None = None) -> None:
    """Write the heartbeat (``now_s``, Unix seconds; None: the current time) to ``path``."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(repr(time.time() if now_s is None else now_s), encoding="ascii")
    os.replace(tmp, target)


def check(path: str | os.PathLike[str], max_age_s: float, now_s: float | None = None) -> str | None:
    """None when the heartbeat at ``path`` is at most ``max_age_s`` seconds old, else why not.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "hb"
    >>> check(p, 30)
    'no heartbeat file ...hb (the process has not started its app)'
    >>> beat(p, now_s=1000.0)
    >>> check(p, 30, now_s=1010.0) is None, check(p, 30, now_s=1031.0)
    (True, 'last heartbeat 31.0 s ago, over 30 s')
    """
    try:
        raw = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        return f"no heartbeat file {path} (the process has not started its app)"
    try:
        last_s = float(raw)
    except ValueError:
        return f"heartbeat file {path} does not hold a time: {raw[:40]!r}"
    age_s = (time.time() if now_s is None else now_s) - last_s
    if age_s > max_age_s:
        return f"last heartbeat {age_s:.1f} s ago, over {max_age_s:g} s"
    return None


def attach(app: faust.App, config: WorkerConfig) -> None:
    """Beat to ``config.health_file`` every ``config.health_interval_s`` from ``app``'s loop
    (nothing when ``health_file`` is None)."""
    path = config.health_file
    if path is None:
        return

    async def heartbeat() -> None:
        beat(path)

    app.timer(interval=config.health_interval_s, name="qstream.health")(heartbeat)
