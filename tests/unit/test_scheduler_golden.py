"""The scheduler's decisions on seeded workloads equal those recorded before its scale work.

``tests/data/scheduler_golden.json`` was produced by ``tests/helpers/sched_golden.py``
with the scheduler as it was before the incremental backlog sums, the pending
index and the vectorised reallocation sweep (issue 13, section 2); these tests
replay the same workloads through the current code and compare every placement,
release, reallocation, hedge, completion and simulated execution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import sched_golden

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "scheduler_golden.json").read_text())


def _first_difference(got: list[Any], want: list[Any]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"entry {i}: got {g!r}, recorded {w!r}"
    return f"lengths differ: got {len(got)}, recorded {len(want)}"


@pytest.mark.parametrize(("group", "seed", "kwargs"), [
    ("scheduler", "0", {}),
    ("scheduler", "1", {}),
    ("tenants", "2", {"tenants": True}),
    ("round_robin", "3", {"policy": "round-robin", "steps": 60}),
])
def test_scheduler_decisions_match_the_recording(group: str, seed: str,
                                                 kwargs: dict[str, Any]) -> None:
    want = GOLDEN[group][seed]
    got = json.loads(json.dumps(sched_golden.scheduler_trace(int(seed), **kwargs)))
    assert any(e[0] == "realloc" and e[1] for e in want) or group == "round_robin"
    assert got == want, _first_difference(got, want)


def test_simulation_executions_match_the_recording() -> None:
    want = GOLDEN["simulation"]
    got = json.loads(json.dumps(sched_golden.sim_trace()))
    assert want["reallocations"] > 0
    assert got == want, {k: (got[k], want[k]) for k in want if got[k] != want[k]}
