"""Post-process agent: plans and sub-task results -> merged, mitigated result.

Per task it collects the plan (circuits and shots) and every sub-task result,
deduplicated by sub-task id; when every circuit has all its shots it merges the
counts across shot splits, mitigates readout error with each executing backend's
calibration, and publishes exactly one ``qstream.result.v1``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from opentelemetry import trace

from qstream.core.assembly import TaskAssembly
from qstream.core.postprocess import PartResult
from qstream.errors import ValidationError
from qstream.stream import codec
from qstream.stream import topics as T
from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.agents.postprocess")


def part_of(data: dict[str, Any]) -> PartResult:
    m = data["metrics"]
    readout = data.get("readout")
    return PartResult(
        subtask_id=data["subtask_id"], circuit_index=int(data["circuit_index"]),
        circuit_name=data["circuit_name"], backend=data["backend"],
        counts={k: int(v) for k, v in data["counts"].items()}, shots=int(data["shots"]),
        queue_s=float(m["queue_s"]), run_s=float(m["run_s"]), price_usd=float(m["price_usd"]),
        esp=float(m["esp"]), quality=m.get("quality"),
        readout=[(float(a), float(b)) for a, b in readout] if readout else None,
    )


async def handle(rt: Runtime, message: Any) -> None:
    try:
        data = codec.decode(message.value,
                            expected=("qstream.plan.v1", "qstream.subtask_result.v1"))
    except ValidationError as exc:
        await rt.send_dlq(reason=exc.reason, error=str(exc), message=message)
        return
    task_id = data["task_id"]
    if task_id in rt.finished_tasks:
        return  # late duplicate of a task whose result is already out
    if data["schema"] == "qstream.plan.v1":
        if task_id not in rt.assemblies:
            rt.assemblies[task_id] = TaskAssembly(
                task_id, [(c["name"], int(c["shots"])) for c in data["circuits"]],
                float(data["submitted_at"]))
        return
    assembly = rt.assemblies.get(task_id)
    if assembly is None:
        log.warning("sub-task result for unknown task %s (no plan seen)", task_id)
        return
    if data["status"] == "failed":
        assembly.fail(f"circuit '{data['circuit_name']}': {data.get('error') or 'failed'}")
    else:
        assembly.add(part_of(data), int(data.get("attempt", 0)))
    if assembly.done:
        result = assembly.result(time.time())
        trace.get_current_span().set_attributes(
            {"qstream.task_id": task_id, "qstream.task.status": result["status"]})
        del rt.assemblies[task_id]
        rt.forget_task(task_id, cancel=result["status"] == "failed")
        await rt.send_result(result)


def attach(app: faust.App, rt: Runtime) -> None:
    @app.agent(rt.topics[T.SUBTASK_RESULTS], name="qstream.agents.postprocess")
    async def postprocess(stream: faust.StreamT) -> None:
        await rt.consume(stream, lambda message: handle(rt, message), "postprocess")
