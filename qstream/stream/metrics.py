"""OpenTelemetry metrics at the Kafka edge: the SLIs of what this process publishes.

Every telemetry event, result and reallocation a worker or executor sends goes
through :func:`observe` (one call in :meth:`qstream.stream.outbox.Outbox.send`),
which feeds the pure :class:`~qstream.core.sli.SLIAggregator` and records the
samples it returns on the instruments of
:data:`~qstream.core.metric_catalog.METRICS`. Ratio and calibration-age gauges
are observed from the aggregator at each collection. A process sees only what it
publishes itself: with separate ``qstream executor`` processes the execution
metrics come from the executors, and the worker cannot join them with its
dispatch predictions (``qstream.predictor.error`` then stays empty there).

Exporters (``--otel-metrics-exporter`` / ``QSTREAM_OTEL_METRICS_EXPORTER``, the
same grammar as spans' ``--otel-exporter``, see :mod:`qstream.stream.tracing`):

- ``none`` (default): nothing is recorded; :func:`observe` returns at once.
- ``console``: JSON on stderr every ``OTEL_METRIC_EXPORT_INTERVAL`` ms (SDK
  default 60000).
- ``otlp`` or ``otlp:URL``: OTLP/HTTP, same interval; without a URL the standard
  ``OTEL_EXPORTER_OTLP_*`` variables apply (default ``http://localhost:4318/v1/metrics``).
- ``memory:PATH``: the SDK's in-memory reader; the cumulative metrics are written
  to ``PATH`` as one JSON document (``MetricsData.to_json()``) at :func:`shutdown`
  (for tests across processes).
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from qstream.config import check_otel_exporter
from qstream.core.metric_catalog import METRICS
from qstream.core.sli import SLIAggregator
from qstream.stream import topics as T

METER_NAME = "qstream"
OBSERVED_TOPICS = frozenset({T.TELEMETRY, T.RESULTS, T.REALLOCATIONS})
"""Topics whose messages carry SLI data."""

log = logging.getLogger("qstream.metrics")

_lock = threading.Lock()
_provider: Any = None  # the SDK MeterProvider this process configured, if any
_recorder: MetricsRecorder | None = None
_memory: tuple[Any, Path] | None = None  # (InMemoryMetricReader, path)


class MetricsRecorder:
    """Records the SLI samples of observed messages on OpenTelemetry instruments.

    Parameters
    ----------
    meter:
        The meter that creates the instruments of :data:`METRICS`.
    sli:
        The aggregator; None creates one.
    clock:
        Epoch seconds for the calibration-age gauge (default :func:`time.time`).
    """

    def __init__(self, meter: Meter, sli: SLIAggregator | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.sli = sli if sli is not None else SLIAggregator()
        self.clock = clock
        self.instruments: dict[str, Any] = {}
        gauges: dict[str, Callable[[CallbackOptions], Iterable[Observation]]] = {
            "qstream.task.success_rate": self._ratio(self.sli.success_rate),
            "qstream.execution.retry_rate": self._ratio(self.sli.retry_rate),
            "qstream.shots.utilization": self._ratio(self.sli.shot_utilization),
            "qstream.backend.calibration_age": self._calibration_ages,
        }
        for spec in METRICS.values():
            if spec.instrument == "counter":
                self.instruments[spec.name] = meter.create_counter(
                    spec.name, unit=spec.unit, description=spec.description)
            elif spec.instrument == "histogram":
                self.instruments[spec.name] = meter.create_histogram(
                    spec.name, unit=spec.unit, description=spec.description,
                    explicit_bucket_boundaries_advisory=spec.bounds or None)
            else:
                self.instruments[spec.name] = meter.create_observable_gauge(
                    spec.name, callbacks=[gauges[spec.name]], unit=spec.unit,
                    description=spec.description)

    def observe(self, message: dict[str, Any]) -> None:
        """Feed one published message; record the samples it yields."""
        with _lock:  # gauges are read on the exporter's thread
            samples = self.sli.observe(message)
        for s in samples:
            instrument = self.instruments[s.name]
            if METRICS[s.name].instrument == "counter":
                instrument.add(s.value, s.attributes)
            else:
                instrument.record(s.value, s.attributes)

    def _ratio(self, fn: Callable[[], float | None]
               ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            with _lock:
                value = fn()
            return [] if value is None else [Observation(value)]
        return callback

    def _calibration_ages(self, _: CallbackOptions) -> Iterable[Observation]:
        now = self.clock()
        with _lock:
            ages = {name: self.sli.calibration_age_s(name, now) for name in self.sli.backends}
        return [Observation(age, {"backend": name}) for name, age in ages.items()
                if age is not None]


def configure(spec: str, service_name: str) -> None:
    """Install this process's meter provider and recorder for ``spec`` (module docstring).

    ``none`` installs nothing. Calling it a second time in one process does nothing.

    Raises
    ------
    ConfigError
        If ``spec`` names no exporter.
    """
    global _provider, _recorder, _memory
    check_otel_exporter(spec)
    if spec == "none" or _provider is not None:
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        InMemoryMetricReader,
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    reader: MetricReader
    if spec.startswith("memory:"):
        reader = InMemoryMetricReader()
        _memory = (reader, Path(spec.split(":", 1)[1]))
    elif spec == "console":
        # stderr: stdout may carry a command's output.
        reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr))
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        endpoint = spec.split(":", 1)[1] if ":" in spec else None
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint))
    provider = MeterProvider(resource=Resource.create({SERVICE_NAME: service_name}),
                             metric_readers=[reader])
    _recorder = MetricsRecorder(provider.get_meter(METER_NAME))
    _provider = provider
    atexit.register(shutdown)


def observe(topic: str, message: dict[str, Any]) -> None:
    """Feed a message this process published on ``topic``; a no-op unless configured.

    Never raises: metrics must not break a send.
    """
    if _recorder is None or topic not in OBSERVED_TOPICS:
        return
    try:
        _recorder.observe(message)
    except Exception:
        log.exception("metrics: could not record a %s message", topic)


def recorder() -> MetricsRecorder | None:
    """This process's recorder, if :func:`configure` installed one."""
    return _recorder


def write_memory_metrics() -> bool:
    """Write the in-memory reader's cumulative metrics to its file; True if written."""
    if _memory is None:
        return False
    reader, path = _memory
    data = reader.get_metrics_data()
    if data is None:
        return False
    path.write_text(data.to_json(indent=None), encoding="utf-8")
    return True


def shutdown() -> None:
    """Flush and stop this process's exporter (idempotent)."""
    global _provider, _recorder, _memory
    if _provider is None:
        return
    write_memory_metrics()
    _provider.force_flush()
    _provider.shutdown()
    _provider = None
    _recorder = None
    _memory = None
