"""Tests of dlnotes.activations: exact values, precision, derivatives, PyTorch and SciPy.

numpy's RuntimeWarnings are errors here (pyproject.toml), so any overflow or invalid
operation inside an activation fails the test that triggered it.
"""

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    ELEMENTWISE,
    SOFTMAX,
    load_reference,
    make_inputs,
    torch_or_skip,
    torch_outputs,
)

from dlnotes import activations as A
from dlnotes.gradcheck import max_relative_error, numerical_derivative, numerical_gradient

EPS = np.finfo(np.float64).eps

# Every elementwise function, with its parameters (non-default ones too), as
# name -> (function, gradient, keyword arguments).
ELEMENTWISE_FUNCTIONS = {
    "sigmoid": (A.sigmoid, A.sigmoid_grad, {}),
    "log_sigmoid": (A.log_sigmoid, A.log_sigmoid_grad, {}),
    "tanh": (A.tanh, A.tanh_grad, {}),
    "relu": (A.relu, A.relu_grad, {}),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_grad, {}),
    "leaky_relu_0.2": (A.leaky_relu, A.leaky_relu_grad, {"negative_slope": 0.2}),
    "prelu": (A.prelu, lambda x, a: A.prelu_grad(x, a)[0], {"a": 0.25}),
    "elu": (A.elu, A.elu_grad, {}),
    "elu_0.5": (A.elu, A.elu_grad, {"alpha": 0.5}),
    "selu": (A.selu, A.selu_grad, {}),
    "gelu": (A.gelu, A.gelu_grad, {}),
    "gelu_tanh": (A.gelu, A.gelu_grad, {"approximate": "tanh"}),
    "silu": (A.silu, A.silu_grad, {}),
    "swish_1.5": (A.swish, A.swish_grad, {"beta": 1.5}),
    "swish_0.25": (A.swish, A.swish_grad, {"beta": 0.25}),
    "mish": (A.mish, A.mish_grad, {}),
    "softplus": (A.softplus, A.softplus_grad, {}),
    "softplus_2": (A.softplus, A.softplus_grad, {"beta": 2.0}),
}
# Functions that are analytic everywhere; the others are defined piecewise, with the
# pieces meeting at x = 0.
SMOOTH = ["sigmoid", "log_sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "swish_1.5",
          "swish_0.25", "mish", "softplus", "softplus_2"]  # fmt: skip
PIECEWISE = sorted(set(ELEMENTWISE_FUNCTIONS) - set(SMOOTH))
MONOTONE = ["sigmoid", "log_sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu_0.2", "prelu",
            "elu", "elu_0.5", "selu", "softplus", "softplus_2"]  # fmt: skip

EXTREMES = np.array([-np.inf, -1e300, -1e3, -745.2, -710.0, -40.0, -1e-300, -0.0, 0.0,
                     1e-300, 40.0, 710.0, 745.2, 1e3, 1e300, np.inf])  # fmt: skip


def call(name, x):
    f, _, kwargs = ELEMENTWISE_FUNCTIONS[name]
    return f(x, **kwargs)


def call_grad(name, x):
    _, df, kwargs = ELEMENTWISE_FUNCTIONS[name]
    return df(x, **kwargs)


# --- High-precision reference (mpmath) ----------------------------------------------

MP_SELU_ALPHA = mp.mpf("1.6732632423543772848170429916717")
MP_SELU_SCALE = mp.mpf("1.0507009873554804934193349852946")


def mp_sigmoid(t):
    return 1 / (1 + mp.exp(-t))


def mp_softplus(t):
    return mp.log1p(mp.exp(t))


def mp_gelu_tanh(t):
    # (1 + tanh u) / 2 = sigma(2u); the sigmoid form does not need e^(2u) digits
    return t * mp_sigmoid(2 * mp.sqrt(2 / mp.pi) * (t + mp.mpf("0.044715") * t**3))


