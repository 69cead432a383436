"""Job traces: the CSV that users export from their task-management service.

One row per job (a batch of ``n_circuits`` circuits run with ``shots`` each).
The header names the columns; their order is free, extra columns are ignored,
names are matched case-insensitively, and an empty cell means *unknown*.

=================  ========  ===========================================================
column             required  value
=================  ========  ===========================================================
submitted_at       yes       ISO 8601 timestamp (``Z`` or ``+HH:MM`` offset; naive = UTC)
                             or seconds since the Unix epoch (a plain number)
backend            yes       free text
n_circuits         yes       int >= 1
shots              yes (*)   int >= 1, per circuit
num_qubits         yes (*)   int >= 1, the widest circuit
depth              yes (*)   int >= 0
two_qubit_gates    no        int >= 0
gates              no        int >= 0
queue_s            no        float >= 0, seconds from submission to start
run_s              no        float >= 0, seconds from start to completion
status             no        ``DONE``, ``ERROR`` or ``CANCELLED`` (any case); empty = DONE
=================  ========  ===========================================================

Integers may be written as integral floats (``12.0``): pandas writes an integer
column with empty cells that way. *Required* means the header must have the
column (else :class:`~qstream.errors.ValidationError`) and every row a value in
it, except the circuit features marked (*) (:data:`FEATURE_COLUMNS`): a row with
one of them empty is still a real observation of queue wait on that backend at
that time (in real exports that can be a third of all jobs), so it is read with
the feature ``None``. Optional columns may be missing from the header altogether.

Rows that cannot be read (bad timestamp, non-numeric or non-finite number, a
negative value, ``n_circuits < 1``, unknown status, a missing required value,
more cells than the header) never raise: :func:`read_trace` reports each with
its physical line number (header = line 1) and skips it.

Examples
--------
>>> import io
>>> text = (
...     "submitted_at,backend,n_circuits,shots,num_qubits,depth,queue_s,run_s,status,note\\n"
...     "2024-05-01T10:00:05+02:00,ibm_kyiv,2,4000,5,12,30,8.5,done,x\\n"
...     "2024-05-01T08:00:00Z,ibm_kyiv,1,100,5,12,,,CANCELLED,\\n"
...     "yesterday,ibm_kyiv,1,100,5,12,,,,\\n"
... )
>>> result = read_trace(io.StringIO(text))
>>> [(j.line, j.submitted_at_s, j.status) for j in result.jobs]
[(3, 1714550400.0, 'CANCELLED'), (2, 1714550405.0, 'DONE')]
>>> result.jobs[1].completed_at_s - result.jobs[1].submitted_at_s
38.5
>>> result.errors
[TraceRowError(line=4, reason="submitted_at: 'yesterday' is neither ISO 8601 nor epoch seconds")]
>>> out = io.StringIO()
>>> write_trace(result.jobs, out)
2
>>> from dataclasses import replace
>>> back = read_trace(io.StringIO(out.getvalue())).jobs
>>> [replace(j, line=0) for j in back] == [replace(j, line=0) for j in result.jobs]
True
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypeVar

from qstream.errors import ConfigError, ValidationError

#: Column order :func:`write_trace` writes (and the simulator exports).
TRACE_COLUMNS: tuple[str, ...] = (
    "submitted_at", "backend", "n_circuits", "shots", "num_qubits", "depth",
    "two_qubit_gates", "gates", "queue_s", "run_s", "status",
)
#: Columns the header must have; every row needs a value in each but the features.
REQUIRED_COLUMNS: tuple[str, ...] = TRACE_COLUMNS[:6]
#: Required columns whose cell may be empty (the circuit's shape is unknown).
FEATURE_COLUMNS: tuple[str, ...] = ("shots", "num_qubits", "depth")
#: Job states a trace may record; an empty ``status`` cell means ``DONE``.
STATUSES: tuple[str, ...] = ("DONE", "ERROR", "CANCELLED")

_T = TypeVar("_T")

# Longest cell text quoted back in an error reason.
_MAX_SHOWN = 40


@dataclass(frozen=True, slots=True)
class TraceJob:
    """One job of a trace.

    Attributes
    ----------
    line:
        1-based physical line of the row in its file (the header is line 1);
        where a quoted cell spans lines, the row's first line.
    submitted_at_s:
        Submission time, seconds since the Unix epoch (UTC).
    backend:
        Backend name as the trace spells it.
    n_circuits, shots:
        Circuits in the job and shots per circuit (both >= 1); ``shots`` is
        ``None`` when unknown.
    num_qubits, depth:
        Width of the widest circuit (>= 1) and its depth (>= 0), ``None`` when
        unknown.
    two_qubit_gates, gates:
        Two-qubit gates and all gates (>= 0), ``None`` when unknown.
    queue_s, run_s:
        Queue wait (submission to start) and run time (start to completion) in
        seconds, ``None`` when unknown.
    status:
        ``"DONE"``, ``"ERROR"`` or ``"CANCELLED"``.
    """

    line: int
    submitted_at_s: float
    backend: str
    n_circuits: int
    shots: int | None
    num_qubits: int | None
    depth: int | None
    two_qubit_gates: int | None = None
    gates: int | None = None
    queue_s: float | None = None
    run_s: float | None = None
    status: str = "DONE"

    @property
    def features_known(self) -> bool:
        """Whether ``shots``, ``num_qubits`` and ``depth`` are all known."""
        return self.shots is not None and self.num_qubits is not None and self.depth is not None

    @property
    def started_at_s(self) -> float | None:
        """Start time (epoch s): ``submitted_at_s + queue_s``; ``None`` if ``queue_s`` is unknown."""
        return None if self.queue_s is None else self.submitted_at_s + self.queue_s

    @property
    def completed_at_s(self) -> float | None:
        """Completion time (epoch s): start + ``run_s``; ``None`` if either is unknown."""
        start = self.started_at_s
        return None if start is None or self.run_s is None else start + self.run_s


@dataclass(frozen=True, slots=True)
class TraceRowError:
    """A row :func:`read_trace` skipped: its physical ``line`` and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class TraceReadResult:
    """What :func:`read_trace` read.

    Attributes
    ----------
    jobs:
        Valid rows, sorted by ``submitted_at_s`` (ties keep file order).
    errors:
        Skipped rows in file order.
    columns:
        The known columns (of :data:`TRACE_COLUMNS`) the header has.
    """

    jobs: list[TraceJob]
    errors: list[TraceRowError] = field(default_factory=list)
    columns: tuple[str, ...] = TRACE_COLUMNS

    @property
    def rows_read(self) -> int:
        """Data rows read: valid plus skipped (blank lines are not rows)."""
        return len(self.jobs) + len(self.errors)


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "...")


