"""Bad input against a real broker and worker: every kind gets a DLQ entry with a specific
reason, the original bytes and where they came from; nothing is lost, the worker keeps
processing, and its memory stays bounded under a flood."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from qstream.client import Client
from qstream.errors import TASK_CONTENT_REASONS
from qstream.stream import tansu_compat
from qstream.stream import topics as T
from qstream.workload import mqt_qasm

BELL = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\n' \
       "measure q -> c;\n"


def valid_task(task_id: str, **changes: Any) -> dict[str, Any]:
    t: dict[str, Any] = {"schema": "qstream.task.v1", "task_id": task_id, "shots": 100,
                         "circuits": [{"name": "bell", "qasm": BELL}]}
    t.update(changes)
    return t


async def _send(url: str, records: list[tuple[bytes | None, bytes]]) -> None:
    # A plain producer, as any user's; its request size allows a message over the
    # worker's 1 MiB admission limit, so the limit is what rejects it.
    producer = AIOKafkaProducer(bootstrap_servers=url.split("://", 1)[1],
                                max_request_size=8 * 1024 * 1024,
                                **tansu_compat.producer_settings(url))
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(T.TASKS, value, key=key)
    finally:
        await producer.stop()


async def _collect(url: str, want_keys: set[bytes], want_results: set[str], timeout_s: float
                   ) -> tuple[dict[bytes, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """DLQ entries by record key and results by task id, until all wanted arrive (or timeout)."""
    dlq: dict[bytes, list[dict[str, Any]]] = {}
    results: dict[str, list[dict[str, Any]]] = {}
    async with Client(url) as client:
        async def read_dlq() -> None:
            async for _, msg in client.stream(T.DLQ):
                k = msg["source"]["key_b64"]
                key = base64.b64decode(k) if k is not None else b""
                if key in want_keys:
                    dlq.setdefault(key, []).append(msg)

        async def read_results() -> None:
            async for _, msg in client.stream(T.RESULTS):
                if msg["task_id"] in want_results:
                    results.setdefault(msg["task_id"], []).append(msg)

        async def until_done() -> None:
            while True:
                # A key is accounted for by its DLQ entry or by a result of the task it named.
                keys_done = want_keys <= set(dlq) | {k for k in want_keys
                                                     if k.decode("utf-8", "replace") in results}
                # A wanted task is accounted for by its result, or by a DLQ entry under
                # its key (a rejection that names no valid task gets no result).
                tasks_done = want_results <= set(results) | {
                    k.decode("utf-8", "replace") for k in dlq}
                if keys_done and tasks_done:
                    await asyncio.sleep(2.0)  # linger: a duplicate would arrive now
                    return
                await asyncio.sleep(0.2)

        tasks = [asyncio.create_task(read_dlq()), asyncio.create_task(read_results())]
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until_done(), timeout_s)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return dlq, results


def test_every_kind_of_bad_input_gets_its_reason(worker) -> None:
    m = uuid.uuid4().hex[:8]
    big_qasm = BELL + "// " + "x" * 1_100_000 + "\n"
    wide = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[300];\ncreg c[300];\nmeasure q -> c;\n"
    cases: dict[str, tuple[bytes, str]] = {
        # kind: (value, expected reason); the record key identifies it in the DLQ.
        "not-json": (b'{"schema": "qstream.task.v1", ', "json"),
        "not-utf8": (b"\xc3\x28\xa0\xa1 bad bytes", "utf8"),
        "not-object": (b"[1, 2, 3]", "not_object"),
        "unknown-schema": (orjson.dumps({**valid_task(f"u-{m}"), "schema": "qstream.task.v7"}),
                           "unknown_schema"),
        "missing-field": (orjson.dumps({k: v for k, v in valid_task(f"mf-{m}").items()
                                        if k != "shots"}), "schema"),
        "wrong-type": (orjson.dumps(valid_task(f"wt-{m}", shots="100")), "schema"),
        "empty-circuits": (orjson.dumps(valid_task(f"ec-{m}", circuits=[])), "schema"),
        "zero-shots": (orjson.dumps(valid_task(f"zs-{m}", shots=0)), "schema"),
        "negative-shots": (orjson.dumps(valid_task(f"ns-{m}", shots=-5)), "schema"),
        "too-many-shots": (orjson.dumps(valid_task(f"ts-{m}", shots=10**9)), "limit"),
        "too-large": (orjson.dumps(valid_task(f"tl-{m}", circuits=[
            {"name": "big", "qasm": big_qasm}])), "too_large"),
        "invalid-qasm": (orjson.dumps(valid_task(f"iq-{m}", circuits=[
            {"name": "bad", "qasm": "OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n"}])), "invalid_qasm"),
        "too-wide": (orjson.dumps(valid_task(f"tw-{m}", circuits=[
            {"name": "wide", "qasm": wide}])), "capacity"),
        "name-too-long": (orjson.dumps(valid_task(f"nl-{m}", circuits=[
            {"name": "n" * 201, "qasm": BELL}])), "schema"),
        # Schema-valid content that cannot run: TaskContentError and its reason.
        "zero-weights": (orjson.dumps(valid_task(f"zw-{m}", weights={
            "time": 0, "error": 0, "cost": 0})), "zero_weights"),
        "duplicate-circuit": (orjson.dumps(valid_task(f"dc-{m}", circuits=[
            {"name": "a", "qasm": BELL}, {"name": "a", "qasm": BELL}])), "duplicate_circuit"),
        "dependency-cycle": (orjson.dumps(valid_task(f"dy-{m}", circuits=[
            {"name": "a", "qasm": BELL, "depends_on": ["b"]},
            {"name": "b", "qasm": BELL, "depends_on": ["a"]}])), "dependencies"),
        "unknown-backend": (orjson.dumps(valid_task(f"ub-{m}", backends=["ibm_nowhere"])),
                            "unknown_backend"),
    }
    records = []
    for kind, (value, _) in cases.items():
        try:
            task_id = orjson.loads(value).get("task_id")
        except Exception:
            task_id = None
        key = (task_id or f"{kind}-{m}").encode()
        records.append((key, value))
    # A task whose names are extreme Unicode (bidi overrides, zero-width joiners, astral
    # emoji, combining marks, NUL) is valid: it must run, names echoed byte for byte.
    weird_task = f"uni-{m}-\u202e\u200d\U0001f9ea\u0000\u0301"
    weird_name = "\u202egnirts\u200b\U0001f4a5e\u0301\u0000\ufeff"
    records.append((weird_task.encode(), orjson.dumps(valid_task(
        weird_task, circuits=[{"name": weird_name, "qasm": BELL}]))))
    # Missing key: accepted (the key is optional); a key that differs from task_id is not.
    records.append((None, orjson.dumps(valid_task(f"nokey-{m}"))))
    records.append((f"other-{m}".encode(), orjson.dumps(valid_task(f"mk-{m}"))))

    asyncio.run(_send(worker.broker_url, records))
    want_keys = {k for k, _ in records[:len(cases)]} | {f"other-{m}".encode()}
    dlq, results = asyncio.run(_collect(worker.broker_url, want_keys,
                                        {weird_task, f"nokey-{m}"}, timeout_s=90))
    for (kind, (value, reason)), (key, _) in zip(cases.items(), records, strict=False):
        assert key in dlq, f"{kind}: no DLQ entry"
        entry = dlq[key][0]
        assert entry["reason"] == reason, (kind, entry["reason"], entry["error"])
        assert entry["error"] and entry["source"]["topic"] == T.TASKS
        assert entry["source"]["offset"] >= 0 and entry["source"]["partition"] == 0
        assert entry["original_size"] == len(value)
        if reason == "too_large":
            # Cut so that the DLQ entry itself fits a Kafka message; the hash names the whole.
            assert entry["original_truncated"] is True
            assert entry["original_sha256"] == hashlib.sha256(value).hexdigest()
            assert value.startswith(base64.b64decode(entry["original_b64"]))
        else:
            assert base64.b64decode(entry["original_b64"]) == value, kind
    assert dlq[f"other-{m}".encode()][0]["reason"] == "missing_key"
    uni = results[weird_task]
    assert len(uni) == 1 and uni[0]["status"] == "completed", uni
    assert uni[0]["results"][0]["name"] == weird_name
    assert [r["status"] for r in results[f"nokey-{m}"]] == ["completed"]
    # Rejected tasks whose id is known also get exactly one failed result, with the reason.
    for kind in ("invalid-qasm", "too-wide", "too-many-shots"):
        tid = orjson.loads(cases[kind][0])["task_id"]
        _, got = asyncio.run(_collect(worker.broker_url, set(), {tid}, timeout_s=30))
        assert [r["status"] for r in got[tid]] == ["failed"], kind


json_values = st.recursive(
    # orjson (the producer here) writes integers in [-2**63, 2**64 - 1] only.
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)
FIELDS = ("schema", "task_id", "circuits", "shots", "priority", "deadline_s", "weights",
          "kinds", "backends")


@st.composite
def corpus_message(draw: st.DrawFn) -> tuple[str, Any]:
    """One random message: ``("bytes", b"...")``, ``("json", value)`` or ``("task", dict)``
    (a valid task, or one with a field removed or replaced by random JSON)."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "mutated", "valid"]))
    if kind == "bytes":
        return "bytes", draw(st.binary(max_size=300))
    if kind == "json":
        return "json", draw(json_values)
    t = valid_task("", shots=draw(st.integers(1, 300)))
    if kind == "mutated":
        field = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            t.pop(field, None)
        else:
            t[field] = draw(json_values)
        if field == "circuits" and draw(st.booleans()):
            t["circuits"] = [{"name": draw(st.text(min_size=1, max_size=30)),
                              "qasm": draw(st.sampled_from([BELL, "OPENQASM 2.0;", "", "{}"]))}]
    return "task", t


