"""Counters one worker process logs on shutdown and exposes to tests."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Counters:
    """Event counts of one worker since it started (``decision_latency_ms``: last 10k, ms)."""

    tasks_accepted: int = 0
    tasks_rejected: int = 0
    results_sent: int = 0
    dlq_sent: int = 0
    decisions: int = 0
    reallocations: int = 0
    hedges: int = 0
    learned: int = 0
    recoveries: int = 0
    batch_plans: int = 0  # release-time plans of a batch policy (anneal)
    batch_solve_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    decision_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
