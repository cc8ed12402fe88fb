"""The dashboard's sweep view in a real headless browser (Debian's chromium driven by
Playwright): the sweep list, the selected sweep's leaderboard (best first, the best row
marked), its plots, the way to a trial's job and back, and cancel; no request leaves
127.0.0.1."""

from __future__ import annotations

import os
from typing import Any

import httpx

from app.config import Settings
from tests.helpers import ThreadServer, make_dataset
from tests.helpers.browser import needs_chromium
from worker.runner import Worker

pytestmark = needs_chromium


def test_the_sweep_view_shows_the_leaderboard_plots_and_trials(
    page: Any,
    server: ThreadServer,
    api: httpx.Client,
    settings: Settings,
    tmp_path: Any,
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    dataset = make_dataset(api, n_samples=80)
    body = {
        "name": "xor-grid",
        "dataset_id": dataset["id"],
        "network": {"sizes": [2, 4, 1]},
        "training": {"epochs": 6, "batch_size": 8, "validation_fraction": 0.25, "seed": 0},
        "space": {"training.learning_rate": {"type": "choice", "values": [0.5, 2.0]},
                  "network.sizes": {"type": "choice", "values": [[2, 4, 1], [2, 8, 1]]}},
        "sampler": {"kind": "grid", "seed": 0},
        "objective": {"metric": "validation_accuracy"},
        "parallelism": 2,
    }  # fmt: skip
    sweep = api.post("/v1/sweeps", json=body).json()
    worker = Worker(settings, owner="browser-test")
    try:
        worker.run_once()
        worker.run_once()  # two trials ended, two queued
    finally:
        worker.close()
    best = api.get(f"/v1/sweeps/{sweep['id']}").json()["best"]

    page.goto(f"{server.url}/")
    row = page.locator(f'#sweeps tbody tr[data-sweep-id="{sweep["id"]}"]')
    row.wait_for()
    assert row.get_attribute("data-status") == "running"
    assert "2/4" in row.inner_text()
    row.click()
    page.wait_for_selector("#sweep-leaderboard tbody tr")
    assert page.locator("#sweep-status").inner_text() == "running"
    assert page.locator("#job-panel").is_hidden()
    rows = page.locator("#sweep-leaderboard tbody tr")
    assert rows.count() == 4
    first = rows.first
    assert first.get_attribute("data-trial") == str(best["number"])
    assert "best" in (first.get_attribute("class") or "")
    assert [rows.nth(i).get_attribute("data-status") for i in range(4)] == [
        "succeeded", "succeeded", "queued", "queued",
    ]  # fmt: skip
    assert page.locator("#sweep-value-heading").inner_text() == "validation accuracy"
    assert page.locator("#sweep-best").inner_text().startswith(f"Best: trial {best['number']}")
    assert "2 of 4 trials ended" in page.locator("#sweep-progress").inner_text()
    for plot in ("trials", "params"):
        page.wait_for_function(
            f"document.getElementById('sweep-plot-{plot}').complete"
            f" && document.getElementById('sweep-plot-{plot}').naturalWidth > 0"
        )
    page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)
    if os.environ.get("BACKPROP_SCREENSHOTS"):
        page.screenshot(path=os.environ["BACKPROP_SCREENSHOTS"], full_page=True)

    first.locator("a").click()  # the best trial's job
    page.wait_for_selector('#job-panel[data-status="succeeded"]:not([hidden])')
    assert page.locator("#sweep-panel").is_hidden()
    assert page.locator("#job-status").inner_text() == "succeeded"
    row.click()  # and back to the sweep
    page.wait_for_selector("#sweep-panel:not([hidden])")
    page.locator("#sweep-cancel").click()
    page.wait_for_selector('#sweep-panel[data-status="cancelled"]')
    assert page.locator("#sweep-cancel").is_hidden()
    page.wait_for_selector('#sweep-leaderboard tbody tr[data-status="cancelled"]')

    assert not errors, errors
    outside = [u for u in requests if not u.startswith((f"{server.url}/", f"blob:{server.url}/"))]
    assert not outside, f"requests left 127.0.0.1: {outside}"
