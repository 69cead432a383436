"""What the scheduler holds: pending and in-flight sub-tasks, credits, completions.

Credits: a backend holds at most ``spec.capacity`` sub-tasks in flight; the
rest stay *pending* inside qstream, where a reallocation
(:func:`qstream.core.scheduler.moves.reallocate`) can still move them when
predictions change. Pending sub-tasks are released highest priority first, then
earliest absolute deadline, then first submitted (the release key), and never
before all their ``depends_on`` have completed.

The ledger also records which ids changed (for a live worker's changelog) and
rebuilds itself from those records after a failover (:meth:`Ledger.restore`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from qstream.core.scheduler.budget import Budgets
from qstream.core.scheduler.fairness import FairShare
from qstream.core.scheduler.fleet import Fleet
from qstream.core.scheduler.queue import PendingQueue
from qstream.core.scheduler.types import Placement
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError, SchedulerLookupError

Key = tuple[float, float, int]
"""Release key ``(-priority, absolute deadline s, submission order)``: lower goes first."""


_KEY_OF = attrgetter("key")


def release_key(s: SubTask, seq: int) -> Key:
    """The release key of ``s`` submitted as number ``seq`` (no deadline sorts last)."""
    deadline = s.submitted_at_s + s.deadline_s if s.deadline_s is not None else math.inf
    return (-float(s.priority), deadline, seq)


@dataclass(slots=True)
class Entry:
    """A sub-task the scheduler holds, pending or in flight."""

    subtask: SubTask
    backend: str
    key: Key
    dur_s: float  # predicted queue_s + run_s on `backend`
    released_at_s: float | None = None
    # (backend it was last moved away from, info token at that move): no move back
    # there until the predictor or the fleet state changed.
    moved_from: tuple[str, tuple[int, int]] | None = None
    # Backends running a hedge copy -> when it was released there.
    copies: dict[str, float] = field(default_factory=dict)
    price_usd: float = 0.0  # predicted price on `backend` (what it holds of its task's budget)
    # Backends running a hedge copy -> that copy's predicted price.
    copy_price_usd: dict[str, float] = field(default_factory=dict)
    # Its shape id in the reallocation sweep's table, and that table's generation
    # (:class:`qstream.core.scheduler.sweep.ShapeTable`); -1: not yet assigned.
    shape: int = -1
    shape_gen: int = -1

    def held_usd(self) -> float:
        """Predicted price of this entry and of every hedge copy of it (USD)."""
        return self.price_usd + sum(self.copy_price_usd.values())


class Ledger:
    """The sub-tasks a scheduler holds, per backend, and what has completed.

    Parameters
    ----------
    names:
        The fleet's backend names.
    record_changes:
        Record the ids whose placement or completion changed (:meth:`drain_changed`).

    Attributes
    ----------
    entries:
        Sub-task id -> its entry, for every pending or in-flight sub-task.
    pending, inflight:
        Backend -> {sub-task id -> entry}; a hedged entry is in flight on its home
        backend and on each backend of its ``copies``.
    completed:
        Completed sub-task ids (a split parent once all its parts have completed).
    split_children, split_parent:
        Unfinished shot splits: parent id -> part ids, part id -> parent id.
    seq:
        The next submission order.
    now_s:
        The latest scheduler time seen (s).
    """

    def __init__(self, names: Sequence[str], *, record_changes: bool = False) -> None:
        self.entries: dict[str, Entry] = {}
        # Task id -> ids of its held entries (budget sums without a scan of all).
        self.by_task: dict[str, set[str]] = {}
        self.pending: dict[str, dict[str, Entry]] = {n: {} for n in names}
        # The same entries per backend in release-key order, with exact sums of dur_s.
        self.queues: dict[str, PendingQueue] = {n: PendingQueue() for n in names}
        # Backend -> tenant -> its pending sub-tasks there (release's fast path).
        self.pending_tenants: dict[str, Counter[str]] = {n: Counter() for n in names}
        self.inflight: dict[str, dict[str, Entry]] = {n: {} for n in names}
        self.completed: set[str] = set()
        self.split_children: dict[str, set[str]] = {}
        self.split_parent: dict[str, str] = {}
        self.seq = 0
        # Ids whose placement or completion changed since drain_changed(); a live
        # worker writes them to its changelog so a successor can restore().
        self._record_changes = record_changes
        self._changed: set[str] = set()
        self.now_s = 0.0

    def tick(self, now_s: float) -> None:
        """Advance the scheduler clock to ``now_s`` (it never goes back)."""
        self.now_s = max(self.now_s, now_s)

    def next_key(self, s: SubTask) -> Key:
        """Take the next submission number for ``s`` and return its release key."""
        seq = self.seq
        self.seq += 1
        return release_key(s, seq)

    # -- change recording ------------------------------------------------------------

    def changed_id(self, subtask_id: str) -> None:
        """Note that ``subtask_id``'s placement or completion changed."""
        if self._record_changes:
            self._changed.add(subtask_id)

    def drain_changed(self) -> set[str]:
        """Ids whose placement or completion changed since the last call (then forget them)."""
        out, self._changed = self._changed, set()
        return out

    # -- holding ---------------------------------------------------------------------

    def known(self, subtask_id: str) -> bool:
        """Whether ``subtask_id`` is held, completed or an unfinished split parent."""
        return (
            subtask_id in self.entries
            or subtask_id in self.completed
            or subtask_id in self.split_children
        )

    def add_pending(self, s: SubTask, backend: str, key: Key, dur_s: float,
                    price_usd: float = 0.0) -> None:
        """Hold ``s`` pending on ``backend`` (``price_usd``: its predicted price there)."""
        e = Entry(s, backend, key, dur_s, price_usd=price_usd)
        self.entries[s.subtask_id] = e
        self.by_task.setdefault(s.task_id, set()).add(s.subtask_id)
        self.pending[backend][s.subtask_id] = e
        self.queues[backend].add(e)
        self.pending_tenants[backend][s.tenant] += 1
        self.changed_id(s.subtask_id)

    def set_dur(self, e: Entry, dur_s: float) -> None:
        """Set the predicted ``queue_s + run_s`` of the entry ``e`` (pending or in flight)."""
        if e.dur_s == dur_s:
            return
        if e.released_at_s is None and self.pending[e.backend].get(e.subtask.subtask_id) is e:
            self.queues[e.backend].set_dur(e, dur_s)
        else:
            e.dur_s = dur_s

    def pending_in_order(self) -> list[Entry]:
        """Every pending entry, across backends, in release-key order."""
        return sorted([e for q in self.pending.values() for e in q.values()],
                      key=_KEY_OF)

    def add_split(self, parent_id: str, part_ids: Sequence[str]) -> None:
        """Record that ``parent_id`` was split into the (already held) ``part_ids``."""
        for pid in part_ids:
            self.split_parent[pid] = parent_id
        self.split_children[parent_id] = set(part_ids)

    def move_pending(self, e: Entry, backend: str, info: tuple[int, int]) -> None:
        """Move a pending entry to ``backend``; ``info`` is the token that bars a move back."""
        sid = e.subtask.subtask_id
        del self.pending[e.backend][sid]
        self.queues[e.backend].remove(e)
        self._uncount(e.backend, e.subtask.tenant)
        self.pending[backend][sid] = e
        self.queues[backend].add(e)
        self.pending_tenants[backend][e.subtask.tenant] += 1
        e.moved_from = (e.backend, info)
        e.backend = backend
        self.changed_id(sid)

    def add_copy(self, e: Entry, backend: str, now_s: float, price_usd: float = 0.0) -> None:
        """Put a hedge copy of the in-flight entry in flight on ``backend``."""
        e.copies[backend] = now_s
        e.copy_price_usd[backend] = price_usd
        self.inflight[backend][e.subtask.subtask_id] = e
        self.changed_id(e.subtask.subtask_id)

    def remove(self, e: Entry) -> None:
        """Stop holding ``e`` (pending, in flight and every copy)."""
        sid = e.subtask.subtask_id
        self.changed_id(sid)
        del self.entries[sid]
        held = self.by_task.get(e.subtask.task_id)
        if held is not None:
            held.discard(sid)
            if not held:
                del self.by_task[e.subtask.task_id]
        self.inflight[e.backend].pop(sid, None)
        if self.pending[e.backend].pop(sid, None) is not None:
            self.queues[e.backend].remove(e)
            self._uncount(e.backend, e.subtask.tenant)
        for b in e.copies:
            self.inflight[b].pop(sid, None)

    def take(self, subtask_id: str) -> Entry:
        """Stop holding ``subtask_id`` and return its entry (to place it again).

        Raises
        ------
        SchedulerLookupError
            If the id is not pending or in flight (unknown or completed).
        """
        e = self.entries.get(subtask_id)
        if e is None:
            raise SchedulerLookupError(f"sub-task {subtask_id!r} is neither pending nor in flight")
        self.remove(e)
        return e

    # -- credits ---------------------------------------------------------------------

    def release(self, fleet: Fleet, now_s: float, fair: FairShare | None = None,
                budgets: Budgets | None = None) -> list[tuple[SubTask, str]]:
        """Move pending sub-tasks in flight on operational backends with free credit.

        Per backend in fleet order, each free credit goes to the tenant chosen by
        start-time fair queuing (``fair``, :mod:`qstream.core.scheduler.fairness`),
        and within a tenant by release key; a sub-task whose ``depends_on`` have
        not all completed is skipped without using a credit, and so is every
        sub-task of a tenant at its ``max_concurrent`` and of a task whose actual
        spend passed its budget (``budgets``). Returned across backends by
        release key.
        """
        fair = fair if fair is not None else FairShare()
        inflight_of: dict[str, int] = {}
        for q in self.inflight.values():
            for e in q.values():
                inflight_of[e.subtask.tenant] = inflight_of.get(e.subtask.tenant, 0) + 1
        out: list[Entry] = []
        for name, spec in fleet.specs.items():
            queue = self.pending[name]
            free = spec.capacity - len(self.inflight[name])
            if free <= 0 or not queue or not fleet.operational[name]:
                continue
            # Each tenant's eligible sub-tasks in key order, at most `free` of each: the
            # scan stops once every tenant pending here has that many.
            by_tenant: dict[str, list[Entry]] = {}
            short = set(self.pending_tenants[name])
            for e in self.queues[name]:
                s = e.subtask
                if s.tenant not in short:
                    continue
                if budgets is not None and budgets.is_stopped(s.task_id):
                    continue
                if not all(d in self.completed for d in s.depends_on):
                    continue
                got = by_tenant.setdefault(s.tenant, [])
                got.append(e)
                if len(got) >= free:
                    short.discard(s.tenant)
                    if not short:
                        break
            for got in by_tenant.values():
                got.reverse()  # last = first in key order
            while free > 0 and by_tenant:
                for tenant in [t for t in by_tenant
                               if (lim := fair.limit(t)) is not None
                               and inflight_of.get(t, 0) >= lim]:
                    del by_tenant[tenant]
                if not by_tenant:
                    break
                tenants = sorted(by_tenant, key=lambda t: by_tenant[t][-1].key)
                tenant = fair.pick(tenants)
                e = by_tenant[tenant].pop()
                if not by_tenant[tenant]:
                    del by_tenant[tenant]
                self.release_entry(e, now_s)
                out.append(e)
                fair.charge(tenant)
                inflight_of[tenant] = inflight_of.get(tenant, 0) + 1
                free -= 1
        out.sort(key=lambda e: e.key)
        return [(e.subtask, e.backend) for e in out]

    def release_entry(self, e: Entry, now_s: float) -> None:
        """Take the pending entry ``e`` off its backend's queue and put it in flight there."""
        sid = e.subtask.subtask_id
        del self.pending[e.backend][sid]
        self.queues[e.backend].remove(e)
        self._uncount(e.backend, e.subtask.tenant)
        e.released_at_s = now_s
        self.inflight[e.backend][sid] = e
        self.changed_id(sid)

    def _uncount(self, backend: str, tenant: str) -> None:
        counts = self.pending_tenants[backend]
        counts[tenant] -= 1
        if counts[tenant] <= 0:
            del counts[tenant]

    def held_usd(self, task_id: str, exclude: str | None = None) -> float:
        """Predicted price (USD) of ``task_id``'s held sub-tasks and their hedge copies.

        ``exclude`` is a sub-task id left out (the one being placed again).
        """
        return sum(self.entries[sid].held_usd() for sid in self.by_task.get(task_id, ())
                   if sid != exclude)

    def _mark_completed(self, subtask_id: str) -> None:
        self.completed.add(subtask_id)
        self.changed_id(subtask_id)
        parent = self.split_parent.pop(subtask_id, None)
        if parent is not None:
            siblings = self.split_children[parent]
            siblings.discard(subtask_id)
            if not siblings:
                del self.split_children[parent]
                self.completed.add(parent)
                self.changed_id(parent)

    def complete(self, subtask_id: str, backend: str | None = None) -> list[str]:
        """Record completion, return the credits; the backends still running a copy.

        Unknown or already completed ids are ignored (returns ``[]``).
        """
        e = self.entries.get(subtask_id)
        if e is None:
            return []
        holders = [e.backend, *e.copies] if e.released_at_s is not None else list(e.copies)
        self.remove(e)
        self._mark_completed(subtask_id)
        return [b for b in holders if b != backend] if backend is not None else (
            list(e.copies))

    def fail_copy(self, subtask_id: str, backend: str) -> bool:
        """Drop one failed copy of a hedged sub-task; True if another copy still runs."""
        e = self.entries.get(subtask_id)
        if e is None or not e.copies:
            return False
        self.changed_id(subtask_id)
        if backend in e.copies:
            del e.copies[backend]
            e.copy_price_usd.pop(backend, None)
            self.inflight[backend].pop(subtask_id, None)
            return True
        if backend != e.backend:
            return False
        # The original failed: promote a hedge copy to be the sub-task's home.
        self.inflight[backend].pop(subtask_id, None)
        new_home, released_at = next(iter(e.copies.items()))
        del e.copies[new_home]
        e.price_usd = e.copy_price_usd.pop(new_home, e.price_usd)
        e.backend = new_home
        e.released_at_s = released_at
        return True

    def forget_task(self, task_id: str) -> None:
        """Drop the completion records of the sub-tasks ``{task_id}/...``."""
        prefix = f"{task_id}/"
        self.completed = {c for c in self.completed if not c.startswith(prefix)}

    # -- views and recovery ----------------------------------------------------------

    def pending_ids(self) -> dict[str, list[str]]:
        """Pending sub-task ids per backend, in release order."""
        return {
            b: [e.subtask.subtask_id for e in q] for b, q in self.queues.items()
        }

    def inflight_ids(self) -> dict[str, list[str]]:
        """In-flight sub-task ids per backend, in release order."""
        return {b: list(q) for b, q in self.inflight.items()}

    def placement(self, subtask_id: str) -> Placement | None:
        """The sub-task's placement, or None if it is not pending or in flight."""
        e = self.entries.get(subtask_id)
        if e is None:
            return None
        return Placement(e.subtask, e.backend, e.released_at_s, e.key[2],
                         self.split_parent.get(subtask_id), dict(e.copies))

    def restore(self, placements: Sequence[Placement], completed: Sequence[str], now_s: float,
                fleet: Fleet, dur_s: Callable[[str, SubTask], float],
                price_usd: Callable[[str, SubTask], float] | None = None) -> None:
        """Rebuild the holdings from placements and completed ids (an empty ledger only).

        ``dur_s(backend, subtask)`` gives the predicted ``queue_s + run_s`` with
        the current estimator, ``price_usd(backend, subtask)`` its predicted price
        (what it holds of its task's budget; 0 when not given). See
        :meth:`qstream.core.scheduler.Scheduler.restore`.

        Raises
        ------
        ConfigError
            If the ledger already holds sub-tasks.
        SchedulerLookupError
            If a placement names an unknown backend.
        """
        if self.entries:
            raise ConfigError("restore() needs an empty scheduler; it already holds "
                              f"{len(self.entries)} sub-tasks")
        self.tick(now_s)
        self.completed.update(completed)
        for p in sorted(placements, key=lambda p: p.order):
            s = p.subtask
            fleet.spec(p.backend)
            price = price_usd if price_usd is not None else (lambda _b, _s: 0.0)
            e = Entry(s, p.backend, release_key(s, p.order), dur_s(p.backend, s),
                      p.released_at_s, price_usd=price(p.backend, s))
            self.entries[s.subtask_id] = e
            self.by_task.setdefault(s.task_id, set()).add(s.subtask_id)
            if p.released_at_s is None:
                self.pending[p.backend][s.subtask_id] = e
                self.queues[p.backend].add(e)
                self.pending_tenants[p.backend][s.tenant] += 1
            else:
                self.inflight[p.backend][s.subtask_id] = e
            for b, at_s in p.copies.items():
                fleet.spec(b)
                e.copies[b] = at_s
                e.copy_price_usd[b] = price(b, s)
                self.inflight[b][s.subtask_id] = e
            if p.split_of is not None:
                self.split_parent[s.subtask_id] = p.split_of
                self.split_children.setdefault(p.split_of, set()).add(s.subtask_id)
            self.seq = max(self.seq, p.order + 1)
