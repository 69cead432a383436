"""Per-tenant worker settings: window budget, concurrency limit and fair-share weight.

``QSTREAM_TENANTS`` is a JSON object, tenant name -> :class:`TenantSettings`; the
key ``"*"`` sets the defaults of every tenant it does not name (the ``default``
tenant of tasks that name none included)::

    QSTREAM_TENANTS='{"teamA": {"budget_usd": 100, "window_s": 86400,
                                "max_concurrent": 50, "weight": 1},
                      "*": {"max_concurrent": 10}}'

Enforced by :mod:`qstream.stream.tenants` (window budget at admission) and the
scheduler (:mod:`qstream.core.scheduler.fairness`: weight, ``max_concurrent``).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from qstream.core.scheduler.fairness import TenantShare

OTHER_TENANTS = "*"
"""The ``QSTREAM_TENANTS`` key whose settings apply to every tenant not named."""


class TenantSettings(BaseModel):
    """One tenant's limits.

    Attributes
    ----------
    budget_usd:
        Most the tenant may spend (USD, actual spend of its executions) per
        window; None for no limit. A task of a tenant whose window budget is
        spent is rejected (DLQ and result reason ``tenant_budget``).
    window_s:
        The window (wall seconds) the budget is counted over: sliding, in 60
        buckets of ``window_s / 60`` each (see :class:`qstream.stream.tenants.SpendWindow`).
    max_concurrent:
        Most of its sub-tasks in flight at once; the rest stay pending. None: no limit.
    weight:
        Its share of the credits under fair sharing (start-time fair queuing).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    budget_usd: float | None = Field(None, ge=0, allow_inf_nan=False)
    window_s: float = Field(86_400.0, gt=0, allow_inf_nan=False)
    max_concurrent: int | None = Field(None, ge=1)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)

    def share(self) -> TenantShare:
        """Its :class:`~qstream.core.scheduler.fairness.TenantShare` for the scheduler."""
        return TenantShare(weight=self.weight, max_concurrent=self.max_concurrent)


def settings_of(tenants: Mapping[str, TenantSettings], tenant: str) -> TenantSettings:
    """``tenant``'s settings: its own, else the ``"*"`` entry, else the defaults.

    >>> t = {"a": TenantSettings(weight=2), "*": TenantSettings(max_concurrent=3)}
    >>> settings_of(t, "a").weight, settings_of(t, "b").max_concurrent, settings_of({}, "b").weight
    (2.0, 3, 1.0)
    """
    found = tenants.get(tenant) or tenants.get(OTHER_TENANTS)
    return found if found is not None else TenantSettings.model_validate({})


def shares(tenants: Mapping[str, TenantSettings]) -> tuple[dict[str, TenantShare], TenantShare]:
    """The scheduler's per-tenant shares and the default share (from ``"*"``)."""
    named = {name: s.share() for name, s in tenants.items() if name != OTHER_TENANTS}
    return named, settings_of(tenants, OTHER_TENANTS).share()
