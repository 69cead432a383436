"""Budgets and tenants in the live pipeline: spend, admission checks, result fields.

The scheduler enforces a task's ``budget_usd`` (:mod:`qstream.core.scheduler.budget`);
this module feeds it and makes the rest durable and visible:

- **Spend.** Every ``execution`` telemetry event's ``price_usd`` (each attempt and
  hedge copy once, deduplicated by the learn agent) is the actual spend of its
  task and its tenant: :func:`record_spend`. A task's spend is written to its
  task record (``spent_usd``) and a tenant's window spend to the snapshot table
  (key :data:`TENANT_SNAPSHOT_KEY`), so a worker taking over rebuilds both
  (:func:`restore`).
- **Admission.** A task whose cheapest placements already exceed its budget is
  rejected (DLQ and result reason ``budget``), and a task of a tenant whose
  window budget is spent is rejected with reason ``tenant_budget``
  (:func:`tenant_budget_error`).
- **Results.** :func:`stamp` gives every result its ``tenant``; a result of a
  task with a budget gets ``metrics.budget_usd`` and ``metrics.over_budget``,
  and ``reason: "budget"`` when the budget is why it failed. ``metrics.cost_usd``
  is the actual spend: the larger of the parts' summed price and the spend
  recorded from telemetry (which includes hedge copies that lost).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from qstream.config_tenants import TenantSettings, settings_of
from qstream.core.scheduler.budget import FIT_EPS_USD
from qstream.core.spend_window import SpendWindow
from qstream.core.task import DEFAULT_TENANT

if TYPE_CHECKING:
    from qstream.stream.runtime import Runtime

log = logging.getLogger("qstream.budgets")

TENANT_SNAPSHOT_KEY = b"tenant_spend"
"""Snapshot-table key of every tenant's window spend (JSON)."""

BUDGET = "budget"
TENANT_BUDGET = "tenant_budget"


class TenantSpend:
    """Each tenant's actual spend over its window (:class:`~qstream.core.spend_window.SpendWindow`).

    Parameters
    ----------
    tenants:
        The worker's ``tenants`` settings (window length per tenant).

    Examples
    --------
    >>> spend = TenantSpend({"a": TenantSettings(budget_usd=1.0, window_s=60.0)})
    >>> spend.add("a", 0.75, at_s=10.0); spend.add("b", 2.0, at_s=10.0)
    >>> spend.spent("a", now_s=20.0), spend.spent("a", now_s=80.0), spend.spent("b", 20.0)
    (0.75, 0.0, 2.0)
    >>> TenantSpend.load(spend.dump(), {}).spent("a", now_s=20.0)
    0.75
    """

    def __init__(self, tenants: dict[str, TenantSettings]) -> None:
        self.tenants = tenants
        self.windows: dict[str, SpendWindow] = {}

    def add(self, tenant: str, usd: float, at_s: float) -> None:
        """Add ``usd`` of ``tenant``'s spend at ``at_s`` (epoch seconds)."""
        w = self.windows.get(tenant)
        if w is None:
            w = self.windows[tenant] = SpendWindow(settings_of(self.tenants, tenant).window_s)
        w.add(usd, at_s)

    def spent(self, tenant: str, now_s: float) -> float:
        """``tenant``'s spend (USD) in its window ending at ``now_s``."""
        w = self.windows.get(tenant)
        return 0.0 if w is None else w.total(now_s)

    def dump(self) -> bytes:
        """JSON bytes of every window (:meth:`load` inverts it)."""
        return orjson.dumps({t: w.to_dict() for t, w in self.windows.items()})

    @classmethod
    def load(cls, raw: bytes | None, tenants: dict[str, TenantSettings]) -> TenantSpend:
        spend = cls(tenants)
        for tenant, data in (orjson.loads(raw) if raw else {}).items():
            spend.windows[tenant] = SpendWindow.from_dict(data)
        return spend


# -- task records ---------------------------------------------------------------------------

def note_task(rt: Runtime, task_id: str, **fields: Any) -> None:
    """Add ``fields`` to the task's durable record (while it is active)."""
    if not rt.stateful:
        return
    record = rt.ledger.task_record(task_id)
    if record is None or record.get("state") != "active":
        return
    record.update(fields)
    assert rt.ledger.task_table is not None
    rt.ledger.task_table.put(task_id, record)


# -- admission ------------------------------------------------------------------------------

