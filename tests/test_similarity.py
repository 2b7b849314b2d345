"""Tests of dlnotes.similarity: closed forms, mpmath, finite differences, SciPy, PyTorch.

numpy's RuntimeWarnings are errors here (pyproject.toml), so an overflow inside a norm
fails the test that triggered it.
"""

import mpmath as mp
import numpy as np
import pytest
import scipy.spatial.distance as ssd
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    CDIST,
    SIMILARITY,
    load_reference,
    make_similarity_inputs,
    torch_or_skip,
    torch_similarity_outputs,
)

from dlnotes import similarity as S
from dlnotes.gradcheck import numerical_gradient

INPUTS = make_similarity_inputs()
SPD = INPUTS["cov"]  # a symmetric positive definite 8 x 8 matrix
INF = np.inf

# Every pair function with its parameters: name -> (function, gradient, keyword arguments).
PAIR_FUNCTIONS = {
    "dot": (S.dot, S.dot_grad, {}),
    "cosine": (S.cosine_similarity, S.cosine_similarity_grad, {}),
    "euclidean": (S.euclidean_distance, S.euclidean_distance_grad, {}),
    "manhattan": (S.manhattan_distance, S.manhattan_distance_grad, {}),
    "minkowski_1.5": (S.minkowski_distance, S.minkowski_distance_grad, {"p": 1.5}),
    "minkowski_3": (S.minkowski_distance, S.minkowski_distance_grad, {"p": 3}),
    "minkowski_inf": (S.minkowski_distance, S.minkowski_distance_grad, {"p": INF}),
    "mahalanobis": (S.mahalanobis_distance, S.mahalanobis_distance_grad, {"cov": SPD}),
}
DISTANCES = [name for name in PAIR_FUNCTIONS if name not in ("dot", "cosine")]


def call(name, x, y):
    f, _, kwargs = PAIR_FUNCTIONS[name]
    return f(x, y, **kwargs)


def call_grad(name, x, y, g):
    _, df, kwargs = PAIR_FUNCTIONS[name]
    return df(x, y, g, **kwargs)


def direct_distances(X, Y):
    """Euclidean distances from the differences, pair by pair (no Gram identity), each
    difference divided by its largest entry before squaring (no underflow)."""

    def distance(u):
        m = np.max(np.abs(u))
        return m * np.sqrt(np.sum((u / m) ** 2)) if m > 0 else 0.0

    return np.array([[distance(x - y) for y in Y] for x in X])


# --- Closed-form values -------------------------------------------------------------


def test_closed_form_values():
    assert S.dot([1, 2, 3], [4, 5, 6]) == 32.0
    assert S.cosine_similarity([1.0, 0.0], [0.0, 5.0]) == 0.0
    assert S.cosine_similarity([1.0, 2.0], [-3.0, -6.0]) == -1.0
    assert S.cosine_similarity([3.0, 4.0], [4.0, 3.0]) == pytest.approx(24 / 25, rel=1e-15)
    assert S.euclidean_distance([0.0, 0.0], [3.0, 4.0]) == 5.0
    assert S.manhattan_distance([1.0, -2.0], [4.0, 2.0]) == 7.0
    assert S.minkowski_distance([0.0, 0.0], [3.0, -4.0], p=INF) == 4.0
    assert S.minkowski_distance([0.0, 0.0], [3.0, 4.0], p=3) == pytest.approx(91 ** (1 / 3))
    # S = diag(4, 9): the Mahalanobis distance divides each axis by its standard deviation
    assert S.mahalanobis_distance([2.0, 3.0], [0.0, 0.0], np.diag([4.0, 9.0])) == np.sqrt(2)
    assert S.mahalanobis_distance([3.0, 4.0], [0.0, 0.0], np.eye(2)) == 5.0
    np.testing.assert_array_equal(
        S.pairwise_distances([[0.0, 0.0], [3.0, 4.0]]), [[0.0, 5.0], [5.0, 0.0]]
    )


def test_parallel_vectors_have_cosine_one_at_any_scale():
    x = np.array([0.3, -1.2, 2.5])
    for scale in (1e-300, 1e-200, 5e-9, 1.0, 1e200, 1e300):
        assert S.cosine_similarity(x * scale, x) == pytest.approx(1.0, abs=2e-16)
        assert S.cosine_similarity(x * scale, x * scale) == 1.0
        assert S.cosine_similarity(-x * scale, x) == pytest.approx(-1.0, abs=2e-16)


