"""The multilayer perceptron: parameters, forward pass, prediction and serialization.

Internally, layer ``l`` keeps ``W_l`` transposed with the biases appended as a last row,
``[Wᵀ_l; b_l]`` of shape ``(n_{l-1} + 1, n_l)``, C-contiguous, so a batch whose rows are
samples goes forward as ``a_l = σ([a_{l-1}, 1] @ [Wᵀ_l; b_l])``. Nielsen's orientation
``(n_l, n_{l-1})`` appears only at the API boundary: ``weights`` (views),
``to_document``/``from_document``, ``to_npz``/``from_npz``, ``from_layers``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.nn.activations import (
    ACTIVATIONS,
    HIDDEN_ACTIVATIONS,
    OUTPUT_ACTIVATIONS,
    Activation,
    Array,
)
from app.nn.costs import COSTS, Cost
from app.nn.errors import SpecError
from app.nn.init import INITIALIZERS
from app.nn.spec import DTYPES, NetworkSpec

#: Rows per chunk when predicting on many samples (bounds temporary memory).
CHUNK_ROWS = 8192


class Network:
    """Weights and biases of an MLP plus its activations and cost.

    Build one with :meth:`initialize`, :meth:`from_layers`, :meth:`from_document` or
    :meth:`from_npz`.
    """

    def __init__(self, spec: NetworkSpec, wt: list[Array], biases: list[Array], dtype: str) -> None:
        self.spec = spec
        self.sizes: list[int] = list(spec.sizes)
        self.activations: list[str] = spec.layer_activations
        self.cost: str = spec.cost
        self.dtype: str = dtype
        #: One array per layer, ``[Wᵀ_l; b_l]`` of shape (n_{l-1} + 1, n_l): the biases are
        #: the last row, so a batch with a column of ones appended goes through a layer in
        #: one matrix product, and its gradient (weights and biases) is one product too.
        self.params: list[Array] = [
            np.ascontiguousarray(
                np.vstack([np.asarray(w), np.asarray(b).reshape(1, -1)]), dtype=dtype
            )
            for w, b in zip(wt, biases, strict=True)
        ]

    @property
    def wt(self) -> list[Array]:
        """Per layer, Wᵀ_l of shape (n_{l-1}, n_l): views into ``params`` (no copy)."""
        return [p[:-1] for p in self.params]

    @property
    def biases(self) -> list[Array]:
        """Per layer, b_l of shape (n_l,): views into ``params`` (no copy)."""
        return [p[-1] for p in self.params]

    # ----------------------------------------------------------------- construction
    @classmethod
    def initialize(cls, spec: NetworkSpec, *, seed: int, dtype: str = "float64") -> Network:
        """Random weights from ``spec.init``, reproducible from ``seed`` in any dtype."""
        _check_dtype(dtype)
        rng = np.random.Generator(np.random.PCG64(seed))
        init = INITIALIZERS[spec.init]
        wt, bs = [], []
        for n_in, n_out in zip(spec.sizes[:-1], spec.sizes[1:], strict=True):
            w, b = init(rng, n_in, n_out)
            wt.append(np.ascontiguousarray(w.T, dtype=dtype))
            bs.append(np.ascontiguousarray(b, dtype=dtype))
        return cls(spec, wt, bs, dtype)

    @classmethod
    def from_layers(
        cls,
        spec: NetworkSpec,
        layers: Sequence[dict[str, Any]],
        dtype: str = "float64",
        *,
        field: str = "initial_weights",
    ) -> Network:
        """Weights given as the weights document's ``layers`` list (Nielsen orientation).

        Shape problems raise SpecError naming the layer, e.g.
        ``initial_weights[1].weights: expected 8x2, got 2x8``.
        """
        _check_dtype(dtype)
        n_layers = len(spec.sizes) - 1
        if not isinstance(layers, list | tuple) or len(layers) != n_layers:
            got = len(layers) if isinstance(layers, list | tuple) else type(layers).__name__
            raise SpecError(field, f"expected a list of {n_layers} layers, got {got}")
        wt, bs = [], []
        for i, layer in enumerate(layers):
            n_in, n_out = spec.sizes[i], spec.sizes[i + 1]
            if not isinstance(layer, dict):
                raise SpecError(f"{field}[{i}]", "expected an object with weights and biases")
            for key in ("weights", "biases"):
                if key not in layer:
                    raise SpecError(f"{field}[{i}].{key}", "is required")
            w = _float_array(layer["weights"], f"{field}[{i}].weights", (n_out, n_in))
            b = _float_array(layer["biases"], f"{field}[{i}].biases", (n_out,))
            act = layer.get("activation")
            if act is not None and act != spec.layer_activations[i]:
                raise SpecError(
                    f"{field}[{i}].activation",
                    f"is {act!r} but the network spec says {spec.layer_activations[i]!r}",
                )
            wt.append(np.ascontiguousarray(w.T, dtype=dtype))
            bs.append(np.ascontiguousarray(b, dtype=dtype))
        return cls(spec, wt, bs, dtype)

    @classmethod
    def from_document(cls, doc: dict[str, Any], dtype: str | None = None) -> Network:
        """Inverse of :meth:`to_document` (float64 unless ``dtype`` is given)."""
        if not isinstance(doc, dict):
            raise SpecError("weights", "expected an object with sizes, cost and layers")
        for key in ("sizes", "cost", "layers"):
            if key not in doc:
                raise SpecError(key, "is required")
        layers = doc["layers"]
        if not isinstance(layers, list) or not layers:
            raise SpecError("layers", "expected a non-empty list of layers")
        acts = []
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or "activation" not in layer:
                raise SpecError(f"layers[{i}].activation", "is required")
            acts.append(layer["activation"])
        spec = _spec_from_parts(doc["sizes"], acts, doc["cost"])
        return cls.from_layers(spec, layers, dtype or "float64", field="layers")

    @classmethod
    def from_npz(cls, data: bytes) -> Network:
        """Inverse of :meth:`to_npz`; refuses pickled content (``allow_pickle=False``)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (ValueError, OSError, EOFError) as exc:
            raise SpecError("file", f"not a readable weights .npz ({exc})") from None
        for key in ("sizes", "activations", "cost"):
            if key not in arrays:
                raise SpecError(f"file.{key}", "is missing")
        sizes = [int(n) for n in arrays["sizes"]]
        acts = [str(a) for a in arrays["activations"]]
        spec = _spec_from_parts(sizes, acts, str(arrays["cost"]))
        layers = []
        for i in range(len(sizes) - 1):
            if f"weights_{i}" not in arrays or f"biases_{i}" not in arrays:
                raise SpecError(f"file.weights_{i}", "is missing")
            layers.append({"weights": arrays[f"weights_{i}"], "biases": arrays[f"biases_{i}"]})
        dtype = str(arrays["weights_0"].dtype)
        return cls.from_layers(
            spec, layers, dtype if dtype in DTYPES else "float64", field="file.layers"
        )

    def copy(self) -> Network:
        """An independent copy (its ``params`` copied as they are: nothing to convert)."""
        new = Network.__new__(Network)
        new.__dict__.update(self.__dict__)
        new.sizes, new.activations = list(self.sizes), list(self.activations)
        new.params = [p.copy() for p in self.params]
        return new

    def astype(self, dtype: str) -> Network:
        _check_dtype(dtype)
        return Network(
            self.spec,
            [w.astype(dtype) for w in self.wt],
            [b.astype(dtype) for b in self.biases],
            dtype,
        )

    # ----------------------------------------------------------------- views
    @property
    def weights(self) -> list[Array]:
        """Nielsen-oriented (n_l, n_{l-1}) views of the weights (no copy)."""
        return [w.T for w in self.wt]

    @property
    def layer_activation_objects(self) -> list[Activation]:
        return [ACTIVATIONS[name] for name in self.activations]

    @property
    def cost_object(self) -> Cost:
        return COSTS[self.cost]

    # ----------------------------------------------------------------- computing
    def forward(self, x: ArrayLike) -> Array:
        """Outputs a_L for inputs ``x`` of shape (m, n_0), in the network's dtype."""
        x = self._inputs(x)
        out = np.empty((x.shape[0], self.sizes[-1]), dtype=self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, x.shape[0], CHUNK_ROWS):
                a = x[start : start + CHUNK_ROWS]
                for w, b, act in zip(
                    self.wt, self.biases, self.layer_activation_objects, strict=True
                ):
                    z = a @ w
                    z += b
                    a = act.fn(z, out=z)
                out[start : start + a.shape[0]] = a
        return out

    def loss(self, x: ArrayLike, y: ArrayLike) -> float:
        """Mean per-sample cost C_x over the rows of x (no L2 term).

        The cost is taken from the output layer's pre-activations z (``Cost.fn_z``), so a
        saturated output still gives its exact cost (finite differences of this function
        are then right too).
        """
        x = self._inputs(x)
        n = x.shape[0]
        y = np.asarray(y, dtype=self.dtype).reshape(n, self.sizes[-1])
        cost, acts = self.cost_object, self.layer_activation_objects
        total = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, n, CHUNK_ROWS):
                z = x[start : start + CHUNK_ROWS]
                for i, (w, b) in enumerate(zip(self.wt, self.biases, strict=True)):
                    if i:
                        acts[i - 1].fn(z, out=z)  # a_{l-1} = σ(z_{l-1})
                    z = z @ w
                    z += b
                rows = y[start : start + z.shape[0]]
                total += float(cost.fn_z(z, rows, acts[-1]).sum())
        return total / n

    def predict(self, x: ArrayLike) -> tuple[Array, NDArray[np.int64]]:
        """(outputs, class labels) for inputs x."""
        out = self.forward(x)
        return out, predict_labels(out)

    def _inputs(self, x: ArrayLike) -> Array:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise SpecError(
                "inputs",
                f"expected rows of {self.sizes[0]} features, "
                f"got shape {'x'.join(map(str, x.shape))}",
            )
        return np.ascontiguousarray(x)

    # ----------------------------------------------------------------- serialization
    def to_document(self) -> dict[str, Any]:
        """The weights document of docs/design.md §3, Nielsen orientation, JSON-ready lists."""
        return {
            "sizes": list(self.sizes),
            "cost": self.cost,
            "layers": [
                {"weights": w.T.tolist(), "biases": b.tolist(), "activation": act}
                for w, b, act in zip(self.wt, self.biases, self.activations, strict=True)
            ],
        }

    def to_npz(self) -> bytes:
        """An .npz: sizes, activations, cost, weights_i (n_l x n_{l-1}), biases_i.

        Uncompressed: trained weights hardly compress (7% for 784-100-10), and zlib took
        20-40 ms there, more than the rest of a small job's end."""
        arrays: dict[str, Any] = {
            "sizes": np.asarray(self.sizes, dtype=np.int64),
            "activations": np.asarray(self.activations, dtype=str),
            "cost": np.asarray(self.cost, dtype=str),
        }
        for i, (w, b) in enumerate(zip(self.wt, self.biases, strict=True)):
            arrays[f"weights_{i}"] = np.ascontiguousarray(w.T)
            arrays[f"biases_{i}"] = b
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    def __repr__(self) -> str:
        return (
            f"Network(sizes={self.sizes}, activations={self.activations}, "
            f"cost={self.cost!r}, dtype={self.dtype!r})"
        )