def test_a_hypothesis_corpus_is_fully_accounted_for(worker) -> None:
    prefix = f"fz{uuid.uuid4().hex[:6]}"
    corpus: list[tuple[bytes, bytes, str | None]] = []

    @settings(max_examples=240, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(corpus_message())
    def collect(msg: tuple[str, Any]) -> None:
        i = len(corpus)
        key = f"{prefix}-{i}"
        kind, value = msg
        if kind == "bytes":
            corpus.append((key.encode(), value, None))
        elif kind == "json":
            corpus.append((key.encode(), orjson.dumps(value), None))
        else:
            if "task_id" in value:
                value["task_id"] = key  # unique, and equal to the record key
            corpus.append((key.encode(), orjson.dumps(value), key))

    collect()
    assert len(corpus) >= 200
    kinds = {v[:1] for _, v, _ in corpus}
    assert len(kinds) > 5, "the corpus is not varied"
    asyncio.run(_send(worker.broker_url, [(k, v) for k, v, _ in corpus]))
    maybe_tasks = {tid for _, _, tid in corpus if tid is not None}
    # Each message is accounted for: a DLQ entry, or a result for the task it carried.
    dlq, results = asyncio.run(_collect(worker.broker_url, {k for k, _, _ in corpus},
                                        maybe_tasks, timeout_s=120))
    unaccounted = [k for k, _, tid in corpus if k not in dlq and tid not in results]
    assert not unaccounted, unaccounted[:5]
    assert all(len(v) == 1 for v in results.values()), "a task got two results"
    reasons = collections.Counter(e["reason"] for v in dlq.values() for e in v)
    assert set(reasons) <= {"json", "utf8", "not_object", "unknown_schema", "schema", "limit",
                            "invalid_qasm", "missing_key", "duplicate", "capacity", "too_large",
                            *TASK_CONTENT_REASONS}
    assert len(reasons) >= 4, reasons
    assert results, "no valid task in the corpus ran"
    assert worker.proc.poll() is None, "the worker died"
    print(f"corpus: {len(corpus)} messages, DLQ reasons {dict(reasons)}, "
          f"results for {len(results)} tasks")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_under_a_flood_of_bad_input(worker) -> None:
    marker = uuid.uuid4().hex[:8]

    def flood(n: int) -> None:
        junk = [(f"{marker}-{i}".encode(), b'{"schema": "qstream.task.v1", "x": ' + b"9" * 2000)
                for i in range(n)]
        asyncio.run(_send(worker.broker_url, junk))
        last = junk[-1][0]
        dlq, _ = asyncio.run(_collect(worker.broker_url, {last}, set(), timeout_s=120))
        assert last in dlq

    flood(500)  # warm-up: caches, buffers and the DLQ producer reach steady state
    before = _rss_kib(worker.proc.pid)
    flood(3000)
    after = _rss_kib(worker.proc.pid)
    assert after - before < 40_000, f"RSS grew {after - before} KiB over 3000 bad messages"
    # ... and it still processes good work.
    t = valid_task(f"after-flood-{marker}", circuits=[{"name": "ghz3", "qasm": mqt_qasm("ghz", 3)}])
    asyncio.run(_send(worker.broker_url, [(t["task_id"].encode(), orjson.dumps(t))]))
    _, got = asyncio.run(_collect(worker.broker_url, set(), {t["task_id"]}, timeout_s=60))
    assert got[t["task_id"]][0]["status"] == "completed"
