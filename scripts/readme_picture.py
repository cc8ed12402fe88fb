"""Draw the README's picture: the decision boundary of a network trained on spirals.

    .venv/bin/python scripts/readme_picture.py [--out docs/images/decision-boundary.png]

The engine trains a 2-32-32-3 network (tanh hidden layers, softmax output,
log-likelihood cost, plain SGD) on 600 points of the three-armed `spirals` toy
dataset, exactly as a worker would, and the service's own plotting code draws
the result: `app.plots.grid.boundary_grid` evaluates the trained network over
the input plane and `app.plots.render.decision_boundary_plot` renders it, as
`GET /v1/jobs/{id}/plots/decision-boundary.png` does. Seeded: the same run
gives the same weights on every machine with the same NumPy build. It takes a
few seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.datasets import generate
from app.nn import NetworkSpec, TrainingConfig, train
from app.plots.grid import boundary_grid
from app.plots.render import decision_boundary_plot

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "images" / "decision-boundary.png"

SPEC = NetworkSpec(
    sizes=[2, 32, 32, 3],
    hidden_activation="tanh",
    output_activation="softmax",
    cost="log_likelihood",
    init="xavier",
)
CONFIG = TrainingConfig(epochs=500, batch_size=20, learning_rate=0.5, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--size", type=int, default=560, help="width and height in pixels")
    args = parser.parse_args()

    data = generate("spirals", n_samples=600, noise=0.05, seed=0)
    started = time.perf_counter()
    result = train(SPEC, CONFIG, data.inputs, data.targets, task=data.task)
    seconds = time.perf_counter() - started
    last = result.metrics[-1]

    grid = boundary_grid(result.network.forward, data.inputs, resolution=200)
    sizes = "-".join(map(str, SPEC.sizes))
    title = f"spirals, {sizes} network, {CONFIG.epochs} epochs: accuracy {last.train_accuracy:.2f}"
    png = decision_boundary_plot(
        grid,
        data.inputs,
        data.targets,
        task=data.task,
        classes=data.classes,
        title=title,
        width=args.size,
        height=args.size,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(
        f"trained {CONFIG.epochs} epochs in {seconds:.1f} s: train loss {last.train_loss:.4f}, "
        f"accuracy {last.train_accuracy:.4f}; wrote {args.out} ({len(png) / 1024:.0f} KB)"
    )


if __name__ == "__main__":
    main()
