"""Tests of dlnotes.regularization: closed forms, finite differences, PyTorch, statistics.

numpy's RuntimeWarnings are errors here (pyproject.toml). Every random test uses a fixed
seed, and every statistical tolerance is stated with the standard error it allows for.
"""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    DROPOUT_PS,
    REGULARIZATION_LAMBDA,
    SMOOTHING_EPSILONS,
    SOFTSHRINK_T,
    SPECTRAL_ITERATIONS,
    load_reference,
    make_regularization_inputs,
    torch_or_skip,
    torch_regularization_outputs,
)

from dlnotes import regularization as R
from dlnotes.gradcheck import numerical_derivative, numerical_gradient
from dlnotes.losses import cross_entropy

INPUTS = make_regularization_inputs()
LAM = REGULARIZATION_LAMBDA


def rng(seed=0):
    return np.random.default_rng(seed)


# The functions that take an array (or a list of arrays) of weights ``w`` and a scalar,
# as name -> (function, gradient, scalar keyword arguments).
PENALTIES = {
    "l2_penalty": (R.l2_penalty, R.l2_penalty_grad, {"lam": LAM}),
    "l1_penalty": (R.l1_penalty, R.l1_penalty_grad, {"lam": LAM}),
}
# Elementwise functions, as name -> (function, elementwise derivative, keyword arguments);
# the random ones get a fresh generator with seed 0 at every call, hence the same mask.
ELEMENTWISE = {
    "soft_threshold": (R.soft_threshold, R.soft_threshold_grad, {"t": 0.5}),
    "dropout": (R.dropout, R.dropout_grad, {"p": 0.3}),
    "dropout_eval": (R.dropout, R.dropout_grad, {"p": 0.3, "training": False}),
    "alpha_dropout": (R.alpha_dropout, R.alpha_dropout_grad, {"p": 0.3}),
    "alpha_dropout_eval": (R.alpha_dropout, R.alpha_dropout_grad, {"p": 0.3, "training": False}),
}
RANDOM = {"dropout", "dropout_eval", "alpha_dropout", "alpha_dropout_eval"}


def call(name, x, grad=False, seed=0):
    f, df, kwargs = ELEMENTWISE[name]
    if name in RANDOM:
        kwargs = kwargs | {"rng": rng(seed)}
    return (df if grad else f)(x, **kwargs)


# --- Closed-form values -------------------------------------------------------------


def test_penalties_closed_form():
    w = [np.array([3.0, -4.0]), np.array([[1.0], [0.0]])]
    assert R.l2_penalty(w, 0.5) == 0.5 * (9 + 16 + 1)  # no factor 1/2 in front
    assert R.l1_penalty(w, 0.5) == 0.5 * (3 + 4 + 1)
    grads = R.l2_penalty_grad(w, 0.5)
    assert isinstance(grads, list) and [g.shape for g in grads] == [(2,), (2, 1)]
    np.testing.assert_array_equal(grads[0], [3.0, -4.0])  # 2 * 0.5 * w
    np.testing.assert_array_equal(R.l1_penalty_grad(w, 0.5)[1], [[0.5], [0.0]])  # sign(0) = 0
    single = np.array([3.0, -4.0])
    assert R.l2_penalty(single, 1.0) == 25.0
    assert isinstance(R.l2_penalty_grad(single, 1.0), np.ndarray)
    assert R.l2_penalty(single, 0.0) == 0.0 and R.l1_penalty((single,), 0.0) == 0.0