# The functions written out in mpmath. Derivatives are taken by mpmath itself (mp.diff,
# high-precision differences), so the reference shares no formula with the code.
MP_FUNCTIONS = {
    "sigmoid": mp_sigmoid,
    "log_sigmoid": lambda t: -mp_softplus(-t),
    "tanh": mp.tanh,
    "elu": lambda t: t if t > 0 else mp.expm1(t),
    "selu": lambda t: MP_SELU_SCALE * (t if t > 0 else MP_SELU_ALPHA * mp.expm1(t)),
    "gelu": lambda t: t * mp.ncdf(t),
    "gelu_tanh": mp_gelu_tanh,
    "silu": lambda t: t * mp_sigmoid(t),
    "swish_1.5": lambda t: t * mp_sigmoid(mp.mpf(1.5) * t),
    "mish": lambda t: t * mp.tanh(mp_softplus(t)),
    "softplus": mp_softplus,
    "softplus_2": lambda t: mp_softplus(2 * t) / 2,
}

# Dense in [-6, 6] and out into both tails, where naive formulas lose every digit.
PRECISION_GRID = np.concatenate([
    np.linspace(-6.0, 6.0, 60),  # even count: skips the kink x = 0 (checked elsewhere)
    -np.geomspace(6.5, 700.0, 20),
    np.geomspace(6.5, 700.0, 20),
])  # fmt: skip


def conditioned_error(name, computed, order):
    """Largest error of ``computed`` (the ``order``-th derivative of ``name`` on the grid).

    Measured in units of eps * (|f(x)| + |x f'(x)|): a result that is correctly rounded
    for some input within one ulp of x scores about 1. This is the best any float64
    formula can promise where f is ill-conditioned (large |x f'/f|: GELU's far tail, or
    near a root of f), and it still fails formulas that cancel: ``1 - sigma(40)`` is 0.
    Results below 1e-300, near the subnormals where no float64 has 53 bits, count
    absolutely.
    """
    f = MP_FUNCTIONS[name]
    worst = 0.0
    for c, t in zip(computed, PRECISION_GRID, strict=True):
        # digits enough to resolve e.g. tanh(700) = 1 - 1e-608 and its differences
        with mp.workdps(40 + int(abs(t))):
            t = mp.mpf(float(t))
            v = mp.diff(f, t, order) if order else f(t)
            scale = abs(v) + abs(t * mp.diff(f, t, order + 1))
            unit = max(scale, mp.mpf(1e-300)) * EPS
            worst = max(worst, float(abs(mp.mpf(float(c)) - v) / unit))
    return worst


# The largest error measured is 2.9 of these units (mish' near x = -2.1, where its two
# terms cancel); most functions stay below 1. A formula that loses two digits scores 100.
PRECISION_LIMIT = 6


@pytest.mark.parametrize("name", sorted(MP_FUNCTIONS))
def test_value_precision_against_mpmath(name):
    error = conditioned_error(name, call(name, PRECISION_GRID), order=0)
    assert error <= PRECISION_LIMIT, f"{name}: {error:.1f}"


@pytest.mark.parametrize("name", sorted(MP_FUNCTIONS))
def test_derivative_precision_against_mpmath(name):
    error = conditioned_error(name, call_grad(name, PRECISION_GRID), order=1)
    assert error <= PRECISION_LIMIT, f"{name}': {error:.1f}"


def test_naive_sigmoid_derivative_would_fail_the_precision_test():
    # The reason sigmoid_grad does not use sigma(1 - sigma): the check above would catch it.
    x = np.array([40.0])
    naive = A.sigmoid(x) * (1 - A.sigmoid(x))
    assert naive[0] == 0.0
    assert A.sigmoid_grad(x)[0] == pytest.approx(float(mp.exp(-40)), rel=1e-14)


# --- Softmax family against mpmath ----------------------------------------------------

# Logits in [-700, 700] on a grid of 2^-10, so that every difference z_i - z_j is exact in
# float64: for logits off the grid the rounding of z - m alone moves e^(z - m) by up to
# |z - m| * eps relatively -- the conditioning of softmax, not an error of the formula.
SOFTMAX_GRID = 2.0**-10


def _softmax_rows():
    rows = [
        [0.0, -40.0],  # log1p: log(1 + e^-40) is not 0
        [0.0, -20.0, -30.0],
        [-40.0, 0.0, -36.5, -745.0 / 2],
        [0.0, -SOFTMAX_GRID],  # nearly a tie
        [3.0, 3.0, -1.0],  # ties at the maximum
        [-5.0, -5.0, -5.0, -5.0],
        [700.0, -700.0],  # a gap of 1400: e^-1400 underflows to 0
        [700.0, 699.5, -700.0],
        [-700.0, -700.0, -699.0],
        [12.25],  # one entry: log-probability 0
    ]
    rng = np.random.default_rng(8)
    for scale in (1.0, 10.0, 50.0, 700.0):
        for size in (2, 3, 5, 8):
            row = np.round(rng.uniform(-scale, scale, size) / SOFTMAX_GRID) * SOFTMAX_GRID
            rows.append(list(row))
    return [np.array(row) for row in rows]


