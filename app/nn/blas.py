"""``C ← αAB + βC`` on preallocated arrays: BLAS gemm itself when NumPy's BLAS is reachable.

``np.matmul`` only computes ``C = AB``. The BLAS routine behind it computes
``C ← αAB + βC``, which lets the SGD step ``P ← P − (η/m) Σ ∂C_x/∂P`` happen inside the
gradient product (``α = −1`` on gradient sums already scaled by η/m, ``β = 1``): no
gradient buffer is written and no separate subtraction pass reads it back. That pass
is a read-modify-write of every parameter per mini-batch, so it costs most at small
batches (about a tenth of an epoch at batch 10).

NumPy's wheels ship OpenBLAS (ILP64, symbols ``scipy_cblas_sgemm64_`` and so on) in
``numpy.libs`` (Linux, Windows) or ``numpy/.dylibs`` (macOS). :func:`gemm_plan` calls it
through :mod:`ctypes` when it is there, the arrays' memory layout suits it, and a check
on a small product at load agrees with ``np.matmul``; otherwise (another BLAS, an
unusual layout, ``BACKPROP_ENGINE_BLAS=numpy`` in the environment, or
:func:`set_direct` ``(False)``) the plan does the same with ``np.matmul`` and ufuncs.
Either way a plan is a zero-argument callable built once per buffer set, so a training
step pays for no layout checks.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from app.nn.activations import Array

Plan = Callable[[], None]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_INT = ctypes.c_int64  # the "64_" symbols are ILP64
#: The gemm symbols of NumPy's bundled OpenBLAS builds, newest naming first.
_SYMBOLS = (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"), ("cblas_sgemm64_", "cblas_dgemm64_"))
_SCALARS: dict[np.dtype, type[ctypes.c_float] | type[ctypes.c_double]] = {
    np.dtype(np.float32): ctypes.c_float,
    np.dtype(np.float64): ctypes.c_double,
}


def _numpy_blas_libraries() -> list[Path]:
    root = Path(np.__file__).resolve().parent
    found: list[Path] = []
    for directory in (root.parent / "numpy.libs", root / ".dylibs"):
        if directory.is_dir():
            found.extend(sorted(p for p in directory.iterdir() if "openblas" in p.name.lower()))
    return found


def _load() -> dict[np.dtype, Callable[..., None]]:
    """gemm by dtype from NumPy's own BLAS; empty when it cannot be found or fails its check."""
    if os.environ.get("BACKPROP_ENGINE_BLAS", "").lower() == "numpy":
        return {}
    for path in _numpy_blas_libraries():
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by NumPy: the same library
        except OSError:
            continue
        for names in _SYMBOLS:
            fns: dict[np.dtype, Callable[..., None]] = {}
            for name, dtype in zip(names, _SCALARS, strict=True):
                fn = getattr(lib, name, None)
                if fn is None:
                    break
                # No argtypes: a plan passes ready-made ctypes values of the exact C types
                # (cblas_?gemm64_(enum, enum, enum, i64 × 3, T, T*, i64, T*, i64, T, T*, i64)),
                # which ctypes hands over without converting (2 µs a call instead of 3.5).
                fn.restype = None
                fns[dtype] = fn
            if len(fns) == len(_SCALARS) and all(_agrees(fn, dt) for dt, fn in fns.items()):
                return fns
    return {}


