"""The pending-jobs replay and the queue-wait model (pure: stdlib + numpy)."""

from __future__ import annotations

import csv
import gzip
import io
import math
import statistics
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qstream.core.queue_model import (
    PENDING_JOBS_FILE,
    PERTH_CALIBRATIONS_FILE,
    SERVICE_MEAN_S,
    SERVICE_MEDIAN_S,
    SERVICE_SIGMA,
    PendingJobsSeries,
    QueueModel,
    load_perth_calibrations,
    start_offset_s,
)
from qstream.errors import ConfigError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SERIES = PendingJobsSeries.load()
BACKENDS = SERIES.backends


def _raw_rows() -> list[list[str]]:
    raw = resources.files("qstream.data").joinpath(PENDING_JOBS_FILE).read_bytes()
    with io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw)), encoding="utf-8") as text:
        return list(csv.reader(text))[1:]


# -- packaged data -------------------------------------------------------------------


def test_packaged_series_has_every_row_and_backend() -> None:
    assert len(BACKENDS) == 12
    assert {"ibm_perth", "ibm_hanoi", "ibm_sherbrooke", "ibmq_kolkata"} <= set(BACKENDS)
    total = 0
    for backend in BACKENDS:
        t_s, pending, operational = SERIES.arrays(backend)
        assert len(t_s) == len(pending) == len(operational)
        assert np.all(np.diff(t_s) > 0), backend
        assert pending.min() >= 0
        total += len(t_s)
    assert total == 176_332
    # 2023-11-16T13:59Z .. 2023-11-26T20:52Z plus one sample period
    assert SERIES.start_epoch_s == 1_700_143_140.0
    assert SERIES.duration_s == pytest.approx(10 * 86400 + 6 * 3600 + 54 * 60)


def test_pending_jobs_matches_the_csv_at_sample_times() -> None:
    rows = _raw_rows()
    for ts, backend, pending, _op, status in rows[::9973]:
        t_s = _epoch(ts) - SERIES.start_epoch_s
        assert SERIES.pending_jobs(backend, t_s) == int(pending)
        assert SERIES.pending_jobs(backend, t_s + 59.0) == int(pending)  # step, per minute
        assert SERIES.status(backend, t_s) == status


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not present")
@pytest.mark.parametrize("name", [PENDING_JOBS_FILE, PERTH_CALIBRATIONS_FILE])
def test_packaged_files_are_the_shared_ones(name: str) -> None:
    packaged = resources.files("qstream.data").joinpath(name).read_bytes()
    assert packaged == (SHARED / name).read_bytes()


def test_notice_ships_the_mit_license() -> None:
    notice = resources.files("qstream.data").joinpath("NOTICE.md").read_text(encoding="utf-8")
    assert "manosgior/Qonductor-SC25" in notice
    assert "Copyright (c) 2023 Dmitry Lugovoy" in notice
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in notice


def test_queue_model_module_reads_nothing_outside_the_package() -> None:
    source = Path(sys.modules[QueueModel.__module__].__file__ or "").read_text()
    assert "shared/data" not in source and "../shared" not in source
    assert 'resources.files("qstream.data")' in source


def test_queue_model_imports_no_sdk() -> None:
    code = ("import sys, qstream.core.queue_model\n"
            "print(','.join(m for m in ('qiskit', 'qiskit_aer', 'qiskit_ibm_runtime', 'braket',"
            " 'faust', 'aiokafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_perth_calibrations() -> None:
    snaps = load_perth_calibrations()
    assert len(snaps) == 181
    assert {s["backend_name"] for s in snaps} == {"ibm_perth"}
    dates = [s["last_update_date"] for s in snaps]
    assert dates[0].startswith("2023-01-01") and dates[-1].startswith("2023-06-30")
    for snap in snaps[::30]:
        assert len(snap["qubits"]) == 7
        names = {p["name"] for p in snap["qubits"][0]}
        assert {"T1", "T2", "prob_meas0_prep1", "prob_meas1_prep0"} <= names
        assert any(g["gate"] == "cx" for g in snap["gates"])
    snaps[0]["backend_name"] = "mutated"
    assert load_perth_calibrations()[0]["backend_name"] == "ibm_perth"


# -- replay --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(backend=st.sampled_from(BACKENDS),
       t_s=st.floats(min_value=-1e7, max_value=1e7, allow_nan=False),
       laps=st.integers(min_value=-3, max_value=3))
