"""The dashboard in a real headless browser (Debian's chromium driven by Playwright):
it lists the jobs, follows the selected job's curve as epochs land over the event
stream, and makes no request to anything but the API on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live.conftest import Driver, ThreadServer, make_dataset, make_job

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is absent (install it with: apt-get install -y chromium)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def page() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


def test_dashboard_follows_a_training_job_live(
    page: Any, server: ThreadServer, api: httpx.Client, driver: Driver, tmp_path: Any
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    other = make_job(api, make_dataset(api), epochs=3)
    api.post(f"/v1/jobs/{other['id']}/cancel")
    job = make_job(api, make_dataset(api), epochs=12)
    lease = driver.claim()
    driver.epoch(lease, 1)
    driver.epoch(lease, 2)

    page.goto(f"{server.url}/")
    rows = page.locator("#jobs tbody tr")
    rows.first.wait_for()
    assert rows.count() == 2
    row = page.locator(f'#jobs tbody tr[data-job-id="{job["id"]}"]')
    assert row.get_attribute("data-status") == "running"
    assert "2/12" in row.inner_text()

    assert page.locator("#compare").is_hidden()
    for job_id in (other["id"], job["id"]):
        page.locator(f'#jobs tbody tr[data-job-id="{job_id}"] input[type=checkbox]').check()
    assert page.locator("#compare").get_attribute("href") == (
        f"/v1/plots/loss.svg?jobs={other['id']},{job['id']}")
    assert page.locator("#job-panel").is_hidden()  # ticking a box does not select the row

    row.click()
    page.wait_for_selector('#loss-chart[data-points="2"]')
    assert page.locator("#job-status").inner_text() == "running"
    assert page.locator("#loss-chart polyline.train").count() == 1

    for epoch in (3, 4, 5):
        driver.epoch(lease, epoch)
    page.wait_for_selector('#loss-chart[data-points="5"]')
    points = page.locator("#loss-chart polyline.train").get_attribute("points")
    assert points is not None and len(points.split()) == 5
    assert page.locator("#job-progress").inner_text().startswith("epoch 5 of 12")
    assert page.locator('#job-metrics td[data-metric="epoch"]').inner_text() == "5"
    page.screenshot(path=str(tmp_path / "running.png"))

    for epoch in range(6, 13):
        driver.epoch(lease, epoch)
    from app.nn import Network, NetworkSpec

    driver.finish(lease, weights=Network.initialize(NetworkSpec(sizes=[2, 4, 1]),
                                                    seed=0).to_npz())
    page.wait_for_selector('#job-panel[data-status="succeeded"]')
    assert page.locator("#metrics-heading").inner_text() == "Final metrics"
    page.wait_for_selector('#accuracy-chart[data-points="12"]')
    page.wait_for_function(
        "document.getElementById('boundary').complete"
        " && document.getElementById('boundary').naturalWidth > 0")
    links = page.locator("#job-links a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert f"/v1/jobs/{job['id']}/weights" in hrefs
    assert f"/v1/jobs/{job['id']}/plots/loss.svg" in hrefs
    assert '"sizes": [' in page.locator("#job-spec").inner_text()
    page.screenshot(path=str(tmp_path / "finished.png"))
    if os.environ.get("BACKPROP_SCREENSHOTS"):
        page.screenshot(path=os.environ["BACKPROP_SCREENSHOTS"], full_page=True)

    assert not errors, errors
    assert requests, "the browser made no request at all"
    outside = [u for u in requests if not u.startswith(f"{server.url}/")]
    assert not outside, f"requests left 127.0.0.1: {outside}"
