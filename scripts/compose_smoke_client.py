"""HTTP side of scripts/compose_smoke.sh (stdlib only): python3 THIS BASE_URL COMMAND [ARGS].

Commands:
    health                      GET /health is ok; prints it
    train-one                   XOR dataset + one job -> succeeded and trained; prints the id
    submit NAME N EPOCHS        an XOR dataset NAME and N jobs on it; prints the ids
    wait EPOCHS ID...           every job succeeds and is trained (see check_trained)
    wait-running ID             the job is running and has finished an epoch
    status ID                   prints "STATUS EPOCH"
    list                        prints every job id
Exits non-zero with the reason on any failed check or after SMOKE_TIMEOUT seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TIMEOUT = float(os.environ.get("SMOKE_TIMEOUT", "240"))
TRUTH = [[0, 0], [0, 1], [1, 0], [1, 1]]
BASE = ""


def call(method: str, path: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        BASE + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        sys.exit(f"{method} {path} -> {exc.code}: {exc.read().decode()[:500]}")


def check(condition: bool, message: str) -> None:
    if not condition:
        sys.exit(f"check failed: {message}")


def xor_dataset(name: str) -> str:
    body = {"kind": "xor", "n_samples": 200, "noise": 0.1, "seed": 0, "name": name}
    return str(call("POST", "/v1/datasets/generate", body)["id"])


def submit(dataset_id: str, epochs: int, seed: int = 0) -> str:
    job = call(
        "POST",
        "/v1/jobs",
        {
            "dataset_id": dataset_id,
            "network": {
                "sizes": [2, 8, 1],
                "hidden_activation": "sigmoid",
                "output_activation": "sigmoid",
                "cost": "cross_entropy",
            },
            "training": {"epochs": epochs, "batch_size": 10, "learning_rate": 2.0, "seed": seed},
        },
    )
    check(job["status"] == "queued", f"new job is {job['status']}, expected queued")
    return str(job["id"])


def wait_for(ids: list[str], statuses: tuple[str, ...] = ("succeeded",)) -> None:
    deadline = time.monotonic() + TIMEOUT
    pending = set(ids)
    while pending:
        for job_id in sorted(pending):
            job = call("GET", f"/v1/jobs/{job_id}")
            if job["status"] in statuses:
                pending.discard(job_id)
            elif job["status"] in ("failed", "cancelled", "succeeded"):
                sys.exit(f"job {job_id} ended {job['status']}: {job['error']}")
        if pending and time.monotonic() > deadline:
            sys.exit(f"timed out after {TIMEOUT:.0f} s waiting for {sorted(pending)}")
        time.sleep(0.5)


def check_trained(job_id: str, epochs: int) -> dict[str, Any]:
    """Loss curve complete (one row per epoch) and falling, weight shapes right, XOR learnt."""
    rows = call("GET", f"/v1/jobs/{job_id}/metrics?limit=1000")["items"]
    while len(rows) < epochs and rows:
        more = call("GET", f"/v1/jobs/{job_id}/metrics?limit=1000&after={rows[-1]['epoch']}")
        if not more["items"]:
            break
        rows += more["items"]
    check(
        [r["epoch"] for r in rows] == list(range(1, epochs + 1)),
        f"job {job_id}: metric epochs are not exactly 1..{epochs} ({len(rows)} rows)",
    )
    first, last = rows[0]["train_loss"], rows[-1]["train_loss"]
    check(last < 0.5 * first, f"job {job_id}: loss {first} -> {last} did not fall")
    accuracy = rows[-1]["train_accuracy"]
    check(accuracy >= 0.95, f"job {job_id}: final accuracy {accuracy}")
    weights = call("GET", f"/v1/jobs/{job_id}/weights")
    check(weights["sizes"] == [2, 8, 1], f"weights sizes {weights['sizes']}")
    shapes = [
        (len(layer["weights"]), len(layer["weights"][0]), len(layer["biases"]))
        for layer in weights["layers"]
    ]
    check(shapes == [(8, 2, 8), (1, 8, 1)], f"weight shapes {shapes}")
    predicted = call("POST", f"/v1/jobs/{job_id}/predict", {"inputs": TRUTH})
    labels = [int(v) for v in predicted["labels"]]
    check(labels == [0, 1, 1, 0], f"XOR predictions {predicted['labels']}")
    return dict(rows[-1])


def main(argv: list[str]) -> None:
    global BASE
    BASE, command, args = argv[0], argv[1], argv[2:]
    if command == "health":
        health = call("GET", "/health")
        check(health["status"] == "ok", f"health {health}")
        print(json.dumps(health))
    elif command == "train-one":
        job_id = submit(xor_dataset("smoke-xor"), epochs=300)
        wait_for([job_id])
        last = check_trained(job_id, 300)
        print(job_id)
        print(
            f"job {job_id}: loss {last['train_loss']:.4f}, accuracy {last['train_accuracy']:.3f}",
            file=sys.stderr,
        )
    elif command == "submit":
        dataset_id = xor_dataset(args[0])
        for k in range(int(args[1])):
            print(submit(dataset_id, epochs=int(args[2]), seed=k))
    elif command == "wait":
        wait_for(args[1:])
        for job_id in args[1:]:
            check_trained(job_id, int(args[0]))
    elif command == "wait-running":
        wait_for(args, statuses=("running",))
        deadline = time.monotonic() + TIMEOUT
        while call("GET", f"/v1/jobs/{args[0]}")["progress"]["epoch"] < 1:
            check(time.monotonic() < deadline, "the long job made no progress")
            time.sleep(0.2)
    elif command == "status":
        job = call("GET", f"/v1/jobs/{args[0]}")
        print(job["status"], job["progress"]["epoch"])
    elif command == "list":
        page = call("GET", "/v1/jobs?limit=1000")
        print("\n".join(job["id"] for job in page["items"]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
