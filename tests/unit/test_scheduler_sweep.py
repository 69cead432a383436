"""The reallocation sweep's per-shape table predicts only what it reads, again only when moved."""

from __future__ import annotations

from helpers.sched_golden import DriftingEstimator

from qstream.backends.fleet import fleet_specs
from qstream.core.backend_spec import BackendSpec
from qstream.core.features import CircuitFeatures
from qstream.core.prediction import Prediction
from qstream.core.scheduler import Scheduler
from qstream.core.subtask import SubTask
from qstream.sim.workload import mqt_circuits


class CountingEstimator(DriftingEstimator):
    """Counts predict calls per backend."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.calls: dict[str, int] = {}

    def predict(self, spec: BackendSpec, features: CircuitFeatures, shots: int,
                pending_jobs: int) -> Prediction:
        self.calls[spec.name] = self.calls.get(spec.name, 0) + 1
        return super().predict(spec, features, shots, pending_jobs)


def _filled(n: int) -> tuple[Scheduler, CountingEstimator, list[BackendSpec]]:
    specs = fleet_specs()
    est = CountingEstimator(0)
    sched = Scheduler(specs, est)
    circuits = [f for _, f in mqt_circuits()][:4]
    for i in range(n):
        sched.submit(SubTask(subtask_id=f"t{i}/c0/s0", task_id=f"t{i}", circuit_index=0,
                             circuit_name="c", qasm="", shots=(100, 1000)[i % 2],
                             features=circuits[i % len(circuits)], submitted_at_s=0.0), 0.0)
    return sched, est, specs


def test_a_drift_re_predicts_only_that_backend() -> None:
    sched, est, specs = _filled(200)
    sched.reallocate(1.0)
    est.calls.clear()
    sched.reallocate(2.0)
    assert est.calls == {}  # nothing moved: every cell is still valid
    est.drift(specs[0].name)
    sched.reallocate(3.0)
    assert set(est.calls) == {specs[0].name}
    assert est.calls[specs[0].name] <= 8  # one per shape (4 circuits x 2 shot counts), not per sub-task


def test_no_prediction_where_a_shape_cannot_run() -> None:
    sched, _, _ = _filled(60)
    sched.reallocate(1.0)
    table = sched._scorer.shapes
    never = table.valid[:len(table._reps)] < 0
    # A cell never predicted is one the sweep does not read: not a candidate, not where it sits.
    assert not (never & table.up[:len(table._reps)]).any()
