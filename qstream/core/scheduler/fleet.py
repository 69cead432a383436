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

#: Entries of the capability cache of :meth:`Fleet.candidates` before it is dropped.
_CAPABLE_LIMIT = 65536


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
        # (allowed_backends, features, shots, exclude) -> per backend in fleet order, None
        # if the spec can run it or the reason why not; dropped when a spec changes.
        self._capable: dict[tuple[object, ...], list[tuple[str, str | None]]] = {}

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
        self._capable.clear()

    def candidates(
        self, s: SubTask, exclude: Sequence[str] = ()
    ) -> tuple[list[str], list[str], list[str]]:
        """Return (operational, down, reasons-why-not) backends for ``s``, in fleet order.

        A candidate is allowed by ``s.allowed_backends``, not in ``exclude``, can
        run the circuit (:meth:`BackendSpec.can_run`) and takes ``s.shots``. What the
        specs allow is cached per (allowed backends, features, shots, exclude) until a
        spec is replaced; only the up/down split is redone per call.
        """
        key = (s.allowed_backends, s.features, s.shots, tuple(exclude))
        capable = self._capable.get(key)
        if capable is None:
            if len(self._capable) >= _CAPABLE_LIMIT:
                self._capable.clear()
            capable = self._capable[key] = self._capability(s, exclude)
        up: list[str] = []
        down: list[str] = []
        why: list[str] = []
        operational = self.operational
        for name, reason in capable:
            if reason is not None:
                why.append(reason)
            elif operational[name]:
                up.append(name)
            else:
                down.append(name)
        return up, down, why

    def _capability(self, s: SubTask, exclude: Sequence[str]) -> list[tuple[str, str | None]]:
        """Per backend in fleet order: None if it may run ``s``, else the reason why not.

        Depends only on the specs and ``s``'s allowed backends, features and shots (the
        cache key of :meth:`candidates`); ``can_run`` is the costly part.
        """
        out: list[tuple[str, str | None]] = []
        allowed = s.allowed_backends
        for name, spec in self.specs.items():
            if allowed is not None and name not in allowed:
                out.append((name, f"{name}: not in allowed_backends"))
            elif name in exclude:
                out.append((name, f"{name}: excluded"))
            elif (reason := spec.can_run(s.features, s.shots)) is not None:
                out.append((name, f"{name}: {reason}"))
            elif s.shots > spec.max_shots:
                out.append((name, f"{name}: {s.shots} shots > max_shots {spec.max_shots}"))
            else:
                out.append((name, None))
        return out
