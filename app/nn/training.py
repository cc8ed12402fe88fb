"""The training loop: seeded mini-batch epochs, metrics, schedules, checkpoints.

It knows nothing of HTTP or SQL: it reports through ``on_epoch_end(metrics, state)``
and asks ``should_stop()`` after every mini-batch; it can hand out and resume from a
:class:`TrainState` such that an interrupted run that resumes ends with exactly the
weights and metrics of an uninterrupted one.

Reproducibility: the validation split is a permutation from ``SeedSequence(seed)``'s
first spawned child; the epoch shuffles come from ``np.random.Generator(PCG64(seed))``,
whose state is part of the checkpoint (taken at the start of the current epoch, so a
mid-epoch resume re-draws the same permutation and skips the batches already done).

Metrics (docs/design.md §1): ``train_loss``/``train_accuracy`` come from the outputs the
training steps compute anyway (each step writes its batch's outputs into an epoch
buffer; loss and accuracy are computed from that buffer at the epoch's end, the loss
summing the cost's terms over cache-sized row blocks, the accuracy against target labels
taken once per ``train``),
``validation_*`` from one forward pass over the validation split after the epoch.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.nn.activations import Activation, Array
from app.nn.backprop import Backprop, with_ones
from app.nn.costs import Cost
from app.nn.errors import DivergenceError, SpecError
from app.nn.network import Network, predict_labels
from app.nn.optimizers import OPTIMIZERS, Optimizer
from app.nn.schedules import SCHEDULES
from app.nn.spec import NetworkSpec, TrainingConfig, split_sizes

Task = Literal["classification", "regression"]

#: A unit counts as saturated when σ'(z) is below this fraction of σ''s maximum.
SATURATION_THRESHOLD = 0.01
_SIGMA_PRIME_MAX = {"sigmoid": 0.25, "tanh": 1.0}
#: Config fields that may differ between a checkpoint and the run resuming from it.
_RESUMABLE_CHANGES = frozenset({"epochs"})
#: Elements per block when the epoch's loss is computed in row blocks: the cost's
#: buffers (a few hundred KB) then stay in the CPU cache instead of being fresh,
#: page-faulting memory the size of the epoch's outputs.
_METRIC_BLOCK_ELEMENTS = 1 << 16


@dataclass
class EpochMetrics:
    """What one epoch reports. ``health`` holds training health per weight layer."""

    epoch: int
    train_loss: float
    train_accuracy: float | None
    validation_loss: float | None
    validation_accuracy: float | None
    learning_rate: float
    seconds: float
    health: list[dict[str, float | None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_accuracy": self.train_accuracy,
            "validation_loss": self.validation_loss,
            "validation_accuracy": self.validation_accuracy,
            "learning_rate": self.learning_rate,
            "seconds": self.seconds,
            "health": [dict(layer) for layer in self.health],
        }


@dataclass
class TrainState:
    """Everything needed to continue a run exactly where it stopped.

    ``epoch`` counts completed epochs, ``batch`` the mini-batches done in the current
    one (0 at an epoch boundary). ``partial_outputs`` holds the outputs of those batches
    (so the epoch's train loss comes out bit-identical after a resume).
    """

    epoch: int
    batch: int
    network: Network
    optimizer: dict[str, NDArray[Any]]
    rng_state: dict[str, Any]
    learning_rate: float
    schedule: dict[str, float | int]
    config: dict[str, Any]
    n_train: int
    partial_outputs: Array | None = None

    def to_bytes(self) -> bytes:
        """An .npz (no pickle): JSON metadata plus every array."""
        meta = {
            "version": 1,
            "epoch": self.epoch,
            "batch": self.batch,
            "rng_state": self.rng_state,
            "learning_rate": self.learning_rate,
            "schedule": self.schedule,
            "config": self.config,
            "n_train": self.n_train,
            "spec": self.network.spec.to_dict(),
            "dtype": self.network.dtype,
        }
        arrays: dict[str, Any] = {"meta": np.asarray(json.dumps(meta))}
        for i, (w, b) in enumerate(zip(self.network.wt, self.network.biases, strict=True)):
            arrays[f"wt_{i}"] = w
            arrays[f"b_{i}"] = b
        for key, value in self.optimizer.items():
            arrays[f"opt_{key}"] = value
        if self.partial_outputs is not None:
            arrays["partial_outputs"] = self.partial_outputs
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainState:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (ValueError, OSError, EOFError, KeyError) as exc:
            raise SpecError("resume", f"not a readable checkpoint ({exc})") from None
        spec = NetworkSpec.from_dict(meta["spec"])
        n_layers = len(spec.sizes) - 1
        net = Network(
            spec,
            [arrays[f"wt_{i}"] for i in range(n_layers)],
            [arrays[f"b_{i}"] for i in range(n_layers)],
            meta["dtype"],
        )
        opt = {k.removeprefix("opt_"): v for k, v in arrays.items() if k.startswith("opt_")}
        return cls(
            epoch=meta["epoch"],
            batch=meta["batch"],
            network=net,
            optimizer=opt,
            rng_state=meta["rng_state"],
            learning_rate=meta["learning_rate"],
            schedule=meta["schedule"],
            config=meta["config"],
            n_train=meta["n_train"],
            partial_outputs=arrays.get("partial_outputs"),
        )


@dataclass
class TrainResult:
    network: Network
    metrics: list[EpochMetrics]
    interrupted: bool
    stopped_early: bool
    state: TrainState


def train(
    spec: NetworkSpec,
    config: TrainingConfig,
    inputs: ArrayLike,
    targets: ArrayLike,
    *,
    task: Task = "classification",
    initial_weights: list[dict[str, Any]] | None = None,
    resume: TrainState | None = None,
    on_epoch_end: Callable[[EpochMetrics, TrainState], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train ``spec`` on (inputs, targets) following ``config``; see the module docstring.

    ``initial_weights`` (the weights document's ``layers`` list) starts from given
    weights; ``resume`` continues a checkpoint (its weights win over ``initial_weights``).
    Raises SpecError for a bad spec, config, data or checkpoint, DivergenceError when the
    loss or a weight becomes non-finite (naming the epoch).
    """
    x, y = _check_data(spec, inputs, targets)
    config.check_split(x.shape[0])
    if task not in ("classification", "regression"):
        raise SpecError("task", f"{task!r} is not one of classification, regression")
    loop = _Loop(spec, config, x, y, task, initial_weights, resume)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return loop.run(on_epoch_end, should_stop)


def _check_data(spec: NetworkSpec, inputs: ArrayLike, targets: ArrayLike) -> tuple[Array, Array]:
    x = np.asarray(inputs)
    y = np.asarray(targets)
    if x.ndim != 2 or x.shape[1] != spec.sizes[0]:
        raise SpecError(
            "network.sizes",
            f"sizes[0] is {spec.sizes[0]} but the inputs have shape {'x'.join(map(str, x.shape))}",
        )
    if y.ndim == 1 and spec.sizes[-1] == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != spec.sizes[-1]:
        raise SpecError(
            "network.sizes",
            f"sizes[-1] is {spec.sizes[-1]} but the targets have "
            f"shape {'x'.join(map(str, y.shape))}",
        )
    if y.shape[0] != x.shape[0]:
        raise SpecError("targets", f"{y.shape[0]} target rows for {x.shape[0]} input rows")
    if x.shape[0] == 0:
        raise SpecError("inputs", "no samples")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise SpecError("inputs", "contains a non-finite number")
    return x, y


class _Loop:
    """One call of :func:`train`: the data split, the network, optimizer and state."""

    def __init__(
        self,
        spec: NetworkSpec,
        config: TrainingConfig,
        x: Array,
        y: Array,
        task: Task,
        initial_weights: list[dict[str, Any]] | None,
        resume: TrainState | None,
    ) -> None:
        self.spec, self.config, self.task = spec, config, task
        # Every field is a scalar: a shallow copy per checkpoint state is a deep one, and
        # dataclasses.asdict once per epoch cost more than the rest of a tiny epoch.
        self.config_dict = config.to_dict()
        dt = config.dtype
        n_val, n_train = split_sizes(x.shape[0], config.validation_fraction)
        self.x_val: Array | None = None
        self.y_val: Array | None = None
        if n_val:
            split_rng = np.random.Generator(
                np.random.PCG64(np.random.SeedSequence(config.seed).spawn(1)[0])
            )
            order = split_rng.permutation(x.shape[0])
            val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
            self.x_val = np.ascontiguousarray(x[val_idx], dtype=dt)
            self.y_val = np.ascontiguousarray(y[val_idx], dtype=dt)
            self.x_train1 = with_ones(x[train_idx], dt)
            self.y_train = np.ascontiguousarray(y[train_idx], dtype=dt)
        else:
            self.x_train1 = with_ones(x, dt)
            self.y_train = np.ascontiguousarray(y, dtype=dt)
        self.n_train = n_train
        # Target labels for the accuracy metrics, taken once (argmax over 10 columns
        # costs about as much per row as the epoch's shuffle).
        classify = task == "classification"
        self.labels_train = predict_labels(self.y_train) if classify else None
        self.labels_val = (
            predict_labels(self.y_val) if classify and self.y_val is not None else None
        )
        self.rng = np.random.Generator(np.random.PCG64(config.seed))

        if resume is not None:
            self.net = self._check_resume(resume)
        elif initial_weights is not None:
            self.net = Network.from_layers(spec, initial_weights, dt)
        else:
            self.net = Network.initialize(spec, seed=config.seed, dtype=dt)
        self.params = self.net.params
        self.optimizer: Optimizer = OPTIMIZERS[config.optimizer](
            self.params,
            learning_rate=config.learning_rate,
            l2=config.l2,
            n=n_train,
            momentum=config.momentum,
            nesterov=config.nesterov,
            beta1=config.beta1,
            beta2=config.beta2,
            epsilon=config.epsilon,
        )
        self.epoch, self.batch = 0, 0
        self.base_lr = float(config.learning_rate)
        self.schedule: dict[str, float | int] = {
            "plateau_best": math.inf,
            "plateau_wait": 0,
            "stop_best": math.inf,
            "stop_wait": 0,
        }
        self.partial: Array | None = None
        if resume is not None:
            self.optimizer.load_state(resume.optimizer)
            self.rng.bit_generator.state = resume.rng_state
            self.epoch, self.batch = resume.epoch, resume.batch
            self.base_lr = resume.learning_rate
            self.schedule = dict(resume.schedule)
            self.partial = resume.partial_outputs
        self.bp = Backprop(self.net, config.batch_size)
        self.out_epoch = np.empty((n_train, spec.sizes[-1]), dtype=dt)

    def _check_resume(self, state: TrainState) -> Network:
        if state.network.spec.to_dict() != self.spec.to_dict() and (
            state.network.sizes != self.spec.sizes
            or state.network.activations != self.spec.layer_activations
            or state.network.cost != self.spec.cost
        ):
            raise SpecError("resume", "checkpoint was made for a different network spec")
        mine = self.config.to_dict()
        for key, value in state.config.items():
            if key not in _RESUMABLE_CHANGES and mine.get(key) != value:
                raise SpecError(
                    "resume",
                    f"checkpoint was made with training.{key}={value!r}, not {mine.get(key)!r}",
                )
        if state.n_train != self.n_train:
            raise SpecError(
                "resume",
                f"checkpoint was made on {state.n_train} training samples, not {self.n_train}",
            )
        return state.network.copy()

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        on_epoch_end: Callable[[EpochMetrics, TrainState], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> TrainResult:
        cfg = self.config
        metrics: list[EpochMetrics] = []
        stopped_early = False
        while self.epoch < cfg.epochs and not stopped_early:
            epoch = self.epoch + 1
            lr = self._learning_rate(epoch)
            self.optimizer.learning_rate = lr
            started = time.perf_counter()
            epoch_rng_state = self.rng.bit_generator.state
            perm = self.rng.permutation(self.n_train) if cfg.shuffle else np.arange(self.n_train)
            y_epoch = np.take(self.y_train, perm, axis=0)  # 5x faster than y_train[perm]
            health_before = self._train_batches(perm, y_epoch, should_stop)
            if self.batch < self._n_batches():  # interrupted mid-epoch
                self.rng.bit_generator.state = epoch_rng_state
                state = self._state(epoch_rng_state, partial=self.batch * cfg.batch_size)
                return TrainResult(self.net, metrics, True, False, state)
            m = self._epoch_metrics(epoch, lr, perm, y_epoch, health_before, started)
            self.epoch, self.batch, self.partial = epoch, 0, None
            stopped_early = self._update_schedule(m)
            state = self._state(self.rng.bit_generator.state)
            metrics.append(m)
            if on_epoch_end is not None:
                on_epoch_end(m, state)
            if self._stop_requested and self.epoch < cfg.epochs and not stopped_early:
                return TrainResult(self.net, metrics, True, False, state)
        state = self._state(self.rng.bit_generator.state)
        return TrainResult(self.net, metrics, False, stopped_early, state)

    def _n_batches(self) -> int:
        return -(-self.n_train // self.config.batch_size)

    def _train_batches(
        self, perm: NDArray[np.intp], y_epoch: Array, should_stop: Callable[[], bool] | None
    ) -> list[Array]:
        """Run the epoch's remaining mini-batches; return the last step's old weights."""
        bs, n = self.config.batch_size, self.n_train
        n_batches = self._n_batches()
        self._stop_requested = False
        if self.partial is not None and self.batch:
            self.out_epoch[: self.partial.shape[0]] = self.partial
        x_train1, out_epoch = self.x_train1, self.out_epoch
        bp, opt, params, grads = self.bp, self.optimizer, self.params, self.bp.grads
        x_batch = bp.x_batch
        forward, backward, update, grad_scale = bp.forward, bp.backward, opt.update, opt.grad_scale
        # Plain SGD steps inside the gradient products, except on the epoch's last batch,
        # whose gradients the health metrics read.
        descend = opt.weight_factor() if opt.fused_in_backprop else None
        take = np.take
        before: list[Array] = []
        for k in range(self.batch, n_batches):
            s = k * bs
            e = min(s + bs, n)
            m = e - s
            xb = x_batch[:m]
            # mode="clip": the indices are valid, and "raise" would buffer the copy
            take(x_train1, perm[s:e], axis=0, out=xb, mode="clip")
            scale = grad_scale(m)
            if descend is not None and k != n_batches - 1:
                backward(forward(xb, out_epoch[s:e]), y_epoch[s:e], scale, descend=descend)
            else:
                backward(forward(xb, out_epoch[s:e]), y_epoch[s:e], scale)
                if k == n_batches - 1:  # health metrics come from the epoch's last batch
                    before = [p[:-1].copy() for p in params]
                    self._grad_norms = [_norm(g[:-1]) / (m * scale) for g in grads]
                update(params, grads, m)
            self.batch = k + 1
            if should_stop is not None and should_stop():
                self._stop_requested = True
                if k + 1 < n_batches:
                    break
        return before

    def _learning_rate(self, epoch: int) -> float:
        return SCHEDULES[self.config.lr_schedule].learning_rate(epoch, self.base_lr, self.config)

    def _epoch_metrics(
        self,
        epoch: int,
        lr: float,
        perm: NDArray[np.intp],
        y_epoch: Array,
        before: list[Array],
        started: float,
    ) -> EpochMetrics:
        cost = self.net.cost_object
        out = self.out_epoch
        output = self.net.layer_activation_objects[-1]
        train_loss = _mean_cost(cost, out, y_epoch, output)
        bad = [i for i, p in enumerate(self.net.params) if not np.isfinite(p).all()]
        if not math.isfinite(train_loss) or bad:
            what = (
                f"train loss is {train_loss}"
                if not math.isfinite(train_loss)
                else f"layer {bad[0] + 1} weights or biases are not finite"
            )
            raise DivergenceError(
                epoch,
                f"training diverged at epoch {epoch}: {what}; "
                f"try a lower learning_rate (now {round(lr, 12)!r})",
            )
        labels = self.labels_train
        classify = labels is not None
        train_acc = _accuracy(out, labels[perm]) if labels is not None else None
        val_loss = val_acc = None
        if self.x_val is not None and self.y_val is not None:
            val_out = self.net.forward(self.x_val)
            val_loss = _mean_cost(cost, val_out, self.y_val, output)
            val_acc = _accuracy(val_out, self.labels_val) if classify else None
        return EpochMetrics(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_acc,
            validation_loss=val_loss,
            validation_accuracy=val_acc,
            learning_rate=lr,
            seconds=time.perf_counter() - started,
            health=self._health(before),
        )

    def _health(self, before: list[Array]) -> list[dict[str, float | None]]:
        """Per layer, from the epoch's last mini-batch (cheap: no extra pass).

        grad_norm: ‖(1/m) Σ ∂C_x/∂W‖ (Frobenius) on that batch; update_ratio: ‖ΔW‖/‖W‖
        of its update; saturated_fraction (sigmoid/tanh layers): share of the batch's
        unit activations with σ'(z) < 1% of σ''s maximum; dead_fraction (relu layers):
        share of units inactive (a = 0) for every sample of that batch. None when the
        metric does not apply to the layer's activation.
        """
        m = self.n_train - (self._n_batches() - 1) * self.config.batch_size
        layers = []
        outs = [*(a[:m, :-1] for a in self.bp.a_buf), self.out_epoch[-m:]]
        for i, (w, name) in enumerate(zip(self.net.wt, self.net.activations, strict=True)):
            w_norm = _norm(before[i])
            ratio = _norm(w - before[i]) / w_norm if w_norm else None
            a = outs[i]
            saturated = dead = None
            if name in _SIGMA_PRIME_MAX:
                deriv = a * (1.0 - a) if name == "sigmoid" else 1.0 - a * a
                limit = SATURATION_THRESHOLD * _SIGMA_PRIME_MAX[name]
                saturated = _share(deriv < limit)
            elif name == "relu":
                dead = _share(~(a > 0).any(axis=0))
            layers.append(
                {
                    "grad_norm": self._grad_norms[i],
                    "update_ratio": ratio,
                    "saturated_fraction": saturated,
                    "dead_fraction": dead,
                }
            )
        return layers

    def _update_schedule(self, m: EpochMetrics) -> bool:
        """The schedule's end-of-epoch step and early stopping, on the monitored loss;
        True means stop."""
        cfg, s = self.config, self.schedule
        loss = m.validation_loss if m.validation_loss is not None else m.train_loss
        self.base_lr = SCHEDULES[cfg.lr_schedule].end_of_epoch(loss, self.base_lr, s, cfg)
        if cfg.early_stopping_patience is not None:
            if loss < s["stop_best"] - cfg.early_stopping_min_delta:
                s["stop_best"], s["stop_wait"] = loss, 0
            else:
                s["stop_wait"] = int(s["stop_wait"]) + 1
            return int(s["stop_wait"]) >= cfg.early_stopping_patience
        return False

    def _state(self, rng_state: Mapping[str, Any], partial: int = 0) -> TrainState:
        return TrainState(
            epoch=self.epoch,
            batch=self.batch,
            network=self.net.copy(),
            optimizer={k: v.copy() for k, v in self.optimizer.state().items()},
            rng_state=_plain(rng_state),
            learning_rate=self.base_lr,
            schedule=dict(self.schedule),
            config=dict(self.config_dict),
            n_train=self.n_train,
            partial_outputs=self.out_epoch[:partial].copy() if partial else None,
        )


def _mean_cost(cost: Cost, outputs: Array, targets: Array, activation: Activation) -> float:
    """The mean of ``cost.fn(outputs, targets)``: the cost's terms summed over row blocks
    (into one reused buffer), the block sums added in float64, divided by the rows.
    ``activation`` is the output layer's (a softmax layer's ``1 − a`` comes from the other
    units' outputs, exact where a subtraction from 1 would round to 0)."""
    n = outputs.shape[0]
    step = max(1, _METRIC_BLOCK_ELEMENTS // max(1, outputs.shape[1]))
    buf = np.empty((min(n, step), outputs.shape[1]), dtype=outputs.dtype)
    total = 0.0
    for s in range(0, n, step):
        block = outputs[s : s + step]
        terms = cost.terms(
            block, targets[s : s + step], out=buf[: block.shape[0]], activation=activation
        )
        total += float(terms.sum())
    return total / n


def _accuracy(outputs: Array, labels: NDArray[np.int64] | None) -> float:
    """Share of rows whose predicted label is ``labels`` (the targets' labels)."""
    return _share(predict_labels(outputs) == labels)


def _norm(a: Array) -> float:
    """``float(np.linalg.norm(a))`` (Frobenius), computed the same way (the square root
    of the flattened array's dot product with itself, in its dtype) without the
    function's argument handling, which costs more than the product at these sizes."""
    flat = a.ravel(order="K")
    return float(np.sqrt(flat.dot(flat)))


def _share(flags: NDArray[np.bool_] | np.bool_) -> float:
    """``float(np.mean(flags))``: the count of True over the size, both exact."""
    return int(np.count_nonzero(flags)) / np.size(flags)


def _plain(obj: Any) -> Any:
    """A deep copy of an RNG state made of plain JSON-able values (tuples as lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