def test_zero_vector_conventions():
    zero, y = np.zeros(3), np.array([1.0, 2.0, 2.0])
    assert S.cosine_similarity(zero, y) == 0.0 and S.cosine_similarity(zero, zero) == 0.0
    for dx, dy in (S.cosine_similarity_grad(zero, y, 1.0), S.cosine_similarity_grad(y, zero, 1.0)):
        np.testing.assert_array_equal(dx, 0.0)
        np.testing.assert_array_equal(dy, 0.0)
    for name in DISTANCES:  # d(x, x) = 0 with gradient 0, the subgradient at the tip
        x = np.array([0.5, -1.0, 2.0, 0.0, 1.0, 3.0, -2.0, 0.25])
        assert call(name, x, x) == 0.0
        for grad in call_grad(name, x, x, 1.0):
            np.testing.assert_array_equal(grad, 0.0)
    assert S.pairwise_distances(np.zeros((1, 2)), [[1.0, 0.0]], metric="cosine")[0, 0] == 1.0


def test_mahalanobis_is_euclidean_after_whitening():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 8)), rng.normal(size=8)
    factor = np.linalg.cholesky(SPD)  # whitening: z = L^{-1} x has identity covariance
    white = np.linalg.solve(factor, (x - y).T).T
    np.testing.assert_allclose(
        S.mahalanobis_distance(x, y, SPD), S.euclidean_distance(white, 0.0 * white), rtol=1e-14
    )


def test_broadcasting_and_axis():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 1, 3)), rng.normal(size=(5, 3))
    out = S.euclidean_distance(x, y)
    assert out.shape == (4, 5)
    np.testing.assert_allclose(out[2, 3], np.linalg.norm(x[2, 0] - y[3]), rtol=1e-15)
    np.testing.assert_allclose(
        S.cosine_similarity(x[:, 0, :].T, y[:4].T, axis=0),
        S.cosine_similarity(x[:, 0, :], y[:4]),
        rtol=1e-15,
    )
    dx, dy = S.euclidean_distance_grad(x, y, np.ones((4, 5)))
    assert dx.shape == x.shape and dy.shape == y.shape


# --- Precision: mpmath --------------------------------------------------------------


def mp_distance(x, y):
    with mp.workdps(50):
        return float(mp.sqrt(mp.fsum((mp.mpf(float(a)) - mp.mpf(float(b))) ** 2
                                     for a, b in zip(x, y, strict=True))))  # fmt: skip


def test_pairwise_euclidean_is_accurate_for_close_points_far_from_the_origin():
    # The Gram identity cancels here: |x|^2 ~ 1e8 while d^2 ~ 1e-12. Every entry must
    # still be accurate to PAIRWISE_RTOL (relative), the diagonal exactly 0.
    rng = np.random.default_rng(2)
    X = 1e4 + rng.normal(size=(12, 6))
    Y = np.concatenate([X[:6] + 1e-6 * rng.normal(size=(6, 6)), rng.normal(size=(5, 6))])
    D = S.pairwise_distances(X, Y)
    exact = np.array([[mp_distance(x, y) for y in Y] for x in X])
    assert np.max(np.abs(D - exact) / exact) < S.PAIRWISE_RTOL
    squared = S.pairwise_distances(X, Y, metric="sqeuclidean")
    assert np.max(np.abs(squared - exact**2) / exact**2) < S.PAIRWISE_RTOL
    np.testing.assert_array_equal(np.diag(S.pairwise_distances(X)), 0.0)
    # the identity alone, as torch.cdist uses it, loses every digit
    gram = (X**2).sum(1)[:, None] + (Y**2).sum(1)[None, :] - 2 * X @ Y.T
    naive = np.sqrt(np.maximum(gram, 0.0))
    assert np.max(np.abs(naive[:6, :6] - exact[:6, :6]) / exact[:6, :6]) > 0.1


def test_cosine_precision_at_extreme_scales():
    x, y = np.array([1.0, 2.0, -0.5]), np.array([0.25, -3.0, 1.5])
    with mp.workdps(50):
        xs, ys = [mp.mpf(v) for v in x], [mp.mpf(v) for v in y]
        norms = mp.sqrt(mp.fsum(a * a for a in xs) * mp.fsum(b * b for b in ys))
        exact = float(mp.fsum(a * b for a, b in zip(xs, ys, strict=True)) / norms)
    for sx, sy in ((1e-200, 1e200), (1e300, 1e-300), (1e-310, 1.0)):
        assert S.cosine_similarity(x * sx, y * sy) == pytest.approx(exact, rel=4e-16)