def tenant_budget_error(rt: Runtime, tenant: str) -> str | None:
    """Why a new task of ``tenant`` is refused (its window budget is spent), or None."""
    settings = settings_of(rt.config.tenants, tenant)
    if settings.budget_usd is None:
        return None
    spent = rt.tenant_spend.spent(tenant, time.time())
    if spent + FIT_EPS_USD < settings.budget_usd:
        return None
    return (f"tenant {tenant!r} has spent {spent:.4g} USD of its budget "
            f"{settings.budget_usd:.4g} USD in the last {settings.window_s:g} s")


# -- spend ----------------------------------------------------------------------------------

def record_spend(rt: Runtime, event: dict[str, Any]) -> bool:
    """Account one ``execution`` event's ``price_usd`` to its task and tenant.

    Returns True when this spend took the task past its budget (the caller
    stops the task). Spend of a task that is no longer active (a losing hedge
    copy ending after the result) counts for its tenant only.
    """
    usd = float(event.get("price_usd") or 0.0)
    if usd <= 0.0:
        return False
    task_id = str(event["task_id"])
    tracked = rt.ledger.subtask(str(event["subtask_id"]))
    tenant = str(event.get("tenant") or (tracked.tenant if tracked else DEFAULT_TENANT))
    rt.tenant_spend.add(tenant, usd, time.time())
    if rt.snapshots is not None and rt.owner:
        rt.snapshots[TENANT_SNAPSHOT_KEY] = rt.tenant_spend.dump()
    if not rt.stateful:
        return False
    record = rt.ledger.task_record(task_id)
    if record is None or record.get("state") != "active":
        return False
    over = rt.scheduler.record_spend(task_id, usd)
    note_task(rt, task_id, spent_usd=rt.scheduler.spent_usd(task_id))
    return over


def over_budget_message(rt: Runtime, task_id: str, budget_usd: float | None) -> str:
    """The failed result's error of a task whose actual spend passed its budget."""
    withdrawn = sum(1 for ids in rt.scheduler.pending().values() for sid in ids
                    if sid.startswith(f"{task_id}/"))
    return (f"actual spend {rt.scheduler.spent_usd(task_id):.4g} USD passed the budget "
            f"{budget_usd if budget_usd is not None else float('nan'):.4g} USD (a price "
            f"prediction was low); nothing more of the task is started, {withdrawn} pending "
            "sub-task(s) withdrawn")


def restore(rt: Runtime) -> None:
    """After a takeover: each active task's spend into the scheduler, tenants' windows."""
    if rt.snapshots is not None:
        rt.tenant_spend = TenantSpend.load(rt.snapshots.get(TENANT_SNAPSHOT_KEY),
                                           rt.config.tenants)
    if not rt.stateful:
        return
    spent = {tid: float(rec["spent_usd"]) for tid, rec in rt.ledger.tasks_in_state("active").items()
             if rec.get("spent_usd")}
    rt.scheduler.restore_spend(spent)
    if spent:
        log.info("restored the spend of %d tasks", len(spent))


# -- results --------------------------------------------------------------------------------

def stamp(rt: Runtime, result: dict[str, Any], record: dict[str, Any] | None, *,
          tenant: str | None = None, budget_usd: float | None = None,
          spent_usd: float | None = None) -> dict[str, Any]:
    """Add ``tenant``, the budget metrics and the budget ``reason`` to ``result`` (in place).

    ``record`` is the task's durable record (its ``tenant``, ``budget_usd``,
    ``fail_reason`` and ``spent_usd``, as noted at admission and on spend); the
    keyword arguments win over it.
    """
    record = record or {}
    tenant = tenant or record.get("tenant") or result.get("tenant") or DEFAULT_TENANT
    result["tenant"] = tenant
    budget = budget_usd if budget_usd is not None else record.get("budget_usd")
    metrics = result.setdefault("metrics", {})
    spent = max(float(metrics.get("cost_usd") or 0.0),
                spent_usd if spent_usd is not None else float(record.get("spent_usd") or 0.0))
    metrics["cost_usd"] = spent
    reason = record.get("fail_reason")
    if budget is not None:
        metrics["budget_usd"] = float(budget)
        metrics["over_budget"] = spent > float(budget) + FIT_EPS_USD
    if result.get("status") == "failed" and reason and "reason" not in result:
        result["reason"] = reason
    return result