SOFTMAX_ROWS = _softmax_rows()


def mp_softmax_row(z):
    """log-softmax and softmax of one row from their definitions, as mpmath numbers.

    Enough digits that 1 + e^(-span) keeps 50 digits of its small part; call inside the
    ``mp.workdps`` this returns the precision for (see ``mp_digits``).
    """
    terms = [mp.exp(mp.mpf(float(t))) for t in z]
    lse = mp.log(mp.fsum(terms))
    log_s = [mp.mpf(float(t)) - lse for t in z]
    return log_s, [mp.exp(v) for v in log_s]


def mp_digits(z):
    return 50 + int((np.max(z) - np.min(z)) / 2.3) + 5


def relative_errors(computed, exact, scale=None):
    """|computed - exact| / scale (default |exact|), with scales below 1e-300 counted
    absolutely: results that underflow to subnormals have no relative precision."""
    scale = [abs(e) for e in exact] if scale is None else scale
    return [
        float(abs(mp.mpf(float(c)) - e) / max(s, mp.mpf(1e-300)))
        for c, e, s in zip(computed, exact, scale, strict=True)
    ]


# A few ulps (4.5 eps). Measured: 1 eps for the values, 3.1 eps for softmax_grad (PyTorch's
# formulas: a relative error of 1 on the row (0, -40), for the value and both gradients).
SOFTMAX_ULPS = 1e-15


def test_log_softmax_and_softmax_values_against_mpmath():
    worst = {"log_softmax": 0.0, "softmax": 0.0}
    for z in SOFTMAX_ROWS:
        with mp.workdps(mp_digits(z)):
            log_s, s = mp_softmax_row(z)
            worst["log_softmax"] = max(
                worst["log_softmax"], *relative_errors(A.log_softmax(z), log_s)
            )
            worst["softmax"] = max(worst["softmax"], *relative_errors(A.softmax(z), s))
    assert max(worst.values()) <= SOFTMAX_ULPS, worst


def _upstream_gradients(size, rng):
    """The one-hot vectors (+ and -, the gradients of log s_y and of NLL) and two random g."""
    eye = np.eye(size)
    return [*eye, *(-eye), rng.normal(size=size), rng.uniform(0.5, 1.5, size=size)]


def mp_vjps(g, s):
    """Exact VJPs of log-softmax and softmax, each with the scale its error is measured in.

    log-softmax g_i - s_i sum(g), softmax s_i (g_i - <g, s>). For a one-hot g they are
    entries of the Jacobians, e.g. 1 - s_0 = e^-40 for z = (0, -40), measured relatively.
    For a general g they are genuine differences: measured against the terms' size.
    """
    g = [mp.mpf(float(v)) for v in g]
    total, dot = mp.fsum(g), mp.fsum(a * b for a, b in zip(g, s, strict=True))
    abs_total, abs_dot = (
        mp.fsum(map(abs, g)),
        mp.fsum(abs(a) * b for a, b in zip(g, s, strict=True)),
    )
    pairs = list(zip(g, s, strict=True))
    log_vjp = [a - b * total for a, b in pairs]
    soft_vjp = [b * (a - dot) for a, b in pairs]
    if sum(1 for a in g if a) == 1:
        return (log_vjp, None), (soft_vjp, None)
    return (
        (log_vjp, [abs(a) + b * abs_total for a, b in pairs]),
        (soft_vjp, [b * (abs(a) + abs_dot) for a, b in pairs]),
    )


def test_softmax_gradients_against_mpmath():
    rng = np.random.default_rng(9)
    worst = {"log_softmax_grad": 0.0, "softmax_grad": 0.0}
    for z in SOFTMAX_ROWS:
        with mp.workdps(mp_digits(z)):
            _, s = mp_softmax_row(z)
            for g in _upstream_gradients(z.size, rng):
                (log_vjp, log_scale), (soft_vjp, soft_scale) = mp_vjps(g, s)
                for name, exact, scale in (
                    ("log_softmax_grad", log_vjp, log_scale),
                    ("softmax_grad", soft_vjp, soft_scale),
                ):
                    errors = relative_errors(getattr(A, name)(z, g), exact, scale)
                    worst[name] = max(worst[name], *errors)
    assert max(worst.values()) <= SOFTMAX_ULPS, worst