def parse_timestamp(text: str) -> float:
    """Parse a ``submitted_at`` cell into epoch seconds (UTC).

    A plain number is seconds since the epoch; anything else must be ISO 8601
    as :meth:`datetime.datetime.fromisoformat` reads it (``Z`` and ``+HH:MM``
    offsets; no offset means UTC).

    Raises
    ------
    ValueError
        If the text is neither, or the number is not finite.

    Examples
    --------
    >>> parse_timestamp("1970-01-01T01:00:00+01:00"), parse_timestamp("1970-01-01 00:00:01.5")
    (0.0, 1.5)
    >>> parse_timestamp("1714550400")
    1714550400.0
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"{_shown(text)} is not a finite number")
        return value
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{_shown(text)} is neither ISO 8601 nor epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.timestamp()
    except (OverflowError, OSError, ValueError):  # offset pushes it past year 1..9999
        raise ValueError(f"{_shown(text)} is out of range") from None


def _int(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise ValueError(f"{_shown(text)} is not an integer") from None
        if not (math.isfinite(f) and f.is_integer()):
            raise ValueError(f"{_shown(text)} is not an integer") from None
        value = int(f)
    if value < minimum:
        raise ValueError(f"{value} < {minimum}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{_shown(text)} is not finite")
    if value < 0.0:
        raise ValueError(f"{value!r} is negative")
    return value


def _status(text: str) -> str:
    status = text.upper() if text else "DONE"
    if status not in STATUSES:
        raise ValueError(f"{_shown(text)} is not DONE, ERROR or CANCELLED")
    return status


def _parse_row(line: int, cells: list[str], index: dict[str, int]) -> TraceJob | TraceRowError:
    def cell(name: str) -> str:
        i = index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    problems: list[str] = []
    missing = [name for name in REQUIRED_COLUMNS if name not in FEATURE_COLUMNS and not cell(name)]
    if missing:
        problems.append(f"missing {', '.join(missing)}")

    def get(name: str, parse: Callable[[str], _T]) -> _T | None:
        text = cell(name)
        if not text:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            return None

    submitted_at_s = get("submitted_at", parse_timestamp)
    n_circuits = get("n_circuits", lambda t: _int(t, 1))
    shots = get("shots", lambda t: _int(t, 1))
    num_qubits = get("num_qubits", lambda t: _int(t, 1))
    depth = get("depth", lambda t: _int(t, 0))
    two_qubit_gates = get("two_qubit_gates", lambda t: _int(t, 0))
    gates = get("gates", lambda t: _int(t, 0))
    queue_s = get("queue_s", _seconds)
    run_s = get("run_s", _seconds)
    try:
        status = _status(cell("status"))
    except ValueError as exc:
        status = "DONE"
        problems.append(f"status: {exc}")
    if problems or submitted_at_s is None or n_circuits is None:
        return TraceRowError(line, "; ".join(problems))
    return TraceJob(line, submitted_at_s, cell("backend"), n_circuits, shots, num_qubits, depth,
                    two_qubit_gates, gates, queue_s, run_s, status)


class _LineCounter:
    """Wraps a text stream to count the physical lines the csv reader consumed."""

    __slots__ = ("lines", "stream")

    def __init__(self, stream: Iterable[str]) -> None:
        self.stream = iter(stream)
        self.lines = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        text = next(self.stream)
        self.lines += 1
        return text


def _header_index(header: list[str]) -> dict[str, int]:
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    index: dict[str, int] = {}
    duplicated = []
    for i, name in enumerate(names):
        if name in TRACE_COLUMNS:
            if name in index:
                duplicated.append(name)
            index.setdefault(name, i)
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        raise ValidationError(
            f"trace header lacks required column(s) {', '.join(missing)}; "
            f"it has {', '.join(repr(n) for n in names) or 'none'}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}",
            reason="trace_header",
        )
    if duplicated:
        raise ValidationError(f"trace header repeats column(s) {', '.join(duplicated)}",
                              reason="trace_header")
    return index


def _read(stream: TextIO) -> TraceReadResult:
    counter = _LineCounter(stream)
    reader = csv.reader(counter)
    header: list[str] | None = None
    while header is None:
        try:
            row = next(reader)
        except StopIteration:
            raise ValidationError("trace is empty: no header line", reason="trace_header") from None
        except csv.Error as exc:
            raise ValidationError(f"trace header line {counter.lines}: {exc}",
                                  reason="trace_header") from None
        if row:
            header = row
    index = _header_index(header)
    width = len(header)
    jobs: list[TraceJob] = []
    errors: list[TraceRowError] = []
    while True:
        first_line = counter.lines + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The reader resumes at the next line; report the lines it consumed.
            errors.append(TraceRowError(first_line, f"unreadable CSV: {exc}"))
            continue
        if not cells:  # blank line
            continue
        if len(cells) > width:
            errors.append(TraceRowError(
                first_line, f"{len(cells)} cells but the header has {width} (unquoted comma?)"))
            continue
        parsed = _parse_row(first_line, cells, index)
        if isinstance(parsed, TraceRowError):
            if counter.lines > first_line:
                parsed = TraceRowError(first_line, f"{parsed.reason} (the row spans lines "
                                       f"{first_line}-{counter.lines}: unbalanced quote?)")
            errors.append(parsed)
        else:
            jobs.append(parsed)
    jobs.sort(key=lambda j: j.submitted_at_s)  # stable: ties keep file order
    columns = tuple(c for c in TRACE_COLUMNS if c in index)
    return TraceReadResult(jobs=jobs, errors=errors, columns=columns)


def read_trace(source: str | Path | TextIO) -> TraceReadResult:
    """Read a job-trace CSV (see the module docstring for the columns).

    Parameters
    ----------
    source:
        A path (read as UTF-8, a byte-order mark allowed) or an open text
        stream (opened with ``newline=""`` so quoted newlines survive).

    Returns
    -------
    TraceReadResult
        Valid jobs sorted by submission time; skipped rows with line and reason.

    Raises
    ------
    ValidationError
        If the header is missing, lacks a required column or repeats one
        (``reason="trace_header"``).
    ConfigError
        If the file cannot be opened or is not UTF-8 text.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            with path.open(newline="", encoding="utf-8-sig") as stream:
                return _read(stream)
        except OSError as exc:
            raise ConfigError(f"cannot read trace {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"trace {path} is not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    try:
        return _read(source)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"trace is not UTF-8 text (byte {exc.start}): {exc.reason}") from exc