def test_replay_wraps_around_the_window(backend: str, t_s: float, laps: int) -> None:
    shifted = t_s + laps * SERIES.duration_s
    # Compare only away from sample edges, where float rounding could cross a minute.
    if abs(math.remainder(t_s, 60.0)) > 1e-3:
        assert SERIES.pending_jobs(backend, shifted) == SERIES.pending_jobs(backend, t_s)
        assert SERIES.operational(backend, shifted) == SERIES.operational(backend, t_s)


@settings(max_examples=100, deadline=None)
@given(backend=st.sampled_from(BACKENDS),
       t_s=st.floats(min_value=0, max_value=2e6, allow_nan=False),
       offset_s=st.floats(min_value=0, max_value=2e6, allow_nan=False))
def test_offset_shifts_the_replay(backend: str, t_s: float, offset_s: float) -> None:
    assert SERIES.pending_jobs(backend, t_s, offset_s=offset_s) == \
        SERIES.pending_jobs(backend, t_s + offset_s)


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"ibm_nowhere.*known: ibm_algiers"):
        SERIES.pending_jobs("ibm_nowhere", 0.0)


def test_bad_rows_raise_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no rows"):
        PendingJobsSeries([])
    with pytest.raises(ConfigError, match=r"cannot read"):
        PendingJobsSeries([("yesterday", "b", "1", "1", "active")])


def test_start_offsets_differ_per_device_and_stay_in_the_window() -> None:
    names = ["ibm_perth_emu", "ibm_hanoi_emu", "ibm_sherbrooke_emu", "ibm_nairobi_emu"]
    offsets = [start_offset_s(0, n, SERIES.duration_s) for n in names]
    assert len(set(offsets)) == len(names)
    assert all(0.0 <= o < SERIES.duration_s for o in offsets)
    assert offsets == [start_offset_s(0, n, SERIES.duration_s) for n in names]
    assert offsets != [start_offset_s(1, n, SERIES.duration_s) for n in names]


# -- queue model ----------------------------------------------------------------------


def test_documented_constants() -> None:
    assert SERVICE_MEAN_S == 10.0  # Qonductor AVERAGE_JOB_TIME
    assert SERVICE_MEDIAN_S * math.exp(SERVICE_SIGMA**2 / 2) == pytest.approx(SERVICE_MEAN_S)
    assert QueueModel().mean_service_s == 10.0


@settings(max_examples=100, deadline=None)
@given(pending=st.integers(min_value=0, max_value=3000),
       extra=st.integers(min_value=0, max_value=50),
       key=st.text(min_size=1, max_size=20), seed=st.integers(0, 2**32 - 1))
def test_wait_is_deterministic_nonnegative_and_grows_with_the_queue(
        pending: int, extra: int, key: str, seed: int) -> None:
    model = QueueModel(seed=seed)
    wait = model.wait_s(pending, key=key)
    assert wait == QueueModel(seed=seed).wait_s(pending, key=key)
    assert wait >= 0.0 and math.isfinite(wait)
    assert (wait == 0.0) == (pending == 0)
    assert model.wait_s(pending + extra, key=key) >= wait


def test_wait_without_key_follows_the_seeded_stream() -> None:
    a, b = QueueModel(seed=5), QueueModel(seed=5)
    assert [a.wait_s(10) for _ in range(3)] == [b.wait_s(10) for _ in range(3)]
    assert QueueModel(seed=5).wait_s(10) != QueueModel(seed=6).wait_s(10)


def test_wait_matches_the_lognormal_service_model() -> None:
    model = QueueModel(seed=1)
    singles = [model.wait_s(1, key=f"k{i}") for i in range(4000)]
    assert statistics.median(singles) == pytest.approx(SERVICE_MEDIAN_S, rel=0.06)
    assert statistics.stdev(np.log(singles)) == pytest.approx(SERVICE_SIGMA, rel=0.05)
    sums = [model.wait_s(50, key=f"s{i}") for i in range(2000)]
    assert statistics.fmean(sums) == pytest.approx(model.expected_wait_s(50), rel=0.03)


def test_negative_pending_counts_as_empty() -> None:
    assert QueueModel().wait_s(-3) == 0.0
    assert QueueModel().expected_wait_s(-3) == 0.0


@pytest.mark.parametrize("kwargs", [{"median_s": 0.0}, {"median_s": float("nan")},
                                    {"sigma": -0.1}, {"sigma": float("inf")}])
def test_invalid_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        QueueModel(median_s=kwargs.get("median_s", 1.0), sigma=kwargs.get("sigma", 1.0))
