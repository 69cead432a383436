"""The reallocation sweep over many pending sub-tasks at once, per *shape*.

:func:`qstream.core.scheduler.moves.reallocate` visits the pending sub-tasks in
release order; each sees, on every backend, the in-flight load plus the
sub-tasks ahead of it as already (re)placed. Sub-tasks of one *shape* (same
circuit features, shots, allowed backends and cost weights, no budget) have the
same predictions and capability everywhere: only the wait ahead of them differs.
So the costs of a run of consecutive sub-tasks are one matrix (sub-tasks x
backends), computed with numpy from per-shape tables (:class:`ShapeTable`) and a
running sum of the waits, and the sweep jumps to the first sub-task that moves.

Same doubles as the one-by-one sweep: the waits are sequential running sums
(``numpy.cumsum`` accumulates in order; adding 0.0 leaves a sum unchanged) and
each cost is the same operations in the same order as
:func:`qstream.core.cost.cost_terms`, element-wise (IEEE 754 double arithmetic in
numpy's and Python's operators alike). Rows the matrix cannot decide exactly (a
budget, a non-finite cost, no candidate at all) go one by one.

:class:`ShapeTable` keeps the per-shape predictions per backend column and
re-predicts only the columns whose backend's predictions may have moved (its
``backend_version`` or pending jobs changed, its spec was replaced, the predictor
was swapped); the capability rows are redone when the fleet epoch moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from qstream.core.subtask import SubTask

if TYPE_CHECKING:
    from qstream.core.scheduler.ledger import Entry, Ledger
    from qstream.core.scheduler.scoring import Scorer

#: Shapes remembered before the table starts over (bounds memory when shots vary freely).
_SHAPE_LIMIT = 65536
#: Rows of the first window after a move, and the largest window (rows).
_WINDOW_MIN, _WINDOW_MAX = 64, 4096


class ShapeTable:
    """Per-shape predictions and capability on each backend, refreshed per backend.

    A shape is ``(features, shots, allowed_backends, weights)`` of a sub-task
    without a budget; its id is stored on the :class:`Entry` (with the table's
    generation, which moves when the table starts over).
    """

    def __init__(self) -> None:
        self.gen = 0
        self._ids: dict[tuple[object, ...], int] = {}
        self._reps: list[SubTask] = []
        self._names: list[str] = []
        self._stamps: list[tuple[object, ...] | None] = []
        self._colgen: list[int] = []  # per column: bumped when its stamp changes
        self._up_epoch = -1
        self._alloc(64, 0)

    def _alloc(self, rows: int, cols: int) -> None:
        self.q = np.zeros((rows, cols))
        self.r = np.zeros((rows, cols))
        self.err = np.zeros((rows, cols))
        self.price = np.zeros((rows, cols))
        self.up = np.zeros((rows, cols), dtype=bool)
        self.w = np.zeros((rows, 3))
        # Column generation each cell was predicted at (-1: never); capability known per row.
        self.valid = np.full((rows, cols), -1, dtype=np.int64)
        self.up_ok = np.zeros(rows, dtype=bool)

    def _grow(self) -> None:
        old = (self.q, self.r, self.err, self.price, self.up, self.w, self.valid, self.up_ok)
        rows, cols = self.q.shape
        self._alloc(2 * rows, cols)
        for new, prev in zip((self.q, self.r, self.err, self.price, self.up, self.w,
                              self.valid, self.up_ok), old, strict=True):
            new[:rows] = prev

    def forget(self, backend: str) -> None:
        """Re-predict ``backend``'s column at the next refresh (its spec changed)."""
        if backend in self._names:
            self._stamps[self._names.index(backend)] = None

    def _reset(self, names: Sequence[str]) -> None:
        self.gen += 1
        self._ids.clear()
        self._reps.clear()
        self._names = list(names)
        self._stamps = [None] * len(names)
        self._colgen = [0] * len(names)
        self._up_epoch = -1
        self._alloc(64, len(names))

    def shape_ids(self, entries: Sequence[Entry], names: Sequence[str]) -> NDArray[np.intp]:
        """Shape id per entry (-1: a sub-task with a budget, scored one by one)."""
        if names != self._names or len(self._ids) > _SHAPE_LIMIT:
            self._reset(names)
        gen = self.gen
        out = [e.shape if e.shape_gen == gen else self._assign(e) for e in entries]
        return np.array(out, dtype=np.intp)

    def _assign(self, e: Entry) -> int:
        s = e.subtask
        if s.budget_usd is not None:
            sid = -1
        else:
            key = (s.features, s.shots, s.allowed_backends, s.weights)
            found = self._ids.get(key)
            if found is None:
                found = self._ids[key] = len(self._reps)
                self._reps.append(s)
                if found >= self.q.shape[0]:
                    self._grow()
                self.w[found] = (s.weights.time, s.weights.error, s.weights.cost)
            sid = found
        e.shape, e.shape_gen = sid, self.gen
        return sid

    def refresh(self, scorer: Scorer, shape: NDArray[np.intp], cur: NDArray[np.intp]) -> None:
        """Fill the cells the sweep reads: each present shape on the backends it may move
        to and on the backend it sits on, re-predicting a backend's cells when its
        predictions may have moved (never a backend that cannot run the shape)."""
        fleet, predictor = scorer.fleet, scorer.predictor
        n = len(self._reps)
        if fleet.epoch != self._up_epoch:
            self._up_epoch = fleet.epoch
            self.up_ok[:] = False
        known = shape >= 0
        present = np.unique(shape[known])
        col = {b: c for c, b in enumerate(self._names)}
        for k in present[~self.up_ok[present]].tolist():
            up, _, _ = fleet.candidates(self._reps[k])
            row = self.up[k]
            row[:] = False
            for b in up:
                row[col[b]] = True
            self.up_ok[k] = True
        need = np.zeros((n, len(self._names)), dtype=bool)
        need[present] = self.up[present]
        need[shape[known], cur[known]] = True
        for c, b in enumerate(self._names):
            stamp = (id(predictor), predictor.backend_version(b), fleet.pending_jobs[b],
                     id(fleet.specs[b]))
            if stamp != self._stamps[c]:
                self._stamps[c] = stamp
                self._colgen[c] += 1
            gen = self._colgen[c]
            for k in np.flatnonzero(need[:, c] & (self.valid[:n, c] != gen)).tolist():
                s = self._reps[k]
                p = scorer.predict(b, s.features, s.shots)
                self.q[k, c], self.r[k, c] = p.queue_s, p.run_s
                self.err[k, c], self.price[k, c] = p.error, p.price_usd
                self.valid[k, c] = gen


