"""The Faust app: one app, every agent bound to it (the faust-examples layout).

``create_worker_app`` builds the pipeline worker (partition, dispatch, learn,
reallocate, post-process and, by default, the executors of the whole fleet).
``create_executor_app`` builds an executor-only process for some backends, which
joins its own consumer group so executors scale out across machines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import faust

from qstream.backends.fleet import build_fleet, fleet_specs
from qstream.config import WorkerConfig
from qstream.stream import faust_fixes, security, tansu_compat
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


def create_worker_app(config: WorkerConfig) -> tuple[faust.App, Runtime]:
    """Build the pipeline worker app and its runtime."""
    from qstream.agents import dispatch, learn, partition, postprocess
    from qstream.stream import recovery

    app = faust.App(**_faust_settings(config, config.app_id))
    specs = fleet_specs(config.fleet)
    rt = Runtime(app, config, specs)
    partition.attach(app, rt)
    dispatch.attach(app, rt)
    learn.attach(app, rt)
    postprocess.attach(app, rt)
    recovery.attach(app, rt)
    if config.local_executors:
        _attach_executors(app, rt, [s.name for s in specs])
    return app, rt


def create_executor_app(config: WorkerConfig, backends: Sequence[str]) -> tuple[faust.App, Runtime]:
    """Build an executor-only app for ``backends`` (consumer group ``<app_id>-executors``)."""
    app = faust.App(**_faust_settings(config, f"{config.app_id}-executors"))
    specs = fleet_specs(tuple(backends))
    rt = Runtime(app, config, specs, stateful=False)
    _attach_executors(app, rt, list(backends))
    return app, rt


def _attach_executors(app: faust.App, rt: Runtime, names: list[str]) -> None:
    from qstream.agents import execute
    from qstream.backends.pool import make_pool

    pool = make_pool(rt.config.pool_workers)
    backends = build_fleet(tuple(names), time_scale=rt.config.time_scale,
                           seed=rt.config.seed, pool=pool, faults=rt.config.faults)
    rt.backends = backends
    rt.pool = pool
    execute.attach(app, rt, backends)
