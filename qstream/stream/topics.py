"""Topic names, partition counts and topic creation.

Public topics (users' producers and consumers depend on them):

============================  ==========  ==================================================
topic                         partitions  carries
============================  ==========  ==================================================
``qstream.tasks``             1           ``qstream.task.v1`` submissions, key = task_id
``qstream.results``           1           ``qstream.result.v1``, key = task_id
``qstream.dlq``               1           ``qstream.dlq.v1`` rejected input with its reason
``qstream.telemetry``         1           ``qstream.telemetry.v1`` execution/dispatch/status
``qstream.reallocations``     1           ``qstream.reallocation.v1`` decisions
``qstream.control``           1           ``qstream.control.v1`` requests (cancel), key = task_id
============================  ==========  ==================================================

Internal topics:

=================================  ==========  =============================================
``qstream.subtasks``               1           partition agent -> dispatch agent
``qstream.exec.<backend>``         1           dispatch -> that backend's executor (released
                                               work only; pending work stays in the scheduler)
``qstream.subtask-results``        1           plans and sub-task results -> post-process
``qstream.stops``                  1           stop requests (cancelled tasks, abandoned copies);
                                               retention 1 day
                                               -> every executor process (no consumer group)
``qstream.workflow-events``        1           problem tasks: start, step results and classical
                                               solves -> the workflow agent
``qstream.workflows-changelog``    1           compacted; workflow state of problem tasks
``qstream.predictor-changelog``    1           compacted; the predictor snapshot table
``qstream.tasks-changelog``        1           compacted; task records (active/publishing/done)
``qstream.subtasks-changelog``     1           compacted; sub-task placements and completions
``qstream.parts-changelog``        1           compacted; sub-task results of unfinished tasks
=================================  ==========  =============================================

Why one partition each: the scheduler owns the fleet-wide credit and backlog state,
so exactly one worker of the consumer group must run it (an active/standby pair, not
a sharded scheduler). Faust's assignor co-partitions topics with equal partition
counts, so every control topic lands on the same worker. Execution scales out
by running ``qstream executor`` processes for some backends on other machines.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TASKS = "qstream.tasks"
RESULTS = "qstream.results"
DLQ = "qstream.dlq"
TELEMETRY = "qstream.telemetry"
REALLOCATIONS = "qstream.reallocations"
CONTROL = "qstream.control"
SUBTASKS = "qstream.subtasks"
STOPS = "qstream.stops"
STOPS_RETENTION_MS = 86_400_000
"""Retention of ``qstream.stops`` (1 day): every executor process reads it from the
beginning (:mod:`qstream.stream.stops`), so it must stay short; a stop request only
matters while exec records released before it can still arrive."""
SUBTASK_RESULTS = "qstream.subtask-results"
PREDICTOR_CHANGELOG = "qstream.predictor-changelog"
TASKS_CHANGELOG = "qstream.tasks-changelog"
SUBTASKS_CHANGELOG = "qstream.subtasks-changelog"
PARTS_CHANGELOG = "qstream.parts-changelog"
WORKFLOW_EVENTS = "qstream.workflow-events"
WORKFLOWS_CHANGELOG = "qstream.workflows-changelog"
EXEC_PREFIX = "qstream.exec."


def exec_topic(backend: str) -> str:
    """Name of the topic that carries released sub-tasks for ``backend``.

    Kafka topic names allow only ``[A-Za-z0-9._-]`` (at most 249 characters); a
    remote backend's name (``ibm:ibm_brisbane``, a Braket ARN) has ``:`` and ``/``.
    Those become ``_``, and the CRC-32 of the full name is appended so that two names
    that differ only there get different topics.

    >>> exec_topic("ibm_perth_emu")
    'qstream.exec.ibm_perth_emu'
    >>> exec_topic("ibm:ibm_brisbane")
    'qstream.exec.ibm_ibm_brisbane-b6a5df2a'
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", backend)
    if safe != backend:
        safe = f"{safe[:200]}-{zlib.crc32(backend.encode()):08x}"
    return EXEC_PREFIX + safe


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic qstream creates: name, partitions, compaction, and retention (ms; None:
    the broker's default)."""

    name: str
    partitions: int = 1
    compacted: bool = False
    retention_ms: int | None = None


def pipeline_topics(backends: Iterable[str]) -> list[TopicSpec]:
    """Every topic the pipeline needs for a fleet of ``backends``."""
    topics = [
        TopicSpec(TASKS), TopicSpec(RESULTS), TopicSpec(DLQ), TopicSpec(TELEMETRY),
        TopicSpec(REALLOCATIONS), TopicSpec(CONTROL), TopicSpec(SUBTASKS), TopicSpec(SUBTASK_RESULTS),
        TopicSpec(PREDICTOR_CHANGELOG, compacted=True),
        TopicSpec(TASKS_CHANGELOG, compacted=True),
        TopicSpec(SUBTASKS_CHANGELOG, compacted=True),
        TopicSpec(PARTS_CHANGELOG, compacted=True),
        TopicSpec(WORKFLOW_EVENTS), TopicSpec(STOPS, retention_ms=STOPS_RETENTION_MS),
        TopicSpec(WORKFLOWS_CHANGELOG, compacted=True),
    ]
    topics += [TopicSpec(exec_topic(b)) for b in backends]
    return topics


def _topic_configs(spec: TopicSpec) -> dict[str, str]:
    """Kafka topic configs of ``spec``.

    >>> _topic_configs(TopicSpec("x", compacted=True, retention_ms=1000))
    {'cleanup.policy': 'compact', 'retention.ms': '1000'}
    """
    configs: dict[str, str] = {}
    if spec.compacted:
        configs["cleanup.policy"] = "compact"
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    return configs


async def ensure_topics(bootstrap: str, topics: Iterable[TopicSpec], *,
                        timeout_s: float = 30.0, auth: Mapping[str, Any] | None = None,
                        ) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Replication factor 1 suits the embedded broker and a single-node Kafka; a
    production cluster should pre-create topics with its own replication. ``auth``
    holds the SASL/TLS keyword arguments (:func:`qstream.stream.security.client_settings`).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                request_timeout_ms=int(timeout_s * 1000), **(auth or {}))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(t.name, t.partitions, 1, topic_configs=_topic_configs(t))
               for t in topics if t.name not in existing]
        if new:
            await admin.create_topics(new)
        return [t.name for t in new]
    finally:
        await admin.close()
