"""The small interfaces a :class:`~qstream.stream.runtime.Runtime` depends on.

The live worker fills them with Faust objects (:mod:`qstream.stream.app`); the
in-process harness (:mod:`qstream.stream.testing`) with in-memory ones. Nothing
here imports Faust.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any, Protocol


class Delivery(Protocol):
    """What a delivered record's metadata offers (aiokafka ``RecordMetadata``)."""

    @property
    def offset(self) -> int: ...


class Topic(Protocol):
    """A topic one can send raw records to (a Faust ``TopicT`` with the raw serializers)."""

    async def send(self, *, key: bytes | None, value: bytes,
                   headers: Any = None) -> Awaitable[Delivery]:
        """Queue one record; the returned awaitable resolves once the broker has it."""
        ...


class Producer(Protocol):
    """The worker's producer: ``flush`` waits until every queued record (changelog
    writes included) is acknowledged."""

    async def flush(self) -> None: ...


class Table(Protocol):
    """A table of ``str`` keys and JSON-object values (:class:`~qstream.stream.durable.JsonTable`)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Write ``value`` (an unchanged value need not be written again)."""
        ...

    def delete(self, key: str) -> None: ...

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every ``(key, value)``, as a snapshot: the caller may write meanwhile."""
        ...

    def __len__(self) -> int: ...


class SnapshotTable(Protocol):
    """A ``bytes -> bytes`` table (the changelog-backed predictor snapshot table)."""

    def get(self, key: bytes) -> bytes | None: ...

    def __setitem__(self, key: bytes, value: bytes) -> None: ...


class Message(Protocol):
    """One consumed record (a Faust ``Message``, or the harness's ``Record``)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Any: ...