# --- Gradients against finite differences -------------------------------------------


SHAPES = [((4, 8), (4, 8)), ((3, 1, 8), (2, 8)), ((8,), (8,))]  # same, broadcast, single


@pytest.mark.parametrize("name", sorted(PAIR_FUNCTIONS))
@pytest.mark.parametrize(("x_shape", "y_shape"), SHAPES)
def test_gradients_match_finite_differences(name, x_shape, y_shape):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=x_shape), rng.normal(size=y_shape)
    g = rng.normal(size=np.broadcast_shapes(x_shape[:-1], y_shape[:-1]))
    dx, dy = call_grad(name, x, y, g)
    assert dx.shape == x.shape and dy.shape == y.shape
    np.testing.assert_allclose(
        dx, numerical_gradient(lambda t: np.sum(g * call(name, t, y)), x), atol=1e-9
    )
    np.testing.assert_allclose(
        dy, numerical_gradient(lambda t: np.sum(g * call(name, x, t)), y), atol=1e-9
    )


@pytest.mark.parametrize("metric", S.METRICS)
def test_pairwise_gradients_match_finite_differences(metric):
    rng = np.random.default_rng(4)
    X, Y, G = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(5, 4))
    dX, dY = S.pairwise_distances_grad(X, Y, G, metric)
    f = S.pairwise_distances
    np.testing.assert_allclose(
        dX, numerical_gradient(lambda t: np.sum(G * f(t, Y, metric)), X), atol=1e-9
    )
    np.testing.assert_allclose(
        dY, numerical_gradient(lambda t: np.sum(G * f(X, t, metric)), Y), atol=1e-9
    )
    # Y = None: each row plays both parts (off the diagonal, where d is smooth)
    H = rng.normal(size=(5, 5)) * (1 - np.eye(5))
    dX, none = S.pairwise_distances_grad(X, None, H, metric)
    assert none is None
    np.testing.assert_allclose(
        dX, numerical_gradient(lambda t: np.sum(H * f(t, None, metric)), X), atol=1e-9
    )


def test_minkowski_inf_gradient_shares_ties():
    dx, dy = S.minkowski_distance_grad([3.0, -3.0, 1.0], [0.0, 0.0, 0.0], 1.0, p=INF)
    np.testing.assert_array_equal(dx, [0.5, -0.5, 0.0])
    np.testing.assert_array_equal(dy, [-0.5, 0.5, 0.0])


# --- Agreement with SciPy -----------------------------------------------------------


def test_agrees_with_scipy():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(9, 6)), rng.normal(size=(7, 6))
    for metric, theirs in (("euclidean", "euclidean"), ("sqeuclidean", "sqeuclidean"),
                           ("manhattan", "cityblock"), ("cosine", "cosine")):  # fmt: skip
        np.testing.assert_allclose(S.pairwise_distances(X, Y, metric), ssd.cdist(X, Y, theirs),
                                   rtol=1e-13, atol=1e-15, err_msg=metric)  # fmt: skip
    inverse = np.linalg.inv(SPD)
    x, y = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    for i in range(4):
        assert S.mahalanobis_distance(x[i], y[i], SPD) == pytest.approx(
            ssd.mahalanobis(x[i], y[i], inverse), rel=1e-13
        )
        for p in (1, 1.5, 2, 3):
            assert S.minkowski_distance(x[i], y[i], p=p) == pytest.approx(
                ssd.minkowski(x[i], y[i], p), rel=1e-14
            )
        assert S.minkowski_distance(x[i], y[i], p=INF) == ssd.chebyshev(x[i], y[i])
        assert S.cosine_similarity(x[i], y[i]) == pytest.approx(
            1 - ssd.cosine(x[i], y[i]), rel=1e-14, abs=1e-15
        )


# --- Agreement with PyTorch ---------------------------------------------------------


