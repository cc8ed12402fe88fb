"""The dashboard in a real headless browser (Debian's chromium driven by Playwright):
it lists the jobs, follows the selected job's curve as epochs land over the event
stream, and makes no request to anything but the API on 127.0.0.1 -- with the API open,
and with API keys configured (the page asks for the key and sends it as a header)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from tests.helpers import API_KEY, Driver, ThreadServer, make_dataset, make_job
from tests.helpers.browser import PageLog, needs_chromium

pytestmark = needs_chromium


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
        f"/v1/plots/loss.svg?jobs={other['id']},{job['id']}"
    )
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

    driver.finish(lease, weights=Network.initialize(NetworkSpec(sizes=[2, 4, 1]), seed=0).to_npz())
    page.wait_for_selector('#job-panel[data-status="succeeded"]')
    assert page.locator("#metrics-heading").inner_text() == "Final metrics"
    page.wait_for_selector('#accuracy-chart[data-points="12"]')
    page.wait_for_function(
        "document.getElementById('boundary').complete"
        " && document.getElementById('boundary').naturalWidth > 0"
    )
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
    # blob: URLs of the page's own origin (the decision boundary) are in-memory objects.
    outside = [u for u in requests if not u.startswith((f"{server.url}/", f"blob:{server.url}/"))]
    assert not outside, f"requests left 127.0.0.1: {outside}"


KEY = API_KEY  # one of the keys of `keyed_settings`


def test_dashboard_asks_for_the_api_key_and_follows_a_job_with_it(
    page: Any, keyed_server: ThreadServer, keyed_settings: Settings
) -> None:
    server = keyed_server
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    driver = Driver(keyed_settings)
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}
    ) as api:
        assert httpx.get(f"{server.url}/v1/jobs").status_code == 401
        other = make_job(api, make_dataset(api), epochs=3)
        api.post(f"/v1/jobs/{other['id']}/cancel")
        job = make_job(api, make_dataset(api), epochs=8)
    lease = driver.claim()
    driver.epoch(lease, 1)

    # Straight to the job's address: the page asks for the key, shows nothing else yet.
    page.goto(f"{server.url}/#job={job['id']}")
    page.locator("#key-form").wait_for()
    assert page.get_by_label("API key").is_visible()
    assert page.locator("#jobs tbody tr").count() == 0
    assert page.locator("#jobs-error").is_hidden()
    assert page.locator("#job-panel").is_hidden()

    page.get_by_label("API key").fill("wrong-key")
    page.locator("#key-form button[type=submit]").click()
    page.wait_for_function("document.getElementById('key-message').textContent.includes('refused')")
    assert page.locator("#key-form").is_visible()

    page.get_by_label("API key").fill(KEY)
    page.locator("#key-form button[type=submit]").click()
    rows = page.locator("#jobs tbody tr")
    rows.first.wait_for()
    assert rows.count() == 2
    assert page.locator("#key-form").is_hidden()
    assert page.evaluate("sessionStorage.getItem('backprop.apiKey')") == KEY
    assert page.evaluate("localStorage.getItem('backprop.apiKey')") is None

    # The job named in the address is followed live over the fetch-based event stream.
    page.wait_for_selector('#loss-chart[data-points="1"]')
    assert page.locator("#job-status").inner_text() == "running"
    for epoch in (2, 3, 4):
        driver.epoch(lease, epoch)
    page.wait_for_selector('#loss-chart[data-points="4"]')
    assert page.locator("#job-progress").inner_text().startswith("epoch 4 of 8")
    points = page.locator("#loss-chart polyline.train").get_attribute("points")
    assert points is not None and len(points.split()) == 4

    # Reloading keeps the key for the session; the stream picks up where the job is.
    page.reload()
    page.wait_for_selector('#loss-chart[data-points="4"]')
    assert page.locator("#key-form").is_hidden()
    for epoch in range(5, 9):
        driver.epoch(lease, epoch)
    from app.nn import Network, NetworkSpec

    driver.finish(lease, weights=Network.initialize(NetworkSpec(sizes=[2, 4, 1]), seed=0).to_npz())
    page.wait_for_selector('#job-panel[data-status="succeeded"]')
    page.wait_for_selector('#loss-chart[data-points="8"]')
    # The decision boundary is fetched with the key and shown from a blob: URL.
    page.wait_for_function(
        "document.getElementById('boundary').complete"
        " && document.getElementById('boundary').naturalWidth > 0"
    )
    assert page.locator("#boundary").get_attribute("src").startswith("blob:")

    # A download link is fetched with the header too.
    with page.expect_download() as download:
        page.locator("#job-links a", has_text="metrics (JSON)").click()
    path = download.value.path()
    assert path is not None and '"items"' in Path(path).read_text()
    driver.close()

    assert not errors, errors
    api_requests = [r for r in requests if r.url.startswith(f"{server.url}/v1/")]
    assert any(r.url.endswith("/events") for r in api_requests)
    keyed = [r for r in api_requests if r.headers.get("authorization") == f"Bearer {KEY}"]
    assert keyed, "no request carried the key"
    for request in requests:
        assert KEY not in request.url, f"the key is in a URL: {request.url}"
    outside = [
        r.url for r in requests if not r.url.startswith((f"{server.url}/", f"blob:{server.url}/"))
    ]
    assert not outside, f"requests left 127.0.0.1: {outside}"


def test_the_event_stream_reader_resumes_with_last_event_id_and_stops(
    page: Any, server: ThreadServer
) -> None:
    """The dashboard's fetch-based SSE reader, against scripted responses: a drop
    mid-event resumes from the last complete event's id, CRLF split across chunks,
    comments and multi-line data parse, and `end` or 204 stop it for good."""
    page.goto(f"{server.url}/")
    page.wait_for_function("typeof streamEvents === 'function'")

    chunks = page.evaluate("""() => {
        const seen = [];
        const parser = sseParser((type, data, id) => seen.push([type, data, id]));
        for (const chunk of [": ping\\r\\nid: 3-run", "ning\\r", "\\nevent: metrics\\r\\n",
                             "data: a\\ndata: b\\r\\n\\r", "\\n", "data: x\\n\\n",
                             "id: 4-running\\nevent: status\\n\\n", "data: y\\n\\n"]) {
            parser.feed(chunk);
        }
        return seen;
    }""")
    assert chunks == [
        ["metrics", "a\nb", "3-running"],
        ["message", "x", "3-running"],
        ["message", "y", "4-running"],
    ]

    seen: list[tuple[str, str | None]] = []
    bodies = [
        # epoch 1 complete, epoch 2 cut off mid-event: the connection drops
        'retry: 10\nid: 1-running\nevent: metrics\ndata: {"epoch":1}\n\n'
        'id: 2-running\nevent: metrics\ndata: {"ep',
        'id: 2-running\r\nevent: metrics\r\ndata: {"epoch":2}\r\n\r\n',
        'id: 2-succeeded\nevent: end\ndata: {"status":"succeeded"}\n\n',
    ]

    def scripted(route: Any) -> None:
        seen.append((route.request.url, route.request.headers.get("last-event-id")))
        body = bodies.pop(0) if bodies else None
        if body is None:
            route.fulfill(status=204)
        else:
            route.fulfill(status=200, body=body, headers={"Content-Type": "text/event-stream"})

    page.route("**/v1/jobs/scripted/events", scripted)
    page.route("**/v1/jobs/over/events", scripted)
    page.evaluate("""() => {
        window.received = [];
        streamEvents('/v1/jobs/scripted/events',
                     (type, data, id) => window.received.push([type, data, id]));
    }""")
    page.wait_for_function("window.received.length === 3")
    page.wait_for_timeout(300)  # no reconnect after `end`
    assert page.evaluate("window.received") == [
        ["metrics", '{"epoch":1}', "1-running"],
        ["metrics", '{"epoch":2}', "2-running"],
        ["end", '{"status":"succeeded"}', "2-succeeded"],
    ]
    assert [h for _, h in seen] == [None, "1-running", "2-running"]

    page.evaluate("streamEvents('/v1/jobs/over/events', () => {})")  # 204: stop at once
    page.wait_for_timeout(300)
    assert [u.rsplit("/", 2)[1] for u, _ in seen][3:] == ["over"]


LAYOUT = """() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    const wrapper = document.querySelector('#jobs-panel .scroll');
    return {
        page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
        wrapper: [wrapper.scrollWidth, wrapper.clientWidth],
        table: box('jobs').width, panel: box('jobs-panel').width,
        main: document.querySelector('main').getBoundingClientRect().width,
    };
}"""


def test_the_job_table_uses_the_page_width_without_a_sideways_scrollbar(
    page: Any, server: ThreadServer, api: httpx.Client
) -> None:
    dataset = make_dataset(api)
    for _ in range(3):
        make_job(api, dataset, epochs=4, sizes=[2, 16, 16, 16, 1], optimizer="momentum")
    job = make_job(api, dataset, epochs=4)
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{server.url}/")
        page.locator("#jobs tbody tr").first.wait_for()
        layout = page.evaluate(LAYOUT)
        assert layout["page"][0] <= layout["page"][1], (width, layout)
        assert layout["wrapper"][0] <= layout["wrapper"][1], (width, layout)
        assert layout["panel"] > 0.95 * layout["main"], (width, layout)  # the whole width
        assert layout["table"] > 0.9 * layout["panel"], (width, layout)
        page.locator(f'#jobs tbody tr[data-job-id="{job["id"]}"]').click()
        page.wait_for_selector('#job-panel[data-status="queued"]')
        layout = page.evaluate(LAYOUT)
        assert layout["page"][0] <= layout["page"][1], (width, layout)
        assert layout["wrapper"][0] <= layout["wrapper"][1], (width, layout)
        assert layout["table"] > 0.9 * layout["panel"], (width, layout)
        if width == 1400:  # side by side with the selected job
            assert layout["panel"] < 0.6 * layout["main"], layout
        else:  # one column: the job below the list
            assert layout["panel"] > 0.95 * layout["main"], layout


def test_the_validation_legend_appears_only_with_a_validation_split(
    page: Any, server: ThreadServer, api: httpx.Client
) -> None:
    dataset = make_dataset(api)
    without = make_job(api, dataset, epochs=4)
    with_split = make_job(api, dataset, epochs=4, validation_fraction=0.25)
    legends = page.locator("#job-panel .legend-validation")
    page.goto(f"{server.url}/#job={without['id']}")
    page.wait_for_selector('#job-panel[data-status="queued"]')
    assert legends.count() == 2
    assert all(legends.nth(i).is_hidden() for i in range(2))
    assert "validation" not in page.locator("#job-panel figcaption").first.inner_text()
    page.goto(f"{server.url}/#job={with_split['id']}")
    page.wait_for_selector('#job-panel[data-status="queued"]')
    page.wait_for_function("document.getElementById('job-id').textContent.length > 0")
    page.wait_for_function(
        "[...document.querySelectorAll('#job-panel .legend-validation')].every(n => !n.hidden)"
    )
    assert "validation" in page.locator("#job-panel figcaption").first.inner_text()


def test_the_empty_state_points_to_the_playground_and_a_curl_example_that_works(
    page: Any, server: ThreadServer, api: httpx.Client
) -> None:
    log = PageLog.attach(page)
    page.goto(f"{server.url}/")
    empty = page.locator("#jobs-empty")
    empty.wait_for()
    assert page.locator("#jobs").is_hidden()
    assert empty.get_by_role("link", name="playground").get_attribute("href") == "/playground"
    assert page.locator("header").get_by_role("link", name="Playground").is_visible()
    example = page.locator("#curl-example").inner_text()
    assert f"{server.url}/v1/datasets/generate" in example and f"{server.url}/v1/jobs" in example
    if shutil.which("curl"):  # the commands as shown create a dataset and a queued job
        done = subprocess.run(["bash", "-c", example], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert '"status":"queued"' in done.stdout.replace(" ", "")
        page.locator("#jobs tbody tr").first.wait_for()
        assert empty.is_hidden()
    assert not log.page_errors and not log.console_errors, (log.page_errors, log.console_errors)
    assert not log.outside(server.url)
