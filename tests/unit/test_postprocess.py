"""Post-processing: merging counts, readout mitigation with mthree, combine_circuit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qstream.core.postprocess import (
    PartResult,
    PostprocessError,
    combine_circuit,
    merge_counts,
    mitigate_readout,
)
from qstream.errors import QStreamError

counts_st = st.dictionaries(st.text("01", min_size=3, max_size=3), st.integers(0, 10**6),
                            max_size=8)


@given(st.lists(counts_st, max_size=6))
def test_merge_counts_sums_and_is_order_independent(parts: list[dict[str, int]]) -> None:
    merged = merge_counts(parts)
    assert sum(merged.values()) == sum(sum(p.values()) for p in parts)
    assert merged == merge_counts(reversed(parts))
    for key, n in merged.items():
        assert n == sum(p.get(key, 0) for p in parts)


def test_merge_counts_rejects_negative_counts() -> None:
    with pytest.raises(PostprocessError):
        merge_counts([{"0": -1}])


def _noisy_ghz_counts(n: int, shots: int, readout: list[tuple[float, float]],
                      seed: int = 0) -> dict[str, int]:
    """Ideal GHZ (half 0...0, half 1...1) with independent readout flips per clbit."""
    rng = np.random.default_rng(seed)
    ideal = np.repeat(rng.integers(0, 2, size=shots)[:, None], n, axis=1)  # shots x n
    p10 = np.array([r[0] for r in readout])   # clbit i is column n-1-i in the string
    p01 = np.array([r[1] for r in readout])
    flip_prob = np.where(ideal == 0, p10[::-1], p01[::-1])
    read = ideal ^ (rng.random(ideal.shape) < flip_prob)
    out: dict[str, int] = {}
    for row in read:
        key = "".join(map(str, row))
        out[key] = out.get(key, 0) + 1
    return out


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 10**6),
       readout=st.lists(st.tuples(st.floats(0.0, 0.08), st.floats(0.01, 0.12)),
                        min_size=5, max_size=5))
def test_mitigation_brings_ghz_closer_to_ideal(n, seed, readout) -> None:
    readout = readout[:n]
    shots = 20_000
    counts = _noisy_ghz_counts(n, shots, readout, seed)
    ideal_keys = ("0" * n, "1" * n)
    raw = sum(counts.get(k, 0) for k in ideal_keys) / shots
    probs = mitigate_readout(counts, readout)
    mitigated = sum(probs.get(k, 0.0) for k in ideal_keys)
    assert mitigated > raw
    assert abs(1.0 - mitigated) < abs(1.0 - raw)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert all(v >= 0.0 for v in probs.values())


def test_mitigation_uses_clbit_0_as_the_rightmost_character() -> None:
    # Prepared "01" (clbit 0 = 1) every shot; only clbit 0 has readout error.
    counts = {"01": 700, "00": 300}
    fixed = mitigate_readout(counts, [(0.0, 0.3), (0.0, 0.0)])
    assert fixed["01"] == pytest.approx(1.0, abs=1e-5)
    # Attributing the error to clbit 1 instead cannot explain the data the same way.
    wrong = mitigate_readout(counts, [(0.0, 0.0), (0.0, 0.3)])
    assert wrong.get("01", 0.0) < 0.9


@pytest.mark.parametrize(
    ("counts", "readout"),
    [
        ({"010": 5}, [(0.01, 0.01)] * 2),          # too wide
        ({"01": 5}, [(0.01, 0.01)] * 3),           # too narrow
        ({"0x": 5}, [(0.01, 0.01)] * 2),           # not a bitstring
        ({"01": 0}, [(0.01, 0.01)] * 2),           # no shots
        ({"01": 5}, [(0.6, 0.5), (0.0, 0.0)]),     # singular calibration
        ({"01": 5}, [(1.5, 0.0), (0.0, 0.0)]),     # not a probability
        ({"01": 5}, []),                           # nothing measured
    ],
)
def test_mitigation_rejects_malformed_input(counts, readout) -> None:
    with pytest.raises(PostprocessError) as err:
        mitigate_readout(counts, readout)
    assert isinstance(err.value, ValueError)
    assert isinstance(err.value, QStreamError)


def part(sid: str, counts: dict[str, int], *, backend: str = "b", quality: float | None = None,
         esp: float = 0.9, readout: list[tuple[float, float]] | None = None,
         index: int = 0, name: str = "ghz") -> PartResult:
    return PartResult(sid, index, name, backend, counts, sum(counts.values()), queue_s=1.0,
                      run_s=2.0, price_usd=0.5, esp=esp, quality=quality, readout=readout)


@given(st.lists(st.tuples(counts_st, st.sampled_from(["x", "y", "z"]),
                          st.none() | st.floats(0, 1), st.floats(0, 1)),
                min_size=1, max_size=5))
def test_combine_circuit_invariants(spec) -> None:
    parts = [part(f"t/c0/s{i}", c, backend=b, quality=q, esp=e)
             for i, (c, b, q, e) in enumerate(spec)]
    r = combine_circuit(parts)
    assert sum(r["counts"].values()) == r["shots"] == sum(p.shots for p in parts)
    assert r["backends"] == sorted({p.backend for p in parts})
    assert r["subtasks"] == len(parts)
    assert r["mitigated"] is None
    total = sum(p.shots for p in parts)
    if total:
        expected = sum((p.quality if p.quality is not None else p.esp) * p.shots
                       for p in parts) / total
        assert r["est_fidelity"] == pytest.approx(expected)
    else:
        assert r["est_fidelity"] is None


def test_combine_circuit_mitigates_each_part_with_its_own_readout() -> None:
    good = [(0.01, 0.02)] * 3
    bad = [(0.05, 0.10)] * 3
    a = part("t/c0/s0", _noisy_ghz_counts(3, 6000, good, 1), backend="q1", readout=good)
    b = part("t/c0/s1", _noisy_ghz_counts(3, 2000, bad, 2), backend="q2", readout=bad)
    c = part("t/c0/s2", {"000": 1000, "111": 1000}, backend="sim")      # noiseless: raw
    r = combine_circuit([a, b, c])
    mit = r["mitigated"]
    assert mit["method"] == "mthree"
    probs = mit["probabilities"]
    assert sum(probs.values()) == pytest.approx(1.0)
    pa = mitigate_readout(a.counts, good)
    pb = mitigate_readout(b.counts, bad)
    for key in ("000", "111"):
        expected = 0.6 * pa.get(key, 0) + 0.2 * pb.get(key, 0) + 0.2 * 0.5
        assert probs[key] == pytest.approx(expected)
    raw_ideal = (r["counts"].get("000", 0) + r["counts"].get("111", 0)) / r["shots"]
    assert probs["000"] + probs["111"] > raw_ideal


def test_combine_circuit_rejects_inconsistent_parts() -> None:
    with pytest.raises(PostprocessError):
        combine_circuit([])
    with pytest.raises(PostprocessError, match="different circuits"):
        combine_circuit([part("a", {"0": 1}), part("b", {"0": 1}, index=1, name="other")])
    bad = PartResult("a", 0, "ghz", "b", {"0": 3}, 4, 0.0, 0.0, 0.0, 1.0, None, None)
    with pytest.raises(PostprocessError, match="counts sum to 3, expected 4"):
        combine_circuit([bad])


def test_observables_of_a_calibrated_backend_are_readout_mitigated() -> None:
    from qstream.core.postprocess import PartResult, combine_observable_circuit

    # |11> read with 5% flips each way on both qubits: P(11) = .9025, P(01) = P(10) = .0475.
    counts = {"11": 9025, "01": 475, "10": 475, "00": 25}
    readout = [(0.05, 0.05), (0.05, 0.05)]
    calibrated = PartResult("t/c0/s0", 0, "psi", "dev", counts, 10_000, 0.0, 0.1, 0.0, 1.0,
                            None, readout)
    ideal = PartResult("t/c0/s0", 0, "psi", "sim", counts, 10_000, 0.0, 0.1, 0.0, 1.0,
                       None, None)
    terms = [[("ZZ", 1.0), ("ZI", 0.5)]]
    mitigated = combine_observable_circuit([("ZZ", [calibrated])], terms)["observables"][0]
    raw = combine_observable_circuit([("ZZ", [ideal])], terms)["observables"][0]
    # Truth for |11>: <ZZ> = 1, <ZI> = -1, so 1 - 0.5 = 0.5; raw: 0.81 - 0.5 * 0.9 = 0.36.
    assert raw["readout_mitigated"] is False and abs(raw["value"] - 0.36) < 1e-9
    assert mitigated["readout_mitigated"] is True
    assert abs(mitigated["value"] - 0.5) < 1e-3
    assert mitigated["std_error"] > raw["std_error"]  # M3's overhead inflates the error
