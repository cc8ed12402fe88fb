"""Time from pressing Train in the playground to the first decision-boundary picture.

    .venv/bin/python benchmarks/playground_latency.py [--runs 5]

Starts the real service (`backprop serve --workers 1`, default settings: a new job wakes
the worker at once, the event stream polls the database every 0.5 s) on a temporary
SQLite file, opens /playground in headless Chromium and presses Train `--runs` times
with the page's default network (2-16-16-3 on 300 spirals points, a snapshot every 5
epochs), each time waiting for the run to finish. The page records when each stage was
reached (`window.playground.timeline`); the table gives seconds after the press.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from playground_screenshot import STAGES, browser_page, service, train_once  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    with service() as url, browser_page() as page:
        for _ in range(args.runs):
            runs.append(train_once(page, url))
    print(f"{args.runs} runs, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"| {'seconds after pressing Train':<72} | median |  min |  max |")
    print(f"|{'-' * 74}|-------:|-----:|-----:|")
    for name, what in STAGES:
        values = [run[name] for run in runs]
        print(
            f"| {what:<72} | {statistics.median(values):6.2f} | {min(values):4.2f} "
            f"| {max(values):4.2f} |"
        )


if __name__ == "__main__":
    main()
