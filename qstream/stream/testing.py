"""An in-process agent harness: run qstream's agents without Faust or a broker.

In the spirit of ``bytewax.testing``: in-memory topics (records with topic,
partition, offset, key, value and headers), in-memory tables with the interface
of :class:`~qstream.stream.durable.JsonTable` and of the predictor snapshot table,
and a producer whose ``flush`` is counted. A :class:`~qstream.stream.runtime.Runtime`
is built over them, and every agent's unchanged ``handle(rt, message)`` runs
through :meth:`Runtime.process <qstream.stream.runtime.Runtime.process>`, the same
wrapper the Faust binding uses (tracing, ``internal`` DLQ entries, state sync).

Examples
--------
>>> import asyncio
>>> from qstream.stream import topics as T
>>> h = Harness()
>>> record = h.produce(T.TELEMETRY, b"not json")
>>> asyncio.run(h.deliver(record))
>>> [entry["reason"] for entry in h.sent(T.DLQ)]
['json']
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor as PoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from qstream.backends.base import Backend
from qstream.backends.fleet import fleet_specs
from qstream.config import WorkerConfig
from qstream.core.backend_spec import BackendSpec
from qstream.stream.agent_spec import Agent
from qstream.stream.ledger import TaskLedger
from qstream.stream.runtime import Runtime


@dataclass(frozen=True)
class Record:
    """One record on an in-memory topic (what a Faust ``Message`` offers the agents)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = None
    sent: bool = False
    """True when the runtime sent it (False: the test produced it)."""

    def decoded(self) -> Any:
        """The value parsed as JSON."""
        return orjson.loads(self.value or b"null")


@dataclass(frozen=True)
class RecordMetadata:
    """Delivery report of one record (the field agents read: ``offset``)."""

    topic: str
    partition: int
    offset: int


class MemoryTopic:
    """One single-partition in-memory topic (the :class:`~qstream.stream.ports.Topic` interface)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[Record] = []

    def append(self, key: bytes | None, value: bytes | None, headers: Any = None, *,
               sent: bool = False) -> Record:
        record = Record(self.name, 0, len(self.records), key, value, headers, sent)
        self.records.append(record)
        return record

    async def send(self, *, key: bytes | None, value: bytes,
                   headers: Any = None) -> asyncio.Future[RecordMetadata]:
        """Append a record; returns an already resolved delivery."""
        record = self.append(key, value, list(headers) if headers else None, sent=True)
        delivery: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        delivery.set_result(RecordMetadata(self.name, 0, record.offset))
        return delivery


class MemoryBroker(dict[str, MemoryTopic]):
    """Topic name -> :class:`MemoryTopic`, created on first use."""

    def __missing__(self, name: str) -> MemoryTopic:
        topic = self[name] = MemoryTopic(name)
        return topic


class MemoryTable:
    """A ``str`` -> JSON-object table with :class:`~qstream.stream.durable.JsonTable`'s interface.

    Values are stored as JSON bytes, as in the changelog, so a restore reads back
    exactly what was written.
    """

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.writes = 0

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.data.get(key)
        return orjson.loads(raw) if raw else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Write ``value``; an unchanged value is not written again."""
        data = orjson.dumps(value)
        if self.data.get(key) != data:
            self.data[key] = data
            self.writes += 1

    def delete(self, key: str) -> None:
        if self.data.pop(key, None) is not None:
            self.writes += 1

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for k, raw in list(self.data.items()):
            if raw:
                yield k, orjson.loads(raw)

    def __len__(self) -> int:
        return len(self.data)


class MemoryProducer:
    """A producer whose ``flush`` only counts (every in-memory send is delivered at once)."""

    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


@dataclass
class Tables:
    """The durable state of one harness: survives :meth:`Harness.restart`."""

    tasks: MemoryTable = field(default_factory=MemoryTable)
    subtasks: MemoryTable = field(default_factory=MemoryTable)
    parts: MemoryTable = field(default_factory=MemoryTable)
    workflows: MemoryTable = field(default_factory=MemoryTable)
    snapshots: dict[bytes, bytes] = field(default_factory=dict)