def test_jacobians_against_mpmath_on_a_dominated_row():
    z = np.array([0.0, -40.0, -30.0])
    with mp.workdps(80):
        _, s = mp_softmax_row(z)
        exact_log = [[(1 if i == j else 0) - s[j] for j in range(3)] for i in range(3)]
        exact = [[s[i] * v for v in row] for i, row in enumerate(exact_log)]
        for computed, expected in ((A.log_softmax_jacobian(z), exact_log),
                                   (A.softmax_jacobian(z), exact)):  # fmt: skip
            for c_row, e_row in zip(computed, expected, strict=True):
                assert max(relative_errors(c_row, e_row)) <= SOFTMAX_ULPS


def test_pytorch_form_of_log_softmax_would_fail_the_mpmath_test():
    # z - m - log(sum e^(z - m)), as PyTorch and SciPy compute it: 1 + e^-40 rounds to 1.
    z = np.array([0.0, -40.0])
    shifted = z - z.max()
    theirs = shifted - np.log(np.exp(shifted).sum())
    assert theirs[0] == 0.0
    assert A.log_softmax(z)[0] == pytest.approx(-float(mp.log1p(mp.exp(-40))), rel=1e-15)


# --- Closed-form values -------------------------------------------------------------


def test_closed_form_values():
    ln2 = np.log(2.0)
    assert A.sigmoid(0.0) == 0.5 and A.sigmoid_grad(0.0) == 0.25
    np.testing.assert_allclose(A.sigmoid(np.log(3.0)), 0.75, rtol=1e-15)
    np.testing.assert_allclose(A.log_sigmoid(0.0), -ln2, rtol=1e-15)
    np.testing.assert_allclose(A.tanh(np.log(2.0)), 0.6, rtol=1e-15)
    assert A.tanh_grad(0.0) == 1.0
    np.testing.assert_array_equal(A.relu([-2.0, 0.0, 3.0]), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(A.leaky_relu([-2.0, 3.0]), [-0.02, 3.0])
    np.testing.assert_array_equal(A.prelu([-2.0, 3.0], 0.25), [-0.5, 3.0])
    np.testing.assert_allclose(A.elu(-np.log(2.0)), -0.5, rtol=1e-15)
    np.testing.assert_allclose(A.elu(-1e3, alpha=2.0), -2.0)
    np.testing.assert_allclose(A.selu(-np.inf), -A.SELU_SCALE * A.SELU_ALPHA)
    np.testing.assert_allclose(A.gelu(1.0), 0.5 * (1 + sp.erf(1 / np.sqrt(2))), rtol=1e-15)
    assert A.gelu_grad(0.0) == 0.5 and A.gelu_grad(0.0, approximate="tanh") == 0.5
    np.testing.assert_allclose(A.silu(1.0), 1 / (1 + np.exp(-1.0)), rtol=1e-15)
    np.testing.assert_allclose(A.swish(4.0, beta=np.log(3.0) / 4.0), 3.0)
    np.testing.assert_allclose(A.mish(np.log(3.0)), np.log(3.0) * np.tanh(np.log(4.0)))
    np.testing.assert_allclose(A.mish_grad(0.0), 0.6, rtol=1e-15)  # tanh(ln 2)
    np.testing.assert_allclose(A.softplus(0.0), ln2, rtol=1e-15)
    np.testing.assert_allclose(A.softplus(0.0, beta=2.0), ln2 / 2, rtol=1e-15)
    np.testing.assert_allclose(A.softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(A.log_softmax([0.0, 0.0, 0.0, 0.0]), -np.log(4.0) * np.ones(4))


def test_selu_constants_are_the_fixed_point_of_self_normalisation():
    # SELU's alpha and lambda are chosen so that a standard normal input keeps mean 0 and
    # variance 1; check both moments by quadrature.
    def moment(k):
        return mp.quad(lambda t: A.selu(float(t)) ** k * mp.npdf(t), [-mp.inf, 0, mp.inf])

    assert abs(moment(1)) < 1e-9
    assert abs(moment(2) - 1) < 1e-9


# --- Derivatives against finite differences -----------------------------------------


DENSE = np.linspace(-5.0, 5.0, 401)
TAILS = np.concatenate([-np.geomspace(5.0, 30.0, 12), np.geomspace(5.0, 30.0, 12)])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_derivative_matches_finite_differences(name):
    x = DENSE[np.abs(DENSE) > 1e-2] if name in PIECEWISE else DENSE  # no stencil across 0
    numeric = numerical_derivative(lambda t: call(name, t), x)
    assert max_relative_error(call_grad(name, x), numeric) < 1e-9


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_derivative_matches_finite_differences_in_the_tails(name):
    numeric = numerical_derivative(lambda t: call(name, t), TAILS)
    # Differences of f ~ 1 cannot resolve a derivative much below 1e-12 (rounding error
    # eps/h); the mpmath tests above check the tails' relative precision.
    assert max_relative_error(call_grad(name, TAILS), numeric, floor=1e-6) < 1e-6


@pytest.mark.parametrize("name", PIECEWISE)
def test_derivative_at_the_kink_is_the_left_derivative(name):
    # PyTorch takes the x <= 0 branch at x = 0; so do we.
    x = np.array([0.0])
    left = numerical_derivative(lambda t: call(name, t), x, side="left")
    np.testing.assert_allclose(call_grad(name, x), left, rtol=1e-9, atol=1e-12)


def test_prelu_gradient_with_respect_to_slopes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 2))
    a = np.array([0.1, -0.2, 0.3, 0.5])
    _, da = A.prelu_grad(x, a)
    numeric = numerical_gradient(lambda s: np.sum(A.prelu(x, s)), a)
    np.testing.assert_allclose(da, numeric, rtol=1e-9)
    _, da_shared = A.prelu_grad(x, 0.25)
    assert np.shape(da_shared) == ()
    np.testing.assert_allclose(da_shared, np.minimum(x, 0).sum())


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_vjp_matches_finite_differences(which, axis):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3.0, size=(4, 5))
    g = rng.normal(size=z.shape)
    f, vjp = getattr(A, which), getattr(A, which + "_grad")
    numeric = numerical_gradient(lambda t: np.sum(g * f(t, axis=axis)), z)
    np.testing.assert_allclose(vjp(z, g, axis=axis), numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_jacobian_agrees_with_vjp(which):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(3, 6))
    g = rng.normal(size=z.shape)
    jac = getattr(A, which + "_jacobian")(z)
    assert jac.shape == (3, 6, 6)
    vjp = np.einsum("nij,ni->nj", jac, g)
    np.testing.assert_allclose(vjp, getattr(A, which + "_grad")(z, g), rtol=1e-13, atol=1e-15)
    # along axis 0: the Jacobian of each column
    jac0 = getattr(A, which + "_jacobian")(z, axis=0)
    assert jac0.shape == (6, 3, 3)
    np.testing.assert_allclose(jac0[2], getattr(A, which + "_jacobian")(z[:, 2]), rtol=1e-15)


