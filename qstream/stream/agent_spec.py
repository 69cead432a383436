"""Declarative agents and timers: what consumes which topic, and what runs periodically.

An agent module declares an :class:`Agent` (a topic and ``handle(rt, message)``)
or a :class:`Timer`; :mod:`qstream.stream.app` binds them to Faust in one loop,
and :mod:`qstream.stream.testing` feeds them in-memory records. Neither kind
imports Faust.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qstream.config import WorkerConfig
    from qstream.stream.runtime import Runtime


@dataclass(frozen=True)
class Agent:
    """One stream processor.

    Attributes
    ----------
    name:
        Faust agent name, e.g. ``"qstream.agents.dispatch"``.
    topic:
        The topic it consumes.
    handle:
        ``handle(rt, message)``: processes one record (see
        :meth:`qstream.stream.runtime.Runtime.process` for what wraps it).
    what:
        Short label for logs.
    concurrency:
        Records processed concurrently (an executor runs ``capacity`` at once).
    """

    name: str
    topic: str
    handle: Callable[[Runtime, Any], Awaitable[None]]
    what: str
    concurrency: int = 1


@dataclass(frozen=True)
class Timer:
    """A periodic task: ``tick(rt)`` every ``interval_s(config)`` wall seconds."""

    name: str
    interval_s: Callable[[WorkerConfig], float]
    tick: Callable[[Runtime], Awaitable[None]]
