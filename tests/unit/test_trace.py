"""The job-trace CSV reader and writer: malformed rows, time zones, round trip."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.trace import synthetic_jobs
from hypothesis import given, settings
from hypothesis import strategies as st

from qstream.core.trace import (
    REQUIRED_COLUMNS,
    TRACE_COLUMNS,
    TraceJob,
    TraceRowError,
    read_trace,
    write_trace,
)
from qstream.errors import ConfigError, QStreamError, ValidationError

HEADER = ",".join(TRACE_COLUMNS)
GOOD = "2024-05-01T08:00:00Z,ibm_kyiv,2,4000,5,12,6,20,30.5,8.25,DONE"


def read(text: str):
    return read_trace(io.StringIO(text))


def test_good_row_is_parsed_field_by_field() -> None:
    result = read(f"{HEADER}\n{GOOD}\n")
    assert result.errors == []
    assert result.jobs == [TraceJob(
        line=2, submitted_at_s=1714550400.0, backend="ibm_kyiv", n_circuits=2, shots=4000,
        num_qubits=5, depth=12, two_qubit_gates=6, gates=20, queue_s=30.5, run_s=8.25,
        status="DONE")]
    job = result.jobs[0]
    assert job.started_at_s == 1714550430.5
    assert job.completed_at_s == 1714550438.75
    assert result.rows_read == 1
    assert result.columns == TRACE_COLUMNS


@pytest.mark.parametrize(("row", "reason"), [
    ("yesterday,b,1,1,1,1,,,,,", "submitted_at: 'yesterday' is neither ISO 8601 nor epoch seconds"),
    ("2024-02-30T00:00:00,b,1,1,1,1,,,,,", "submitted_at: '2024-02-30T00:00:00' is neither"),
    ("nan,b,1,1,1,1,,,,,", "submitted_at: 'nan' is not a finite number"),
    ("inf,b,1,1,1,1,,,,,", "submitted_at: 'inf' is not a finite number"),
    ("0,b,abc,1,1,1,,,,,", "n_circuits: 'abc' is not an integer"),
    ("0,b,0,1,1,1,,,,,", "n_circuits: 0 < 1"),
    ("0,b,1,0,1,1,,,,,", "shots: 0 < 1"),
    ("0,b,1,1.5,1,1,,,,,", "shots: '1.5' is not an integer"),
    ("0,b,1,1,0,1,,,,,", "num_qubits: 0 < 1"),
    ("0,b,1,1,1,-1,,,,,", "depth: -1 < 0"),
    ("0,b,1,1,1,1,-2,,,,", "two_qubit_gates: -2 < 0"),
    ("0,b,1,1,1,1,,x,,,", "gates: 'x' is not an integer"),
    ("0,b,1,1,1,1,,,-0.5,,", "queue_s: -0.5 is negative"),
    ("0,b,1,1,1,1,,,,nan,", "run_s: 'nan' is not finite"),
    ("0,b,1,1,1,1,,,,inf,", "run_s: 'inf' is not finite"),
    ("0,b,1,1,1,1,,,,1e999,", "run_s: '1e999' is not finite"),
    ("0,b,1,1,1,1,,,,5 s,", "run_s: '5 s' is not a number"),
    ("0,b,1,1,1,1,,,,,FAILED", "status: 'FAILED' is not DONE, ERROR or CANCELLED"),
    ("0,,1,1,1,1,,,,,", "missing backend"),
    (",b,,1,1,1,,,,,", "missing submitted_at, n_circuits"),
    ("0,b,1,1,1,1,,,,,,extra", "12 cells but the header has 11"),
])
def test_malformed_row_is_reported_with_its_line_and_skipped(row: str, reason: str) -> None:
    result = read(f"{HEADER}\n{GOOD}\n{row}\n{GOOD}\n")
    assert [j.line for j in result.jobs] == [2, 4]
    assert len(result.errors) == 1
    assert result.errors[0].line == 3
    assert reason in result.errors[0].reason
    assert result.rows_read == 3


def test_every_problem_of_a_row_is_named_in_one_error() -> None:
    result = read(f"{HEADER}\nnope,b,0,x,1,1,,,-1,,maybe\n")
    (err,) = result.errors
    for part in ("submitted_at", "n_circuits", "shots", "queue_s", "status"):
        assert part in err.reason


def test_line_numbers_are_physical_lines() -> None:
    # A quoted backend spanning two lines and a blank line shift later rows.
    text = f'{HEADER}\n0,"multi\nline",1,1,1,1,,,,,\n\n1,b,0,1,1,1,,,,,\n{GOOD}\n'
    result = read(text)
    assert result.errors == [TraceRowError(5, "n_circuits: 0 < 1")]
    assert [j.line for j in result.jobs] == [2, 6]
    assert result.jobs[0].backend == "multi\nline"


def test_unbalanced_quote_says_which_lines_it_swallowed() -> None:
    result = read(f'{HEADER}\n0,"ibm,1,1,1,1,,,,,\n{GOOD}\n')
    (err,) = result.errors
    assert err.line == 2
    assert "spans lines 2-3" in err.reason


def test_mixed_utc_offsets_and_epoch_seconds_sort_by_instant() -> None:
    rows = [
        "2024-05-01T10:00:03+02:00",  # 08:00:03Z
        "2024-05-01T08:00:01Z",       # 08:00:01Z
        "1714550404.5",               # 08:00:04.5Z
        "2024-05-01 08:00:02",        # naive: UTC
        "2024-05-01T03:00:00-05:00",  # 08:00:00Z
        "2024-05-01T08:00:01+00:00",  # tie with line 3: file order kept
    ]
    text = HEADER + "\n" + "".join(f"{t},b,1,1,1,1,,,,,\n" for t in rows)
    result = read(text)
    assert [j.line for j in result.jobs] == [6, 3, 7, 5, 2, 4]
    assert [j.submitted_at_s - 1714550400.0 for j in result.jobs] == [0.0, 1.0, 1.0, 2.0, 3.0, 4.5]


def test_empty_status_means_done_and_status_is_case_insensitive() -> None:
    text = HEADER + "\n" + "".join(f"{i},b,1,1,1,1,,,,,{s}\n"
                                   for i, s in enumerate(["", "error", "Cancelled", "done"]))
    assert [j.status for j in read(text).jobs] == ["DONE", "ERROR", "CANCELLED", "DONE"]


def test_extra_columns_any_order_and_case_are_accepted() -> None:
    text = ("note, Shots ,backend,DEPTH,num_qubits,n_circuits,submitted_at,run_s,user\n"
            "hello,100,ibm_fez,3,2,1,60,1.5,alice\n")
    (job,) = read(text).jobs
    assert (job.shots, job.backend, job.depth, job.num_qubits, job.run_s) == (100, "ibm_fez", 3, 2, 1.5)
    assert job.queue_s is None and job.two_qubit_gates is None and job.status == "DONE"
    assert read(text).columns == ("submitted_at", "backend", "n_circuits", "shots", "num_qubits",
                                  "depth", "run_s")


def test_integral_floats_from_pandas_are_integers() -> None:
    (job,) = read(f"{HEADER}\n0,b,2.0,100.0,5,12,6.0,20.0,,,\n").jobs
    assert (job.n_circuits, job.shots, job.two_qubit_gates, job.gates) == (2, 100, 6, 20)
    assert isinstance(job.shots, int)


@pytest.mark.parametrize("drop", REQUIRED_COLUMNS)
def test_missing_required_header_column_raises_validation_error(drop: str) -> None:
    header = ",".join(c for c in TRACE_COLUMNS if c != drop)
    with pytest.raises(ValidationError, match=f"lacks required column\\(s\\) {drop};") as info:
        read(f"{header}\n")
    assert info.value.reason == "trace_header"


def test_header_problems_raise_validation_error() -> None:
    with pytest.raises(ValidationError, match="empty"):
        read("")
    with pytest.raises(ValidationError, match=r"lacks required column.*submitted_at, backend"):
        read("foo,bar\n1,2\n")
    with pytest.raises(ValidationError, match="repeats column"):
        read(HEADER + ",shots\n")


def test_unreadable_file_raises_qstream_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read trace"):
        read_trace(tmp_path / "missing.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(HEADER.encode() + b"\n\xff\xfe\x00garbage\n")
    with pytest.raises(QStreamError, match="not UTF-8"):
        read_trace(binary)


def test_path_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text(f"{HEADER}\n{GOOD}\n", encoding="utf-8-sig")
    assert [j.line for j in read_trace(path).jobs] == [2]
    assert read_trace(str(path)).jobs == read_trace(path).jobs


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    jobs = synthetic_jobs(200, seed=3)
    jobs[5] = replace(jobs[5], two_qubit_gates=None, gates=None, queue_s=None, run_s=None,
                      backend='odd, "quoted"\nna\rme')
    path = tmp_path / "trace.csv"
    assert write_trace(jobs, path) == 200
    assert path.read_text().splitlines()[0] == HEADER
    back = read_trace(path)
    assert back.errors == []
    assert [replace(j, line=0) for j in back.jobs] == [replace(j, line=0) for j in jobs]


def test_write_keeps_times_beyond_year_9999_as_numbers() -> None:
    out = io.StringIO()
    write_trace([TraceJob(0, 1e12, "b", 1, 1, 1, 1)], out)
    assert read(out.getvalue()).jobs[0].submitted_at_s == 1e12


cell = st.text(max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(cell, min_size=0, max_size=14), max_size=8))
def test_read_never_raises_and_accounts_for_every_row(rows: list[list[str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" line ends: a lone "\r" in a cell gets quoted
    writer.writerow(TRACE_COLUMNS)
    writer.writerows(rows)
    result = read_trace(io.StringIO(out.getvalue()))
    # csv writes an empty list as a blank line, which is no row.
    assert result.rows_read == sum(1 for r in rows if r)
    lines = sorted([j.line for j in result.jobs] + [e.line for e in result.errors])
    assert len(set(lines)) == len(lines) and all(line >= 2 for line in lines)
    assert all(e.reason for e in result.errors)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(
    st.one_of(st.floats(-1e10, 1e10), st.datetimes(), st.sampled_from(["", "x", "2024-05-01Z"])),
    st.one_of(st.integers(-3, 5), st.text(max_size=4)),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(""))), max_size=10))
def test_read_never_raises_on_near_valid_rows(rows: list[tuple[object, object, object]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRACE_COLUMNS)
    for t, n, q in rows:
        writer.writerow([t, "b", n, 1, 1, 1, "", "", q, "", ""])
    result = read_trace(io.StringIO(out.getvalue()))
    assert result.rows_read == len(rows)
    for job in result.jobs:
        assert job.n_circuits >= 1 and (job.queue_s is None or job.queue_s >= 0.0)
    times = [j.submitted_at_s for j in result.jobs]
    assert times == sorted(times)


@pytest.mark.parametrize("row, missing", [
    ("0,b,1,,5,10,,,30,2,", {"shots"}),
    ("0,b,1,100,,,,,30,2,", {"num_qubits", "depth"}),
    ("0,b,1,,,,,,30,,", {"shots", "num_qubits", "depth"}),
    ("0,b,1,1", {"num_qubits", "depth"}),  # a short row: the missing cells are empty
])
def test_row_with_unknown_circuit_features_is_read_with_none(row: str, missing: set[str]) -> None:
    result = read(f"{HEADER}\n{row}\n")
    assert result.errors == []
    [job] = result.jobs
    assert {name for name in ("shots", "num_qubits", "depth") if getattr(job, name) is None} == missing
    assert not job.features_known
    out = io.StringIO()
    write_trace(result.jobs, out)
    [back] = read_trace(io.StringIO(out.getvalue())).jobs
    assert replace(back, line=0) == replace(job, line=0)