def test_softmax_jacobian_is_symmetric_and_rows_sum_to_zero():
    jac = A.softmax_jacobian(np.array([0.3, -1.2, 2.0, 0.0]))
    np.testing.assert_allclose(jac, jac.T, atol=0)
    np.testing.assert_allclose(jac.sum(axis=1), 0.0, atol=1e-16)


# --- Agreement with SciPy -----------------------------------------------------------


def test_agrees_with_scipy():
    x = np.concatenate([np.linspace(-50.0, 50.0, 1001), [-700.0, 700.0]])
    np.testing.assert_allclose(A.sigmoid(x), sp.expit(x), rtol=2 * EPS)
    np.testing.assert_allclose(A.log_sigmoid(x), sp.log_expit(x), rtol=2 * EPS)
    inner = np.linspace(-8.0, 8.0, 161)  # where 1 + erf does not cancel
    np.testing.assert_allclose(
        A.gelu(inner), inner / 2 * (1 + sp.erf(inner / np.sqrt(2))), rtol=1e-13, atol=1e-15
    )
    z = np.random.default_rng(3).normal(scale=10.0, size=(7, 11))
    for axis in (0, 1):
        np.testing.assert_allclose(A.softmax(z, axis), sp.softmax(z, axis), rtol=1e-14)
        # SciPy, like PyTorch, takes the log of the whole sum: near 0 its log-probabilities
        # are right to eps absolutely, not relatively (the mpmath tests judge ours).
        np.testing.assert_allclose(
            A.log_softmax(z, axis), sp.log_softmax(z, axis), rtol=1e-14, atol=EPS
        )


