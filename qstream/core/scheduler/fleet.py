"""Fleet state as the scheduler sees it: specs, rank, pending jobs, up/down, epoch.

The fleet's order is the cost tie-break (:attr:`Fleet.rank`). :attr:`Fleet.epoch`
counts changes of the state that predictions depend on (pending jobs, operational,
specs); with the predictor's version it forms the "info token" that stops a
reallocated sub-task from moving back before anything changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from qstream.core.backend_spec import BackendSpec
from qstream.core.subtask import SubTask
from qstream.errors import ConfigError, SchedulerLookupError


class Fleet:
    """The backends a scheduler places on, and their observed state.

    Parameters
    ----------
    specs:
        The fleet (order breaks cost ties).

    Raises
    ------
    ConfigError
        On an empty fleet, duplicate names or a capacity < 1.
    """

    def __init__(self, specs: Sequence[BackendSpec]) -> None:
        if not specs:
            raise ConfigError("the scheduler needs at least one backend")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate backend names in {names}")
        for s in specs:
            if s.capacity < 1:
                raise ConfigError(f"backend {s.name!r} has capacity {s.capacity}; must be >= 1")
        self.names: list[str] = names
        self.specs: dict[str, BackendSpec] = {s.name: s for s in specs}
        self.rank: dict[str, int] = {n: i for i, n in enumerate(names)}
        self.pending_jobs: dict[str, int] = dict.fromkeys(names, 0)
        self.operational: dict[str, bool] = dict.fromkeys(names, True)
        self.epoch = 0

    def spec(self, backend: str) -> BackendSpec:
        """The spec of ``backend``.

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        """
        try:
            return self.specs[backend]
        except KeyError:
            raise SchedulerLookupError(
                f"unknown backend {backend!r}; known: {sorted(self.specs)}"
            ) from None

    def set_pending_jobs(self, backend: str, pending_jobs: int) -> None:
        """Record external pending jobs (clamped at 0); a change bumps the epoch.

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        """
        self.spec(backend)
        pending_jobs = max(int(pending_jobs), 0)
        if self.pending_jobs[backend] != pending_jobs:
            self.pending_jobs[backend] = pending_jobs
            self.epoch += 1

    def set_operational(self, backend: str, operational: bool) -> None:
        """Mark a backend up or down; a change bumps the epoch.

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        """
        self.spec(backend)
        if self.operational[backend] != bool(operational):
            self.operational[backend] = bool(operational)
            self.epoch += 1

    def replace_spec(self, spec: BackendSpec) -> None:
        """Replace a known backend's spec (the caller bumps the epoch when done).

        Raises
        ------
        SchedulerLookupError
            On an unknown backend.
        ConfigError
            On a capacity < 1.
        """
        self.spec(spec.name)
        if spec.capacity < 1:
            raise ConfigError(f"backend {spec.name!r} has capacity {spec.capacity}; must be >= 1")
        self.specs[spec.name] = spec

    def candidates(
        self, s: SubTask, exclude: Sequence[str] = ()
    ) -> tuple[list[str], list[str], list[str]]:
        """Return (operational, down, reasons-why-not) backends for ``s``, in fleet order.

        A candidate is allowed by ``s.allowed_backends``, not in ``exclude``, can
        run the circuit (:meth:`BackendSpec.can_run`) and takes ``s.shots``.
        """
        up: list[str] = []
        down: list[str] = []
        why: list[str] = []
        allowed = s.allowed_backends
        for name, spec in self.specs.items():
            if allowed is not None and name not in allowed:
                why.append(f"{name}: not in allowed_backends")
            elif name in exclude:
                why.append(f"{name}: excluded")
            elif (reason := spec.can_run(s.features, s.shots)) is not None:
                why.append(f"{name}: {reason}")
            elif s.shots > spec.max_shots:
                why.append(f"{name}: {s.shots} shots > max_shots {spec.max_shots}")
            elif self.operational[name]:
                up.append(name)
            else:
                down.append(name)
        return up, down, why
