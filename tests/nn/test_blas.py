"""gemm plans (app.nn.blas): C ← αAB + βC through NumPy's BLAS and through the fallback."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from app.nn import blas


@pytest.fixture(params=[True, False], ids=["direct", "numpy"])
def direct(request: pytest.FixtureRequest) -> Iterator[bool]:
    blas.set_direct(request.param)
    yield request.param
    blas.set_direct(True)


def test_numpy_wheels_blas_is_called_directly() -> None:
    # NumPy's PyPI wheels (what pip installs here, in CI and in the Docker image) ship
    # OpenBLAS with the symbols blas.py looks for: without them the fused SGD step falls
    # back to matmul + subtract, correct but slower, and this test says so.
    assert blas.direct(), "no usable gemm in NumPy's bundled OpenBLAS"


def test_the_environment_switch_turns_direct_calls_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_ENGINE_BLAS", "numpy")
    blas.set_direct(True)
    try:
        assert not blas.direct()
    finally:
        monkeypatch.delenv("BACKPROP_ENGINE_BLAS")
        blas.set_direct(True)
    assert blas.direct()


def operands(
    dtype: str,
    m: int,
    k: int,
    n: int,
    trans_a: bool,
    strided_b: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal((k, m)).T if trans_a else rng.standard_normal((m, k))
    b = rng.standard_normal((k, n + 3))[:, :n] if strided_b else rng.standard_normal((k, n))
    c = rng.standard_normal((m, n))
    return a.astype(dtype), b.astype(dtype), c.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("m", "k", "n"), [(1, 1, 1), (7, 5, 3), (101, 10, 10), (3, 64, 20)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("strided_b", [False, True])
@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (-1.0, 1.0), (0.25, 0.5)])
def test_plan_computes_alpha_ab_plus_beta_c(
    direct: bool,
    dtype: str,
    m: int,
    k: int,
    n: int,
    trans_a: bool,
    strided_b: bool,
    alpha: float,
    beta: float,
) -> None:
    a, b, c = operands(dtype, m, k, n, trans_a, strided_b)
    want = alpha * (a.astype(np.float64) @ b.astype(np.float64)) + beta * c
    got = c.copy()
    plan = blas.gemm_plan(got, a, b, alpha=alpha, beta=beta)
    plan()
    tol = 1e-5 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * k)
    plan()  # a plan is reusable: the second call starts from the first one's result
    np.testing.assert_allclose(
        got, alpha * (a.astype(np.float64) @ b) + beta * want, rtol=10 * tol, atol=10 * tol * k
    )


def test_plan_sees_the_operands_current_values(direct: bool) -> None:
    a, b, c = operands("float64", 4, 3, 2, trans_a=True, strided_b=True)
    plan = blas.gemm_plan(c, a, b)
    a[...] = 2.0
    plan()
    np.testing.assert_allclose(c, 2.0 * b.sum(axis=0, keepdims=True).repeat(4, axis=0))


def test_layouts_blas_cannot_take_fall_back_to_numpy() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 8))[::2, ::2]  # no unit stride in either direction
    b = rng.standard_normal((4, 5))
    c = np.zeros((3, 5))
    blas.gemm_plan(c, a, b, alpha=-1.0, beta=1.0)()
    np.testing.assert_allclose(c, -(a @ b))
    out = np.zeros((3, 5), np.float32)
    blas.gemm_plan(out, a.astype(np.float32), b)()  # mixed dtypes
    np.testing.assert_allclose(out, a @ b, rtol=1e-5)


def test_plan_refuses_shapes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match=r"gemm shapes do not fit: \(3, 4\) @ \(5, 2\)"):
        blas.gemm_plan(np.zeros((3, 2)), np.zeros((3, 4)), np.zeros((5, 2)))
