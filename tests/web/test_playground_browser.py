"""The playground in a real headless Chromium against the real ``backprop serve`` (the API
and a worker process, SQLite): a spirals network trained live with its boundary redrawn
while it trains, Step's deltas equal to ``POST /v1/backprop``'s, the address that restores
a configuration and reproduces its run, comparisons, API-key mode; no request leaves
127.0.0.1 and the console stays clean."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.helpers import API_KEY, BACKPROP, Server, start_server
from tests.helpers.browser import PageLog, needs_chromium

pytestmark = [needs_chromium, pytest.mark.e2e]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``backprop serve --workers 1`` for the module, on a SQLite file."""
    server = start_server(tmp_path_factory.mktemp("playground"), workers=1)
    yield server
    server.client.close()
    server.stop()


def base(server: Server) -> str:
    return str(server.client.base_url).rstrip("/")


def open_playground(page: Any, server: Server, query: str = "") -> PageLog:
    log = PageLog.attach(page)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{base(server)}/playground{query}")
    page.wait_for_function("document.getElementById('data-summary').textContent.length > 0")
    return log


def assert_clean(log: PageLog, server: Server, allowed_console: tuple[str, ...] = ()) -> None:
    assert not log.page_errors, log.page_errors
    console = [m for m in log.console_errors if not any(a in m for a in allowed_console)]
    assert not console, console
    assert log.requests, "the page made no request at all"
    outside = log.outside(base(server))
    assert not outside, f"requests left 127.0.0.1: {outside}"


def shown_job_id(page: Any) -> str:
    page.wait_for_function("document.getElementById('output-panel').dataset.jobId")
    return str(page.evaluate("document.getElementById('output-panel').dataset.jobId"))


def wait_finished(page: Any, timeout: float = 120_000) -> None:
    page.wait_for_selector(
        '#output-panel[data-status="succeeded"] , #output-panel[data-status="failed"]',
        timeout=timeout,
    )


