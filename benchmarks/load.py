"""Load benchmark: N workers, many small jobs submitted at once, clients polling throughout.

    python benchmarks/load.py                      # 4 workers, 200 jobs, 8 pollers
    python benchmarks/load.py --workers 2 --jobs 40 --json   # what the test suite runs

Starts the real deployment (``backprop serve --workers N``) on a temporary SQLite file,
generates one XOR dataset, submits every job concurrently (``--submitters`` at a time)
while ``--pollers`` clients keep reading job status and metrics, and waits until every
job has finished. It then checks, from the API and from the database:

- every job ended ``succeeded``, after exactly one attempt, with one metrics row per epoch;
- no request failed (transport error or an unexpected status);
- no process logged "database is locked" (or any traceback);

and prints jobs/s, requests/s, p50/p95 latency of the status polls and the error count.
Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

NETWORK = {"sizes": [2, 4, 1], "hidden_activation": "tanh", "cost": "cross_entropy"}


@dataclass
class Report:
    workers: int
    jobs: int
    pollers: int
    epochs: int
    seconds: float = 0.0
    jobs_per_second: float = 0.0
    requests: int = 0
    requests_per_second: float = 0.0
    poll_p50_ms: float = 0.0
    poll_p95_ms: float = 0.0
    poll_count: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    not_once: int = 0  # jobs that needed more than one attempt
    bad_curves: int = 0  # jobs whose metrics are not exactly epochs 1..N
    locked_lines: int = 0  # "database is locked" in any log
    tracebacks: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.errors == 0
            and self.statuses == {"succeeded": self.jobs}
            and self.not_once == 0
            and self.bad_curves == 0
            and self.locked_lines == 0
            and self.tracebacks == 0
        )


class Client:
    """httpx with bookkeeping: every request counted, failures kept as samples."""

    def __init__(self, http: httpx.AsyncClient, report: Report) -> None:
        self.http = http
        self.report = report
        self.poll_latencies: list[float] = []

    async def call(self, method: str, url: str, expect: int, **kwargs: Any) -> Any:
        self.report.requests += 1
        start = time.perf_counter()
        try:
            response = await self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            self._fail(f"{method} {url}: {type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - start
        if response.status_code != expect:
            self._fail(f"{method} {url}: {response.status_code} {response.text[:200]}")
            return None
        if method == "GET" and url.startswith("/v1/jobs/") and url.count("/") == 3:
            self.poll_latencies.append(elapsed)
        return response.json()

    def _fail(self, sample: str) -> None:
        self.report.errors += 1
        if len(self.report.error_samples) < 10:
            self.report.error_samples.append(sample)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(workdir: Path, workers: int, port: int, env: dict[str, str]) -> subprocess.Popen:
    backprop = str(Path(sys.executable).with_name("backprop"))
    log = (workdir / "serve.log").open("wb")
    argv = [backprop, "serve", "--workers", str(workers), "--port", str(port)]
    return subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_healthy(client: Client, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"backprop serve exited with {proc.returncode}")
        try:
            if (await client.http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("backprop serve did not become healthy")


async def scenario(args: argparse.Namespace, base_url: str, report: Report) -> list[str]:
    limits = httpx.Limits(max_connections=args.submitters + args.pollers + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        client = Client(http, report)
        await wait_healthy(client, args.proc)
        body = {"kind": "xor", "name": "load", "n_samples": 64, "seed": 1}
        dataset = await client.call("POST", "/v1/datasets/generate", 201, json=body)
        if dataset is None:
            raise SystemExit(f"could not create the dataset: {report.error_samples}")
        training = {"epochs": args.epochs, "batch_size": 8, "learning_rate": 1.0, "seed": 0}
        job_ids: list[str] = []
        finished: set[str] = set()
        submitting = asyncio.Semaphore(args.submitters)
        start = time.perf_counter()

        async def submit(i: int) -> None:
            async with submitting:
                job = {
                    "dataset_id": dataset["id"],
                    "network": NETWORK,
                    "training": {**training, "seed": i},
                }
                created = await client.call("POST", "/v1/jobs", 202, json=job)
                if created is not None:
                    job_ids.append(created["id"])

        async def poll(rng: random.Random) -> None:
            while not job_ids:
                await asyncio.sleep(0.01)
            while len(finished) < len(job_ids) or not submitted.done():
                job_id = rng.choice(job_ids)
                job = await client.call("GET", f"/v1/jobs/{job_id}", 200)
                if job is not None and job["status"] not in ("queued", "running"):
                    finished.add(job_id)
                await client.call("GET", f"/v1/jobs/{job_id}/metrics", 200)
                if rng.random() < 0.1:
                    await client.call("GET", "/v1/jobs", 200, params={"limit": 20})
                await asyncio.sleep(args.poll_interval)

        async def sweep() -> None:
            """Besides random polling, make sure every job is seen finished."""
            await submitted
            while len(finished) < len(job_ids):
                for job_id in [j for j in job_ids if j not in finished]:
                    job = await client.call("GET", f"/v1/jobs/{job_id}", 200)
                    if job is not None and job["status"] not in ("queued", "running"):
                        finished.add(job_id)
                await asyncio.sleep(0.2)
                if time.perf_counter() - start > args.timeout:
                    raise SystemExit(f"timeout: {len(finished)}/{len(job_ids)} jobs finished")

        submitted = asyncio.gather(*(submit(i) for i in range(args.jobs)))
        pollers = [poll(random.Random(p)) for p in range(args.pollers)]
        await asyncio.gather(submitted, sweep(), *pollers)
        report.seconds = time.perf_counter() - start
        report.poll_count = len(client.poll_latencies)
        if client.poll_latencies:
            ms = sorted(x * 1000 for x in client.poll_latencies)
            report.poll_p50_ms = round(statistics.median(ms), 2)
            report.poll_p95_ms = round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2)
        for job_id in job_ids:
            job = await client.call("GET", f"/v1/jobs/{job_id}", 200)
            if job is not None:
                report.statuses[job["status"]] = report.statuses.get(job["status"], 0) + 1
        return job_ids


def check_database(db_path: Path, job_ids: list[str], epochs: int, report: Report) -> None:
    """Attempts and the metrics table, read straight from the database."""
    with sqlite3.connect(db_path, timeout=30) as conn:
        for job_id in job_ids:
            (attempts,) = conn.execute(
                "SELECT attempts FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            report.not_once += attempts != 1
            rows = [
                e
                for (e,) in conn.execute(
                    "SELECT epoch FROM metrics WHERE job_id = ? ORDER BY epoch", (job_id,)
                )
            ]
            report.bad_curves += rows != list(range(1, epochs + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--submitters", type=int, default=32, help="concurrent submits")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--dir", type=Path, help="keep the database and logs here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="backprop-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "load.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    env.update(
        BACKPROP_DATABASE_URL=f"sqlite:///{db_path}",
        BACKPROP_POLL_INTERVAL="0.05",
        BACKPROP_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    report = Report(args.workers, args.jobs, args.pollers, args.epochs)
    args.proc = start_serve(workdir, args.workers, port, env)
    try:
        job_ids = asyncio.run(scenario(args, f"http://127.0.0.1:{port}", report))
    finally:
        args.proc.send_signal(signal.SIGTERM)
        try:
            args.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            args.proc.kill()
    check_database(db_path, job_ids, args.epochs, report)
    logs = "\n".join(p.read_text(errors="replace") for p in workdir.glob("*.log"))
    report.locked_lines = logs.count("database is locked")
    report.tracebacks = logs.count("Traceback (most recent call last)")
    report.jobs_per_second = round(len(job_ids) / report.seconds, 2)
    report.requests_per_second = round(report.requests / report.seconds, 1)
    report.seconds = round(report.seconds, 2)

    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}))
    else:
        print(
            f"{args.workers} workers, {args.jobs} jobs x {args.epochs} epochs, "
            f"{args.pollers} pollers, {report.seconds} s"
        )
        print(f"  jobs/s          {report.jobs_per_second}")
        print(f"  requests/s      {report.requests_per_second}  ({report.requests} requests)")
        print(
            f"  status poll     p50 {report.poll_p50_ms} ms, p95 {report.poll_p95_ms} ms "
            f"({report.poll_count} polls)"
        )
        print(f"  errors          {report.errors}  {report.error_samples or ''}")
        print(f"  final statuses  {report.statuses}")
        print(f"  >1 attempt      {report.not_once};  bad metric curves {report.bad_curves}")
        print(
            f"  'database is locked' in logs {report.locked_lines}; tracebacks {report.tracebacks}"
        )
        print(f"  logs and database: {workdir}")
        print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
