"""Post-processing: merge counts of shot splits, mitigate readout error, estimate observables.

Readout mitigation uses mthree (M3: Nation, Kang, Sundaresan and Gambetta,
"Scalable mitigation of measurement errors on quantum computers", PRX Quantum 2,
040326 (2021)), fed with calibration matrices built from the per-clbit readout
error rates the backend adapter reports, so no backend object is needed. M3
returns a quasi-probability distribution; it is projected onto the nearest
probability distribution (Smolin, Gambetta and Smith, PRL 108, 070502 (2012)),
mthree's ``nearest_probability_distribution``.

Expectation values of circuits with observables are mitigated too, where every part of
a measurement group comes from one backend with a readout calibration: M3's
quasi-probabilities of the group's counts give the value (not projected: the
unbiased estimate), and the standard error is the raw one times
``sqrt(mitigation overhead)``, the variance inflation M3 reports for its
``expval_and_stddev`` (Nation et al., section V). Groups without a calibration (noiseless
simulators) or split across backends stay raw.

mthree 3.0.0 imports qiskit and, through ``runningman``, qiskit-ibm-runtime,
which takes about a second; it is imported on first use only, so importing
``qstream.core`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qstream.core.observables import combine, expectation_from_counts
from qstream.errors import QStreamError


class PostprocessError(QStreamError, ValueError):
    """Counts or readout data are malformed (bitstring widths, negative counts, ...)."""


def merge_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum counts dicts key by key (the shot splits of one circuit).

    Keys are returned sorted, so merging is order-independent.

    Raises
    ------
    PostprocessError
        On a negative or non-integer count.

    Examples
    --------
    >>> merge_counts([{"00": 3, "11": 1}, {"11": 2, "01": 1}])
    {'00': 3, '01': 1, '11': 3}
    >>> merge_counts([])
    {}
    """
    total: dict[str, int] = {}
    for counts in parts:
        for key, n in counts.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise PostprocessError(f"count for {key!r} must be an int >= 0, got {n!r}")
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items()))


def _check_readout(readout: Sequence[tuple[float, float]]) -> None:
    for i, pair in enumerate(readout):
        if len(pair) != 2:
            raise PostprocessError(f"readout[{i}] must be (P(1|0), P(0|1)), got {pair!r}")
        p10, p01 = pair
        if not (0.0 <= p10 <= 1.0 and 0.0 <= p01 <= 1.0):
            raise PostprocessError(f"readout[{i}] probabilities must be in [0, 1], got {pair!r}")
        if p10 + p01 >= 1.0:
            # The 2x2 matrix is singular (or flips the bit): nothing to invert.
            raise PostprocessError(
                f"readout[{i}] = {pair!r}: P(1|0) + P(0|1) >= 1, the clbit carries no information"
            )


