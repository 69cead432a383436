"""The Faust app: one app, every agent bound to it (the faust-examples layout).

``create_worker_app`` builds the pipeline worker (partition, dispatch, learn,
reallocate, post-process and, by default, the executors of the whole fleet).
``create_executor_app`` builds an executor-only process for some backends, which
joins its own consumer group so executors scale out across machines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import faust

from qstream.backends.fleet import build_fleet, fleet_specs
from qstream.config import WorkerConfig
from qstream.core.backend_spec import BackendSpec
from qstream.stream import faust_fixes, health, security, tansu_compat
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent, Timer
from qstream.stream.durable import JsonTable
from qstream.stream.ledger import TaskLedger
from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.app")


def _faust_settings(config: WorkerConfig, app_id: str) -> dict[str, Any]:
    faust_fixes.apply()
    settings: dict[str, Any] = {
        "broker": config.broker,
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "web_enabled": False,
        "topic_partitions": 1,
        "topic_replication_factor": 1,
        "topic_allow_declare": True,
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "stream_wait_empty": False,
        "table_cleanup_interval": 3600.0,
    }
    credentials = security.faust_credentials(config.kafka)
    if credentials is not None:
        settings["broker_credentials"] = credentials
    if tansu_compat.is_tansu(config.broker):
        tansu_compat.register()
        settings.update(tansu_compat.APP_SETTINGS)
        settings["producer_acks"] = 1
    return {"id": app_id, **settings}


_RAW: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                        "key_serializer": "raw", "value_serializer": "raw"}


def _topics(app: faust.App, specs: list[BackendSpec]) -> dict[str, faust.TopicT]:
    names = [T.TASKS, T.RESULTS, T.DLQ, T.TELEMETRY, T.REALLOCATIONS, T.CONTROL, T.SUBTASKS,
             T.SUBTASK_RESULTS, T.WORKFLOW_EVENTS, T.STOPS, *(T.exec_topic(s.name) for s in specs)]
    return {name: app.topic(name, partitions=1, **_RAW) for name in names}


def _runtime(app: faust.App, config: WorkerConfig, specs: list[BackendSpec], *,
             stateful: bool) -> Runtime:
    """A runtime over ``app``'s topics, producer and (``stateful``) changelog tables."""
    topics = _topics(app, specs)
    if not stateful:
        return Runtime(config, specs, topics=topics, producer=_LazyProducer(app),
                       ledger=TaskLedger(), group=str(app.conf.id))
    snapshots = app.Table(
        # bytes keys: with the raw serializer a str key comes back as bytes after
        # changelog recovery and would no longer match.
        "predictor", partitions=1, key_type=bytes, value_type=bytes, use_partitioner=True,
        changelog_topic=app.topic(T.PREDICTOR_CHANGELOG, partitions=1, compacting=True,
                                  internal=True, **_RAW),
    )
    ledger = TaskLedger(JsonTable(app, "tasks", T.TASKS_CHANGELOG),
                        JsonTable(app, "subtasks", T.SUBTASKS_CHANGELOG),
                        JsonTable(app, "parts", T.PARTS_CHANGELOG))
    return Runtime(config, specs, topics=topics, producer=_LazyProducer(app), ledger=ledger,
                   snapshots=snapshots, group=str(app.conf.id),
                   workflows=JsonTable(app, "workflows", T.WORKFLOWS_CHANGELOG))


class _LazyProducer:
    """``app.producer``, looked up at each flush (Faust creates it when the worker starts)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def flush(self) -> None:
        await self.app.producer.flush()


def bind_agent(app: faust.App, rt: Runtime, agent: Agent) -> None:
    """Bind ``agent`` to ``app``: every record of its topic goes through
    :meth:`Runtime.process` to ``agent.handle``."""
    async def consume(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await rt.process(event.message, lambda message: agent.handle(rt, message),
                             agent.what)

    topic = cast(faust.TopicT, rt.outbox.topics[agent.topic])  # a Faust topic: see _topics
    app.agent(topic, name=agent.name, concurrency=agent.concurrency)(consume)


def bind_timer(app: faust.App, rt: Runtime, timer: Timer) -> None:
    """Run ``timer.tick(rt)`` every ``timer.interval_s(config)`` seconds."""
    async def tick() -> None:
        await timer.tick(rt)

    app.timer(interval=timer.interval_s(rt.config), name=timer.name)(tick)


def create_worker_app(config: WorkerConfig) -> tuple[faust.App, Runtime]:
    """Build the pipeline worker app and its runtime."""
    from qstream.agents import PIPELINE, RECOVERY, TIMERS
    from qstream.stream import recovery

    app = faust.App(**_faust_settings(config, config.app_id))
    specs = fleet_specs(config.fleet, credentials=config.credentials, ibm_mode=config.ibm_mode)
    rt = _runtime(app, config, specs, stateful=True)
    for agent in PIPELINE:
        bind_agent(app, rt, agent)
    for timer in TIMERS:
        bind_timer(app, rt, timer)
    rt.recovery_hooks.extend(RECOVERY)
    recovery.attach(app, rt)
    if config.local_executors:
        _attach_executors(app, rt, [s.name for s in specs])
    health.attach(app, config)
    return app, rt


def create_executor_app(config: WorkerConfig, backends: Sequence[str]) -> tuple[faust.App, Runtime]:
    """Build an executor-only app for ``backends`` (consumer group ``<app_id>-executors``)."""
    app = faust.App(**_faust_settings(config, f"{config.app_id}-executors"))
    specs = fleet_specs(tuple(backends), credentials=config.credentials,
                        ibm_mode=config.ibm_mode)
    rt = _runtime(app, config, specs, stateful=False)
    _attach_executors(app, rt, list(backends))
    health.attach(app, config)
    return app, rt


def _attach_executors(app: faust.App, rt: Runtime, names: list[str]) -> None:
    from qstream.agents import execute
    from qstream.backends.pool import make_pool

    pool = make_pool(rt.config.pool_workers)
    backends = build_fleet(tuple(names), time_scale=rt.config.time_scale,
                           seed=rt.config.seed, pool=pool, faults=rt.config.faults,
                           drift=rt.config.drift, drift_day_s=rt.config.drift_day_s,
                           credentials=rt.config.credentials, ibm_mode=rt.config.ibm_mode)
    rt.backends = backends
    rt.pool = pool
    for agent in execute.agents(backends):
        bind_agent(app, rt, agent)
    bind_timer(app, rt, execute.status_timer(backends))

    async def follow_stops() -> None:
        from qstream.stream import stops

        await stops.follow(rt)

    app.task(follow_stops)
