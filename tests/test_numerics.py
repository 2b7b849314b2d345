"""Tests of dlnotes.numerics: log-sum-exp, temperature, gradient clipping, float facts.

numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    CLIP_NORM_TYPES,
    LOGSUMEXP_AXES,
    load_reference,
    make_numerics_inputs,
    torch_numerics_outputs,
    torch_or_skip,
)

from dlnotes import numerics as N
from dlnotes.gradcheck import max_relative_error, numerical_gradient

INPUTS = make_numerics_inputs()
GRADS = [INPUTS["clip_g0"], INPUTS["clip_g1"], INPUTS["clip_g2"]]

# --- Log-sum-exp --------------------------------------------------------------------


def mp_logsumexp(values):
    with mp.workdps(50):
        return float(mp.log(mp.fsum(mp.exp(mp.mpf(float(v))) for v in values)))


@pytest.mark.parametrize(
    "row",
    [
        [0.0, -40.0],  # log(1 + e^-40): a plain log of the sum gives exactly 0
        [0.0, -20.0, -30.0],
        [700.0, 699.0, -700.0],
        [-700.0, -700.0],
        [1e-3, -1e-3, 2e-3],
        [3.0, 3.0, 3.0, -36.0],
    ],
)
def test_logsumexp_matches_mpmath_to_an_ulp(row):
    exact = mp_logsumexp(row)
    ours = N.logsumexp(row)
    assert abs(ours - exact) <= 2 * np.spacing(abs(exact)), (ours, exact)


def test_logsumexp_small_remainder_keeps_its_digits():
    # the case the naive log(sum) rounds away entirely
    assert np.log(np.exp(0.0) + np.exp(-40.0)) == 0.0
    assert N.logsumexp([0.0, -40.0]) == pytest.approx(math.exp(-40.0), rel=1e-15)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_agrees_with_scipy(axis, keepdims):
    x = np.random.default_rng(1).normal(scale=20.0, size=(3, 4, 5))
    ours = N.logsumexp(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(ours, sp.logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-14)


def test_logsumexp_edge_cases():
    assert N.logsumexp(np.full(3, -np.inf)) == -np.inf  # log 0, not NaN
    assert N.logsumexp([np.inf, 1.0]) == np.inf
    assert N.logsumexp([np.inf, -np.inf]) == np.inf
    assert np.isnan(N.logsumexp([np.nan, 1.0]))
    assert N.logsumexp([1e300, 1e300]) == 1e300  # + log 2 is below half an ulp
    assert N.logsumexp([-1e300, 0.0]) == 0.0
    rows = N.logsumexp(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]), axis=1)
    np.testing.assert_array_equal(rows, [-np.inf, 0.0])
    np.testing.assert_array_equal(N.logsumexp(np.zeros((2, 0)), axis=1), [-np.inf, -np.inf])


@pytest.mark.parametrize("axis", [None, 0, (1, 2), -1])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_grad_matches_finite_differences(axis, keepdims):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 4))
    g = rng.normal(size=np.shape(N.logsumexp(x, axis=axis, keepdims=keepdims)))
    vjp = N.logsumexp_grad(x, g, axis=axis, keepdims=keepdims)

    def weighted(v):
        return np.sum(g * N.logsumexp(v, axis=axis, keepdims=keepdims))

    assert vjp.shape == x.shape
    assert max_relative_error(vjp, numerical_gradient(weighted, x)) < 1e-9


def test_logsumexp_grad_is_softmax():
    x = np.random.default_rng(3).normal(size=(4, 6))
    np.testing.assert_allclose(
        N.logsumexp_grad(x, np.ones(4), axis=1), sp.softmax(x, axis=1), rtol=1e-14
    )


# --- Softmax with temperature -------------------------------------------------------


def test_temperature_one_is_softmax_and_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    z, g = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    np.testing.assert_allclose(N.softmax_with_temperature(z), sp.softmax(z, axis=-1), rtol=1e-14)
    for tau in (0.3, 1.0, 4.0):
        vjp = N.softmax_with_temperature_grad(z, g, tau)
        numeric = numerical_gradient(
            lambda v, t=tau: np.sum(g * N.softmax_with_temperature(v, t)), z
        )
        assert max_relative_error(vjp, numeric) < 1e-9
        np.testing.assert_allclose(
            N.softmax_with_temperature(z, tau), sp.softmax(z / tau, axis=-1), rtol=1e-13
        )


def test_temperature_limits():
    z = np.array([1.0, 3.0, 2.0, 3.0, -1e300])
    # tau -> 0: the argmax, ties shared evenly, with no overflow at tau = 1e-300
    np.testing.assert_array_equal(N.softmax_with_temperature(z, 1e-300), [0, 0.5, 0, 0.5, 0])
    np.testing.assert_array_equal(N.softmax_with_temperature([1.0, 2.0], 1e-300), [0.0, 1.0])
    # tau -> inf: uniform
    np.testing.assert_allclose(N.softmax_with_temperature(z[:4], 1e300), np.full(4, 0.25))


@given(
    arrays(np.float64, st.integers(2, 6), elements=st.floats(-1e3, 1e3)),
    st.floats(1e-3, 1e3),
)
def test_temperature_gives_a_distribution_that_keeps_the_order(z, tau):
    p = N.softmax_with_temperature(z, tau)
    assert np.all(p >= 0) and np.isclose(p.sum(), 1.0)
    order = np.argsort(z, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)


# --- Gradient clipping --------------------------------------------------------------


def test_clip_by_value():
    g = np.array([-3.0, -0.5, 0.2, 7.0])
    np.testing.assert_array_equal(N.clip_grad_value(g, 1.0), [-1.0, -0.5, 0.2, 1.0])
    clipped = N.clip_grad_value([g, 2 * g], 1.0)
    assert isinstance(clipped, list) and len(clipped) == 2


def test_clip_by_norm_keeps_direction_and_returns_the_unclipped_norm():
    g = [np.array([3.0, 0.0]), np.array([[4.0]])]
    clipped, total = N.clip_grad_norm(g, 1.0)
    assert total == 5.0
    np.testing.assert_allclose(clipped[0], [3.0 / (5 + 1e-6), 0.0], rtol=1e-15)
    np.testing.assert_allclose(clipped[1], [[4.0 / (5 + 1e-6)]], rtol=1e-15)
    unchanged, _ = N.clip_grad_norm(g, 10.0)  # below max_norm: scale capped at 1
    np.testing.assert_array_equal(unchanged[1], g[1])


def test_value_clipping_turns_the_direction_norm_clipping_does_not():
    g = np.array([10.0, 2.0])  # 11.3 degrees from the x axis; clipped by value: 45 degrees
    by_value = N.clip_grad_value(g, 1.0)
    by_norm, _ = N.clip_grad_norm(g, 1.0)
    cosine = lambda a, b: a @ b / np.sqrt((a @ a) * (b @ b))  # noqa: E731
    assert cosine(by_norm, g) == pytest.approx(1.0, abs=1e-15)
    assert cosine(by_value, g) == pytest.approx(np.cos(np.arctan(1.0) - np.arctan(0.2)))


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, np.inf])
def test_total_norm_agrees_with_numpy(norm_type):
    flat = np.concatenate([np.ravel(g) for g in GRADS])
    expected = np.linalg.norm(flat, ord=norm_type)
    assert N.total_norm(GRADS, norm_type) == pytest.approx(expected, rel=1e-14)


def test_total_norm_does_not_overflow():
    big = [np.full(4, 1e200), np.full(5, -1e200)]
    assert N.total_norm(big) == pytest.approx(3e200, rel=1e-15)
    clipped, total = N.clip_grad_norm(big, 1.0)
    assert np.isfinite(total)
    np.testing.assert_allclose(clipped[0], np.full(4, 1 / 3), rtol=1e-14)
    tiny = [np.full(4, 1e-300)]  # squares would underflow to 0
    assert N.total_norm(tiny) == pytest.approx(2e-300, rel=1e-15)


def test_nonfinite_gradients():
    with pytest.raises(ValueError, match="grads"):
        N.clip_grad_norm([np.array([1.0, np.inf])], 1.0, error_if_nonfinite=True)
    clipped, total = N.clip_grad_norm([np.array([1.0, np.inf])], 1.0)
    assert total == np.inf
    assert clipped[0][0] == 0.0 and np.isnan(clipped[0][1])  # PyTorch: g * 0
    clipped, total = N.clip_grad_norm([np.array([1.0, np.nan])], 1.0)
    assert np.isnan(total) and np.isnan(clipped[0]).all()


# --- Agreement with PyTorch ---------------------------------------------------------


def check_against_torch(ref):
    for name, axis in LOGSUMEXP_AXES.items():
        x = INPUTS["lse_x"]
        value = N.logsumexp(x, axis=axis)
        np.testing.assert_allclose(value, ref[f"logsumexp:{name}:value"], rtol=1e-14)
        grad = N.logsumexp_grad(x, np.ones_like(value), axis=axis)
        np.testing.assert_allclose(grad, ref[f"logsumexp:{name}:grad"], rtol=1e-12, atol=1e-300)
    for name, norm_type in CLIP_NORM_TYPES.items():
        for max_norm in (1.0, 1e3):
            clipped, total = N.clip_grad_norm(GRADS, max_norm, norm_type)
            key = f"clip_norm:{name}:{max_norm}"
            np.testing.assert_allclose(total, ref[f"{key}:total"], rtol=1e-14)
            for i, g in enumerate(clipped):
                np.testing.assert_allclose(g, ref[f"{key}:g{i}"], rtol=1e-14)
    for i, g in enumerate(N.clip_grad_value(GRADS, 0.5)):
        np.testing.assert_array_equal(g, ref[f"clip_value:g{i}"])


def test_matches_pytorch_reference_file():
    check_against_torch(load_reference("numerics"))


def test_matches_pytorch_live():
    torch_or_skip()
    check_against_torch(INPUTS | torch_numerics_outputs(INPUTS))


def test_pytorch_clip_grad_norm_overflows_where_ours_does_not():
    # The difference the chapter shows: PyTorch squares 1e200 to inf and zeroes the gradient.
    torch_or_skip()
    import torch

    p = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    p.grad = torch.full((4,), 1e200, dtype=torch.float64)
    total = torch.nn.utils.clip_grad_norm_([p], 1.0, foreach=False)
    assert total.item() == np.inf
    assert N.total_norm(np.full(4, 1e200)) == pytest.approx(2e200, rel=1e-15)


# --- Floating-point formats ---------------------------------------------------------


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_float_info_matches_numpy(name):
    info, ref = N.float_info(name), np.finfo(name)
    assert info.bits == ref.bits
    assert info.eps == float(ref.eps)
    assert info.smallest_normal == float(ref.smallest_normal)
    assert info.smallest_subnormal == float(ref.smallest_subnormal)
    assert info.max == float(ref.max)
    assert N.float_info(np.dtype(name)) == info


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_exp_thresholds_are_where_exp_overflows_and_underflows(name):
    info, dtype = N.float_info(name), np.dtype(name)
    margin = 50 * info.eps * abs(info.exp_underflow)  # a few ulps of the threshold
    with np.errstate(over="ignore", under="ignore"):
        assert np.isfinite(np.exp(dtype.type(info.exp_overflow - margin)))
        assert np.exp(dtype.type(info.exp_overflow + margin)) == np.inf
        assert np.exp(dtype.type(info.exp_underflow + margin)) > 0
        assert np.exp(dtype.type(info.exp_underflow - margin)) == 0


def test_bfloat16_matches_pytorch():
    torch_or_skip()
    import torch

    ref, info = torch.finfo(torch.bfloat16), N.float_info("bfloat16")
    assert (info.bits, info.eps, info.max) == (ref.bits, ref.eps, ref.max)
    assert info.smallest_normal == ref.smallest_normal
    assert info.smallest_subnormal == float(torch.tensor(2.0**-133, dtype=torch.bfloat16))
    assert float(torch.tensor(2.0**-134, dtype=torch.bfloat16)) == 0.0  # half rounds to 0


def test_bfloat16_layout_from_float32_bits():
    # bfloat16 is the top 16 bits of a float32: its largest value truncates float32's.
    bits = np.array([np.finfo(np.float32).max], np.float32).view(np.uint32)
    truncated = (bits & np.uint32(0xFFFF0000)).view(np.float32)[0]
    assert N.float_info("bfloat16").max == float(truncated)
    eps_bits = np.array([1.0], np.float32).view(np.uint32) + np.uint32(1 << 16)
    assert N.float_info("bfloat16").eps == float(eps_bits.view(np.float32)[0]) - 1.0


# --- Extremes, dtypes, mutation, bad arguments ----------------------------------------


def test_float32_stays_float32_and_inputs_are_not_mutated():
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    before = x.copy()
    assert N.logsumexp(x, axis=1).dtype == np.float32
    assert N.softmax_with_temperature(x, 0.5).dtype == np.float32
    assert N.clip_grad_value(x, 1.0).dtype == np.float32
    assert N.clip_grad_norm(x, 1.0)[0].dtype == np.float32
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: N.logsumexp("abc"), TypeError, "x"),
        (lambda: N.logsumexp([1.0, 2.0], axis=2), np.exceptions.AxisError, "axis"),
        (lambda: N.logsumexp_grad([1.0, 2.0], [1.0, 1.0]), ValueError, "g must"),
        (lambda: N.softmax_with_temperature([1.0], 0.0), ValueError, "temperature"),
        (lambda: N.softmax_with_temperature([1.0], -1.0), ValueError, "temperature"),
        (lambda: N.softmax_with_temperature([1.0], "hot"), TypeError, "temperature"),
        (lambda: N.softmax_with_temperature(1.0), ValueError, "z must"),
        (lambda: N.clip_grad_value([1.0], -1.0), ValueError, "clip_value"),
        (lambda: N.clip_grad_norm([], 1.0), ValueError, "grads"),
        (lambda: N.clip_grad_norm([np.ones(2)], -1.0), ValueError, "max_norm"),
        (lambda: N.clip_grad_norm([np.ones(2)], 1.0, norm_type=0), ValueError, "norm_type"),
        (lambda: N.clip_grad_norm([np.array(["a"])], 1.0), TypeError, "grads"),
        (lambda: N.float_info("int8"), ValueError, "dtype"),
        (lambda: N.float_info(object()), TypeError, "dtype"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e300, 1e300)))
def test_logsumexp_bounds(x):
    # max <= logsumexp <= max + log n, for any finite input, without a warning
    value = N.logsumexp(x)
    assert x.max() <= value <= x.max() + np.log(x.size) + 1e-12 * max(1.0, abs(x.max()))
