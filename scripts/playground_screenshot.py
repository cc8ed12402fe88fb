"""Take the README's screenshot of the playground, and time the first boundary picture.

    .venv/bin/python scripts/playground_screenshot.py [--out docs/images/playground.png]

Starts the real service (`backprop serve --workers 1`, default settings, a temporary
SQLite file), opens http://127.0.0.1:PORT/playground in Debian's Chromium (headless,
driven by Playwright), trains the page's default network (a 2-16-16-3 tanh/softmax
network with Adam on 300 points of the three-armed `spirals`) by pressing Train, waits
for the final decision boundary and saves the page's top part. It prints the time from
pressing Train to the first boundary picture, split into where it goes. About 15 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "images" / "playground.png"
BACKPROP = str(Path(sys.executable).with_name("backprop"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
STAGES = [  # (name in the page's timeline, what happened by then)
    ("submitted", "dataset and job created (POST /v1/datasets/generate, POST /v1/jobs)"),
    ("running", "a worker claimed the job (status event)"),
    ("snapshot", "first snapshot announced (snapshot event)"),
    ("boundary", "first boundary drawn (decision-boundary.json fetched, canvas painted)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def service(workers: int = 1) -> Iterator[str]:
    """`backprop serve` with its default settings on a temporary SQLite file; its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
        env["BACKPROP_DATABASE_URL"] = f"sqlite:///{tmp}/backprop.db"
        env["BACKPROP_LOG_LEVEL"] = "warning"
        argv = [BACKPROP, "serve", "--port", str(port), "--workers", str(workers)]
        process = subprocess.Popen(argv, env=env, cwd=tmp)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("backprop serve did not start")
                time.sleep(0.1)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(120_000)
            yield page
        finally:
            browser.close()


def train_once(page: Any, url: str, query: str = "") -> dict[str, float]:
    """Open the playground, press Train, wait for the final boundary; the page's
    timeline in seconds after the press."""
    page.goto(f"{url}/playground{query}")
    page.wait_for_function("document.getElementById('data-summary').textContent.length > 0")
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function("window.playground.timeline.boundary !== undefined")
    page.wait_for_selector('#output-panel[data-status="succeeded"]')
    page.wait_for_selector('#boundary-canvas[data-final="true"]')
    timeline: dict[str, float] = page.evaluate("window.playground.timeline")
    return {k: (v - timeline["train"]) / 1000 for k, v in timeline.items() if k != "train"}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with service() as url, browser_page() as page:
        times = train_once(page, url)
        page.wait_for_function("document.getElementById('health-epoch').textContent !== '–'")
        page.mouse.move(0, 0)
        bottom = page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(args.out),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1400, "height": bottom + 16},
        )
    print(f"wrote {args.out}")
    print(f"load average {os.getloadavg()[0]:.2f}; seconds after pressing Train:")
    for name, what in STAGES:
        print(f"  {times[name]:6.2f}  {what}")


if __name__ == "__main__":
    main()
