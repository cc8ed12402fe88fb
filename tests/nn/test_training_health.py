"""Training health in `GET /v1/jobs/{id}/metrics`, and the story the README's section
"How Backprop computes gradients" tells.

A 2-16-1 sigmoid network on `moons` whose output bias starts at −12 (every output ≈ 0,
wrong for half the samples). With the quadratic cost `δ_L = (a − y) ⊙ σ'(z_L)` and
σ'(z_L) ≈ 0: the output stays saturated, its gradient and updates vanish, accuracy stays
at chance. With cross-entropy `δ_L = a − y` (σ' cancels): it leaves saturation at once.
Trained by the real worker in-process; read back over HTTP.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app import jobqueue
from app.datasets import generate
from app.nn import Network, NetworkSpec
from tests.helpers import add_dataset, network_spec, training_config
from worker.runner import Worker

EPOCHS = 4
HEALTH_KEYS = {"grad_norm", "update_ratio", "saturated_fraction", "dead_fraction"}


def _saturated_start(network: dict[str, Any]) -> list[dict[str, Any]]:
    layers = Network.initialize(NetworkSpec.from_dict(network), seed=1).to_document()["layers"]
    layers[-1]["biases"] = [-12.0]
    return [{"weights": lay["weights"], "biases": lay["biases"]} for lay in layers]


def _train(
    session: Session,
    worker: Worker,
    network: dict[str, Any],
    initial_weights: list[dict[str, Any]] | None = None,
    **training: Any,
) -> str:
    moons = generate("moons", n_samples=400, noise=0.1, seed=0)
    dataset = add_dataset(session, inputs=moons.inputs, targets=moons.targets)
    job = jobqueue.submit(
        session,
        dataset=dataset,
        network=network,
        training=training_config(epochs=EPOCHS, batch_size=10, **training),
        initial_weights=initial_weights,
        max_attempts=1,
    )
    assert worker.run_once() == job.id
    return job.id


def _metrics(client: Any, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/metrics")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    return body["items"]  # type: ignore[no-any-return]


def test_quadratic_stalls_on_saturated_outputs_cross_entropy_does_not(
    client: Any, session: Session, worker: Worker
) -> None:
    runs = []
    for cost in ("quadratic", "cross_entropy"):
        network = network_spec(sizes=[2, 16, 1], cost=cost)
        job_id = _train(session, worker, network, _saturated_start(network))
        runs.append(_metrics(client, job_id))
    quadratic, entropy = runs
    for items in (quadratic, entropy):
        assert [row["epoch"] for row in items] == list(range(1, EPOCHS + 1))
        for row in items:
            assert len(row["health"]) == 2
            assert all(set(layer) == HEALTH_KEYS for layer in row["health"])
            assert all(layer["dead_fraction"] is None for layer in row["health"])
    for q, ce in zip(quadratic, entropy, strict=True):
        q_out, ce_out = q["health"][-1], ce["health"][-1]
        assert q_out["saturated_fraction"] == 1.0
        assert q_out["grad_norm"] < 1e-4 and q_out["update_ratio"] < 1e-4
        assert ce_out["grad_norm"] > 1000 * q_out["grad_norm"]
        assert ce_out["update_ratio"] > 100 * q_out["update_ratio"]
        assert q["train_accuracy"] == 0.5
    assert entropy[-1]["health"][-1]["saturated_fraction"] < 0.5
    assert entropy[-1]["train_accuracy"] > 0.8


def test_relu_layers_report_dead_units_not_saturation(
    client: Any, session: Session, worker: Worker
) -> None:
    """An oversized learning rate kills ReLUs: dead_fraction says so, gradients vanish."""
    network = network_spec(sizes=[2, 32, 32, 1], hidden_activation="relu", init="he")
    items = _metrics(client, _train(session, worker, network, learning_rate=3.0))
    last = items[-1]["health"]
    assert [layer["saturated_fraction"] is None for layer in last] == [True, True, False]
    assert [layer["dead_fraction"] is None for layer in last] == [False, False, True]
    assert last[1]["dead_fraction"] == 1.0
    assert all(layer["grad_norm"] == 0.0 for layer in last)
