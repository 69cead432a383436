"""Post-process agent: plans and sub-task results -> merged, mitigated result.

Per task it collects the plan (circuits and shots) and every sub-task result,
deduplicated by sub-task id; when every circuit has all its shots it merges the
counts across shot splits, mitigates readout error with each executing backend's
calibration, and publishes exactly one ``qstream.result.v1``.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

from qstream.errors import ValidationError
from qstream.stream import codec, ledger, recovery
from qstream.stream import topics as T
from qstream.stream.agent_spec import Agent
from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.agents.postprocess")


async def handle(rt: Runtime, message: Any) -> None:
    try:
        data = codec.decode(message.value,
                            expected=("qstream.plan.v1", "qstream.subtask_result.v1"))
    except ValidationError as exc:
        await rt.outbox.send_dlq(reason=exc.reason, error=str(exc), message=message)
        return
    task_id = data["task_id"]
    record = rt.ledger.task_record(task_id)
    if record is not None and record["state"] != "active":
        return  # late duplicate of a task whose result is already out
    if data["schema"] == "qstream.plan.v1":
        if task_id in rt.ledger.assemblies:
            return
        assembly = ledger.assembly_from_plan(data)
        rt.ledger.assemblies[task_id] = assembly
        for part in rt.ledger.orphan_parts.pop(task_id, []):
            ledger.apply_part(assembly, part)
    else:
        rt.ledger.record_part(data)
        known = rt.ledger.assemblies.get(task_id)
        if known is None:
            # Possible after a failover; kept until the (replayed) plan arrives.
            log.info("sub-task result for %s before its plan; kept", task_id)
            rt.ledger.orphan_parts.setdefault(task_id, []).append(data)
            return
        assembly = known
        ledger.apply_part(assembly, data)
    if assembly.done:
        trace.get_current_span().set_attributes(
            {"qstream.task_id": task_id, "qstream.task.status":
             "failed" if assembly.failed else "completed"})
        await recovery.finish_task(rt, task_id, assembly)


AGENT = Agent("qstream.agents.postprocess", T.SUBTASK_RESULTS, handle, "postprocess")