def mitigate_readout(
    counts: Mapping[str, int], readout: Sequence[tuple[float, float]]
) -> dict[str, float]:
    """Mitigate readout error in ``counts`` with M3; return a probability distribution.

    Parameters
    ----------
    counts:
        Bitstring -> count; bitstrings of ``len(readout)`` characters ``0``/``1``,
        clbit 0 the rightmost (qiskit order).
    readout:
        ``readout[i] = (P(read 1 | prep 0), P(read 0 | prep 1))`` for clbit ``i``
        (qiskit ``prob_meas1_prep0``, ``prob_meas0_prep1``).

    Returns
    -------
    dict
        Bitstring -> probability, non-negative, summing to 1, zero entries dropped,
        sorted by bitstring. M3 corrects within Hamming distance
        ``min(len(readout), 3)`` of the observed bitstrings (its default).

    Raises
    ------
    PostprocessError
        Bitstrings of the wrong width or alphabet, no shots, negative counts, or
        readout rates outside [0, 1] or with ``P(1|0) + P(0|1) >= 1``.

    Examples
    --------
    One clbit read with 10% flips both ways, prepared in 0 90% of the time:
    raw 0.9*0.9 + 0.1*0.1 = 0.82 reads as 0, mitigated back to 0.9.

    >>> p = mitigate_readout({"0": 820, "1": 180}, [(0.1, 0.1)])
    >>> {k: round(v, 4) for k, v in p.items()}
    {'0': 0.9, '1': 0.1}
    """
    _check_readout(readout)
    width = len(readout)
    if width == 0:
        raise PostprocessError("readout is empty: no measured clbits")
    clean: dict[str, int] = {}
    for key, n in counts.items():
        if len(key) != width or key.strip("01"):
            raise PostprocessError(
                f"bitstring {key!r} is not {width} characters of 0/1 (one per readout entry)"
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise PostprocessError(f"count for {key!r} must be an int >= 0, got {n!r}")
        if n:
            clean[key] = n
    if not clean:
        raise PostprocessError("counts hold no shots")

    # qubits[i] is the calibration used for clbit i, counted from the right.
    quasi = _mitigator(readout).apply_correction(clean, qubits=list(range(width)))
    probs = quasi.nearest_probability_distribution()
    out = {k: float(v) for k, v in probs.items() if v > 0}
    norm = math.fsum(out.values())  # mthree works in float32
    return {k: v / norm for k, v in sorted(out.items())}


@dataclass(frozen=True, slots=True)
class PartResult:
    """The outcome of one sub-task, as the post-process agent receives it.

    Attributes
    ----------
    subtask_id, circuit_index, circuit_name, backend:
        What ran where.
    counts:
        Raw counts; they sum to ``shots``.
    shots:
        Shots run.
    queue_s, run_s:
        Observed device queue wait and run time.
    price_usd:
        Charged price.
    esp:
        ESP of the transpiled circuit on the backend's calibration, in [0, 1].
    quality:
        Measured quality in [0, 1] (e.g. Hellinger fidelity to the ideal
        distribution) when known, else None.
    readout:
        Per-clbit ``(P(1|0), P(0|1))`` of the physical qubits measured, or None
        (noiseless backends).
    sim_method:
        How a simulator or emulated device computed it (``statevector``,
        ``stabilizer``, ``matrix_product_state``, ...; :mod:`qstream.core.sim_cost`),
        or None.
    """

    subtask_id: str
    circuit_index: int
    circuit_name: str
    backend: str
    counts: dict[str, int]
    shots: int
    queue_s: float
    run_s: float
    price_usd: float
    esp: float
    quality: float | None
    readout: list[tuple[float, float]] | None
    sim_method: str | None = None

    def fidelity(self) -> float:
        """``quality`` if measured, else ``esp``."""
        return self.quality if self.quality is not None else self.esp


def shot_weighted_fidelity(parts: Sequence[PartResult]) -> float | None:
    """Shot-weighted mean of :meth:`PartResult.fidelity`; None without parts.

    >>> shot_weighted_fidelity([])
    """
    shots = sum(p.shots for p in parts)
    if not parts or shots <= 0:
        return None
    return math.fsum(p.fidelity() * p.shots for p in parts) / shots


def combine_circuit(parts: Sequence[PartResult]) -> dict[str, Any]:
    """Combine the parts (shot splits) of one circuit into its result entry.

    Returns
    -------
    dict
        ``name``; ``counts``: merged raw counts, summing to ``shots``; ``shots``;
        ``backends``: sorted unique; ``mitigated``: None when no part has
        readout data, else ``{"method": "mthree", "probabilities": {...}}``,
        each part mitigated with its own backend's readout (a part without
        readout, from a noiseless backend, enters with its raw frequencies) and
        mixed weighted by shots; ``est_fidelity``: shot-weighted mean of
        ``quality``, falling back to ``esp`` per part; ``subtasks``: number of parts.

    Raises
    ------
    PostprocessError
        No parts, parts of different circuits, or a part whose counts do not sum
        to its shots.

    Examples
    --------
    >>> a = PartResult("t/c0/s0", 0, "bell", "sim", {"00": 5, "11": 5}, 10, 0.0, 0.1,
    ...                0.0, 1.0, None, None)
    >>> b = PartResult("t/c0/s1", 0, "bell", "sim", {"00": 4, "11": 6}, 10, 0.0, 0.1,
    ...                0.0, 1.0, None, None)
    >>> r = combine_circuit([a, b])
    >>> r["counts"], r["shots"], r["backends"], r["mitigated"], r["subtasks"]
    ({'00': 9, '11': 11}, 20, ['sim'], None, 2)
    """
    if not parts:
        raise PostprocessError("combine_circuit needs at least one part")
    first = parts[0]
    for p in parts:
        if (p.circuit_index, p.circuit_name) != (first.circuit_index, first.circuit_name):
            raise PostprocessError(
                f"parts of different circuits: {first.circuit_name!r} "
                f"(#{first.circuit_index}) and {p.circuit_name!r} (#{p.circuit_index})"
            )
        got = sum(p.counts.values())
        if got != p.shots:
            raise PostprocessError(
                f"part {p.subtask_id!r} on {p.backend}: counts sum to {got}, expected {p.shots}"
            )
    shots = sum(p.shots for p in parts)
    mitigated: dict[str, Any] | None = None
    if any(p.readout is not None for p in parts) and shots > 0:
        mix: dict[str, float] = {}
        for p in parts:
            if p.shots == 0:
                continue
            if p.readout is not None:
                dist = mitigate_readout(p.counts, p.readout)
            else:
                dist = {k: n / p.shots for k, n in p.counts.items() if n}
            w = p.shots / shots
            for k, v in dist.items():
                mix[k] = mix.get(k, 0.0) + w * v
        mitigated = {"method": "mthree", "probabilities": dict(sorted(mix.items()))}
    return {
        "name": first.circuit_name,
        "counts": merge_counts(p.counts for p in parts),
        "shots": shots,
        "backends": sorted({p.backend for p in parts}),
        "mitigated": mitigated,
        "est_fidelity": shot_weighted_fidelity(parts),
        "subtasks": len(parts),
        "sim_methods": _sim_methods(parts),
    }


def _sim_methods(parts: Iterable[PartResult]) -> list[str]:
    """The simulation methods its parts were computed with (sorted, unique)."""
    return sorted({p.sim_method for p in parts if p.sim_method})


def _mitigator(readout: Sequence[tuple[float, float]]) -> Any:
    """An ``mthree.M3Mitigation`` calibrated from per-clbit readout error rates."""
    import mthree  # deferred: pulls qiskit and qiskit-ibm-runtime (~1 s)
    import numpy as np

    # M3 column convention: cal[:, prep] = [P(read 0 | prep), P(read 1 | prep)]
    # (mthree.mitigation._job_thread fills the columns the same way).
    mats = [np.array([[1.0 - p10, p01], [p10, 1.0 - p01]], dtype=np.float32)
            for p10, p01 in readout]
    mit = mthree.M3Mitigation()
    mit.cals_from_matrices(mats)
    return mit


def _m3_quasi(counts: Mapping[str, int], readout: Sequence[tuple[float, float]],
              ) -> tuple[dict[str, float], float]:
    """M3 quasi-probabilities of ``counts`` and the mitigation overhead (>= 1)."""
    _check_readout(readout)
    quasi = _mitigator(readout).apply_correction({k: int(n) for k, n in counts.items() if n},
                                                 qubits=list(range(len(readout))),
                                                 return_mitigation_overhead=True)
    return {k: float(v) for k, v in quasi.items()}, max(float(quasi.mitigation_overhead), 1.0)


def mitigated_group_estimate(terms: Sequence[tuple[str, float]], basis: str,
                             counts: Mapping[str, int],
                             readout: Sequence[tuple[float, float]]) -> tuple[float, float, int]:
    """:func:`~qstream.core.observables.expectation_from_counts` with M3 readout mitigation.

    The value is ``sum_x q(x) f(x)`` over M3's quasi-probabilities ``q`` (``f`` as in
    ``expectation_from_counts``); the standard error is the raw one times
    ``sqrt(overhead)`` (module docstring). ``readout`` has one ``(P(1|0), P(0|1))`` per
    clbit (qubit ``j`` in clbit ``j``).

    Raises
    ------
    PostprocessError
        Readout rates out of range, or counts the estimator cannot read.

    Examples
    --------
    One qubit prepared in 1, read with 10% flips both ways: raw <Z> = -0.8, mitigated -1.

    >>> v, e, n = mitigated_group_estimate([("Z", 1.0)], "Z", {"1": 900, "0": 100},
    ...                                    [(0.1, 0.1)])
    >>> round(v, 4), n, e > 0
    (-1.0, 1000, True)
    """
    try:
        _, raw_std, shots = expectation_from_counts(terms, basis, counts)
    except ValueError as exc:
        raise PostprocessError(str(exc)) from exc
    quasi, overhead = _m3_quasi(counts, readout)
    n = len(basis)
    supports = [(float(c), [n - 1 - i for i, ch in enumerate(label) if ch != "I"])
                for label, c in terms]
    value = 0.0
    for bits, q in quasi.items():
        tail = bits.replace(" ", "")[-n:]
        f = 0.0
        for c, support in supports:
            parity = sum(tail[len(tail) - 1 - j] == "1" for j in support) % 2
            f += -c if parity else c
        value += q * f
    return value, raw_std * math.sqrt(overhead), shots


def _group_readout(parts: Sequence[PartResult]) -> Sequence[tuple[float, float]] | None:
    """The readout calibration shared by every part of a group, or None (raw counts)."""
    first = parts[0].readout
    if not first or any(p.readout is None or list(p.readout) != list(first)
                        or p.backend != parts[0].backend for p in parts):
        return None
    return first


def _measures(basis: str, label: str) -> bool:
    return len(basis) == len(label) and all(p in ("I", b) for p, b in zip(label, basis, strict=True))


def combine_observable_circuit(
    runs: Sequence[tuple[str, Sequence[PartResult]]],
    observables: Sequence[Sequence[tuple[str, float]]],
) -> dict[str, Any]:
    """The result entry of a circuit with observables, from the parts of its measurement groups.

    Each group's shot splits are merged (:func:`merge_counts`); each term of an
    observable is read from the first group whose basis measures it, the terms read
    from one group are estimated together (:func:`expectation_from_counts`, exact
    about their covariance) and the groups are summed with errors in quadrature
    (:func:`~qstream.core.observables.combine`: groups are separate runs). A group
    whose parts share one backend's readout calibration is readout-mitigated with M3
    (:func:`mitigated_group_estimate`); others use the raw counts.

    Parameters
    ----------
    runs:
        ``(basis, parts)`` per measurement group, in plan order; every part of one
        circuit (same ``circuit_name``).
    observables:
        ``(label, coefficient)`` terms per observable.

    Returns
    -------
    dict
        ``name``; ``shots``: total over the groups; ``backends``: sorted unique;
        ``observables``: ``{"value", "std_error", "shots", "readout_mitigated"}`` per
        observable (``shots``: of the groups its terms were read from;
        ``readout_mitigated``: every group it was read from was mitigated); ``groups``:
        ``{"basis", "counts", "shots"}`` per group; ``mitigated``: None;
        ``est_fidelity``; ``subtasks``. No ``counts``: counts measured in different
        bases are not one distribution.

    Raises
    ------
    PostprocessError
        No runs, a group without parts, a part whose counts do not sum to its
        shots, a term no group measures, or counts the estimator cannot read.

    Examples
    --------
    >>> zz = PartResult("t/c0/s0", 0, "h", "sim", {"00": 6, "11": 4}, 10, 0.0, 0.1, 0.0,
    ...                 1.0, None, None)
    >>> xx = PartResult("t/c1/s0", 1, "h", "sim", {"00": 10}, 10, 0.0, 0.1, 0.0, 1.0, None, None)
    >>> r = combine_observable_circuit([("ZZ", [zz]), ("XX", [xx])],
    ...                                [[("ZZ", 1.0), ("XX", 0.5)], [("IZ", 2.0)]])
    >>> [(round(o["value"], 6), round(o["std_error"], 6), o["shots"]) for o in r["observables"]]
    [(1.5, 0.0, 20), (0.4, 0.653197, 10)]
    >>> r["shots"], [g["basis"] for g in r["groups"]], "counts" in r
    (20, ['ZZ', 'XX'], False)
    """
    if not runs:
        raise PostprocessError("combine_observable_circuit needs at least one measurement group")
    every: list[PartResult] = []
    groups: list[tuple[str, dict[str, int], int]] = []
    readouts: list[Sequence[tuple[float, float]] | None] = []
    for basis, parts in runs:
        if not parts:
            raise PostprocessError(f"measurement group {basis!r} has no parts")
        for p in parts:
            got = sum(p.counts.values())
            if got != p.shots:
                raise PostprocessError(
                    f"part {p.subtask_id!r} on {p.backend}: counts sum to {got}, expected {p.shots}")
        every.extend(parts)
        groups.append((basis, merge_counts(p.counts for p in parts), sum(p.shots for p in parts)))
        readout = _group_readout(parts)
        readouts.append(readout if readout is not None and len(readout) == len(basis) else None)
    estimates = []
    for i, terms in enumerate(observables):
        by_group: dict[int, list[tuple[str, float]]] = {}
        for label, coefficient in terms:
            g = next((j for j, (basis, _, _) in enumerate(groups) if _measures(basis, label)), None)
            if g is None:
                raise PostprocessError(f"observable {i}: no measurement group measures {label!r}")
            by_group.setdefault(g, []).append((label, float(coefficient)))
        try:
            parts_estimates = [
                expectation_from_counts(ts, groups[g][0], groups[g][1]) if readouts[g] is None
                else mitigated_group_estimate(ts, groups[g][0], groups[g][1], readouts[g] or ())
                for g, ts in sorted(by_group.items())]
        except (ValueError, PostprocessError) as exc:
            raise PostprocessError(f"observable {i}: {exc}") from exc
        value, std_error = combine(parts_estimates)
        estimates.append({"value": value, "std_error": std_error,
                          "shots": sum(int(e[2]) for e in parts_estimates),
                          "readout_mitigated": all(readouts[g] is not None for g in by_group)})
    return {
        "name": every[0].circuit_name,
        "shots": sum(n for _, _, n in groups),
        "backends": sorted({p.backend for p in every}),
        "observables": estimates,
        "groups": [{"basis": b, "counts": k, "shots": n} for b, k, n in groups],
        "mitigated": None,
        "est_fidelity": shot_weighted_fidelity(every),
        "subtasks": len(every),
        "sim_methods": _sim_methods(every),
    }
