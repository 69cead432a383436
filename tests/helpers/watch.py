"""Submit tasks and watch a topic while their results come in (shared by integration tests)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from qstream.client import Client
from qstream.stream import topics as T


def submit_and_watch(url: str, tasks: list[dict[str, Any]], topic: str, *, timeout_s: float,
                     linger_s: float) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
    """Submit ``tasks`` and wait for their results; then read ``topic`` and count the result
    messages of these tasks for ``linger_s`` more seconds.

    Returns
    -------
    tuple
        (first result per task id, every message on ``topic``, result messages of these tasks).
    """
    async def run() -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
        async with Client(url) as client:
            for t in tasks:
                await client.submit(t)
            results = await client.wait_results([t["task_id"] for t in tasks], timeout_s)
            seen: list[dict[str, Any]] = []
            n_results = 0

            async def collect() -> None:
                async for _, msg in client.stream(topic):
                    seen.append(msg)

            async def count_results() -> None:
                nonlocal n_results
                async for _, msg in client.stream(T.RESULTS):
                    if msg["task_id"] in results:
                        n_results += 1

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(collect(), count_results()), linger_s)
            return results, seen, n_results
    return asyncio.run(run())


def submit_and_wait(url: str, tasks: list[dict[str, Any]], timeout_s: float = 180.0,
                    ) -> dict[str, dict[str, Any]]:
    """Submit ``tasks`` as a plain client would and wait for each one's first result."""
    async def go() -> dict[str, dict[str, Any]]:
        async with Client(url) as client:
            for t in tasks:
                await client.submit(t)
            return await client.wait_results([t["task_id"] for t in tasks], timeout_s)
    return asyncio.run(go())


def results_counted(url: str, task_ids: set[str], *, timeout_s: float,
                    settle_s: float = 3.0) -> dict[str, list[dict[str, Any]]]:
    """Every result message of ``task_ids`` on ``qstream.results``, read until each has one
    (or ``timeout_s``) and then ``settle_s`` longer, so a duplicate would be seen."""
    async def go() -> dict[str, list[dict[str, Any]]]:
        got: dict[str, list[dict[str, Any]]] = {}
        async with Client(url) as client:
            async def read() -> None:
                async for _, msg in client.stream(T.RESULTS):
                    if msg["task_id"] in task_ids:
                        got.setdefault(msg["task_id"], []).append(msg)

            reader = asyncio.create_task(read())
            for _ in range(int(timeout_s * 10)):
                if task_ids <= got.keys():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(settle_s)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return got
    return asyncio.run(go())