def test_a_spirals_network_trains_live_and_the_boundary_moves_while_it_trains(
    page: Any, served: Server
) -> None:
    log = open_playground(page, served)
    page.get_by_label("Dataset", exact=True).select_option("spirals")
    page.get_by_label("Noise", exact=True).fill("0.1")
    page.get_by_label("Samples", exact=True).fill("300")
    page.get_by_label("Hidden layers", exact=True).fill("2")
    page.get_by_label("Neurons in hidden layer 1").fill("16")
    page.get_by_label("Neurons in hidden layer 2").fill("16")
    page.get_by_label("Activation", exact=True).select_option("tanh")
    page.get_by_label("Output activation").select_option("softmax")
    page.get_by_label("Learning rate", exact=True).fill("0.01")
    page.get_by_label("Batch size", exact=True).fill("10")
    page.get_by_label("Epochs", exact=True).fill("300")
    # Only the pairings the engine accepts are offered: softmax pairs with log-likelihood.
    assert page.get_by_label("Cost", exact=True).input_value() == "log_likelihood"
    assert page.locator('#cost option[value="quadratic"]').is_enabled()
    page.get_by_label("Output activation").select_option("tanh")
    assert page.locator('#cost option[value="cross_entropy"]').is_disabled()
    assert page.locator('#cost option[value="log_likelihood"]').is_disabled()
    page.get_by_label("Output activation").select_option("softmax")
    page.get_by_label("Dataset", exact=True).select_option("xor")  # one output: no softmax
    assert page.locator('#output-activation option[value="softmax"]').is_disabled()
    page.get_by_label("Dataset", exact=True).select_option("spirals")
    page.get_by_label("Output activation").select_option("softmax")
    assert page.get_by_label("Cost", exact=True).input_value() == "log_likelihood"
    page.wait_for_function("document.getElementById('data-summary').textContent.startsWith('300')")

    page.get_by_role("button", name="Train", exact=True).click()
    job_id = shown_job_id(page)
    wait_finished(page)
    page.wait_for_selector('#boundary-canvas[data-final="true"]')
    job = served.client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert job["network"]["sizes"] == [2, 16, 16, 3]
    assert job["training"]["snapshot_every"] == 5  # 300 / 60: about 60 pictures

    # The boundary was redrawn while the job trained: at least three different pictures
    # were on the canvas before the job finished, each from a snapshot of its own epoch.
    frames = page.evaluate("window.playground.frames")
    finished = datetime.fromisoformat(job["finished_at"]).timestamp() * 1000
    during = [f for f in frames if f["jobId"] == job_id and not f["final"] and f["at"] < finished]
    assert len({f["signature"] for f in during}) >= 3, during
    assert all(f["epoch"] % 5 == 0 for f in during)
    assert [f["epoch"] for f in during] == sorted({f["epoch"] for f in during})
    assert frames[-1]["final"] and frames[-1]["epoch"] == 300

    # The final metrics shown are the job's.
    final = job["final_metrics"]
    for name, key in (("train accuracy", "train_accuracy"), ("validation loss", "validation_loss")):
        cell = page.locator(f'#final-metrics td[data-metric="{name}"]')
        assert float(cell.get_attribute("data-value")) == final[key], name
    shown = page.locator('#final-metrics td[data-metric="validation accuracy"]').inner_text()
    assert shown == f"{100 * final['validation_accuracy']:.1f}%"
    assert page.locator("#final-heading").inner_text() == "Final metrics"
    assert page.locator("#loss-chart").get_attribute("data-points") == "300"
    page.wait_for_function("document.getElementById('health-epoch').textContent === '300'")
    assert page.locator("#health tbody tr").count() == 3  # one row per weight layer
    first_ms = float(page.locator("#boundary-canvas").get_attribute("data-first-boundary-ms"))
    assert 0 < first_ms < 60_000
    assert "first boundary" in page.locator("#run-progress").inner_text()

    # An ordinary job: the same REST resources, plots and CLI as any other.
    client = served.client
    assert client.get(f"/v1/jobs/{job_id}/weights", params={"epoch": 5}).status_code == 200
    png = client.get(f"/v1/jobs/{job_id}/plots/decision-boundary.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    env = {**os.environ, "BACKPROP_URL": base(served)}
    shown_cli = subprocess.run(
        [BACKPROP, "jobs", "show", job_id, "--metrics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown_cli.returncode == 0, shown_cli.stderr
    document = json.loads(shown_cli.stdout)
    assert document["id"] == job_id and len(document["metrics"]) == 300
    assert_clean(log, served)


def test_step_shows_every_layer_s_delta_as_post_v1_backprop_computes_it(
    page: Any, served: Server
) -> None:
    query = "?ds=moons&n=120&noise=0.2&layers=5,4&act=sigmoid&out=sigmoid&batch=6&seed=3&lr=0.5"
    log = open_playground(page, served, query)
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: sent.append(json.loads(r.post_data)) if r.url.endswith("/v1/backprop") else None,
    )
    preview = served.client.post(
        "/v1/datasets/preview", json={"kind": "moons", "n_samples": 120, "noise": 0.2, "seed": 0}
    ).json()
    expected: dict[str, Any] = {}
    for step in (1, 2):
        page.get_by_role("button", name="Step", exact=True).click()
        page.wait_for_function(
            f"document.getElementById('step-title').textContent.includes('step {step}')"
        )
        request = sent[-1]
        rows = range((step - 1) * 6, step * 6)
        assert request["inputs"] == [preview["inputs"][r] for r in rows]
        assert request["targets"] == [preview["targets"][r] for r in rows]
        assert request["network"]["sizes"] == [2, 5, 4, 1]
        assert request["learning_rate"] == 0.5 and request["n"] == 96  # 120 - 20% validation
        if step == 1:
            assert request["seed"] == 3 and "weights" not in request  # a job's start
        else:
            assert request["weights"] == expected["update"]["layers"]  # the stepped weights
        # The same request, sent by the test: every layer's δ on the page is the API's.
        expected = served.client.post("/v1/backprop", json=request).json()
        for layer in expected["layers"]:
            table = page.locator(f'table[data-matrix="delta"][data-layer="{layer["layer"]}"]')
            assert json.loads(table.get_attribute("data-values")) == layer["delta"]
            shown = table.locator("tr")
            assert shown.count() == 6  # one row per sample of the batch
        assert page.locator("#step-layers .layer-card").count() == 3
    text = page.locator("#step-layers").inner_text()
    assert "δ_L = a_L − y" in text  # cross-entropy with a sigmoid output
    assert "δ_2 = (W_3ᵀ δ_3) ⊙ σ′(z_2)" in text and "δ_1 = (W_2ᵀ δ_2) ⊙ σ′(z_1)" in text
    assert "✓ backprop agrees" in page.locator("#step-check").inner_text()

    page.get_by_role("button", name="Reset steps").click()
    page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_function("document.getElementById('step-title').textContent.includes('step 1')")
    assert sent[-1]["seed"] == 3 and sent[-1]["inputs"] == sent[0]["inputs"]
    assert_clean(log, served)


FORM = {  # label -> value, as the test sets them and expects them restored
    "Dataset": "moons",
    "Noise": "0.25",
    "Samples": "150",
    "Data seed": "5",
    "Validation fraction": "0.1",
    "Activation": "relu",
    "Output activation": "sigmoid",
    "Cost": "cross_entropy",
    "Initialiser": "he",
    "Optimizer": "momentum",
    "Momentum": "0.8",
    "Learning rate": "0.05",
    "Batch size": "7",
    "L2": "0.001",
    "Epochs": "25",
    "Seed": "4",
    "Precision": "float32",
}
SELECTS = {"Dataset", "Activation", "Output activation", "Cost", "Initialiser", "Optimizer",
           "Precision"}  # fmt: skip


def control(page: Any, label: str) -> Any:
    return page.get_by_label(label, exact=True)


def test_the_address_restores_the_configuration_and_reproduces_the_run(
    page: Any, served: Server
) -> None:
    log = open_playground(page, served)
    for label, value in FORM.items():
        if label in SELECTS:
            control(page, label).select_option(value)
        else:
            control(page, label).fill(value)
    page.get_by_role("button", name="Add a hidden layer").click()  # 16, 16, 16
    page.get_by_label("Neurons in hidden layer 3").fill("5")
    address = page.locator("#share-url").input_value()
    assert address == page.evaluate("location.href")
    assert "layers=16%2C16%2C5" in address and "ds=moons" in address

    page.get_by_role("button", name="Train", exact=True).click()
    first = shown_job_id(page)
    wait_finished(page)

    # A new visitor with the link: every control as it was, the same run on Train.
    other = page.context.browser.new_page()  # a new visitor: nothing in storage
    other_log = open_playground(other, served, address[address.index("?") :])
    for label, value in FORM.items():
        assert control(other, label).input_value() == value, label
    assert other.get_by_label("Hidden layers", exact=True).input_value() == "3"
    assert other.get_by_label("Neurons in hidden layer 3").input_value() == "5"
    other.get_by_role("button", name="Train", exact=True).click()
    other.wait_for_function(f"document.getElementById('output-panel').dataset.jobId !== '{first}'")
    second = shown_job_id(other)
    wait_finished(other)
    jobs = [served.client.get(f"/v1/jobs/{j}").json() for j in (first, second)]
    assert jobs[0]["network"] == jobs[1]["network"]
    assert jobs[0]["training"] == jobs[1]["training"]
    assert jobs[0]["network"] == {
        "sizes": [2, 16, 16, 5, 1],
        "hidden_activation": "relu",
        "output_activation": "sigmoid",
        "cost": "cross_entropy",
        "init": "he",
        "activations": None,
    }
    assert jobs[0]["training"]["momentum"] == 0.8 and jobs[0]["training"]["dtype"] == "float32"
    weights = [
        served.client.get(f"/v1/jobs/{j}/weights", params={"format": "npz"}).content
        for j in (first, second)
    ]
    assert weights[0] == weights[1]  # seeded: the same run, bit for bit

    # Compare the two runs: curves on shared axes, boundaries side by side.
    other.locator("#runs-table tbody tr").first.wait_for()
    for job_id in (first, second):
        other.get_by_label(f"compare job {job_id}").check()
    other.wait_for_selector("#compare-panel:not([hidden])")
    other.wait_for_function(
        "document.querySelectorAll('#compare-boundaries canvas[data-epoch]').length === 2"
    )
    for job_id in (first, second):
        assert other.locator(f'#compare-loss polyline[data-series="{job_id}-train"]').count() == 1
        assert other.locator(f'#compare-boundaries figure[data-job-id="{job_id}"]').count() == 1
    assert_clean(log, served)
    assert_clean(other_log, served)


def test_a_bad_address_falls_back_to_the_defaults(page: Any, served: Server) -> None:
    log = open_playground(page, served, "?ds=torus&lr=fast&layers=0,3&epochs=&noise=0.3")
    assert control(page, "Dataset").input_value() == "spirals"
    assert control(page, "Learning rate").input_value() == "0.01"
    assert page.get_by_label("Hidden layers", exact=True).input_value() == "2"
    assert control(page, "Epochs").input_value() == "300"
    assert control(page, "Noise").input_value() == "0.3"  # the valid ones are kept
    assert_clean(log, served)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``backprop serve`` with API keys: every /v1 request needs one."""
    server = start_server(
        tmp_path_factory.mktemp("keyed-playground"), workers=1, BACKPROP_API_KEYS=API_KEY
    )
    yield server
    server.client.close()
    server.stop()


def test_with_api_keys_the_playground_asks_once_and_sends_the_key(page: Any, keyed: Server) -> None:
    url = base(keyed)
    assert httpx.get(f"{url}/v1/jobs").status_code == 401
    log = PageLog.attach(page)
    page.goto(f"{url}/playground?ds=circles&n=100&layers=6&epochs=20&act=tanh")
    page.locator("#key-form").wait_for()
    assert page.get_by_label("API key").is_visible()
    page.get_by_label("API key").fill(API_KEY)
    page.locator("#key-form button[type=submit]").click()
    page.wait_for_function("document.getElementById('data-summary').textContent.length > 0")
    assert page.locator("#key-form").is_hidden()
    page.get_by_role("button", name="Train", exact=True).click()
    job_id = shown_job_id(page)
    wait_finished(page)
    page.wait_for_selector('#boundary-canvas[data-final="true"]')
    page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_selector("#step-layers .layer-card")

    page.reload()  # the key is kept for the session: no second question
    page.wait_for_function("document.getElementById('data-summary').textContent.length > 0")
    assert page.locator("#key-form").is_hidden()
    page.wait_for_selector(f'#runs-table tbody tr[data-job-id="{job_id}"]')

    api = [r for r in log.requests if r.url.startswith(f"{url}/v1/")]
    paths = {r.url[len(url) :].split("?")[0] for r in api}
    assert {"/v1/datasets/preview", "/v1/datasets/generate", "/v1/jobs", "/v1/backprop"} <= paths
    assert f"/v1/jobs/{job_id}/events" in paths
    keyed_requests = [r for r in api if r.headers.get("authorization") == f"Bearer {API_KEY}"]
    unkeyed = [r.url for r in api if r not in keyed_requests]
    assert len(unkeyed) == 1, unkeyed  # the first, answered 401, which asked for the key
    for request in log.requests:
        assert API_KEY not in request.url, request.url
    # The browser reports that first 401 as a failed resource load; nothing else.
    assert_clean(log, keyed, allowed_console=("status of 401",))


def test_the_page_and_its_scripts_are_served_without_a_key(keyed: Server) -> None:
    for path in ("/playground", "/static/playground.js", "/static/common.js"):
        assert httpx.get(f"{base(keyed)}{path}").status_code == 200, path
