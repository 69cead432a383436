"""Builders for the messages qstream publishes (plain dicts; validated by the codec on send)."""

from __future__ import annotations

import base64
import time
from typing import Any

from qstream.core.prediction import Prediction


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
    """A ``qstream.dlq.v1`` message carrying the original bytes and where they came from."""
    original = original or b""
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
        "original_size": len(original),
        "task_id": task_id,
        "at": time.time(),
    }


def failed_result(task_id: str, error: str, *, submitted_at: float | None = None) -> dict[str, Any]:
    """A ``qstream.result.v1`` message for a task that failed before any circuit ran."""
    now = time.time()
    return {
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
    }


def prediction_dict(pred: Prediction | None) -> dict[str, float] | None:
    return None if pred is None else {
        "queue_s": pred.queue_s, "run_s": pred.run_s, "error": pred.error,
        "price_usd": pred.price_usd,
    }
