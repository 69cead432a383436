"""What every backend on the local machine shares: no external queue, always up."""

from __future__ import annotations

from concurrent.futures import Executor

from qstream.backends.clock import EmulatedClock
from qstream.core.backend_spec import BackendSpec


class LocalBackend:
    """Base of the local simulators: spec, clock, seed and process pool, no external load.

    Parameters
    ----------
    spec:
        The backend's spec.
    clock:
        Emulated clock shared with the fleet (kept for uniformity; nothing sleeps).
    seed:
        Base seed; each request's seed derives from it and the request id.
    pool:
        Process pool; None uses :func:`qstream.backends.pool.default_pool`.
    """

    def __init__(self, spec: BackendSpec, *, clock: EmulatedClock | None = None, seed: int = 0,
                 pool: Executor | None = None) -> None:
        self._spec = spec
        self.clock = clock if clock is not None else EmulatedClock()
        self.seed = int(seed)
        self._pool = pool

    @property
    def spec(self) -> BackendSpec:
        return self._spec

    def pending_jobs(self) -> int:
        """Always 0: a local backend has no external load."""
        return 0

    def operational(self) -> bool:
        return True

    def stoppable(self) -> bool:
        """True: the run is in the stoppable process pool (cancelling ``execute`` kills it)."""
        return True