def predict_labels(outputs: ArrayLike) -> NDArray[np.int64]:
    """Class labels: argmax over outputs, or ``output >= 0.5`` for a single output."""
    out = np.asarray(outputs)
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    if out.shape[1] == 1:
        return (out[:, 0] >= 0.5).astype(np.int64)
    return out.argmax(axis=1).astype(np.int64)


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise SpecError("training.dtype", f"{dtype!r} is not one of {', '.join(DTYPES)}")


def _float_array(value: Any, field: str, shape: tuple[int, ...]) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise SpecError(field, "must be a (nested) list of numbers") from None
    if arr.shape != shape:
        raise SpecError(
            field,
            f"expected {'x'.join(map(str, shape))}, "
            f"got {'x'.join(map(str, arr.shape)) or 'a scalar'}",
        )
    if not np.isfinite(arr).all():
        raise SpecError(field, "contains a non-finite number")
    return arr


def _spec_from_parts(sizes: Any, activations: list[Any], cost: Any) -> NetworkSpec:
    if not isinstance(sizes, list | tuple):
        raise SpecError("sizes", "expected a list of layer sizes")
    sizes = list(sizes)
    if len(activations) != len(sizes) - 1:
        raise SpecError(
            "layers", f"expected {len(sizes) - 1} layers for sizes {sizes}, got {len(activations)}"
        )
    hidden = activations[0] if activations[0] in HIDDEN_ACTIVATIONS else "sigmoid"
    output = activations[-1] if activations[-1] in OUTPUT_ACTIVATIONS else "sigmoid"
    try:
        return NetworkSpec(
            sizes=sizes,
            hidden_activation=hidden,
            output_activation=output,
            cost=cost,
            activations=list(activations),
        )
    except SpecError as exc:
        field = exc.field.removeprefix("network.")
        field = (
            field.replace("activations[", "layers[").replace("]", "].activation", 1)
            if field.startswith("activations[")
            else field
        )
        raise SpecError(field, exc.message) from None
