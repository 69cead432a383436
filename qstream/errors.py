"""The qstream exception hierarchy.

Every error qstream raises on purpose derives from :class:`QStreamError`, so a
caller can catch one root. Subclasses name *what* went wrong; their messages say
what to do about it.
"""

from __future__ import annotations


class QStreamError(Exception):
    """Root of every error qstream raises on purpose."""


class ValidationError(QStreamError):
    """A message does not match its JSON Schema or a configured limit.

    Attributes
    ----------
    reason:
        Short machine-friendly category, e.g. ``"schema"``, ``"json"``, ``"utf8"``.
    """

    def __init__(self, message: str, *, reason: str = "schema") -> None:
        super().__init__(message)
        self.reason = reason


class CircuitError(QStreamError):
    """A circuit cannot be parsed (invalid OpenQASM) or has no measurable output."""


class CapacityError(QStreamError):
    """No backend in the fleet can run a sub-task (too wide, too many shots, ...)."""


class SimulationCostError(CapacityError):
    """No simulation method fits a circuit within a backend's memory (and time) limit.

    Raised by :func:`qstream.core.sim_cost.choose_method`; the message lists the
    estimate of every method tried. :meth:`BackendSpec.can_run
    <qstream.core.backend_spec.BackendSpec.can_run>` turns it into a reason.
    """


class BudgetError(CapacityError):
    """No placement of a sub-task fits its task's remaining budget (result reason ``budget``).

    Attributes
    ----------
    backend:
        The cheapest capable backend, or None when none is capable.
    price_usd:
        Its predicted price (USD).
    remaining_usd:
        What the task could still spend (USD): budget minus actual spend minus the
        predicted price of its other placed, unfinished sub-tasks.
    """

    reason = "budget"

    def __init__(self, message: str, *, backend: str | None = None, price_usd: float = 0.0,
                 remaining_usd: float = 0.0) -> None:
        super().__init__(message)
        self.backend = backend
        self.price_usd = price_usd
        self.remaining_usd = remaining_usd


class BackendError(QStreamError):
    """A backend failed to execute a sub-task."""


class TransientBackendError(BackendError):
    """A backend failed in a way worth retrying on the same backend (a random failure, a
    timeout); the execute agent retries it with exponential backoff and jitter."""


class BackendUnavailable(BackendError):
    """A backend is down (an outage): retrying on it is pointless, fail over instead."""


class BrokerError(QStreamError):
    """The embedded broker could not be started, or a Kafka broker could not be reached."""


class BrokerAuthError(BrokerError):
    """A Kafka broker refused the client's SASL credentials or its TLS handshake failed."""


class ConfigError(QStreamError):
    """A configuration value is missing or out of range."""


TASK_CONTENT_REASONS = ("zero_weights", "duplicate_circuit", "dependencies", "unknown_backend",
                        "invalid_problem", "circuits_or_problem", "invalid_observable",
                        "task_content")
"""DLQ reasons of :class:`TaskContentError` (each is also in ``qstream.dlq.v1``'s enum)."""


class TaskContentError(QStreamError):
    """A task passes its JSON Schema but its content cannot be run as given.

    Raised by the pure core (cost weights, partitioning) for what a schema cannot
    express; the partition agent sends the record to ``qstream.dlq`` with
    :attr:`reason`.

    Attributes
    ----------
    reason:
        The DLQ reason, one of :data:`TASK_CONTENT_REASONS`: ``zero_weights`` (every
        cost weight is 0), ``duplicate_circuit`` (two circuits share a name),
        ``dependencies`` (an unknown or cyclic ``depends_on``), ``unknown_backend``
        (an allow-list names no backend of the fleet), ``invalid_problem`` (a
        ``problem`` object that is malformed, see :mod:`qstream.core.problems`),
        ``circuits_or_problem`` (a task with both ``circuits`` and a ``problem``, or
        neither),
        ``invalid_observable`` (a circuit's ``observables`` do not fit it: a label
        not of the circuit's width, observables on a circuit that measures, or too
        few shots for a standard error), ``task_content`` (any other
        out-of-range field).

    Examples
    --------
    >>> TaskContentError("all weights are 0", reason="zero_weights").reason
    'zero_weights'
    """

    def __init__(self, message: str, *, reason: str = "task_content") -> None:
        if reason not in TASK_CONTENT_REASONS:
            raise ValueError(f"unknown task content reason {reason!r}")
        super().__init__(message)
        self.reason = reason


class SchedulerLookupError(QStreamError):
    """The scheduler holds no such sub-task or backend: unknown, already completed or dropped.

    Callers that handle redelivered events treat it as "stale" and move on.
    """


CLOUDEVENT_REASONS = ("cloudevent", "cloudevent_type", "cloudevent_data")
"""DLQ reasons of :class:`CloudEventError` (each is also in ``qstream.dlq.v1``'s enum)."""


class CloudEventError(ValidationError):
    """A record or request is a CloudEvent qstream cannot accept as a task submission.

    Attributes
    ----------
    reason:
        One of :data:`CLOUDEVENT_REASONS`: ``cloudevent`` (a required attribute missing
        or invalid, specversion not 1.0, a structured value that is not a JSON event),
        ``cloudevent_type`` (a type other than ``dev.qstream.task.submitted``) or
        ``cloudevent_data`` (data that is not a JSON task object, or a non-JSON
        content type).

    >>> CloudEventError("no id", reason="cloudevent").reason
    'cloudevent'
    """

    def __init__(self, message: str, *, reason: str = "cloudevent") -> None:
        if reason not in CLOUDEVENT_REASONS:
            raise ValueError(f"unknown CloudEvent reason {reason!r}")
        super().__init__(message, reason=reason)


class GatewayError(QStreamError):
    """The HTTP gateway cannot answer a request as asked (see its subclasses)."""


class UnknownTaskError(GatewayError):
    """No task with this id was ever submitted (as far as the topics read so far tell)."""


class TaskConflictError(GatewayError):
    """The request conflicts with the task's state: its id is already taken, or it has
    already finished (nothing to cancel).

    Attributes
    ----------
    reason:
        ``duplicate`` (the DLQ reason of a resubmitted task_id) or ``finished``.
    status:
        The task's status when the conflict was found.
    """

    def __init__(self, message: str, *, reason: str, status: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class EstimateError(GatewayError):
    """An estimate cannot be computed for this input (e.g. a problem task)."""
