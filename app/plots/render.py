"""Drawing with matplotlib's object API on the Agg canvas (no pyplot, no global state).

Every function returns the encoded image as bytes, `fmt` "svg" or "png". Sizes are in
pixels at 100 dpi, so a PNG is exactly `width` x `height` and an SVG is
`width * 0.72` x `height * 0.72` points (matplotlib writes SVG sizes in pt, 72 per inch).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import ListedColormap, to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from app.plots.grid import BoundaryGrid, target_labels  # noqa: E402

DPI = 100
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
TRAIN_STYLE: dict[str, Any] = {"linestyle": "-", "linewidth": 1.8}
VALIDATION_STYLE: dict[str, Any] = {"linestyle": "--", "linewidth": 1.8}
# Playground-like colours: orange for class 0 / low output, blue for class 1 / high output.
ORANGE, BLUE = "#f59322", "#0877bd"
CLASS_COLOURS = [
    ORANGE,
    BLUE,
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]

# Font caches and the mathtext parser are shared module state in matplotlib; one figure
# at a time keeps concurrent requests (FastAPI's thread pool) from stepping on each other.
_LOCK = threading.Lock()
matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",  # text stays text: small files, selectable labels
        "svg.hashsalt": "backprop",  # deterministic ids inside the SVG
        "font.size": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }
)


@dataclass(frozen=True)
class Series:
    """One job's curve for a comparison plot."""

    label: str
    metrics: Sequence[dict]


def _encode(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
    return buf.getvalue()


def _figure(width: int, height: int) -> Figure:
    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def _column(metrics: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    pairs = [(m["epoch"], m[key]) for m in metrics if m.get(key) is not None]
    return [p[0] for p in pairs], [float(p[1]) for p in pairs]


def _has(metrics: Sequence[dict], key: str) -> bool:
    return any(m.get(key) is not None for m in metrics)


def _style_loss_axis(ax, values: list[float]) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean cost per sample)")
    ax.set_title("Loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    positive = [v for v in values if np.isfinite(v)]
    if positive and min(positive) > 0 and max(positive) / min(positive) > 20:
        ax.set_yscale("log")


def _style_accuracy_axis(ax) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0))


def _empty_note(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#666666",
        fontsize=12,
    )
    ax.set_xlim(0, 1)


def loss_plot(
    metrics: Sequence[dict],
    *,
    title: str,
    fmt: str = "svg",
    width: int = 900,
    height: int = 420,
) -> bytes:
    """Train and validation loss (left) and accuracy (right, when there is any) per epoch."""
    with _LOCK:
        fig = _figure(width, height)
        with_accuracy = _has(metrics, "train_accuracy") or _has(metrics, "validation_accuracy")
        axes = fig.subplots(1, 2 if with_accuracy else 1, squeeze=False)[0]
        fig.suptitle(title)
        loss_values: list[float] = []
        for key, label, style in (
            ("train_loss", "train", TRAIN_STYLE),
            ("validation_loss", "validation", VALIDATION_STYLE),
        ):
            xs, ys = _column(metrics, key)
            if xs:
                axes[0].plot(xs, ys, label=label, marker="." if len(xs) < 40 else None, **style)
                loss_values += ys
        _style_loss_axis(axes[0], loss_values)
        if not metrics:
            _empty_note(axes[0], "no epochs recorded yet")
        elif loss_values:
            axes[0].legend(loc="upper right")
        if with_accuracy:
            for key, label, style in (
                ("train_accuracy", "train", TRAIN_STYLE),
                ("validation_accuracy", "validation", VALIDATION_STYLE),
            ):
                xs, ys = _column(metrics, key)
                if xs:
                    axes[1].plot(xs, ys, label=label, marker="." if len(xs) < 40 else None, **style)
            _style_accuracy_axis(axes[1])
            axes[1].legend(loc="lower right")
        return _encode(fig, fmt)


