"""Builders for the messages qstream publishes (plain dicts; validated by the codec on send)."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from qstream.core.postprocess import PartResult
from qstream.core.prediction import Prediction

DLQ_ORIGINAL_MAX_BYTES = 512 * 1024
"""Most bytes of a rejected record a DLQ entry carries. Base64 makes them 4/3 larger:
683 KiB plus the envelope stays under Kafka's default 1 MiB ``message.max.bytes``, so
the entry for an oversized record can itself be published."""


def dlq_entry(
    *,
    reason: str,
    error: str,
    original: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """A ``qstream.dlq.v1`` message carrying the original bytes and where they came from.

    An original over :data:`DLQ_ORIGINAL_MAX_BYTES` is cut to that many bytes;
    ``original_truncated`` and ``original_sha256`` (of the whole record) then say
    so, and ``source`` still points at the full record on its topic.
    """
    original = original or b""
    size = len(original)
    truncated = size > DLQ_ORIGINAL_MAX_BYTES
    extra: dict[str, Any] = {}
    if truncated:
        extra = {"original_truncated": True,
                 "original_sha256": hashlib.sha256(original).hexdigest()}
        original = original[:DLQ_ORIGINAL_MAX_BYTES]
    return {
        "schema": "qstream.dlq.v1",
        "reason": reason,
        "error": error or reason,
        "source": {
            "topic": topic,
            "partition": int(partition),
            "offset": int(offset),
            "key_b64": base64.b64encode(key).decode("ascii") if key is not None else None,
        },
        "original_b64": base64.b64encode(original).decode("ascii"),
        "original_size": size,
        "task_id": task_id,
        "at": time.time(),
        **extra,
    }


def failed_result(task_id: str, error: str, *, submitted_at: float | None = None,
                  reason: str | None = None, tenant: str | None = None) -> dict[str, Any]:
    """A ``qstream.result.v1`` message for a task that failed before any circuit ran.

    ``reason`` is its machine-friendly cause (a DLQ reason, ``budget``,
    ``tenant_budget``), added when given; ``tenant`` the task's tenant (``default``
    when None).
    """
    now = time.time()
    extra = {} if reason is None else {"reason": reason}
    return {
        **extra,
        "schema": "qstream.result.v1",
        "task_id": task_id,
        "status": "failed",
        "results": [],
        "error": error,
        "metrics": {
            "queue_s": 0.0, "run_s": 0.0, "cost_usd": 0.0, "est_fidelity": None,
            "jct_s": max(now - submitted_at, 0.0) if submitted_at else 0.0, "backends": [],
        },
        "completed_at": now,
        "tenant": tenant or "default",
    }


def prediction_dict(pred: Prediction | None) -> dict[str, float] | None:
    return None if pred is None else {
        "queue_s": pred.queue_s, "run_s": pred.run_s, "error": pred.error,
        "price_usd": pred.price_usd,
    }


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
        sim_method=data.get("sim_method"),
    )