def _format_time(epoch_s: float) -> str:
    try:
        when = datetime.fromtimestamp(epoch_s, UTC)
    except (OverflowError, OSError, ValueError):  # beyond year 9999: keep the number
        return repr(epoch_s)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _cell(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def write_trace(jobs: Iterable[TraceJob], dest: str | Path | TextIO) -> int:
    """Write jobs as a trace CSV with the header :data:`TRACE_COLUMNS`.

    ``submitted_at`` is written as ISO 8601 UTC with microseconds (``...Z``), so
    reading it back yields the time rounded to the microsecond; seconds are
    written with :func:`repr` (exact round trip); unknown values as empty cells.
    ``line`` is not written: reading back numbers the lines anew. Lines end
    in CRLF (RFC 4180); open a ``dest`` stream with ``newline=""``.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    ConfigError
        If ``dest`` is a path that cannot be written.
    """
    if isinstance(dest, str | Path):
        path = Path(dest)
        try:
            with path.open("w", newline="", encoding="utf-8") as stream:
                return _write(jobs, stream)
        except OSError as exc:
            raise ConfigError(f"cannot write trace {path}: {exc.strerror or exc}") from exc
    return _write(jobs, dest)


def _write(jobs: Iterable[TraceJob], stream: TextIO) -> int:
    # RFC 4180 line ends: with "\n" alone, csv would leave a cell holding a lone "\r"
    # unquoted, and a reader would end the row there.
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(TRACE_COLUMNS)
    n = 0
    for job in jobs:
        writer.writerow([
            _format_time(job.submitted_at_s), job.backend, job.n_circuits, _cell(job.shots),
            _cell(job.num_qubits), _cell(job.depth), _cell(job.two_qubit_gates), _cell(job.gates),
            _cell(job.queue_s), _cell(job.run_s), job.status,
        ])
        n += 1
    return n
