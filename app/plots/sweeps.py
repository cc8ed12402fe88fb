"""A sweep's plots (matplotlib, Agg): every trial's objective per epoch, and the objective
against each searched parameter. Takes plain data (``app.services.sweeps.PlotData``'s
parts as dicts and lists), returns the encoded image."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from app.plots.render import _LOCK, CLASS_COLOURS, _empty_note, _encode, _figure

PRUNED_COLOUR = "#9a9a9a"
FAILED_COLOUR = "#d62728"
TRIAL_COLOUR = CLASS_COLOURS[0]
BEST_COLOUR = CLASS_COLOURS[1]
MAX_PANELS = 12


def _label(value: Any) -> str:
    if isinstance(value, list):
        return "-".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value


def _metric_axis(ax: Any, metric: str, values: Sequence[float]) -> None:
    ax.set_ylabel(metric.replace("_", " "))
    if metric.endswith("accuracy"):
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    else:
        finite = [v for v in values if math.isfinite(v)]
        if finite and min(finite) > 0 and max(finite) / min(finite) > 20:
            ax.set_yscale("log")


def trials_plot(
    sweep: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]],
    curves: Mapping[int, Mapping[int, float | None]],
    *,
    fmt: str = "svg",
    width: int = 900,
    height: int = 480,
) -> bytes:
    """One line per trial (its objective per epoch). Completed and running trials in
    orange, the best one thick and blue; a pruned trial grey, ending in × at the epoch the pruner
    stopped it; a failed one red and dotted."""
    metric = sweep["objective"]["metric"]
    best = (sweep.get("best") or {}).get("number")
    with _LOCK:
        fig = _figure(width, height)
        ax = fig.subplots()
        counts = ", ".join(f"{n} {s}" for s, n in sorted(sweep["counts"].items()))
        fig.suptitle(f"sweep {sweep['name']} · {sweep['status']} · {counts or 'no trials yet'}")
        values: list[float] = []
        for trial in trials:
            curve = curves.get(trial["number"], {})
            points = sorted((e, v) for e, v in curve.items() if v is not None)
            if not points:
                continue
            xs, ys = [p[0] for p in points], [float(p[1]) for p in points]
            values += ys
            status = trial["status"]
            if status == "pruned":
                ax.plot(xs, ys, color=PRUNED_COLOUR, linewidth=1.0, alpha=0.8)
                ax.plot(xs[-1:], ys[-1:], marker="x", color="#333333", markersize=7, ls="")
            elif status in ("failed", "cancelled"):
                ax.plot(xs, ys, color=FAILED_COLOUR, linewidth=1.0, linestyle=":")
            else:
                thick = trial["number"] == best
                ax.plot(
                    xs,
                    ys,
                    color=BEST_COLOUR if thick else TRIAL_COLOUR,
                    linewidth=3.0 if thick else 1.2,
                    zorder=3 if thick else 2,
                )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _metric_axis(ax, metric, values)
        if not values:
            _empty_note(ax, "no epochs recorded yet")
        else:
            handles = [
                Line2D([], [], color=TRIAL_COLOUR, linewidth=1.2, label="completed / running"),
                Line2D(
                    [],
                    [],
                    color=PRUNED_COLOUR,
                    marker="x",
                    markeredgecolor="#333333",
                    label="pruned (× where stopped)",
                ),  # fmt: skip
                Line2D([], [], color=FAILED_COLOUR, linestyle=":", label="failed / cancelled"),
            ]
            if best is not None:
                handles.insert(0, Line2D([], [], color=BEST_COLOUR, linewidth=3.0,
                                         label=f"best: trial {best}"))  # fmt: skip
            ax.legend(handles=handles, loc="best", fontsize=8)
        return _encode(fig, fmt)


def params_plot(
    sweep: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]],
    *,
    fmt: str = "svg",
    width: int = 900,
    height: int = 420,
) -> bytes:
    """One panel per searched path: each ended trial's objective value against the
    trial's value of that path (completed filled, pruned hollow, the best as a star).
    Choices are categories, log_uniform and log ints a log axis."""
    space: Mapping[str, Mapping[str, Any]] = sweep["space"]
    metric = sweep["objective"]["metric"]
    best = (sweep.get("best") or {}).get("number")
    # At most one panel per 150 pixels (and 12 in all): a large space shows its first paths.
    paths = sorted(space)[: max(1, min(MAX_PANELS, width // 150))]
    shown = "" if len(paths) == len(space) else f" (the first {len(paths)} of {len(space)})"
    scored = [t for t in trials if t.get("value") is not None]
    with _LOCK:
        fig = _figure(width, height)
        axes = fig.subplots(1, len(paths), squeeze=False, sharey=True)[0]
        fig.suptitle(f"sweep {sweep['name']} · {metric.replace('_', ' ')} by parameter{shown}")
        values = [float(t["value"]) for t in scored]
        for ax, path in zip(axes, paths, strict=True):
            dim = space[path]
            choices = dim.get("values") if dim["type"] == "choice" else None
            for trial in scored:
                raw = trial["params"].get(path)
                x = choices.index(raw) if choices is not None and raw in choices else raw
                done = trial["status"] != "pruned"
                style: dict[str, Any] = {
                    "marker": "*" if trial["number"] == best else "o",
                    "markersize": 13 if trial["number"] == best else 6,
                    "markerfacecolor": CLASS_COLOURS[1] if done else "none",
                    "markeredgecolor": CLASS_COLOURS[1] if done else PRUNED_COLOUR,
                    "linestyle": "",
                }
                ax.plot([x], [float(trial["value"])], **style)
            ax.set_xlabel(path)
            if choices is not None:
                ax.set_xticks(range(len(choices)))
                ax.set_xticklabels([_label(c) for c in choices], rotation=30, fontsize=8)
                ax.set_xlim(-0.5, len(choices) - 0.5)
            elif dim["type"] == "log_uniform" or dim.get("log"):
                ax.set_xscale("log")
        _metric_axis(axes[0], metric, values)
        if not scored:
            _empty_note(axes[0], "no trial has ended yet")
        else:
            axes[-1].legend(
                handles=[
                    Line2D([], [], marker="o", ls="", color=CLASS_COLOURS[1], label="completed"),
                    Line2D(
                        [],
                        [],
                        marker="o",
                        ls="",
                        markerfacecolor="none",
                        markeredgecolor=PRUNED_COLOUR,
                        label="pruned (last value)",
                    ),
                ],  # fmt: skip
                loc="best",
                fontsize=8,
            )
        return _encode(fig, fmt)
