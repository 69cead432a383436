"""Fair sharing of credits between tenants: start-time fair queuing on release.

Every released sub-task uses one credit of a backend. Which tenant gets the
next free credit is decided by start-time fair queuing (SFQ: Goyal, Vin and
Cheng, "Start-time fair queuing: a scheduling algorithm for integrated
services packet switching networks", SIGCOMM 1996), with one sub-task as the
unit of service:

- each tenant ``t`` has a weight ``w_t`` and a finish tag ``F_t`` (0 at first);
- a sub-task of ``t`` released now gets the start tag ``S = max(v, F_t)``, and
  ``F_t = S + 1 / w_t``; the virtual time ``v`` is the start tag of the
  sub-task last released;
- the free credit goes to the backlogged tenant with the smallest start tag
  (ties: the release key of its first sub-task, so one tenant alone is
  released exactly as without fair sharing: priority, deadline, FIFO).

A tenant that floods thus gets its weight's share of the credits, not all of
them, and a tenant that arrives later starts at the current virtual time: it
neither waits behind the flood nor gets a burst for the time it was idle. SFQ
is fair (the service of two backlogged tenants differs by at most one unit per
weight) without knowing service times in advance, which qstream only predicts.

Per-tenant concurrency (``max_concurrent``): a tenant with that many sub-tasks
in flight (every hedge copy counts) gets no credit; its sub-tasks stay pending.

The tags are soft state: a worker taking over starts them afresh, which only
forgets who was served in the past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qstream.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TenantShare:
    """One tenant's share of the credits.

    Attributes
    ----------
    weight:
        Relative share (> 0): a tenant of weight 2 gets twice the credits of one
        of weight 1 while both have work pending.
    max_concurrent:
        Most sub-tasks in flight at once (>= 1), or None for no limit.

    Raises
    ------
    ConfigError
        On a weight <= 0 or a limit < 1.

    Examples
    --------
    >>> TenantShare(weight=0)
    Traceback (most recent call last):
    ...
    qstream.errors.ConfigError: tenant weight must be > 0, got 0
    """

    weight: float = 1.0
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ConfigError(f"tenant weight must be > 0, got {self.weight}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"max_concurrent must be >= 1, got {self.max_concurrent}")


class FairShare:
    """SFQ tags per tenant and each tenant's :class:`TenantShare`.

    Parameters
    ----------
    shares:
        Tenant -> its share; tenants not named get ``default``.
    default:
        The share of every other tenant.

    Examples
    --------
    >>> fair = FairShare({"a": TenantShare(weight=1.0), "b": TenantShare(weight=2.0)})
    >>> order = []
    >>> for _ in range(6):
    ...     t = fair.pick(["a", "b"])
    ...     fair.charge(t)
    ...     order.append(t)
    >>> "".join(order)
    'abbabb'
    """

    def __init__(self, shares: Mapping[str, TenantShare] | None = None,
                 default: TenantShare | None = None) -> None:
        self.shares = dict(shares or {})
        self.default = default if default is not None else TenantShare()
        self.finish: dict[str, float] = {}
        self.vtime = 0.0

    def share(self, tenant: str) -> TenantShare:
        """The share of ``tenant``."""
        return self.shares.get(tenant, self.default)

    def start_tag(self, tenant: str) -> float:
        """The start tag the next sub-task of ``tenant`` would get now."""
        return max(self.vtime, self.finish.get(tenant, 0.0))

    def pick(self, tenants: list[str]) -> str:
        """Of ``tenants`` (non-empty, in tie-break order), the one with the smallest start tag."""
        return min(tenants, key=self.start_tag)

    def charge(self, tenant: str) -> None:
        """Account one released sub-task of ``tenant``."""
        start = self.start_tag(tenant)
        self.finish[tenant] = start + 1.0 / self.share(tenant).weight
        self.vtime = start

    def limit(self, tenant: str) -> int | None:
        """``tenant``'s ``max_concurrent``."""
        return self.share(tenant).max_concurrent
