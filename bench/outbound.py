"""The outbound call alone: client CPU per request, httpx's default connection pool (anyio network
backend) against flowvault's ``PinnedTransport`` (``egress.network.AsyncioBackend``).

    .venv/bin/python -m bench.outbound [--requests 1000] [--blocks 8] [--concurrency 8]

Both clients POST the same small JSON body with a bearer header to the fake upstream on 127.0.0.2
(the one every benchmark calls), on uvloop (the loop ``serve`` runs on), in this process. Blocks of
``--requests`` alternate between the two clients, so drift on a shared machine hits both alike; each
figure is the median over the blocks of this process's CPU time per request (the upstream is another
process). Loopback only; at most ``2 x blocks x requests`` requests, each with a 10 s timeout."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvloop

from bench.webhook import start_upstream
from flowvault.egress import PinnedTransport


async def _block(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], requests: int, concurrency: int
) -> float:
    """CPU seconds of this process per request, for ``requests`` requests at ``concurrency``."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            answer = await client.post(url, content=b'{"order":"A-1001","amount":42}', headers=headers, timeout=10)
            if answer.status_code != 200:
                raise RuntimeError(f"the upstream answered {answer.status_code}")

    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    return (time.process_time() - started) / requests


async def _measure(url: str, token: str, requests: int, blocks: int, concurrency: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    clients = {
        "httpx default (anyio)": httpx.AsyncClient(),
        "flowvault PinnedTransport (asyncio)": httpx.AsyncClient(transport=PinnedTransport()),
    }
    per_request: dict[str, list[float]] = {name: [] for name in clients}
    try:
        for client in clients.values():  # warm up: connections, imports
            await _block(client, url, headers, 200, concurrency)
        for _ in range(blocks):
            for name, client in clients.items():
                per_request[name].append(await _block(client, url, headers, requests, concurrency))
    finally:
        for client in clients.values():
            await client.aclose()
    return {name: statistics.median(values) for name, values in per_request.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per block")
    parser.add_argument("--blocks", type=int, default=8, help="blocks per client")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    upstream = start_upstream(Path(tempfile.mkdtemp(prefix="flowvault-outbound-logs-")))
    try:
        figures = uvloop.run(_measure(upstream.url, upstream.token, args.requests, args.blocks, args.concurrency))
    finally:
        upstream.child.stop()
    reference = figures["httpx default (anyio)"]
    for name, seconds in figures.items():
        print(f"{name:38s} {1e6 * seconds:8.1f} µs CPU per request   {seconds / reference:5.2f} x httpx default")


if __name__ == "__main__":
    main()