def comparison_plot(
    series: Sequence[Series],
    *,
    fmt: str = "svg",
    width: int = 900,
    height: int = 420,
) -> bytes:
    """Loss (and accuracy) curves of several jobs on shared axes, one colour per job.

    Solid lines are training, dashed lines validation (when the job has a split).
    """
    with _LOCK:
        fig = _figure(width, height)
        with_accuracy = any(_has(s.metrics, "train_accuracy") for s in series)
        axes = fig.subplots(1, 2 if with_accuracy else 1, squeeze=False)[0]
        fig.suptitle(f"Comparison of {len(series)} job{'s' if len(series) != 1 else ''}")
        loss_values: list[float] = []
        handles = []
        for i, s in enumerate(series):
            colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
            for key, style in (("train_loss", TRAIN_STYLE), ("validation_loss", VALIDATION_STYLE)):
                xs, ys = _column(s.metrics, key)
                if xs:
                    axes[0].plot(xs, ys, color=colour, **style)
                    loss_values += ys
            if with_accuracy:
                for key, style in (
                    ("train_accuracy", TRAIN_STYLE),
                    ("validation_accuracy", VALIDATION_STYLE),
                ):
                    xs, ys = _column(s.metrics, key)
                    if xs:
                        axes[1].plot(xs, ys, color=colour, **style)
            handles.append(Line2D([], [], color=colour, label=s.label, **TRAIN_STYLE))
        _style_loss_axis(axes[0], loss_values)
        if with_accuracy:
            _style_accuracy_axis(axes[1])
        handles += [
            Line2D([], [], color="#444444", label="train", **TRAIN_STYLE),
            Line2D([], [], color="#444444", label="validation", **VALIDATION_STYLE),
        ]
        axes[-1].legend(handles=handles, loc="best", fontsize=8)
        return _encode(fig, fmt)


def _class_image(grid: BoundaryGrid) -> np.ndarray:
    """RGB image: the predicted class's colour, paler where the network is unsure."""
    outputs = grid.outputs
    labels = grid.labels
    if outputs.shape[2] == 1:
        confidence = np.abs(outputs[:, :, 0] - 0.5) * 2
    else:
        confidence = np.clip(outputs.max(axis=2), 0, 1)
    colours = np.array(
        [to_rgb(CLASS_COLOURS[c % len(CLASS_COLOURS)]) for c in range(max(outputs.shape[2], 2))]
    )
    rgb = colours[labels]
    strength = (0.25 + 0.6 * np.clip(confidence, 0, 1))[:, :, None]
    return 1 - strength * (1 - rgb)  # blend towards white


def decision_boundary_plot(
    grid: BoundaryGrid,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    task: str,
    classes: list[str] | None,
    title: str,
    width: int = 600,
    height: int = 600,
) -> bytes:
    """The network's output over the input plane as a PNG, training points on top."""
    with _LOCK:
        fig = _figure(width, height)
        ax = fig.subplots()
        extent = (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
        if task == "classification":
            ax.imshow(
                _class_image(grid),
                origin="lower",
                extent=extent,
                aspect="auto",
                interpolation="bilinear",
            )
            if grid.outputs.shape[2] == 1:
                ax.contour(
                    grid.xs,
                    grid.ys,
                    grid.outputs[:, :, 0],
                    levels=[0.5],
                    colors="#333333",
                    linewidths=1,
                )
            point_labels = target_labels(targets)
            n_classes = max(int(point_labels.max()) + 1, grid.outputs.shape[2], 2)
            cmap = ListedColormap([CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in range(n_classes)])
            ax.scatter(
                inputs[:, 0],
                inputs[:, 1],
                c=point_labels,
                cmap=cmap,
                vmin=-0.5,
                vmax=n_classes - 0.5,
                s=22,
                edgecolors="#222222",
                linewidths=0.6,
            )
            names = classes or [str(c) for c in range(n_classes)]
            ax.legend(
                handles=[
                    Line2D(
                        [],
                        [],
                        marker="o",
                        linestyle="",
                        markersize=6,
                        color=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                        markeredgecolor="#222222",
                        label=names[c],
                    )
                    for c in range(min(n_classes, len(names)))
                ],
                loc="upper right",
                fontsize=8,
                title="class",
            )
        else:
            values = grid.outputs[:, :, 0]
            lo = float(min(values.min(), targets[:, 0].min()))
            hi = float(max(values.max(), targets[:, 0].max()))
            image = ax.imshow(
                values,
                origin="lower",
                extent=extent,
                aspect="auto",
                cmap="PuOr",
                vmin=lo,
                vmax=hi,
                interpolation="bilinear",
            )
            ax.scatter(
                inputs[:, 0],
                inputs[:, 1],
                c=targets[:, 0],
                cmap="PuOr",
                vmin=lo,
                vmax=hi,
                s=18,
                edgecolors="#333333",
                linewidths=0.6,
            )
            fig.colorbar(image, ax=ax, label="network output")
        ax.grid(False)
        ax.set_xlabel("x₁ (input 1)")
        ax.set_ylabel("x₂ (input 2)")
        ax.set_title(title)
        return _encode(fig, "png")