class Harness:
    """A pipeline worker in one process: a :class:`Runtime` over in-memory topics and tables.

    Parameters
    ----------
    config:
        Worker configuration; default: a ``cpu_statevector``-only fleet.
    specs:
        Fleet specs; default ``fleet_specs(config.fleet)``.
    backends:
        Backend name -> :class:`~qstream.backends.base.Backend`: their execute
        agents are run too (none by default: exec records just accumulate).
    stateful:
        False builds an executor-only runtime (no ledger tables).
    agents:
        The pipeline agents (default :data:`qstream.agents.PIPELINE`).
    classical_pool:
        Where classical solves run (default: a process pool made on first use).
    """

    def __init__(self, config: WorkerConfig | None = None, specs: list[BackendSpec] | None = None,
                 *, backends: dict[str, Backend] | None = None, stateful: bool = True,
                 agents: Iterable[Agent] | None = None,
                 classical_pool: PoolExecutor | None = None) -> None:
        from qstream.agents import PIPELINE, execute

        self.config = config or WorkerConfig(fleet=("cpu_statevector",), local_executors=False)
        self.specs = specs if specs is not None else fleet_specs(self.config.fleet)
        self.broker = MemoryBroker()
        self.producer = MemoryProducer()
        self.tables = Tables()
        self.stateful = stateful
        self.backends = backends or {}
        self.classical_pool = classical_pool
        chosen = list(PIPELINE if agents is None else agents) if stateful else []
        chosen += execute.agents(self.backends)
        self.agents: dict[str, Agent] = {a.topic: a for a in chosen}
        self.cursor: dict[str, int] = {}
        self.rt = self._runtime()

    def _runtime(self) -> Runtime:
        t = self.tables
        ledger = TaskLedger(t.tasks, t.subtasks, t.parts) if self.stateful else TaskLedger()
        rt = Runtime(self.config, self.specs, topics=self.broker, producer=self.producer,
                     ledger=ledger, snapshots=t.snapshots if self.stateful else None,
                     group=self.config.app_id,
                     workflows=t.workflows if self.stateful else None)
        rt.owner = True  # the only worker: it owns the control topics
        rt.backends = dict(self.backends)
        if self.stateful:
            from qstream.agents import RECOVERY

            rt.recovery_hooks.extend(RECOVERY)
        if self.classical_pool is not None:
            rt.workflows.use_pool(self.classical_pool)
        return rt

    def restart(self) -> Runtime:
        """A new runtime (a worker taking over) restored from the same tables and topics.

        Runs :func:`qstream.stream.recovery.restore_state`; records already
        delivered stay delivered (their offsets count as committed).
        """
        from qstream.stream import recovery

        self.rt = self._runtime()
        recovery.restore_state(self.rt)
        return self.rt

    # -- input ----------------------------------------------------------------------------
    def produce(self, topic: str, value: dict[str, Any] | bytes | None, *,
                key: str | bytes | None = None, headers: Any = None) -> Record:
        """Append a record as an outside producer would (a dict is JSON-encoded, unvalidated)."""
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        k = key.encode("utf-8") if isinstance(key, str) else key
        return self.broker[topic].append(k, raw, headers)

    async def deliver(self, record: Record) -> None:
        """Run the agent bound to ``record.topic`` on it (again, if it was delivered before)."""
        agent = self.agents[record.topic]
        await self.rt.process(record, lambda message: agent.handle(self.rt, message), agent.what)
        self.cursor[record.topic] = max(self.cursor.get(record.topic, 0), record.offset + 1)

    async def run(self, max_records: int = 10_000) -> int:
        """Deliver every undelivered record of every bound topic until none is left.

        Returns
        -------
        int
            How many records were delivered.

        Raises
        ------
        RuntimeError
            If more than ``max_records`` records were delivered (a loop).
        """
        delivered = 0
        progress = True
        while progress:
            progress = False
            for topic in list(self.agents):
                records = self.broker[topic].records
                while self.cursor.get(topic, 0) < len(records):
                    await self.deliver(records[self.cursor.get(topic, 0)])
                    delivered += 1
                    progress = True
                    if delivered > max_records:
                        raise RuntimeError(f"more than {max_records} records delivered")
        return delivered

    # -- output ---------------------------------------------------------------------------
    def records(self, topic: str) -> list[Record]:
        """Every record on ``topic`` (produced by the test or sent by the runtime)."""
        return list(self.broker[topic].records)

    def sent(self, topic: str) -> list[Any]:
        """The decoded values the runtime sent to ``topic``, in order."""
        return [r.decoded() for r in self.broker[topic].records if r.sent]

    def count(self) -> dict[str, int]:
        """Topic -> number of records the runtime sent to it so far."""
        return {name: sum(r.sent for r in t.records) for name, t in self.broker.items()}
