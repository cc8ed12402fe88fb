"""Scale-out on PostgreSQL: 1, 2 and 4 worker processes, 200 small jobs each round.

    python benchmarks/scale.py                         # throwaway cluster, 1/2/4 workers
    python benchmarks/scale.py --workers 1 2 --jobs 100
    python benchmarks/scale.py --database-url postgresql+psycopg://user@host/db

With ``--database-url`` each round runs in a new schema of that database (dropped at the
end), so existing tables are not touched.

Without ``--database-url`` it starts a throwaway PostgreSQL server on 127.0.0.1 (Debian's
``postgresql`` package, as in the test suite) and removes it afterwards; every round gets
a fresh schema. Two measurements per worker count N:

- **queue**: N processes race ``jobqueue.claim`` (then ``finish`` at once) over 200
  queued jobs: claims/s and the latency of each claim statement (p50, p95, max), i.e.
  the cost of ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)
  RETURNING`` under contention.
- **workers**: N real ``python -m worker`` processes train 200 small jobs (XOR 2-4-1,
  5 epochs): jobs/s from the first claim to the last finish (database timestamps, so
  interpreter start-up is not counted).

Checks (exit status 1 if any fails): every job claimed exactly once (claimed ids are
unique across processes and every job has ``attempts == 1``), every job ``succeeded``,
one metrics row per epoch.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from app import jobqueue  # noqa: E402
from app.config import Settings  # noqa: E402
from app.datasets import encode_array, generate  # noqa: E402
from app.db.migrate import upgrade_head  # noqa: E402
from app.db.models import Dataset, Job, JobStatus, Metric  # noqa: E402
from app.db.session import make_engine, make_sessionmaker  # noqa: E402
from app.db.types import utcnow  # noqa: E402
from tests.helpers import Cluster, drop_schema, missing_reason, new_schema  # noqa: E402

NETWORK = {
    "sizes": [2, 4, 1],
    "hidden_activation": "tanh",
    "output_activation": "sigmoid",
    "cost": "cross_entropy",
    "init": "default",
}
EPOCHS = 5
TRAINING = {"epochs": EPOCHS, "batch_size": 8, "learning_rate": 0.5, "seed": 0}


def fill_queue(url: str, jobs: int) -> None:
    """Migrate a fresh database; store one XOR dataset and ``jobs`` queued jobs."""
    settings = Settings(database_url=url)
    upgrade_head(settings)
    engine = make_engine(settings)
    parsed = generate("xor", n_samples=32, noise=0.1, seed=0)
    with make_sessionmaker(engine)() as session:
        dataset = Dataset(
            name="xor", n_samples=32, n_features=2, n_outputs=1, task=parsed.task,
            classes=parsed.classes, inputs=encode_array(parsed.inputs),
            targets=encode_array(parsed.targets), created_at=utcnow(),
        )  # fmt: skip
        session.add(dataset)
        session.commit()
        for _ in range(jobs):
            jobqueue.submit(
                session, dataset=dataset, network=NETWORK, training=TRAINING,
                initial_weights=None, max_attempts=3,
            )  # fmt: skip
    engine.dispose()


def _race(url: str, owner: str, out: Any) -> None:
    """Child of the queue round: claim and finish until the queue is empty."""
    engine = make_engine(Settings(database_url=url))
    sessions = make_sessionmaker(engine)
    claimed: list[str] = []
    latencies: list[float] = []
    first = time.time()
    with sessions() as session:
        while True:
            started = time.perf_counter()
            lease = jobqueue.claim(session, owner, lease_seconds=60)
            latencies.append(time.perf_counter() - started)
            if lease is None:
                break
            claimed.append(lease.job_id)
            jobqueue.finish(session, lease, JobStatus.succeeded)
    last = time.time()
    engine.dispose()
    out.put((claimed, latencies[:-1], first, last))  # the last claim found no job


def queue_round(url: str, workers: int, jobs: int) -> dict[str, Any]:
    fill_queue(url, jobs)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [context.Process(target=_race, args=(url, f"q{i}", out)) for i in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    # From the first claim to the last (interpreter start-up not counted).
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    claimed = [job for r in results for job in r[0]]
    latencies = sorted(lat for r in results for lat in r[1])
    return {
        "claims": len(claimed),
        "unique": len(set(claimed)),
        "seconds": seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "max_ms": 1000 * latencies[-1],
    }


def workers_round(url: str, workers: int, jobs: int, tmp: Path) -> dict[str, Any]:
    fill_queue(url, jobs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    env.update(
        BACKPROP_DATABASE_URL=url, BACKPROP_POLL_INTERVAL="0.05",
        BACKPROP_CHECKPOINT_SECONDS="10", BACKPROP_LOG_LEVEL="info",
    )  # fmt: skip
    logs = [tmp / f"worker-{workers}-{i}.log" for i in range(workers)]
    procs = []
    for log in logs:
        with log.open("wb") as handle:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "worker"],
                    cwd=ROOT,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
    engine = make_engine(Settings(database_url=url))
    try:
        deadline = time.monotonic() + 600
        with make_sessionmaker(engine)() as session:
            while True:
                active = session.scalar(
                    select(func.count()).where(Job.status.in_(["queued", "running"]))
                )
                session.rollback()
                if active == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Job.id, Job.status, Job.attempts, Job.started_at, Job.finished_at)
            ).all()
            per_job = dict(
                session.execute(select(Metric.job_id, func.count()).group_by(Metric.job_id)).all()
            )
    finally:
        engine.dispose()
    claimed = Counter(
        match.group(1)
        for log in logs
        for match in re.finditer(r"job (\w+): claimed", log.read_text())
    )
    span = (max(r.finished_at for r in rows if r.finished_at) -
            min(r.started_at for r in rows if r.started_at)).total_seconds()  # fmt: skip
    return {
        "jobs": len(rows),
        "succeeded": sum(r.status == "succeeded" for r in rows),
        "attempts_1": sum(r.attempts == 1 for r in rows),
        "claimed_twice": sum(n > 1 for n in claimed.values()),
        "claimed": len(claimed),
        "bad_curves": sum(per_job.get(r.id, 0) != EPOCHS for r in rows),
        "seconds": span,
        "jobs_per_s": len(rows) / span if span > 0 else float("inf"),
        "busy_workers": len(
            {log for log in logs if re.search(r"job \w+: claimed", log.read_text())}
        ),  # fmt: skip
        "exit_codes": [p.returncode for p in procs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--database-url", help="an existing PostgreSQL database to use")
    args = parser.parse_args()

    cluster = None
    if args.database_url is None:
        reason = missing_reason()
        if reason:
            print(f"cannot start PostgreSQL: {reason}", file=sys.stderr)
            return 2
        cluster = Cluster().start()

    schemas: list[str] = []

    def fresh() -> str:
        if cluster is not None:
            return cluster.create_database()
        schemas.append(new_schema(args.database_url, prefix="bench"))
        return schemas[-1]

    ok = True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"PostgreSQL, {args.jobs} jobs per round, {os.cpu_count()} cores")
            print(f"{'workers':>7} | {'claims/s':>8} {'claim p50':>9} {'p95':>7} {'max':>7} "
                  f"| {'jobs/s':>7} {'busy':>4} {'once':>5} {'ok':>3}")  # fmt: skip
            for n in args.workers:
                q = queue_round(fresh(), n, args.jobs)
                w = workers_round(fresh(), n, args.jobs, Path(tmp))
                good = (
                    q["claims"] == q["unique"] == args.jobs
                    and w["succeeded"] == w["attempts_1"] == w["claimed"] == args.jobs
                    and w["claimed_twice"] == 0 and w["bad_curves"] == 0
                )  # fmt: skip
                ok &= good
                print(
                    f"{n:>7} | {q['claims'] / q['seconds']:>8.0f} {q['p50_ms']:>7.2f}ms "
                    f"{q['p95_ms']:>5.2f}ms {q['max_ms']:>5.1f}ms | {w['jobs_per_s']:>7.1f} "
                    f"{w['busy_workers']:>4} {w['attempts_1']:>5} {'yes' if good else 'NO':>3}"
                )
                if not good:
                    print(f"  queue: {q}\n  workers: {w}")
    finally:
        if cluster is not None:
            cluster.stop()
        for url in schemas:
            drop_schema(url)
    print("no job ran twice" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
