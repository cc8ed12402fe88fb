"""Database faults under a running job, measured through REST against real processes.

    python benchmarks/db_faults.py                       # this checkout
    python benchmarks/db_faults.py --baseline /tmp/base  # and "before": another checkout
    python benchmarks/db_faults.py --long                # also an outage longer than the lease

Each row starts ``backprop serve --workers 0`` and one ``python -m worker`` on a fresh
database, a job of the 2-16-16-1 network on 400 circles long enough to outlast the fault
(its length comes from a short job timed first), and injects the fault once the job
trains (tests/helpers/faults.py, the same scenarios as tests/worker/test_db_faults.py):

- PostgreSQL restarted (``pg_ctl restart -m fast``) and stopped for 8 s, on a throwaway
  server of Debian's ``postgresql`` package (skipped when it is not installed);
- the SQLite database's volume full for 5 s (a 48 MB tmpfs: needs root, else skipped).

Printed per row: what the API answered while the fault lasted, the seconds from the
database being back (``pg_ctl`` returned; the filler file deleted) to the job's next
stored epoch (polled every 20 ms), the job's attempts, and whether each epoch is stored
exactly once. With ``--baseline DIR`` the same rows run against the checkout in DIR (its
``app`` and ``worker`` packages first on ``PYTHONPATH``), in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import Cluster, deployment, missing_reason  # noqa: E402
from tests.helpers.faults import Fault, Report, disk_full, restart, ride, stop_start  # noqa: E402
from tests.helpers.volumes import mount_reason, small_volume  # noqa: E402


def run(
    label: str, url: str, tmp: Path, fault: Fault, code: Path | None
) -> tuple[str, Report | str]:
    with deployment(tmp, url) as dep:
        if code is not None:
            dep.env["PYTHONPATH"] = str(code)
        dep.start_api()
        dep.start_worker()
        try:
            return label, ride(dep, fault)
        except AssertionError as exc:  # e.g. the job never came back: say so in the table
            return label, f"FAILED: {str(exc).splitlines()[0][:120]}"


def row(label: str, result: Report | str) -> str:
    if isinstance(result, str):
        return f"| {label} | {result} | | | |"
    answers = ", ".join(f"{k} ×{v}" for k, v in sorted(result.during.items())) or "—"
    once = "yes" if result.epochs_once else f"no ({len(result.stored)} rows)"
    return (
        f"| {label} | {answers} | {result.back_to_epoch:.2f} | {result.attempts} "
        f"({result.status}) | {once} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--long", action="store_true", help="also stop PostgreSQL for 45 s")
    args = parser.parse_args()
    codes: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.baseline is not None:
        codes.append((f"baseline {args.baseline}", args.baseline.resolve()))
    work = Path(tempfile.mkdtemp(prefix="backprop-faults-"))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: list[tuple[str, Report | str]] = []

    def fresh() -> Path:
        return Path(tempfile.mkdtemp(dir=work))

    pg_reason = missing_reason()
    if pg_reason is None:
        cluster = Cluster().start()
        faults: list[Callable[[], Fault]] = [
            lambda: restart(cluster),
            lambda: stop_start(cluster, 8),
        ]
        if args.long:
            faults.append(lambda: stop_start(cluster, 45))
        try:
            for name, code in codes:
                for make in faults:
                    fault = make()
                    rows.append(run(f"{fault.name} — {name}", cluster.create_database(),
                                    fresh(), fault, code))  # fmt: skip
                    print(row(*rows[-1]), flush=True)
        finally:
            cluster.stop()
    else:
        print(f"PostgreSQL rows skipped: {pg_reason}")
    volume_reason = mount_reason()
    if volume_reason is None:
        for name, code in codes:
            tmp = fresh()
            try:
                with small_volume(tmp / "volume", 48) as volume:
                    fault = disk_full(volume, 5)
                    url = f"sqlite:///{volume / 'backprop.db'}"
                    rows.append(run(f"{fault.name} — {name}", url, tmp, fault, code))
                    print(row(*rows[-1]), flush=True)
            except pytest.skip.Exception as skipped:  # small_volume skips the pytest way
                print(f"SQLite full-disk row skipped: {skipped}")
    else:
        print(f"SQLite full-disk row skipped: {volume_reason}")
    print()
    print("| fault | API answers during the fault | s from database back to next epoch "
          "| attempts (status) | each epoch stored once |")  # fmt: skip
    print("|---|---|---:|---|---|")
    for label, result in rows:
        print(row(label, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
