"""Two fixes for faust-streaming 0.15.3's at-least-once guarantee, applied to every worker.

**Commits skip records still being processed.** An agent with ``concurrency > 1``
(qstream's executors: one actor per backend credit) acks records out of order.
``Consumer._new_offset`` is meant to commit only the acked run that starts at
the committed offset, but its head-gap check is off by one (``min(acked) -
committed > 1``) and is skipped while nothing was committed yet, so with record
10 still executing and 11 done it commits 12. A worker SIGKILLed then never
re-runs record 10 (tests/unit/test_faust_fixes.py shows the commit; a loaded CI
run lost one sub-task this way in each of its 2 crash-point tests). The fix
hides acked offsets above the oldest delivered but unacked record of the
partition from Faust's computation.

**Flush returns early.** Faust writes table changes with ``send_soon`` into a
``ProducerBuffer`` and relies on ``Producer.flush()`` before it commits source offsets (at-least-once:
a committed record's state changes must be in the changelog). Its
``ProducerBuffer.flush`` can return with messages not yet produced:

1. it gives up when no message leaves the buffer for 0.1 s (a busy loop on a
   loaded machine), and
2. it does not see the message its sender task has taken off the queue but not
   yet handed to the Kafka producer, whose own ``flush()`` then misses it too.

Either way a SIGKILL right after the "flush" loses table writes whose source
offsets get committed. Measured here: a worker killed right after flushing a
``publishing`` result record left no such record in the changelog in 2 of 3 runs
(tests/integration/test_crash_points.py). The fix tracks every buffered message's
future (a ``FutureMessage`` resolves when the broker acknowledges it) and makes
``flush`` wait until all of them are done.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer

_APPLIED = False
ORIGINAL_NEW_OFFSET: Any = None
"""Faust's own ``Consumer._new_offset`` (set by :func:`apply`; tests show its bug)."""


def apply() -> None:
    """Patch :class:`faust.transport.producer.ProducerBuffer` (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _APPLIED = True
    original_put = ProducerBuffer.put
    original_flush = ProducerBuffer.flush

    def put(self: Any, fut: Any) -> None:
        unsent: set[Any] = self.__dict__.setdefault("_qstream_unsent", set())
        unsent.add(fut)
        fut.add_done_callback(unsent.discard)
        original_put(self, fut)

    async def flush(self: Any) -> None:
        unsent: set[Any] = self.__dict__.setdefault("_qstream_unsent", set())
        while True:
            await original_flush(self)
            if not unsent or self.should_stop:
                return  # stopping: nothing will resolve them any more
            # Delivery failures are the sender's to report; flush only waits.
            await asyncio.wait(list(unsent), timeout=1.0)

    ProducerBuffer.put = put  # type: ignore[method-assign]
    ProducerBuffer.flush = flush  # type: ignore[method-assign]

    global ORIGINAL_NEW_OFFSET
    original_new_offset = ORIGINAL_NEW_OFFSET = Consumer._new_offset

    def _new_offset(self: Any, tp: Any) -> int | None:
        unacked = [m.offset for m in list(self._unacked_messages)
                   if m.tp == tp and not m.acked]
        if not unacked:
            return original_new_offset(self, tp)
        oldest = min(unacked)
        acked = self._acked[tp]
        held = [o for o in acked if o > oldest]
        if held:
            acked[:] = [o for o in acked if o < oldest]
        try:
            return original_new_offset(self, tp) if acked else None
        finally:
            acked.extend(held)  # committable once the older record is acked

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
