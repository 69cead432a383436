"""The fleet: which backends exist, their specs, and building them.

- :func:`fleet_specs` returns :class:`~qstream.core.backend_spec.BackendSpec`
  objects only (no pool, no simulator); the partition and dispatch side uses it.
- :func:`build_fleet` builds the executable backends, sharing one clock and one
  process pool.
- :func:`available_backends` (from :mod:`qstream.backends.catalog`) lists every valid
  name with a one-line description.
- :func:`warm_fleet` builds the named backends' worker caches in a process pool
  (each backend declares its own, ``Backend.warm_ups``).

The default fleet has four emulated IBM devices of three sizes and very different
queue load (ibm_perth's median was 931 pending jobs in 2023-11, ibm_lagos's 21,
ibm_hanoi's 12, ibm_sherbrooke's 223), Braket's local simulator and a CPU
state-vector backend.

Remote backends are named ``ibm:<device>`` (IBM Quantum) and ``braket:<device arn>``
(Amazon Braket), with ``ibm:fake_*`` and ``braket:local`` as their local modes
(:mod:`qstream.backends.remote`); a fleet may mix them with the emulated and local ones.
Their specs come from the provider (live calibration and status), so
:func:`fleet_specs` connects for them, with the given credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from qstream.backends.base import Backend
from qstream.backends.braket_local import BRAKET_NAME, BraketLocalBackend, braket_spec
from qstream.backends.catalog import available_backends
from qstream.backends.classical import CLASSICAL_NAME, ClassicalStatevectorBackend, classical_spec
from qstream.backends.clock import EmulatedClock
from qstream.backends.faults import FaultyBackend, parse_faults
from qstream.backends.ibm_emulated import EmulatedIBMDevice, device_spec
from qstream.backends.pool import warm
from qstream.backends.remote import is_remote_name, remote_backend
from qstream.core.backend_spec import BackendSpec
from qstream.core.calibration_drift import DAY_S
from qstream.errors import ConfigError
from qstream.secrets import Credentials

__all__ = ["DEFAULT_FLEET", "build_fleet", "fleet_specs", "warm_fleet"]

DEFAULT_FLEET: tuple[str, ...] = (
    "ibm_perth_emu",
    "ibm_nairobi_emu",
    "ibm_hanoi_emu",
    "ibm_sherbrooke_emu",
    BRAKET_NAME,
    CLASSICAL_NAME,
)
"""Backend names of the default fleet."""


def _resolve(names: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(DEFAULT_FLEET if names is None else names)
    if not chosen:
        raise ConfigError("the fleet is empty; name at least one backend")
    valid = available_backends()
    unknown = [n for n in chosen if n not in valid and not is_remote_name(n)]
    if unknown:
        raise ConfigError(
            f"unknown backend{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid)}, ibm:<device>, braket:<device arn>")
    duplicates = sorted({n for n in chosen if chosen.count(n) > 1})
    if duplicates:
        raise ConfigError(f"backend names repeat in the fleet: {', '.join(duplicates)}")
    return chosen


def fleet_specs(names: Sequence[str] | None = None, *,
                credentials: Credentials | None = None,
                ibm_mode: str = "job") -> list[BackendSpec]:
    """Specs of the named backends (default fleet when None), in order, without building
    pools or simulators (emulated device specs load only their calibration snapshot).

    Raises
    ------
    ConfigError
        On an empty list, an unknown name (the message lists the valid ones) or a
        repeated name.
    BackendError
        If a remote backend's provider cannot be reached.

    Examples
    --------
    >>> [s.name for s in fleet_specs(["cpu_statevector", "braket_local"])]
    ['cpu_statevector', 'braket_local']
    >>> fleet_specs(["ibm_nowhere"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qstream.errors.ConfigError: unknown backend 'ibm_nowhere'; valid: ...
    """
    specs = []
    for name in _resolve(names):
        if is_remote_name(name):
            specs.append(remote_backend(name, credentials, ibm_mode=ibm_mode).spec)
        elif name == BRAKET_NAME:
            specs.append(braket_spec())
        elif name == CLASSICAL_NAME:
            specs.append(classical_spec())
        else:
            specs.append(device_spec(name))
    return specs


def build_fleet(
    names: Sequence[str] | None = None,
    *,
    time_scale: float = 1.0,
    seed: int = 0,
    pool: Executor | None = None,
    clock: EmulatedClock | None = None,
    faults: str = "",
    drift: bool = False,
    drift_day_s: float = DAY_S,
    credentials: Credentials | None = None,
    ibm_mode: str = "job",
) -> dict[str, Backend]:
    """Build the named backends (default fleet when None), keyed by name, in order.

    Parameters
    ----------
    names:
        Backend names from :func:`~qstream.backends.catalog.available_backends`.
    time_scale:
        Emulated seconds per wall second of the shared clock (when ``clock`` is None).
    seed:
        Fleet seed: each emulated device's start offset in the load series, its
        queue draws and simulator seeds derive from it.
    pool:
        Process pool shared by all backends; None uses
        :func:`qstream.backends.pool.default_pool` (created on first execution).
        Pre-build the workers' caches with :func:`warm_fleet` (or
        :func:`qstream.backends.pool.warm` on the built backends).
    clock:
        Shared emulated clock; None creates ``EmulatedClock(time_scale)``.
    faults:
        Fault spec (:mod:`qstream.backends.faults`); a named backend in the fleet
        is wrapped in a :class:`~qstream.backends.faults.FaultyBackend`. Backends
        it names that are not in this fleet are ignored (another executor runs them).
    drift, drift_day_s:
        Emulated IBM devices replay the calibration series, one snapshot per
        ``drift_day_s`` emulated seconds (:mod:`qstream.core.calibration_drift`).
    credentials:
        Cloud credentials of the remote backends (None: the providers' own defaults).
    ibm_mode:
        ``"job"`` or ``"batch"`` for ``ibm:`` backends.

    Raises
    ------
    ConfigError
        As :func:`fleet_specs`, on an invalid ``time_scale`` or fault spec.
    """
    chosen = _resolve(names)
    clock = clock if clock is not None else EmulatedClock(time_scale)
    fleet: dict[str, Backend] = {}
    for name in chosen:
        if is_remote_name(name):
            fleet[name] = remote_backend(name, credentials, ibm_mode=ibm_mode, seed=seed,
                                         pool=pool)
        elif name == BRAKET_NAME:
            fleet[name] = BraketLocalBackend(clock=clock, seed=seed, pool=pool)
        elif name == CLASSICAL_NAME:
            fleet[name] = ClassicalStatevectorBackend(clock=clock, seed=seed, pool=pool)
        else:
            fleet[name] = EmulatedIBMDevice(name, clock=clock, seed=seed, pool=pool,
                                            drift=drift, day_s=drift_day_s)
    for name, profile in parse_faults(faults).items():
        if name in fleet:
            fleet[name] = FaultyBackend(fleet[name], profile, clock, seed=seed)
    return fleet


def warm_fleet(pool: Executor, names: Sequence[str] | None = None, *,
               timeout_s: float = 300.0) -> dict[str, float]:
    """Start every worker of ``pool`` and build the caches the named backends declare.

    Blocking; call it at start-up. The backends are built only to ask them for
    their :meth:`~qstream.backends.base.Backend.warm_ups`
    (:func:`qstream.backends.pool.warm`).

    Parameters
    ----------
    pool:
        A pool from :func:`qstream.backends.pool.make_pool`.
    names:
        Backend names (default fleet when None).
    timeout_s:
        Give up after this many seconds.

    Returns
    -------
    dict[str, float]
        Seconds it took one worker to build each cache (``"FakePerth"``,
        ``"braket"``, ``"statevector"``), the slowest worker's figure.

    Raises
    ------
    ConfigError
        As :func:`fleet_specs`.
    BackendError
        If the workers fail or do not finish within ``timeout_s``.
    """
    return warm(pool, build_fleet(names, pool=pool).values(), timeout_s=timeout_s)