def test_soft_threshold_closed_form():
    w = np.array([-3.0, -0.5, -0.2, 0.0, 0.4, 2.0])
    np.testing.assert_array_equal(R.soft_threshold(w, 0.5), [-2.5, 0.0, 0.0, 0.0, 0.0, 1.5])
    np.testing.assert_array_equal(R.soft_threshold_grad(w, 0.5), [1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(R.soft_threshold(w, 0.0), w)


def test_soft_threshold_is_the_proximal_step_of_l1():
    # S_t(v) minimises (w - v)^2 / 2 + t |w|: compare with a fine grid of w.
    grid = np.linspace(-4.0, 4.0, 80001)
    for v in (-3.0, -0.7, -0.3, 0.0, 0.2, 1.1, 2.5):
        objective = 0.5 * (grid - v) ** 2 + 0.6 * np.abs(grid)
        assert abs(R.soft_threshold(v, 0.6) - grid[np.argmin(objective)]) <= 1e-4


def test_dropout_special_cases():
    x = np.arange(-3.0, 4.0)
    np.testing.assert_array_equal(R.dropout(x, p=0.0, rng=rng()), x)
    np.testing.assert_array_equal(R.dropout(x, p=1.0), 0.0)  # no division by 1 - p = 0
    np.testing.assert_array_equal(R.dropout(x, p=0.9, training=False), x)
    np.testing.assert_array_equal(R.dropout_mask((2, 3), 1.0), 0.0)
    np.testing.assert_array_equal(R.dropout_mask((2, 3), 0.0), 1.0)
    mask = R.dropout_mask((1000,), 0.75, rng=rng())
    assert set(np.unique(mask)) == {0.0, 4.0}  # 1 / (1 - 0.75)
    np.testing.assert_array_equal(R.alpha_dropout(x, p=1.0, rng=rng()), 0.0)
    np.testing.assert_array_equal(R.alpha_dropout(x, p=0.0), x)
    np.testing.assert_array_equal(R.alpha_dropout(x, p=0.5, training=False), x)


def test_dropout_equals_x_times_its_mask_and_the_backward_is_that_mask():
    x = rng(1).normal(size=(30, 40))
    for p in (0.1, 0.5, 0.9):
        m = R.dropout_mask(x.shape, p, rng=rng(5))
        np.testing.assert_array_equal(R.dropout(x, p, rng=rng(5)), x * m)
        np.testing.assert_array_equal(R.dropout_grad(x, p, rng=rng(5)), m)
    # alpha dropout drops the same entries as dropout for the same generator state
    kept = R.dropout_mask(x.shape, 0.3, rng=rng(6)) != 0
    np.testing.assert_array_equal(R.alpha_dropout_grad(x, 0.3, rng=rng(6)) != 0, kept)


def test_alpha_dropout_constants():
    # PyTorch's literal in ATen/native/Dropout.cpp; the product of the SELU constants
    assert R.ALPHA_DROPOUT_SATURATION == -1.7580993408473766
    # a kept unit maps to a x + b, a dropped one to a alpha' + b, with the paper's a and b
    p, q, sat = 0.2, 0.8, -1.7580993408473766
    a = (q + sat**2 * q * (1 - q)) ** -0.5
    b = -a * (1 - q) * sat
    x = np.array([0.5, 1.0, 1.5, 2.0] * 250)
    y = R.alpha_dropout(x, p, rng=rng(3))
    kept = R.alpha_dropout_grad(x, p, rng=rng(3)) != 0
    np.testing.assert_allclose(y[kept], a * x[kept] + b, rtol=1e-15)
    np.testing.assert_allclose(y[~kept], a * sat + b, rtol=1e-15)


def test_smooth_labels_closed_form():
    y = R.smooth_labels(np.array([2, 0]), 4, 0.2)
    np.testing.assert_allclose(y, [[0.05, 0.05, 0.85, 0.05], [0.85, 0.05, 0.05, 0.05]], rtol=1e-15)
    np.testing.assert_array_equal(R.smooth_labels([1], 3, 0.0), [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(R.smooth_labels([1], 3, 1.0), np.full((1, 3), 1 / 3), rtol=1e-15)
    assert R.smooth_labels(np.zeros((2, 5), dtype=int), 3, 0.1).shape == (2, 5, 3)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.25, 1.0])
def test_cross_entropy_on_smoothed_targets_is_label_smoothing(epsilon):
    logits, labels = INPUTS["logits"], INPUTS["labels"]
    soft = cross_entropy(logits, R.smooth_labels(labels, 5, epsilon), reduction="none")
    built_in = cross_entropy(logits, labels, label_smoothing=epsilon, reduction="none")
    np.testing.assert_allclose(soft, built_in, rtol=1e-14, atol=1e-14)


def test_spectral_norm_converges_to_the_largest_singular_value():
    w = rng(2).normal(size=(6, 4))
    top = np.linalg.norm(w, 2)
    u = R.initial_u(w, rng=rng(3))
    sigmas = []
    for _ in range(30):
        w_sn, u, sigma = R.spectral_norm(w, u)
        sigmas.append(sigma)
    assert np.all(np.array(sigmas) <= top * (1 + 1e-15))  # u^T W v never exceeds sigma_max
    np.testing.assert_allclose(sigmas[-1], top, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(w_sn, 2), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-15)
    # n iterations in one call are n calls of one iteration
    u0 = R.initial_u(w, rng=rng(3))
    np.testing.assert_allclose(R.spectral_norm(w, u0, n_power_iterations=30)[2], sigmas[-1])


def test_initial_u_is_a_normalised_standard_normal_draw():
    w = np.zeros((5, 2), dtype=np.float32)
    u = R.initial_u(w, rng=rng(4))
    draw = rng(4).standard_normal(5)
    np.testing.assert_allclose(u, draw / np.linalg.norm(draw), rtol=1e-6)
    assert u.dtype == np.float32 and u.shape == (5,)


def test_spectral_norm_of_a_zero_weight_is_the_zero_weight():
    w_sn, u, sigma = R.spectral_norm(np.zeros((3, 2)), np.ones(3) / np.sqrt(3))
    assert sigma == 0.0
    np.testing.assert_array_equal(w_sn, 0.0)
    np.testing.assert_array_equal(R.spectral_norm_grad(np.zeros((3, 2)), np.ones((3, 2)), u), 1.0)


# --- High precision (mpmath) --------------------------------------------------------


def test_l2_penalty_where_the_square_overflows():
    # lambda w^2 = 1e-4 * (1e155)^2 = 1e306 is finite although (1e155)^2 is not
    w = np.array([1e155, -3e154])
    exact = mp.mpf(1e-4) * (mp.mpf(1e155) ** 2 + mp.mpf(-3e154) ** 2)
    assert R.l2_penalty(w, 1e-4) == pytest.approx(float(exact), rel=4e-16)
    tiny = np.array([1e-170])  # and underflow is to the correctly rounded 1e-340 -> 0
    assert R.l2_penalty(tiny, 1.0) == 0.0


def test_spectral_norm_of_huge_and_tiny_weights():
    w = rng(9).normal(size=(4, 3))
    u = R.initial_u(w, rng=rng(1))
    _, _, sigma = R.spectral_norm(w, u, n_power_iterations=50)
    # the norms are scaled: no overflow at 1e200, no underflow at 1e-150 (there eps must
    # be below the norms, or the clamp max(||v||, eps) stops v from being normalised)
    for scale, eps in ((1e200, 1e-12), (1e-150, 1e-300)):
        w_sn, _, s = R.spectral_norm(w * scale, u, n_power_iterations=50, eps=eps)
        assert s == pytest.approx(sigma * scale, rel=1e-13)
        np.testing.assert_allclose(w_sn, w / sigma, rtol=1e-12)
    _, _, s = R.spectral_norm(w * 1e-150, u, n_power_iterations=50)
    assert s < 1e-200 * sigma  # with the default eps, as in PyTorch: not normalised


# --- Derivatives against finite differences -----------------------------------------


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_gradient_matches_finite_differences(name):
    f, df, kwargs = PENALTIES[name]
    w0, w1 = INPUTS["w0"][1:], INPUTS["w1"]  # no zero entry: |w| has a kink there
    grads = df([w0, w1], **kwargs)
    for i, w in enumerate((w0, w1)):
        others = [w0, w1]

        def penalty(v, i=i, others=others):
            return f([v if j == i else o for j, o in enumerate(others)], **kwargs)

        np.testing.assert_allclose(grads[i], numerical_gradient(penalty, w), rtol=1e-9)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_derivative_matches_finite_differences(name):
    x = np.linspace(-3.0, 3.0, 241)
    x = x[np.abs(np.abs(x) - 0.5) > 1e-2]  # no stencil across the kinks of soft_threshold
    numeric = numerical_derivative(lambda t: call(name, t), x)
    np.testing.assert_allclose(call(name, x, grad=True), numeric, rtol=1e-10, atol=1e-12)


def test_spectral_norm_vjp_with_u_converged_matches_finite_differences():
    # PyTorch holds u, v fixed in the backward pass. At a converged u that is the true
    # derivative (the envelope theorem: u^T W v is stationary in u and v there).
    w = rng(5).normal(size=(5, 3))
    g = rng(6).normal(size=w.shape)
    u = R.spectral_norm(w, R.initial_u(w, rng=rng(7)), n_power_iterations=500)[1]
    numeric = numerical_gradient(lambda v: np.sum(g * R.spectral_norm(v, u)[0]), w)
    np.testing.assert_allclose(R.spectral_norm_grad(w, g, u), numeric, rtol=1e-8, atol=1e-9)


def test_spectral_norm_vjp_is_orthogonal_to_the_weight_direction():
    # W / sigma(W) does not change when W is scaled: the gradient has no component along W.
    w = rng(8).normal(size=(4, 6))
    u = R.initial_u(w, rng=rng(9))
    grad = R.spectral_norm_grad(w, rng(10).normal(size=w.shape), u, n_power_iterations=3)
    assert abs(np.sum(grad * w)) < 1e-12


# --- Agreement with PyTorch ---------------------------------------------------------


def check_against_torch(ref):
    """Compare dlnotes with one set of PyTorch results (file or live)."""
    ws = [ref["w0"], ref["w1"]]
    for name, (f, df, _) in PENALTIES.items():
        key = name.split("_")[0]
        np.testing.assert_allclose(f(ws, lam=LAM), ref[f"{key}:value"], rtol=1e-14)
        for i, g in enumerate(df(ws, lam=LAM)):
            np.testing.assert_allclose(g, ref[f"{key}:grad{i}"], rtol=1e-15, err_msg=name)
    for suffix, f in (("value", R.soft_threshold), ("grad", R.soft_threshold_grad)):
        np.testing.assert_array_equal(f(ref["w1"], SOFTSHRINK_T), ref[f"softshrink:{suffix}"])

    x = ref["drop_x"]
    for p in DROPOUT_PS:
        for name in ("dropout", "alpha_dropout"):
            f, df = getattr(R, name), getattr(R, name + "_grad")
            theirs, their_keep = ref[f"{name}:{p}:value"], ref[f"{name}:{p}:keep"]
            np.testing.assert_array_equal(ref[f"{name}:{p}:grad"] != 0, their_keep)
            # The generators differ, so the masks do; where both keep or both drop an
            # entry, the values and derivatives must agree.
            ours, grad = f(x, p, rng=rng(11)), df(x, p, rng=rng(11))
            agree = (grad != 0) == their_keep
            assert (agree & their_keep).sum() > 1000 and (agree & ~their_keep).sum() > 500
            np.testing.assert_allclose(ours[agree], theirs[agree], rtol=1e-15, err_msg=name)
            np.testing.assert_allclose(grad[agree], ref[f"{name}:{p}:grad"][agree], rtol=1e-15)
            # PyTorch's mask keeps each entry with probability 1 - p: 20 000 entries give
            # a standard error of at most 0.0036 on the fraction; allow 5 of them.
            assert abs(their_keep.mean() - (1 - p)) < 0.018, (name, p)

    for eps in SMOOTHING_EPSILONS:
        targets = R.smooth_labels(ref["labels"], 5, eps)
        np.testing.assert_allclose(
            cross_entropy(ref["logits"], targets), ref[f"smoothing:{eps}:value"], rtol=1e-14
        )

    for prefix in ("spectral", "wide"):
        w, u, g = ref[f"{prefix}_w"], ref[f"{prefix}_u"], ref[f"{prefix}_g"]
        for n in SPECTRAL_ITERATIONS:
            key = f"{prefix}:{n}"
            w_sn, u_new, sigma = R.spectral_norm(w, u, n_power_iterations=n)
            np.testing.assert_allclose(w_sn, ref[f"{key}:weight"], rtol=1e-13, err_msg=key)
            np.testing.assert_allclose(u_new, ref[f"{key}:u"], rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(sigma, ref[f"{key}:sigma"], rtol=1e-14)
            grad = R.spectral_norm_grad(w, g, u, n_power_iterations=n)
            np.testing.assert_allclose(grad, ref[f"{key}:grad"], rtol=1e-12, atol=1e-14)


def test_matches_pytorch_reference_file():
    check_against_torch(load_reference("regularization"))


def test_matches_pytorch_live():
    torch_or_skip()
    check_against_torch(INPUTS | torch_regularization_outputs(INPUTS))


def test_sgd_weight_decay_is_the_l2_penalty_with_lambda_doubled():
    # torch.optim.SGD(weight_decay=wd) adds wd * w to the gradient; the gradient of
    # lam * sum(w^2) is 2 lam w: the same update when wd = 2 lam. Adam rescales the
    # penalty's gradient with the loss's, so there the two routes differ.
    torch_or_skip()
    import torch

    lam, lr = 0.05, 0.1
    w0 = rng(12).normal(size=6)
    grads = [rng(13 + k).normal(size=6) for k in range(5)]  # a fixed loss-gradient sequence

    def run(optimizer, weight_decay, penalty):
        w = torch.tensor(w0, requires_grad=True)
        opt = optimizer([w], lr=lr, weight_decay=weight_decay, foreach=False)
        for g in grads:
            extra = R.l2_penalty_grad(w.detach().numpy(), lam) if penalty else 0.0
            w.grad = torch.tensor(g + extra)
            opt.step()
        return w.detach().numpy()

    sgd_decay, sgd_penalty = run(torch.optim.SGD, 2 * lam, False), run(torch.optim.SGD, 0, True)
    np.testing.assert_allclose(sgd_decay, sgd_penalty, rtol=1e-14)
    adam_decay = run(torch.optim.Adam, 2 * lam, False)  # Adam's weight_decay: coupled L2
    np.testing.assert_allclose(adam_decay, run(torch.optim.Adam, 0, True), rtol=1e-14)
    adamw = run(torch.optim.AdamW, 2 * lam, False)  # decoupled: w <- w (1 - lr wd) first
    assert np.max(np.abs(adamw - adam_decay)) > 1e-3


# --- Statistics of the random functions (fixed seeds) --------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_the_mean_and_adds_the_stated_variance(p):
    n = 1_000_000
    x = np.ones(n)
    y = R.dropout(x, p, rng=rng(20))
    # y is 1/(1-p) with probability 1-p, else 0: mean 1, variance p/(1-p). Standard error
    # of the mean sqrt(p/(1-p)/n) <= 0.002; allow 5 of them.
    se = np.sqrt(p / (1 - p) / n)
    assert abs(y.mean() - 1.0) < 5 * se
    assert abs(y.var() / (p / (1 - p)) - 1) < 0.01
    assert abs((y != 0).mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_mean_zero_and_variance_one(p):
    n = 1_000_000
    x = rng(21).standard_normal(n)
    y = R.alpha_dropout(x, p, rng=rng(22))
    # standard errors: 1e-3 for the mean, about 2e-3 for the variance; allow 5 of them
    assert abs(y.mean()) < 5e-3 and abs(y.var() - 1) < 1e-2
    # plain dropout on the same input keeps the mean but not the variance
    assert abs(R.dropout(x, p, rng=rng(22)).var() - 1 / (1 - p)) < 1e-2 / (1 - p)


# --- Extremes, dtypes, mutation -----------------------------------------------------


def test_extreme_inputs_give_no_warning_and_no_nan():
    big = np.array([-1e300, -1e3, -1e-300, 0.0, 1e-300, 1e3, 1e300])
    for name in ELEMENTWISE:
        assert np.isfinite(call(name, big)).all(), name
        assert np.isfinite(call(name, big, grad=True)).all(), name
    assert R.l1_penalty(big, 1e-6) == pytest.approx(2e294)
    assert R.l2_penalty(big, 0.0) == 0.0  # not 0 * inf
    assert R.l2_penalty(big, 1.0) == np.inf  # the true 2e600 rounds to inf, silently
    assert np.isfinite(R.l2_penalty_grad(big, 0.3)).all()
    assert R.dropout(np.array([1e308]), 0.5, rng=rng(1)).max() in (0.0, np.inf)  # 2e308


def test_float32_stays_float32():
    x = np.linspace(-2.0, 2.0, 50, dtype=np.float32)
    for name in ELEMENTWISE:
        for grad in (False, True):
            out = call(name, x, grad=grad)
            assert out.dtype == np.float32, name
            np.testing.assert_allclose(out, call(name, x.astype(np.float64), grad=grad),
                                       rtol=1e-6, atol=1e-6, err_msg=name)  # fmt: skip
    assert R.l2_penalty(x, 0.1).dtype == np.float32
    assert R.l1_penalty_grad([x, x], 0.1)[1].dtype == np.float32
    assert R.dropout_mask((3,), 0.5, rng=rng(), dtype=np.float32).dtype == np.float32
    w32 = INPUTS["spectral_w"].astype(np.float32)
    w_sn, u, sigma = R.spectral_norm(w32, INPUTS["spectral_u"])
    assert w_sn.dtype == u.dtype == sigma.dtype == np.float32
    assert R.spectral_norm_grad(w32, w32, INPUTS["spectral_u"]).dtype == np.float32


def test_integers_and_lists_become_float64():
    assert R.soft_threshold([1, -2, 3], 1).dtype == np.float64
    assert R.dropout([1, 2, 3], 0.5, rng=rng()).dtype == np.float64
    assert R.l2_penalty_grad(np.arange(3), 1.0).dtype == np.float64
    assert R.spectral_norm(np.eye(2, dtype=int), [1, 0])[0].dtype == np.float64


def test_inputs_are_not_mutated():
    before = {k: v.copy() for k, v in INPUTS.items()}
    ws = [INPUTS["w0"], INPUTS["w1"]]
    for f, df, kwargs in PENALTIES.values():
        f(ws, **kwargs)
        for g, w in zip(df(ws, **kwargs), ws, strict=True):
            assert not np.shares_memory(g, w)
    x = INPUTS["w0"]
    for name in ELEMENTWISE:
        for grad in (False, True):
            assert not np.shares_memory(call(name, x, grad=grad), x), name
    w, u, g = INPUTS["spectral_w"], INPUTS["spectral_u"], INPUTS["spectral_g"]
    w_sn, u_new, _ = R.spectral_norm(w, u, n_power_iterations=3)
    R.spectral_norm_grad(w, g, u)
    assert not np.shares_memory(w_sn, w) and not np.shares_memory(u_new, u)
    R.smooth_labels(INPUTS["labels"], 5, 0.1)
    for key, value in before.items():
        np.testing.assert_array_equal(INPUTS[key], value, err_msg=key)


# --- Bad arguments ------------------------------------------------------------------

W, U = np.ones((3, 2)), np.ones(3) / np.sqrt(3)


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: R.l2_penalty(W, -0.1), ValueError, "lam"),
        (lambda: R.l2_penalty_grad(W, "0.1"), TypeError, "lam"),
        (lambda: R.l1_penalty([W, ["a"]], 0.1), TypeError, r"w\[1\]"),
        (lambda: R.l1_penalty_grad([], 0.1), ValueError, "w must hold"),
        (lambda: R.l1_penalty(W, float("nan")), ValueError, "lam"),
        (lambda: R.soft_threshold(W, -1.0), ValueError, "t must"),
        (lambda: R.soft_threshold_grad(W, None), TypeError, "t must"),
        (lambda: R.dropout(W, p=1.5, rng=rng()), ValueError, "p must"),
        (lambda: R.dropout(W, p=-0.1, rng=rng()), ValueError, "p must"),
        (lambda: R.dropout(W, p=0.5), TypeError, "rng"),
        (lambda: R.dropout(W, p=0.5, rng=0), TypeError, "rng"),
        (lambda: R.dropout(W, p=0.5, rng=np.random.RandomState(0)), TypeError, "rng"),
        (lambda: R.dropout(W, p=0.5, training="yes", rng=rng()), TypeError, "training"),
        (lambda: R.dropout_grad(W, p=2.0, training=False), ValueError, "p must"),
        (lambda: R.dropout_mask((2,), 0.5), TypeError, "rng"),
        (lambda: R.dropout_mask((2,), 0.5, rng=rng(), dtype=int), TypeError, "dtype"),
        (lambda: R.alpha_dropout(W, p=1.01, rng=rng()), ValueError, "p must"),
        (lambda: R.alpha_dropout_grad(W, p=0.5), TypeError, "rng"),
        (lambda: R.smooth_labels([0, 3], 3, 0.1), ValueError, "class index outside"),
        (lambda: R.smooth_labels([-1], 3, 0.1), ValueError, "class index outside"),
        (lambda: R.smooth_labels([0.0, 1.0], 3, 0.1), TypeError, "target"),
        (lambda: R.smooth_labels([0], 3, 1.5), ValueError, "epsilon"),
        (lambda: R.smooth_labels([0], 3, -0.1), ValueError, "epsilon"),
        (lambda: R.smooth_labels([0], 3.0, 0.1), TypeError, "num_classes"),
        (lambda: R.smooth_labels([0], 0, 0.1), ValueError, "num_classes"),
        (lambda: R.spectral_norm(W, np.ones(2)), ValueError, "u must"),
        (lambda: R.spectral_norm(W, np.ones((3, 1))), ValueError, "u must"),
        (lambda: R.spectral_norm(np.ones((2, 3, 4)), np.ones(2)), ValueError, "weight must"),
        (lambda: R.spectral_norm(np.ones(3), np.ones(3)), ValueError, "weight must"),
        (lambda: R.spectral_norm(W, U, n_power_iterations=0), ValueError, "n_power_iterations"),
        (lambda: R.spectral_norm(W, U, n_power_iterations=1.0), TypeError, "n_power_iterations"),
        (lambda: R.spectral_norm(W, U, eps=0.0), ValueError, "eps"),
        (lambda: R.spectral_norm_grad(W, np.ones((2, 3)), U), ValueError, "g must"),
        (lambda: R.initial_u(W), TypeError, "rng"),
        (lambda: R.initial_u(np.ones(3), rng=rng()), ValueError, "weight must"),
    ],
)
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()


# --- Properties (hypothesis) --------------------------------------------------------

moderate = st.floats(-1e3, 1e3, allow_nan=False)
vectors = arrays(np.float64, st.integers(1, 12), elements=moderate)


@given(vectors, vectors, st.floats(0.0, 10.0))
def test_penalty_of_a_list_is_the_sum_of_the_penalties(a, b, lam):
    for f in (R.l2_penalty, R.l1_penalty):
        np.testing.assert_allclose(f([a, b], lam), f(a, lam) + f(b, lam), rtol=1e-14, atol=1e-300)


@given(vectors, st.floats(0.0, 100.0))
def test_soft_threshold_shrinks_towards_zero_by_at_most_t(v, t):
    s = R.soft_threshold(v, t)
    assert np.all(np.abs(s) <= np.abs(v)) and np.all(s * v >= 0)
    assert np.all(np.abs(v - s) <= t + 2e-16 * np.abs(v))  # up to the rounding of |v| - t
    np.testing.assert_array_equal(s == 0, np.abs(v) <= t)


@given(arrays(np.int64, st.integers(1, 6), elements=st.integers(0, 6)), st.floats(0.0, 1.0))
def test_smoothed_targets_are_distributions(labels, epsilon):
    y = R.smooth_labels(labels, 7, epsilon)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-15)
    assert np.all(y >= 0)
    assert np.all(np.argmax(y, axis=-1) == labels) or epsilon == 1.0


@given(arrays(np.float64, (4, 3), elements=st.floats(-10.0, 10.0)), st.integers(0, 2**32 - 1))
def test_power_iteration_never_overestimates(w, seed):
    u = R.initial_u(w, rng=rng(seed))
    _, _, sigma = R.spectral_norm(w, u)
    assert 0.0 <= sigma <= np.linalg.norm(w, 2) * (1 + 1e-12) + 1e-300
