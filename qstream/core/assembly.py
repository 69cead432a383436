"""Per-task assembly of part results into one ``qstream.result.v1`` message.

The post-process agent keeps one :class:`TaskAssembly` per task. Delivery is at
least once and hedged sub-tasks may finish twice, so :meth:`TaskAssembly.add`
deduplicates by ``subtask_id`` (the first completed copy wins) and never lets a
circuit collect more shots than planned; :attr:`TaskAssembly.done` turns true
exactly once and stays true.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from qstream.core.postprocess import (
    PartResult,
    PostprocessError,
    combine_circuit,
    combine_observable_circuit,
    shot_weighted_fidelity,
)
from qstream.errors import ConfigError

RESULT_SCHEMA = "qstream.result.v1"


class TaskAssembly:
    """Collects the parts of one task until every circuit has all its shots.

    Parameters
    ----------
    task_id:
        The task.
    circuits:
        ``(name, shots)`` per run (the plan's ``circuits``), in ``circuit_index``
        order: a circuit is one run, a circuit with observables one run per
        measurement group (consecutive, all under its name).
    submitted_at_s:
        Task submission time on the scheduler clock (for JCT).
    bases:
        Measurement basis per run (None for a run of a circuit without
        observables); None when no circuit has observables.
    observables:
        Circuit name -> its observables (``(label, coefficient)`` terms each), for
        the circuits whose runs have a basis.

    Raises
    ------
    ConfigError
        No circuits, a circuit with ``shots < 1``, ``bases`` of the wrong length, or
        bases and observables that do not name the same circuits.

    Examples
    --------
    >>> asm = TaskAssembly("t", [("bell", 20)], submitted_at_s=0.0)
    >>> part = PartResult("t/c0/s0", 0, "bell", "sim", {"00": 10, "11": 10}, 20,
    ...                   queue_s=1.0, run_s=0.5, price_usd=0.0, esp=1.0, quality=None,
    ...                   readout=None)
    >>> asm.add(part, attempt=1), asm.add(part, attempt=2), asm.done
    (True, False, True)
    >>> r = asm.result(now_s=2.0)
    >>> r["status"], r["results"][0]["counts"], r["metrics"]["jct_s"]
    ('completed', {'00': 10, '11': 10}, 2.0)
    """

    def __init__(
        self, task_id: str, circuits: Sequence[tuple[str, int]], submitted_at_s: float,
        *, bases: Sequence[str | None] | None = None,
        observables: Mapping[str, Sequence[Sequence[tuple[str, float]]]] | None = None,
    ) -> None:
        if not circuits:
            raise ConfigError(f"task {task_id!r} has no circuits")
        for name, shots in circuits:
            if shots < 1:
                raise ConfigError(f"circuit {name!r} of task {task_id!r} has {shots} shots")
        self.bases: list[str | None] = list(bases) if bases is not None else [None] * len(circuits)
        self.observables = dict(observables or {})
        if len(self.bases) != len(circuits):
            raise ConfigError(f"task {task_id!r}: {len(self.bases)} bases for "
                              f"{len(circuits)} runs")
        measured = {n for (n, _), b in zip(circuits, self.bases, strict=True) if b is not None}
        if measured != set(self.observables):
            raise ConfigError(f"task {task_id!r}: circuits with measurement groups "
                              f"{sorted(measured)} but observables for {sorted(self.observables)}")
        self.task_id = task_id
        self.circuits: list[tuple[str, int]] = [(n, int(s)) for n, s in circuits]
        self.submitted_at_s = submitted_at_s
        self._parts: list[list[PartResult]] = [[] for _ in self.circuits]
        self._received: list[int] = [0] * len(self.circuits)
        self._seen: dict[str, int] = {}  # subtask_id -> attempt that was accepted
        self._error: str | None = None
        self._complete = False

    def add(self, part: PartResult, attempt: int) -> bool:
        """Add one part result; return True if it was new and accepted.

        Ignored (returns False): a ``subtask_id`` already added, any part once
        the task is done or failed, and a part that would push its circuit
        past the planned shots (e.g. a hedge that ran under a different id).

        Raises
        ------
        PostprocessError
            If ``part.circuit_index`` is not a circuit of this task, or its name
            does not match the plan.
        """
        if self._complete or self._error is not None or part.subtask_id in self._seen:
            return False
        i = part.circuit_index
        if not 0 <= i < len(self.circuits) or self.circuits[i][0] != part.circuit_name:
            raise PostprocessError(
                f"part {part.subtask_id!r} is for circuit #{i} {part.circuit_name!r}, not in "
                f"task {self.task_id!r} ({[n for n, _ in self.circuits]})"
            )
        if self._received[i] + part.shots > self.circuits[i][1]:
            return False
        self._seen[part.subtask_id] = attempt
        self._parts[i].append(part)
        self._received[i] += part.shots
        self._complete = all(
            r == s for r, (_, s) in zip(self._received, self.circuits, strict=True)
        )
        return True

    def fail(self, error: str) -> None:
        """Mark the task failed with a human-readable error (first error wins).

        Ignored once the task completed: every accepted task gets exactly one result.
        """
        if not self._complete and self._error is None:
            self._error = error

    @property
    def done(self) -> bool:
        """True when every circuit received all its planned shots, or the task failed."""
        return self._complete or self._error is not None

    @property
    def failed(self) -> bool:
        return self._error is not None

    def attempts(self) -> dict[str, int]:
        """The attempt number accepted for each sub-task id."""
        return dict(self._seen)

    def received_shots(self) -> list[int]:
        """Shots received so far per circuit, in circuit order."""
        return list(self._received)

    def result(self, now_s: float) -> dict[str, Any]:
        """Build the ``qstream.result.v1`` message.

        Completed: one ``results`` entry per circuit, in order (see
        :func:`~qstream.core.postprocess.combine_circuit`, and
        :func:`~qstream.core.postprocess.combine_observable_circuit` for a circuit
        with observables, whose measurement groups make one entry). Failed: entries
        only for the circuits that did receive all their shots (every group). Called before
        :attr:`done`, it reports the task as failed with what is missing.
        ``est_fidelity`` is the shot-weighted mean over all accepted parts (None
        without parts); ``queue_s`` the longest device queue wait of any part.
        """
        status = "completed" if self._complete else "failed"
        error = None
        if not self._complete:
            error = self._error or "incomplete: " + ", ".join(
                f"circuit {n!r} has {r} of {s} shots"
                for r, (n, s) in zip(self._received, self.circuits, strict=True)
                if r != s
            )
        results = self._results()
        every = [p for parts in self._parts for p in parts]
        return {
            "schema": RESULT_SCHEMA,
            "task_id": self.task_id,
            "status": status,
            "results": results,
            "error": error,
            "metrics": {
                "queue_s": max((p.queue_s for p in every), default=0.0),
                "run_s": math.fsum(p.run_s for p in every),
                "cost_usd": math.fsum(p.price_usd for p in every),
                "est_fidelity": shot_weighted_fidelity(every),
                "jct_s": now_s - self.submitted_at_s,
                "backends": sorted({p.backend for p in every}),
            },
            "completed_at": now_s,
        }

    def _results(self) -> list[dict[str, Any]]:
        # Runs of one circuit are consecutive and share its name.
        by_name: dict[str, list[int]] = {}
        for i, (name, _) in enumerate(self.circuits):
            by_name.setdefault(name, []).append(i)
        out = []
        for name, runs in by_name.items():
            if not all(self._parts[i] and self._received[i] == self.circuits[i][1] for i in runs):
                continue
            if name in self.observables:
                out.append(combine_observable_circuit(
                    [(self.bases[i] or "", self._parts[i]) for i in runs], self.observables[name]))
            else:
                out.extend(combine_circuit(self._parts[i]) for i in runs)
        return out


def mark_cancelled(result: dict[str, Any], error: str) -> dict[str, Any]:
    """Turn a ``qstream.result.v1`` (of a task stopped early) into its ``cancelled`` result.

    Status ``cancelled``, ``reason`` ``cancelled`` and ``error`` (who asked, why, what
    was withdrawn or stopped); the circuit results and metrics (the spend so far in
    ``cost_usd``) are kept as they are.

    >>> r = mark_cancelled({"status": "failed", "error": "incomplete"}, "cancelled by ann")
    >>> r["status"], r["reason"], r["error"]
    ('cancelled', 'cancelled', 'cancelled by ann')
    """
    if not error:
        raise ConfigError("a cancelled result needs a non-empty error")
    return {**result, "status": "cancelled", "reason": "cancelled", "error": error}


def cancelled_result(assembly: TaskAssembly, now_s: float, error: str) -> dict[str, Any]:
    """The ``cancelled`` result of a circuit task: the circuits that had completed.

    ``results`` holds every circuit that had received all its shots (as in a failed
    result); ``metrics.cost_usd`` is the price of every part accepted so far.

    >>> asm = TaskAssembly("t", [("a", 10), ("b", 10)], submitted_at_s=0.0)
    >>> _ = asm.add(PartResult("t/c0/s0", 0, "a", "sim", {"0": 10}, 10, queue_s=0.0,
    ...                        run_s=1.0, price_usd=0.25, esp=1.0, quality=None,
    ...                        readout=None), attempt=0)
    >>> r = cancelled_result(asm, 3.0, "cancelled by ann: too slow")
    >>> r["status"], [c["name"] for c in r["results"]], r["metrics"]["cost_usd"]
    ('cancelled', ['a'], 0.25)
    """
    return mark_cancelled(assembly.result(now_s), error)