# --- Agreement with PyTorch ---------------------------------------------------------


@pytest.fixture(scope="module")
def torch_reference_file():
    return load_reference("activations")


@pytest.fixture(scope="module")
def torch_live():
    torch_or_skip()
    inputs = make_inputs()
    return inputs | torch_outputs(inputs)


def check_against_torch(ref):
    """Compare dlnotes with one set of PyTorch results (file or live)."""
    x = ref["x"]
    for name, (fname, kwargs) in ELEMENTWISE.items():
        ours = getattr(A, fname)(x, **kwargs)
        grad = getattr(A, fname + "_grad")(x, **kwargs)
        # PyTorch's tanh-GELU is (1 + tanh u) x / 2, which cancels in the left tail to
        # an absolute error of a few 1e-15: there the two agree absolutely, not relatively.
        np.testing.assert_allclose(ours, ref[f"{name}:value"], rtol=1e-13, atol=1e-14,
                                   err_msg=name)  # fmt: skip
        np.testing.assert_allclose(grad, ref[f"{name}:grad"], rtol=1e-13, atol=1e-14,
                                   err_msg=name + "_grad")  # fmt: skip
    for name, (fname, axis) in SOFTMAX.items():
        ours = getattr(A, fname)(ref["z"], axis=axis)
        vjp = getattr(A, fname + "_grad")(ref["z"], ref["g"], axis=axis)
        theirs = ref[f"{name}:value"]
        # PyTorch's log-softmax takes the log of the whole sum, which rounds 1 + rest to 1:
        # where our log-probability is within eps of 0 (-rest, the mpmath tests confirm
        # it), PyTorch's is 0 or off by about eps. Those entries agree absolutely.
        rounded = np.abs(ours) < EPS if fname == "log_softmax" else np.zeros(ours.shape, bool)
        np.testing.assert_allclose(ours[rounded], theirs[rounded], rtol=0, atol=EPS)
        np.testing.assert_allclose(ours[~rounded], theirs[~rounded], rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(vjp, ref[f"{name}:grad"], rtol=1e-12, atol=1e-15)
    value = A.prelu(ref["prelu_x"], ref["prelu_a"])
    dx, da = A.prelu_grad(ref["prelu_x"], ref["prelu_a"])
    np.testing.assert_allclose(value, ref["prelu:value"], rtol=1e-15)
    np.testing.assert_allclose(dx, ref["prelu:grad_x"], rtol=1e-15)
    np.testing.assert_allclose(da, ref["prelu:grad_a"], rtol=1e-13)


def test_matches_pytorch_reference_file(torch_reference_file):
    check_against_torch(torch_reference_file)


def test_matches_pytorch_live(torch_live):
    check_against_torch(torch_live)


def test_softplus_differs_from_pytorch_default_threshold_by_design():
    torch_or_skip()
    import torch
    import torch.nn.functional as F

    at_threshold = F.softplus(torch.tensor([20.0], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(at_threshold, A.softplus([20.0]), rtol=1e-15)  # exact at 20
    x = np.array([20.5])  # just past PyTorch's threshold of 20
    theirs = F.softplus(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(theirs, x)  # PyTorch returns x itself
    assert A.softplus(x)[0] - x[0] == pytest.approx(np.exp(-20.5), rel=1e-12)


# --- Extremes, dtypes, mutation -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_extreme_inputs_give_no_warning_and_no_nan(name):
    value, grad = call(name, EXTREMES), call_grad(name, EXTREMES)
    assert np.isfinite(value[1:-1]).all() and not np.isnan(value).any()
    assert np.isfinite(grad).all()


def test_limits_at_infinity():
    ninf, inf = -np.inf, np.inf
    assert A.sigmoid(ninf) == 0 and A.sigmoid(inf) == 1
    assert A.log_sigmoid(ninf) == ninf and A.log_sigmoid(inf) == 0
    assert A.relu(inf) == inf and A.leaky_relu(ninf) == ninf
    assert A.elu(ninf) == -1 and A.elu_grad(ninf) == 0
    for f in (A.gelu, A.silu, A.mish):
        assert f(ninf) == 0 and f(inf) == inf
    assert A.gelu(ninf, approximate="tanh") == 0
    assert A.softplus(ninf) == 0 and A.softplus(inf) == inf
    for df in (A.gelu_grad, A.silu_grad, A.mish_grad, A.softplus_grad):
        assert df(ninf) == 0 and df(inf) == 1


def test_tails_keep_relative_precision():
    # The tail values that naive formulas turn into 0 or inf.
    assert A.gelu(-30.0) == pytest.approx(float(-30 * mp.ncdf(-30)), rel=1e-14)
    assert A.gelu(-30.0, approximate="tanh") == pytest.approx(float(mp_gelu_tanh(-30)), rel=1e-13)
    assert A.log_sigmoid(-800.0) == -800.0
    assert A.softplus(800.0) == 800.0
    assert A.tanh_grad(25.0) == pytest.approx(float(mp.sech(25) ** 2), rel=1e-14)
    np.testing.assert_allclose(A.log_softmax([0.0, -800.0]), [0.0, -800.0], atol=1e-300)


def test_softmax_with_infinite_logits():
    np.testing.assert_array_equal(A.softmax([1.0, np.inf, 2.0, np.inf]), [0, 0.5, 0, 0.5])
    np.testing.assert_array_equal(A.softmax([-np.inf, -np.inf]), [0.5, 0.5])
    np.testing.assert_array_equal(A.softmax([-np.inf, 0.0]), [0.0, 1.0])
    np.testing.assert_array_equal(A.log_softmax([-np.inf, 0.0]), [-np.inf, 0.0])
    np.testing.assert_array_equal(A.softmax([1e300, -1e300]), [1.0, 0.0])
    # log-softmax: an all -inf row is the limit of equal logits, uniform log-probabilities
    np.testing.assert_allclose(A.log_softmax([-np.inf] * 3), np.full(3, -np.log(3.0)), rtol=1e-15)
    np.testing.assert_allclose(
        A.log_softmax([1.0, np.inf, 2.0, np.inf]), [-np.inf, -np.log(2.0), -np.inf, -np.log(2.0)]
    )
    np.testing.assert_array_equal(A.log_softmax([np.inf, -np.inf]), [0.0, -np.inf])
    # gradients at infinite logits: those of the uniform (or two-point) limit
    g = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(A.log_softmax_grad([-np.inf] * 3, g), g - 1 / 3, rtol=1e-15)
    np.testing.assert_allclose(
        A.softmax_grad([-np.inf] * 3, g), [2 / 9, -1 / 9, -1 / 9], rtol=1e-15
    )
    np.testing.assert_array_equal(A.log_softmax_grad([np.inf, 0.0], [1.0, 0.0]), [0.0, 0.0])


@pytest.mark.parametrize("fname", ["softmax", "log_softmax"])
def test_nan_logit_propagates_to_its_row(fname):
    z = np.array([[np.nan, 1.0, 2.0], [0.0, -40.0, 3.0]])
    value = getattr(A, fname)(z)
    grad = getattr(A, fname + "_grad")(z, np.ones_like(z))
    assert np.isnan(value[0]).all() and np.isnan(grad[0]).all()
    assert np.isfinite(value[1]).all() and np.isfinite(grad[1]).all()


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_float32_stays_float32(name):
    x64 = np.concatenate([np.linspace(-10.0, 10.0, 81), [-3e38, 3e38]])
    x32 = x64.astype(np.float32)
    for f in (call, call_grad):
        out = f(name, x32)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, f(name, x64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fname", ["softmax", "log_softmax"])
def test_softmax_float32_stays_float32(fname):
    z = np.random.default_rng(4).normal(scale=50.0, size=(3, 5)).astype(np.float32)
    out = getattr(A, fname)(z)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, getattr(A, fname)(z.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert getattr(A, fname + "_grad")(z, np.ones_like(z)).dtype == np.float32


def test_integers_and_lists_become_float64():
    assert A.relu([1, -2, 3]).dtype == np.float64
    assert A.sigmoid(np.arange(3)).dtype == np.float64
    assert A.softmax([1, 2]).dtype == np.float64


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FUNCTIONS))
def test_input_is_not_mutated(name):
    x = np.linspace(-3.0, 3.0, 13)
    before = x.copy()
    for f in (call, call_grad):
        out = f(name, x)
        np.testing.assert_array_equal(x, before)
        assert not np.shares_memory(out, x)


def test_softmax_inputs_are_not_mutated():
    z = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    g = np.ones_like(z)
    z0, g0 = z.copy(), g.copy()
    for fname in ("softmax", "log_softmax"):
        getattr(A, fname)(z)
        getattr(A, fname + "_grad")(z, g)
        getattr(A, fname + "_jacobian")(z)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(g, g0)


# --- Bad arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: A.gelu([1.0], approximate="foo"), ValueError, "approximate"),
        (lambda: A.gelu_grad([1.0], approximate=None), ValueError, "approximate"),
        (lambda: A.elu([1.0], alpha=-1.0), ValueError, "alpha"),
        (lambda: A.elu_grad([1.0], alpha=float("nan")), ValueError, "alpha"),
        (lambda: A.leaky_relu([1.0], negative_slope="0.1"), TypeError, "negative_slope"),
        (lambda: A.softplus([1.0], beta=0.0), ValueError, "beta"),
        (lambda: A.softplus_grad([1.0], beta=-1.0), ValueError, "beta"),
        (lambda: A.swish([1.0], beta=-1.0), ValueError, "beta"),
        (lambda: A.swish_grad([1.0], beta=0.0), ValueError, "beta"),
        (lambda: A.swish([1.0], beta=True), TypeError, "beta"),
        (lambda: A.prelu(np.ones((2, 3)), [0.1, 0.2]), ValueError, "a must have"),
        (lambda: A.prelu_grad(np.ones((2, 3)), np.ones((3, 1))), ValueError, "a must be"),
        (lambda: A.prelu(np.ones(3), [0.1, 0.2, 0.3]), ValueError, "a must have"),
        (lambda: A.sigmoid(["a", "b"]), TypeError, "x must be a real"),
        (lambda: A.relu(np.array([1 + 2j])), TypeError, "x must be a real"),
        (lambda: A.softmax(1.0), ValueError, "z must have at least one dimension"),
        (lambda: A.softmax(np.ones((2, 0))), ValueError, "z must have at least one entry"),
        (lambda: A.softmax(np.ones(3), axis=1), ValueError, "axis"),
        (lambda: A.softmax_grad(np.ones(3), np.ones(4)), ValueError, "g must have the same shape"),
        (lambda: A.log_softmax_grad(np.ones(3), ["x"] * 3), TypeError, "g must be"),
    ],
)
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()


# --- Properties (hypothesis) --------------------------------------------------------

finite = st.floats(-1e300, 1e300, allow_nan=False, allow_subnormal=False)
moderate = st.floats(-50.0, 50.0, allow_nan=False)
logit_rows = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 8)), elements=moderate)