def _agrees(fn: Callable[..., None], dtype: np.dtype) -> bool:
    """One αAᵀB + βC through ``fn`` against NumPy (layouts as training uses them)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4)).astype(dtype)  # used transposed: (4, 5)
    b = rng.standard_normal((5, 7)).astype(dtype)[:, :3]  # a strided view
    c = rng.standard_normal((4, 3)).astype(dtype)
    want = 0.5 * c - 2.0 * (a.T @ b)
    got = c.copy()
    _blas_plan(fn, got, a.T, b, -2.0, 0.5)()
    tol = 1e-4 if dtype == np.float32 else 1e-12
    return bool(np.allclose(got, want, rtol=tol, atol=tol))


def _layout(x: Array) -> tuple[int, int] | None:
    """(trans flag, leading dimension) of a 2-D operand for row-major gemm, or None."""
    item = x.itemsize
    rows, cols = x.shape
    s0, s1 = x.strides
    if s1 == item and s0 % item == 0 and s0 // item >= max(1, cols):
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 // item >= max(1, rows):
        return _TRANS, s1 // item
    return None


def _blas_plan(
    fn: Callable[..., None], c: Array, a: Array, b: Array, alpha: float, beta: float
) -> Plan:
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None:
        raise ValueError("operands not in a BLAS layout")
    (m, k), n = a.shape, b.shape[1]
    enum, i64, ptr, scalar = ctypes.c_int, _INT, ctypes.c_void_p, _SCALARS[c.dtype]
    plan = partial(
        fn,
        enum(_ROW_MAJOR),
        enum(la[0]),
        enum(lb[0]),
        i64(m),
        i64(n),
        i64(k),
        scalar(alpha),
        ptr(a.ctypes.data),
        i64(la[1]),
        ptr(b.ctypes.data),
        i64(lb[1]),
        scalar(beta),
        ptr(c.ctypes.data),
        i64(c.strides[0] // c.itemsize),
    )
    plan.arrays = (a, b, c)  # type: ignore[attr-defined]  # the memory it points into
    return plan


_GEMM: dict[np.dtype, Callable[..., None]] = _load()


def direct() -> bool:
    """True when plans call NumPy's BLAS directly (False: the NumPy fallback)."""
    return bool(_GEMM)


def set_direct(enabled: bool) -> None:
    """Switch direct BLAS calls on (if available) or off, for plans made from now on."""
    global _GEMM
    _GEMM = _load() if enabled else {}


def gemm_plan(
    c: Array,
    a: Array,
    b: Array,
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
    scratch: Array | None = None,
) -> Plan:
    """A callable that does ``c ← alpha·(a @ b) + beta·c`` in place.

    ``a`` and ``b`` may be transposed or sliced views; ``c`` must be writable and must not
    overlap them. The plan keeps all three alive and works on their memory as it is when
    the plan is made (a buffer replaced later is not seen). ``scratch`` (shaped like
    ``c``) is what the NumPy fallback writes ``a @ b`` into when ``beta != 0``.
    """
    if (
        a.ndim != 2
        or b.ndim != 2
        or c.shape != (a.shape[0], b.shape[1])
        or a.shape[1] != b.shape[0]
    ):
        raise ValueError(f"gemm shapes do not fit: {a.shape} @ {b.shape} -> {c.shape}")
    fn = _GEMM.get(c.dtype)
    usable = (
        fn is not None
        and a.dtype == b.dtype == c.dtype
        and c.flags.writeable
        and c.strides[1] == c.itemsize
        and min(c.shape) > 0
        and _layout(a) is not None
        and _layout(b) is not None
        and all(x.flags.aligned for x in (a, b, c))
    )
    if usable and fn is not None:
        return _blas_plan(fn, c, a, b, alpha, beta)
    return _numpy_plan(c, a, b, alpha, beta, scratch)


def _numpy_plan(
    c: Array, a: Array, b: Array, alpha: float, beta: float, scratch: Array | None
) -> Plan:
    matmul = np.matmul
    if beta == 0.0:

        def run() -> None:
            matmul(a, b, out=c)
            if alpha != 1.0:
                np.multiply(c, alpha, out=c)

        return run
    tmp = np.empty_like(c) if scratch is None else scratch

    def run_accumulate() -> None:
        matmul(a, b, out=tmp)
        if beta != 1.0:
            np.multiply(c, beta, out=c)
        if alpha == 1.0:
            np.add(c, tmp, out=c)
        elif alpha == -1.0:
            np.subtract(c, tmp, out=c)
        else:
            np.multiply(tmp, alpha, out=tmp)
            np.add(c, tmp, out=c)

    return run_accumulate