def check_against_torch(ref):
    for name, (fname, arg_names, kwargs) in SIMILARITY.items():
        kwargs = {k: INPUTS[v] if v == "cov" else v for k, v in kwargs.items()}
        x, y = (INPUTS[k] for k in arg_names)
        g = INPUTS[f"g_{name}"]
        value = getattr(S, fname)(x, y, **kwargs)
        dx, dy = getattr(S, fname + "_grad")(x, y, g, **kwargs)
        # atol: a dot product near 0 cancels (here 1.5e-3 from terms near 1)
        np.testing.assert_allclose(value, ref[f"{name}:value"], rtol=1e-13, atol=1e-14,
                                   err_msg=name)  # fmt: skip
        np.testing.assert_allclose(dx, ref[f"{name}:grad_x"], rtol=1e-12, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(dy, ref[f"{name}:grad_y"], rtol=1e-12, atol=1e-14, err_msg=name)
    X, Y, G = INPUTS["X"], INPUTS["Y"], INPUTS["G"]
    for metric in CDIST:
        key = f"cdist_{metric}"
        dX, dY = S.pairwise_distances_grad(X, Y, G, metric)
        np.testing.assert_allclose(S.pairwise_distances(X, Y, metric), ref[key + ":value"],
                                   rtol=1e-13, atol=1e-15, err_msg=key)  # fmt: skip
        np.testing.assert_allclose(dX, ref[key + ":grad_x"], rtol=1e-11, atol=1e-13, err_msg=key)
        np.testing.assert_allclose(dY, ref[key + ":grad_y"], rtol=1e-11, atol=1e-13, err_msg=key)


def test_matches_pytorch_reference_file():
    check_against_torch(load_reference("similarity"))


def test_matches_pytorch_live():
    torch_or_skip()
    check_against_torch(torch_similarity_outputs(INPUTS))


def test_where_pytorch_differs_by_design():
    torch_or_skip()
    import torch
    import torch.nn.functional as F

    def t(a):
        return torch.tensor(np.asarray(a, dtype=np.float64))

    # cosine: PyTorch clamps each norm at eps = 1e-8
    small, huge = np.array([5e-9, 0.0]), np.array([1e200, 1e200])
    assert F.cosine_similarity(t(small), t(small), dim=0).item() == pytest.approx(0.25)
    assert S.cosine_similarity(small, small) == 1.0
    assert F.cosine_similarity(t(huge), t(huge), dim=0).item() == 0.0
    assert S.cosine_similarity(huge, huge) == 1.0
    # at a zero vector both give cosine 0; PyTorch's gradient there is y / (eps |y|), ours 0
    z = t([0.0, 0.0, 0.0]).requires_grad_(True)
    F.cosine_similarity(z, t([1.0, 2.0, 2.0]), dim=0).backward()
    np.testing.assert_allclose(z.grad.numpy(), np.array([1.0, 2.0, 2.0]) / 3e-8)
    # pairwise_distance adds eps = 1e-6 to the difference: d(x, x) = 1e-6 sqrt(D) there
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert F.pairwise_distance(t(x), t(x)).item() == pytest.approx(2e-6)
    assert S.euclidean_distance(x, x) == 0.0
    # torch.cdist uses the Gram identity past 25 rows: it cancels for close points
    rng = np.random.default_rng(6)
    X = 1e4 + rng.normal(size=(30, 4))
    Y = X + 1e-6 * rng.normal(size=X.shape)
    exact = direct_distances(X, Y)
    theirs = torch.cdist(t(X), t(Y)).numpy()
    assert np.max(np.abs(np.diag(theirs) - np.diag(exact)) / np.diag(exact)) > 0.1
    np.testing.assert_allclose(S.pairwise_distances(X, Y), exact, rtol=1e-12)
    # p = inf: torch.linalg.vector_norm shares the gradient between ties, as we do
    u = t([3.0, -3.0, 1.0]).requires_grad_(True)
    torch.linalg.vector_norm(u, ord=float("inf")).backward()
    np.testing.assert_array_equal(
        u.grad.numpy(), S.minkowski_distance_grad(u.detach().numpy(), np.zeros(3), 1.0, p=INF)[0]
    )


# --- Extremes, dtypes, mutation -----------------------------------------------------


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_extreme_scales(scale):
    x, y = np.array([3.0, 0.0, -1.0]) * scale, np.array([0.0, 4.0, -1.0]) * scale
    assert S.euclidean_distance(x, y) == pytest.approx(5.0 * scale, rel=1e-15)
    assert S.manhattan_distance(x, y) == pytest.approx(7.0 * scale, rel=1e-15)
    assert S.minkowski_distance(x, y, p=3) == pytest.approx(91 ** (1 / 3) * scale, rel=1e-14)
    assert S.minkowski_distance(x, y, p=INF) == pytest.approx(4.0 * scale, rel=1e-15)
    assert S.mahalanobis_distance(x, y, np.diag([1.0, 4.0, 1.0])) == pytest.approx(
        np.sqrt(13.0) * scale, rel=1e-15
    )
    assert S.cosine_similarity(x, y) == pytest.approx(1 / np.sqrt(170.0), rel=1e-15)
    for name in PAIR_FUNCTIONS:
        kwargs = {"cov": np.eye(3)} if name == "mahalanobis" else {}
        _, df, default = PAIR_FUNCTIONS[name]
        for grad in df(x, y, 1.0, **(kwargs or default)):
            assert np.isfinite(grad).all(), name
    X = np.array([[3.0, 0.0], [0.0, 4.0], [3.0, 1e-3]]) * scale
    D = S.pairwise_distances(X)
    np.testing.assert_allclose(D / scale, direct_distances(X / scale, X / scale), rtol=1e-13)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert S.pairwise_distances(X, metric="cosine")[0, 2] == pytest.approx(
        1 - 3 / np.sqrt(9 + 1e-6), rel=1e-6
    )
    np.testing.assert_allclose(S.pairwise_distances(X, metric="manhattan")[0, 1], 7.0 * scale)


def test_dot_does_not_turn_overflow_into_nan():
    assert S.dot([1e200, 1e200], [1e200, -1e200]) == 0.0
    assert S.dot([1e200], [1e200]) == np.inf  # the true value exceeds the float max
    assert S.dot([1e300, 1e-300], [1e-300, 1e300]) == pytest.approx(2.0, rel=1e-15)


def test_differences_beyond_the_float_range():
    # |x - y| = 2e308 overflows; the distance is inf, the gradient the finite direction
    x, y = np.array([1e308, 0.0]), np.array([-1e308, 0.0])
    assert S.euclidean_distance(x, y) == np.inf
    dx, dy = S.euclidean_distance_grad(x, y, 1.0)
    np.testing.assert_array_equal(dx, [1.0, 0.0])
    np.testing.assert_array_equal(dy, [-1.0, 0.0])


@pytest.mark.parametrize("name", sorted(PAIR_FUNCTIONS))
def test_float32_stays_float32(name):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    out = call(name, x32, y32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, call(name, x32.astype(float), y32.astype(float)), rtol=1e-5)
    for grad in call_grad(name, x32, y32, np.ones(3, np.float32)):
        assert grad.dtype == np.float32


def test_pairwise_dtypes():
    X = np.arange(6).reshape(3, 2)
    assert S.pairwise_distances(X).dtype == np.float64
    for metric in S.METRICS:
        assert S.pairwise_distances(X.astype(np.float32), metric=metric).dtype == np.float32
    assert S.pairwise_distances(np.ones((0, 2)), X).shape == (0, 3)


def test_integers_become_float64():
    assert S.dot([1, 2], [3, 4]).dtype == np.float64
    assert S.euclidean_distance(np.arange(3), np.zeros(3, int)).dtype == np.float64


def test_inputs_are_not_mutated():
    rng = np.random.default_rng(8)
    x, y, cov = rng.normal(size=(3, 8)), rng.normal(size=(3, 8)), SPD.copy()
    g = np.ones(3)
    before = [a.copy() for a in (x, y, cov, g)]
    for name in PAIR_FUNCTIONS:
        call(name, x, y)
        call_grad(name, x, y, g)
    X, G = rng.normal(size=(4, 8)), rng.normal(size=(4, 3))
    X0, G0 = X.copy(), G.copy()
    for metric in S.METRICS:
        S.pairwise_distances(X, x, metric)
        S.pairwise_distances_grad(X, x, G, metric)
    for a, b in zip((x, y, cov, g, X, G), (*before, X0, G0), strict=True):
        np.testing.assert_array_equal(a, b)


# --- Bad arguments ------------------------------------------------------------------

SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])
NEAR_SINGULAR = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-17]])


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: S.dot(np.ones(3), np.ones(4)), ValueError, "same length"),
        (lambda: S.cosine_similarity(np.ones((2, 3)), np.ones((2, 4))), ValueError, "same length"),
        (lambda: S.euclidean_distance(np.ones((2, 3)), np.ones((3, 3))), ValueError, "broadcast"),
        (lambda: S.dot(1.0, 2.0), ValueError, "x must have at least one axis"),
        (lambda: S.dot(np.ones((2, 0)), np.ones((2, 0))), ValueError, "x must have at least"),
        (lambda: S.dot(np.ones(3), np.ones(3), axis=1), ValueError, "axis"),
        (lambda: S.dot(["a"], ["b"]), TypeError, "x must be a real"),
        (lambda: S.cosine_similarity(np.ones(3), np.ones(3), eps=0.0), ValueError, "eps"),
        (lambda: S.minkowski_distance(np.ones(3), np.ones(3), p=0.5), ValueError, "p must be"),
        (lambda: S.minkowski_distance(np.ones(3), np.ones(3), p=np.nan), ValueError, "p must"),
        (lambda: S.minkowski_distance(np.ones(3), np.ones(3), p="2"), TypeError, "p must"),
        (lambda: S.minkowski_distance_grad(np.ones(3), np.ones(3), 1.0, p=-INF), ValueError, "p"),
        (lambda: S.dot_grad(np.ones((2, 3)), np.ones(3), np.ones(3)), ValueError, "g must"),
        (lambda: S.mahalanobis_distance(np.ones(3), np.ones(3), np.eye(2)), ValueError, "cov"),
        (lambda: S.mahalanobis_distance(np.ones(2), np.ones(2), np.ones(2)), ValueError, "cov"),
        (
            lambda: S.mahalanobis_distance(np.ones(2), np.ones(2), np.full((2, 2), np.nan)),
            ValueError,
            "cov must be finite",
        ),
        (
            lambda: S.mahalanobis_distance(np.ones(2), np.ones(2), [[1.0, 0.5], [0.0, 1.0]]),
            ValueError,
            "cov must be symmetric",
        ),
        (
            lambda: S.mahalanobis_distance(np.ones(2), np.ones(2), SINGULAR),
            ValueError,
            "cov must be positive definite",
        ),
        (
            lambda: S.mahalanobis_distance(np.ones(2), np.ones(2), NEAR_SINGULAR),
            ValueError,
            "cov must be positive definite",
        ),
        (
            lambda: S.mahalanobis_distance(np.ones(2), np.ones(2), -np.eye(2)),
            ValueError,
            "cov must be positive definite",
        ),
        (lambda: S.pairwise_distances(np.ones(3)), ValueError, "X must be a 2-D"),
        (lambda: S.pairwise_distances(np.ones((2, 3)), np.ones((2, 4))), ValueError, "Y must"),
        (lambda: S.pairwise_distances(np.ones((2, 3)), metric="l2"), ValueError, "metric"),
        (
            lambda: S.pairwise_distances_grad(np.ones((2, 3)), None, np.ones((2, 3))),
            ValueError,
            "G must",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()


# --- Properties (hypothesis) --------------------------------------------------------

moderate = st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False)
vectors = arrays(np.float64, 8, elements=moderate)  # length 8: the Mahalanobis case's
wide = st.floats(-1e200, 1e200, allow_nan=False, allow_subnormal=False)


@given(vectors, vectors, vectors)
def test_metric_axioms(x, y, z):
    for name in DISTANCES:
        d_xy, d_yx = call(name, x, y), call(name, y, x)
        assert d_xy >= 0 and d_xy == d_yx, name
        assert call(name, x, x) == 0, name
        slack = 1e-12 * (d_xy + call(name, y, z) + 1.0)
        assert call(name, x, z) <= d_xy + call(name, y, z) + slack, name


@given(arrays(np.float64, 3, elements=wide), arrays(np.float64, 3, elements=wide))
def test_cosine_is_bounded_and_symmetric(x, y):
    c = S.cosine_similarity(x, y)
    assert -1.0 <= c <= 1.0
    assert c == S.cosine_similarity(y, x)
    assert np.isfinite(S.euclidean_distance(x, y))
    if np.any(x != 0):
        assert S.cosine_similarity(x, 3.0 * x) == pytest.approx(1.0, abs=4e-16)


@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 4)), elements=moderate))
def test_pairwise_distances_match_the_direct_form(X):
    D = S.pairwise_distances(X)
    exact = direct_distances(X, X)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_allclose(D, exact, rtol=1e-12, atol=0)
    np.testing.assert_allclose(D, D.T, rtol=1e-12, atol=0)
