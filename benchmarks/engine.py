"""Speed of the NumPy engine against the textbook loop, scikit-learn, PyTorch and the GEMM floor.

One run trains 784-100-10 (sigmoid hidden, sigmoid output, cross_entropy) for one epoch
of 60,000 synthetic samples at batch sizes 10, 64 and 256, in float32 and float64, and
prints seconds per epoch and samples/s for:

- engine: ``app.nn.train``, one epoch: the mini-batch steps plus the epoch's
  loss/accuracy/health, without the one-off setup of a ``train`` call (dtype conversion
  and validation split of the data);
- engine-np: the same with ``app.nn.blas``'s direct BLAS calls switched off (the SGD
  step as a subtraction after ``np.matmul`` gradients instead of inside the gradient
  product);
- per-sample: the textbook per-sample backprop loop (Nielsen's ``network.py``, column
  vectors, one sample at a time) run on ``--reference-fraction`` of the data and
  extrapolated linearly to the full epoch (marked ``*``);
- sklearn: ``MLPClassifier(solver="sgd")``, same layers, plain SGD (no momentum),
  ``max_iter=1`` (one epoch), timed from its first mini-batch to its last as the engine
  is (its one-off input validation and initialisation left out); its multiclass output is
  softmax + log-loss, not sigmoid + cross-entropy (same matrix products);
- torch: PyTorch CPU, ``nn.Linear``/``nn.Sigmoid`` with ``BCEWithLogitsLoss`` (sigmoid +
  cross-entropy), ``torch.optim.SGD``, a ``randperm`` shuffle and indexing per batch, with
  as many threads as the BLAS NumPy uses;
- floor: the five matrix products of a training step on preallocated buffers and
  contiguous batches, nothing else (forward x·W1 and h·W2, backward δ2·W2ᵀ, hᵀ·δ2, xᵀ·δ1).

Each contender runs ``--repeat`` times, round-robin; the best time counts (a shared 2-core
VM is noisy). Ratios, of times per epoch: "vs engine" is the contender's time divided by the
engine's (2.0: the engine is twice as fast), "vs floor" its time divided by the floor's. Usage::

    python benchmarks/engine.py                   # the full table (a few minutes)
    python benchmarks/engine.py --batches 64 --dtypes float32 --repeat 1

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE select slow kernels on some processors: the script
re-executes itself without them.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and any(
    k in os.environ for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
):
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    }
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.nn import NetworkSpec, TrainingConfig, blas, train  # noqa: E402

SIZES = [784, 100, 10]
LEARNING_RATE = 0.5


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic MNIST-shaped data: pixels in [0, 1), labels from a random linear teacher."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, SIZES[0]))
    labels = (x @ rng.normal(size=(SIZES[0], SIZES[-1]))).argmax(axis=1)
    return x, np.eye(SIZES[-1])[labels], labels


# ----------------------------------------------------------------------------- contenders
def clock() -> float:
    """The benchmark's clock: wall time, or this process's CPU time with ``--clock cpu``."""
    return CLOCK()


CLOCK = time.perf_counter


def run_engine(x: np.ndarray, y: np.ndarray, batch: int, dtype: str) -> float:
    """One epoch of ``app.nn.train``, without the one-off setup (dtype conversion, split).

    The clock starts at the first ``should_stop`` call (after the first mini-batch) and
    stops in ``on_epoch_end``; the time is scaled by n_batches / (n_batches - 1).
    """
    spec = NetworkSpec(
        sizes=SIZES, hidden_activation="sigmoid", output_activation="sigmoid", cost="cross_entropy"
    )
    cfg = TrainingConfig(
        epochs=1, batch_size=batch, learning_rate=LEARNING_RATE, dtype=dtype, seed=1
    )
    marks: list[float] = []

    def first_batch_done() -> bool:
        if not marks:
            marks.append(clock())
        return False

    train(
        spec,
        cfg,
        x,
        y,
        should_stop=first_batch_done,
        on_epoch_end=lambda metrics, state: marks.append(clock()),
    )
    n_batches = -(-len(x) // batch)
    return (marks[1] - marks[0]) * n_batches / (n_batches - 1)


def run_engine_matmul(x: np.ndarray, y: np.ndarray, batch: int, dtype: str) -> float:
    """``run_engine`` with ``app.nn.blas``'s direct gemm calls off: the SGD step is a
    separate subtraction after ``np.matmul`` gradients, as before they existed."""
    blas.set_direct(False)
    try:
        return run_engine(x, y, batch, dtype)
    finally:
        blas.set_direct(True)


def run_per_sample(x: np.ndarray, y: np.ndarray, batch: int, dtype: str, fraction: float) -> float:
    """Nielsen's network.py inner loop (column vectors, one sample at a time)."""
    n = max(batch, int(len(x) * fraction) // batch * batch)
    rng = np.random.default_rng(1)
    ws = [
        (rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype)
        for i, o in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    bs = [rng.standard_normal((o, 1)).astype(dtype) for o in SIZES[1:]]
    xs = [c.reshape(-1, 1) for c in x[:n].astype(dtype)]
    ys = [c.reshape(-1, 1) for c in y[:n].astype(dtype)]

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    start = clock()
    with np.errstate(over="ignore"):
        order = rng.permutation(n)
        for k in range(0, n, batch):
            nabla_w = [np.zeros(w.shape, dtype=dtype) for w in ws]
            nabla_b = [np.zeros(b.shape, dtype=dtype) for b in bs]
            for i in order[k : k + batch]:
                activation, activations = xs[i], [xs[i]]
                for w, b in zip(ws, bs, strict=True):
                    activation = sigmoid(w @ activation + b)
                    activations.append(activation)
                delta = activations[-1] - ys[i]  # cross-entropy with a sigmoid output
                nabla_b[-1] += delta
                nabla_w[-1] += delta @ activations[-2].T
                for layer in range(2, len(SIZES)):
                    sp = activations[-layer] * (1 - activations[-layer])
                    delta = (ws[-layer + 1].T @ delta) * sp
                    nabla_b[-layer] += delta
                    nabla_w[-layer] += delta @ activations[-layer - 1].T
            m = len(order[k : k + batch])
            ws = [w - (LEARNING_RATE / m) * nw for w, nw in zip(ws, nabla_w, strict=True)]
            bs = [b - (LEARNING_RATE / m) * nb for b, nb in zip(bs, nabla_b, strict=True)]
    return (clock() - start) * len(x) / n


def run_sklearn(x: np.ndarray, labels: np.ndarray, batch: int, dtype: str) -> float:
    """One epoch of ``MLPClassifier.fit``, without its one-off setup (input validation,
    label binarisation, weight initialisation: about 8% of a one-epoch fit).

    The clock reads at the start of every mini-batch's ``_backprop``; the epoch is the
    span from the first to the last, scaled by n_batches / (n_batches - 1).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    marks: list[float] = []

    class TimedMLP(MLPClassifier):
        def _backprop(self, *args: object, **kwargs: object) -> object:
            marks.append(clock())
            return super()._backprop(*args, **kwargs)  # type: ignore[misc]

    clf = TimedMLP(
        hidden_layer_sizes=(SIZES[1],),
        activation="logistic",
        solver="sgd",
        batch_size=batch,
        learning_rate_init=LEARNING_RATE,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        max_iter=1,
        shuffle=True,
        random_state=1,
    )
    xd = x.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xd, labels)
    n_batches = len(marks)
    return (marks[-1] - marks[0]) * n_batches / (n_batches - 1)


def run_torch(x: np.ndarray, y: np.ndarray, batch: int, dtype: str, threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    tdt = getattr(torch, dtype)
    model = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Sigmoid(), torch.nn.Linear(SIZES[1], SIZES[2])
    ).to(tdt)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")  # Σ over outputs and samples
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    xt, yt = torch.from_numpy(x.astype(dtype)), torch.from_numpy(y.astype(dtype))
    n = len(xt)
    start = clock()
    perm = torch.randperm(n)
    for k in range(0, n, batch):
        idx = perm[k : k + batch]
        xb, yb = xt[idx], yt[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb) / len(idx)  # mean over samples of C_x
        loss.backward()
        opt.step()
    return clock() - start


def run_floor(x: np.ndarray, batch: int, dtype: str) -> float:
    """The five GEMMs of a step on contiguous batches and preallocated outputs."""
    rng = np.random.default_rng(1)
    xd = np.ascontiguousarray(x, dtype=dtype)
    w1 = rng.standard_normal((SIZES[0], SIZES[1])).astype(dtype)
    w2 = rng.standard_normal((SIZES[1], SIZES[2])).astype(dtype)
    h = np.empty((batch, SIZES[1]), dtype=dtype)
    out = np.empty((batch, SIZES[2]), dtype=dtype)
    d1 = np.empty_like(h)
    d2 = rng.standard_normal((batch, SIZES[2])).astype(dtype)
    g1, g2 = np.empty_like(w1), np.empty_like(w2)
    matmul = np.matmul
    n = len(xd)
    start = clock()
    for k in range(0, n, batch):
        xb = xd[k : k + batch]
        m = len(xb)
        hb, d1b, d2b = h[:m], d1[:m], d2[:m]
        matmul(xb, w1, out=hb)
        matmul(hb, w2, out=out[:m])
        matmul(d2b, w2.T, out=d1b)
        matmul(hb.T, d2b, out=g2)
        matmul(xb.T, d1b, out=g1)
    return clock() - start


# ----------------------------------------------------------------------------- the table
def blas_info() -> tuple[str, int]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install -e '.[bench]')", os.cpu_count() or 1
    np.ones((2, 2)) @ np.ones((2, 2))
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "no BLAS found by threadpoolctl", os.cpu_count() or 1
    text = "; ".join(
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')}, "
        f"{i.get('num_threads')} threads, {Path(i.get('filepath', '')).name})"
        for i in infos
    )
    return text, int(infos[0].get("num_threads") or 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 64, 256])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reference-fraction",
        type=float,
        default=0.05,
        help="share of the epoch the per-sample loop runs (extrapolated)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS and torch threads (default: what the BLAS uses)",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: this process's CPU time (for --threads 1 on a busy machine)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["engine-np", "per-sample", "sklearn", "torch"]
    )
    args = parser.parse_args(argv)

    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")
    blas, threads = blas_info()
    print(f"BLAS: {blas}")
    print(
        f"numpy {np.__version__}; {os.cpu_count()} CPUs; OPENBLAS_CORETYPE/L2_SIZE unset; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    torch_version = None
    if "torch" not in args.skip:
        try:
            import torch

            torch_version = torch.__version__
        except ImportError:
            args.skip.append("torch")
    try:
        import sklearn

        print(
            f"scikit-learn {sklearn.__version__}; torch {torch_version or 'not run'} "
            f"({threads} threads)"
        )
    except ImportError:
        args.skip.append("sklearn")
    x, y, labels = make_data(args.samples)
    print(
        f"784-100-10 sigmoid/sigmoid/cross_entropy, one epoch of {args.samples} samples, "
        f"best of {args.repeat}, {args.clock} clock; * = per-sample loop on "
        f"{args.reference_fraction:.0%} of the data, extrapolated\n"
    )
    header = (
        f"{'dtype':8} {'batch':>5}  {'contender':11} {'s/epoch':>9} {'samples/s':>11} "
        f"{'vs engine':>9} {'vs floor':>8}"
    )
    print(header)
    print("-" * len(header))
    for dtype in args.dtypes:
        for batch in args.batches:
            contenders: list[tuple[str, Callable[..., float], tuple[object, ...]]] = [
                ("engine", run_engine, (x, y, batch, dtype)),
                ("gemm floor", run_floor, (x, batch, dtype)),
            ]
            if "engine-np" not in args.skip:
                contenders.append(("engine-np", run_engine_matmul, (x, y, batch, dtype)))
            if "sklearn" not in args.skip:
                contenders.append(("sklearn", run_sklearn, (x, labels, batch, dtype)))
            if "torch" not in args.skip:
                contenders.append(("torch", run_torch, (x, y, batch, dtype, threads)))
            best = dict.fromkeys((name for name, _, _ in contenders), float("inf"))
            for _ in range(args.repeat):  # round-robin, so a busy spell hits everyone
                for name, fn, fn_args in contenders:
                    best[name] = min(best[name], fn(*fn_args))
            rows = list(best.items())
            if "per-sample" not in args.skip:
                rows.insert(
                    2, ("per-sample*", run_per_sample(x, y, batch, dtype, args.reference_fraction))
                )
            engine_t, floor_t = rows[0][1], rows[1][1]
            for name, t in rows:
                print(
                    f"{dtype:8} {batch:>5}  {name:11} {t:>9.3f} {args.samples / t:>11,.0f} "
                    f"{t / engine_t:>9.2f} {t / floor_t:>8.2f}",
                    flush=True,
                )
            print(flush=True)


if __name__ == "__main__":
    main()