def sweep(entries: Sequence[Entry], ledger: Ledger, scorer: Scorer, ahead: dict[str, float],
          info: tuple[int, int], one: Callable[[Entry], None]) -> None:
    """Run the reallocation sweep over ``entries`` (in release order), a window at a time.

    ``ahead`` (backend -> load ahead, s, before capacity) is advanced as the
    one-by-one sweep would; ``one(e)`` is that sweep's step for one entry (it
    scores, maybe moves, sets ``dur_s`` and ``price_usd`` and advances ``ahead``),
    called for each entry that moves or that the matrix cannot decide. Every other
    entry gets its current backend's ``dur_s`` and ``price_usd`` here.
    """
    fleet, cfg = scorer.fleet, scorer.config
    names = fleet.names
    col = {b: c for c, b in enumerate(names)}
    table: ShapeTable = scorer.shapes
    n = len(entries)
    if not n:
        return
    shape = table.shape_ids(entries, names)
    cur_all = np.array([col[e.backend] for e in entries], dtype=np.intp)
    table.refresh(scorer, shape, cur_all)
    barred_all = np.array(
        [col[e.moved_from[0]] if e.moved_from is not None and e.moved_from[1] == info else -1
         for e in entries], dtype=np.intp)
    old_dur = np.array([e.dur_s for e in entries])
    old_price = np.array([e.price_usd for e in entries])
    cap = np.array([float(fleet.specs[b].capacity) for b in names])
    time_ref, price_ref = cfg.scales.time_ref_s, cfg.scales.price_ref_usd
    keep, min_gain = 1.0 - cfg.realloc_margin, cfg.realloc_min_gain
    acc0 = np.array([ahead[b] for b in names])
    i, window = 0, _WINDOW_MIN
    while i < n:
        if shape[i] < 0:
            _sync(ahead, names, acc0)
            one(entries[i])
            acc0 = np.array([ahead[b] for b in names])
            i += 1
            continue
        end = min(n, i + window)
        neg = np.flatnonzero(shape[i:end] < 0)
        if neg.size:
            end = i + int(neg[0])
        m = end - i
        sh, cur, barred = shape[i:end], cur_all[i:end], barred_all[i:end]
        rows = np.arange(m)
        q, r = table.q[sh], table.r[sh]
        dur = q[rows, cur] + r[rows, cur]
        steps = np.zeros((m + 1, len(names)))
        steps[0] = acc0
        steps[rows + 1, cur] = dur
        acc = np.cumsum(steps, axis=0)
        w = table.w[sh]
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite rows go one by one
            total = (w[:, 0:1] * np.maximum(acc[:m] / cap + q + r, 0.0) / time_ref
                     + w[:, 1:2] * np.minimum(np.maximum(table.err[sh], 0.0), 1.0)
                     + w[:, 2:3] * np.maximum(table.price[sh], 0.0) / price_ref)
        cand = table.up[sh]
        cur_ok = cand[rows, cur]
        has_bar = barred >= 0
        cand[rows[has_bar], barred[has_bar]] = False
        cand[rows, cur] = cur_ok
        hard = ~cand.any(axis=1) | (cand & ~np.isfinite(total)).any(axis=1)
        masked = np.where(cand, total, np.inf)
        best = masked.argmin(axis=1)  # first minimum: the lowest fleet rank
        t_best, t_cur = masked[rows, best], total[rows, cur]
        moves = (best != cur) & (~cur_ok | ((t_best < keep * t_cur) & (t_cur - t_best >= min_gain)))
        stop = np.flatnonzero(moves | hard)
        k = int(stop[0]) if stop.size else m
        if k:
            price = table.price[sh[:k], cur[:k]]
            changed = np.flatnonzero((dur[:k] != old_dur[i:i + k])
                                     | (price != old_price[i:i + k]))
            if changed.size:
                new_dur, new_price = dur[changed].tolist(), price[changed].tolist()
                for j, d, p in zip((i + changed).tolist(), new_dur, new_price, strict=True):
                    e = entries[j]
                    ledger.set_dur(e, d)
                    e.price_usd = p
        acc0 = acc[k]
        if k < m:
            _sync(ahead, names, acc0)
            one(entries[i + k])
            acc0 = np.array([ahead[b] for b in names])
            i, window = i + k + 1, _WINDOW_MIN
        else:
            i, window = end, min(2 * window, _WINDOW_MAX)
    _sync(ahead, names, acc0)


def _sync(ahead: dict[str, float], names: Sequence[str], acc: NDArray[np.float64]) -> None:
    for b, x in zip(names, acc.tolist(), strict=True):
        ahead[b] = x