@given(logit_rows, st.floats(-1e3, 1e3))
def test_softmax_is_a_distribution_and_shift_invariant(z, c):
    s = A.softmax(z)
    assert np.all(s >= 0)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(A.softmax(z + c), s, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(np.exp(A.log_softmax(z)), s, rtol=1e-12, atol=1e-300)


@given(arrays(np.float64, st.integers(1, 20), elements=finite))
def test_monotone_functions_are_monotone(x):
    x = np.sort(x)
    for name in MONOTONE:
        assert np.all(np.diff(call(name, x)) >= 0), name
        assert np.all(call_grad(name, x) >= 0), name


@given(arrays(np.float64, st.integers(1, 20), elements=finite))
def test_symmetries(x):
    np.testing.assert_allclose(A.sigmoid(-x), 1 - A.sigmoid(x), atol=2 * EPS)
    np.testing.assert_array_equal(A.tanh(-x), -A.tanh(x))
    np.testing.assert_allclose(A.softplus(x) - A.softplus(-x), x, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(A.silu(x) - A.silu(-x), x, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(A.gelu(x) - A.gelu(-x), x, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(A.relu(x) - A.relu(-x), x, rtol=0, atol=0)


@given(arrays(np.float64, st.integers(1, 20), elements=finite))
def test_all_functions_finite_on_finite_input(x):
    for name in SMOOTH:
        assert np.isfinite(call_grad(name, x)).all(), name
        value = call(name, x)
        assert not np.isnan(value).any(), name
