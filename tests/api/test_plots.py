"""Plot routes: valid SVG/PNG of the requested size for finished, running and queued jobs;
comparison plots; decision boundary image and grid; 404/409/422 answers."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import numpy as np
import pytest

from app.nn import Network, NetworkSpec, TrainingConfig, TrainState, train
from tests.helpers import Driver, make_dataset, make_job

SVG = "{http://www.w3.org/2000/svg}"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def svg_root(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def finished_job(
    api: httpx.Client, driver: Driver, epochs: int = 6, dataset: dict[str, Any] | None = None
) -> dict[str, Any]:
    dataset = dataset or make_dataset(api)
    job = make_job(api, dataset, epochs=epochs)
    lease = driver.claim()
    for epoch in range(1, epochs + 1):
        driver.epoch(lease, epoch, accuracy=dataset["task"] == "classification")
    sizes = job["network"]["sizes"]
    net = Network.initialize(NetworkSpec(sizes=sizes), seed=1)
    driver.finish(lease, weights=net.to_npz())
    return job


@pytest.mark.parametrize(("width", "height"), [(900, 420), (640, 300)])
def test_loss_png_has_the_requested_size(
    api: httpx.Client, driver: Driver, width: int, height: int
) -> None:
    job = finished_job(api, driver)
    response = api.get(
        f"/v1/jobs/{job['id']}/plots/loss.png", params={"width": width, "height": height}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert png_size(response.content) == (width, height)


def test_loss_svg_of_a_finished_job(api: httpx.Client, driver: Driver) -> None:
    job = finished_job(api, driver)
    response = api.get(f"/v1/jobs/{job['id']}/plots/loss.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = svg_root(response.content)
    assert (root.get("width"), root.get("height")) == ("648pt", "302.4pt")  # 900x420 px
    labels = texts(root)
    for expected in ("Loss", "Accuracy", "epoch", "accuracy", "train", "validation"):
        assert expected in labels
    assert f"job {job['id'][:8]} · 2-4-1 · succeeded · epoch 6/6" in labels


def test_loss_plot_of_a_running_and_of_a_queued_job(api: httpx.Client, driver: Driver) -> None:
    job = make_job(api, make_dataset(api), epochs=10)
    queued = api.get(f"/v1/jobs/{job['id']}/plots/loss.svg")
    assert "no epochs recorded yet" in texts(svg_root(queued.content))
    lease = driver.claim()
    driver.epoch(lease, 1)
    driver.epoch(lease, 2)
    svg = api.get(f"/v1/jobs/{job['id']}/plots/loss.svg")
    assert f"job {job['id'][:8]} · 2-4-1 · running · epoch 2/10" in texts(svg_root(svg.content))
    png = api.get(f"/v1/jobs/{job['id']}/plots/loss.png")
    assert png_size(png.content) == (900, 420)
    assert png.headers["cache-control"] == "no-store"


def test_regression_loss_plot_has_no_accuracy_panel(api: httpx.Client, driver: Driver) -> None:
    dataset = make_dataset(api, "sine")
    assert dataset["task"] == "regression"
    job = finished_job(api, driver, dataset=dataset)
    labels = texts(svg_root(api.get(f"/v1/jobs/{job['id']}/plots/loss.svg").content))
    assert "Loss" in labels and "Accuracy" not in labels


def test_plots_of_unknown_jobs_are_404(api: httpx.Client) -> None:
    for path in (
        "/v1/jobs/nope/plots/loss.svg",
        "/v1/jobs/nope/plots/loss.png",
        "/v1/jobs/nope/plots/decision-boundary.png",
        "/v1/jobs/nope/plots/decision-boundary.json",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "job 'nope' not found"}


def test_unknown_plot_format_is_rejected(api: httpx.Client, driver: Driver) -> None:
    job = finished_job(api, driver)
    assert api.get(f"/v1/jobs/{job['id']}/plots/loss.gif").status_code == 422


def test_comparison_plot(api: httpx.Client, driver: Driver) -> None:
    dataset = make_dataset(api)
    a = finished_job(api, driver, epochs=4, dataset=dataset)
    b = finished_job(api, driver, epochs=7, dataset=dataset)
    ids = f"{a['id']},{b['id']}"
    svg = api.get("/v1/plots/loss.svg", params={"jobs": ids})
    assert svg.status_code == 200
    labels = texts(svg_root(svg.content))
    assert "Comparison of 2 jobs" in labels
    assert any(t.startswith(a["id"][:8]) for t in labels)
    assert any(t.startswith(b["id"][:8]) for t in labels)
    png = api.get("/v1/plots/loss.png", params={"jobs": ids, "width": 500, "height": 300})
    assert png_size(png.content) == (500, 300)


def test_comparison_plot_errors(api: httpx.Client, driver: Driver) -> None:
    job = finished_job(api, driver, epochs=2)
    missing = api.get("/v1/plots/loss.svg", params={"jobs": f"{job['id']},nope"})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "job 'nope' not found"}
    empty = api.get("/v1/plots/loss.svg", params={"jobs": " , "})
    assert empty.status_code == 422
    assert empty.json()["detail"] == "jobs: give at least one job id"
    assert api.get("/v1/plots/loss.svg").status_code == 422


def test_decision_boundary_png_and_grid(api: httpx.Client, driver: Driver) -> None:
    job = finished_job(api, driver)
    png = api.get(
        f"/v1/jobs/{job['id']}/plots/decision-boundary.png",
        params={"width": 400, "height": 300, "resolution": 30},
    )
    assert png.status_code == 200
    assert png_size(png.content) == (400, 300)
    grid = api.get(
        f"/v1/jobs/{job['id']}/plots/decision-boundary.json", params={"resolution": 12}
    ).json()
    assert grid["resolution"] == 12 and len(grid["x"]) == 12 and len(grid["y"]) == 12
    outputs = np.array(grid["outputs"])
    assert outputs.shape == (12, 12, 1)
    assert np.array(grid["labels"]).shape == (12, 12)
    assert len(grid["points"]["inputs"]) == 40 and len(grid["points"]["labels"]) == 40
    # The grid is the stored network's output at those points.
    weights = api.get(f"/v1/jobs/{job['id']}/weights").json()
    net = Network.from_document(weights)
    xs, ys = np.array(grid["x"]), np.array(grid["y"])
    assert outputs[3, 7] == pytest.approx(net.forward(np.array([[xs[7], ys[3]]]))[0])


def test_decision_boundary_of_a_queued_job_is_409(api: httpx.Client, driver: Driver) -> None:
    job = make_job(api, make_dataset(api), epochs=10)
    response = api.get(f"/v1/jobs/{job['id']}/plots/decision-boundary.png")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"job {job['id']!r} has no weights yet (status queued, epoch 0); "
        "try again after its first checkpoint"
    )


def test_decision_boundary_of_a_running_job_uses_its_latest_checkpoint(
    api: httpx.Client, driver: Driver
) -> None:
    spec = NetworkSpec(sizes=[2, 4, 1])
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    states: list[TrainState] = []
    train(
        spec,
        TrainingConfig(epochs=2, batch_size=2, learning_rate=1.0),
        x,
        y,
        task="classification",
        on_epoch_end=lambda _m, state: states.append(state),
    )
    job = make_job(api, make_dataset(api), epochs=10)
    lease = driver.claim()
    driver.epoch(lease, 1, checkpoint=states[0].to_bytes())
    driver.epoch(lease, 2, checkpoint=states[1].to_bytes())
    png = api.get(f"/v1/jobs/{job['id']}/plots/decision-boundary.png")
    assert png.status_code == 200 and png_size(png.content) == (600, 600)
    grid = api.get(
        f"/v1/jobs/{job['id']}/plots/decision-boundary.json", params={"resolution": 5}
    ).json()
    assert (grid["status"], grid["epoch"]) == ("running", 2)
    points = np.array([[gx, gy] for gy in grid["y"] for gx in grid["x"]])
    expected = states[1].network.forward(points).reshape(5, 5, 1)
    np.testing.assert_allclose(grid["outputs"], expected)


def test_decision_boundary_needs_two_features(api: httpx.Client, driver: Driver) -> None:
    response = api.post(
        "/v1/datasets",
        json={
            "name": "three",
            "inputs": [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 1, 1]],
            "labels": ["a", "b", "b", "a"],
        },
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    job = make_job(api, dataset, epochs=1, sizes=[3, 2, 2])
    response = api.get(f"/v1/jobs/{job['id']}/plots/decision-boundary.png")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"a decision boundary needs a dataset with 2 input features; "
        f"dataset {dataset['id']!r} has 3"
    )


def test_starting_the_api_does_not_import_matplotlib() -> None:
    """Plots import matplotlib lazily, inside the routes, so start-up stays fast."""
    import subprocess
    import sys

    code = (
        "import sys; from app.api.main import create_app; create_app(); "
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
