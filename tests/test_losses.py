"""Tests of dlnotes.losses: PyTorch, finite differences, brute-force CTC, extremes, errors.

numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    LOSS_REFERENCE_FILE,
    LOSSES,
    REDUCTIONS,
    make_loss_inputs,
    torch_loss_outputs,
    torch_or_skip,
)

from dlnotes import losses as L
from dlnotes.activations import log_softmax, softmax
from dlnotes.gradcheck import numerical_gradient

INPUTS = make_loss_inputs()


def call(name, reduction, grad=False, inputs=INPUTS, first=None):
    """Run loss case ``name`` (or its gradient), optionally with another first argument."""
    fname, arg_names, kwargs = LOSSES[name]
    args = [inputs[k] for k in arg_names]
    if first is not None:
        args[0] = first
    fn = getattr(L, fname + ("_grad" if grad else ""))
    return fn(*args, **kwargs, reduction=reduction)


CTC_ARGS = ("ctc_targets", "ctc_input_lengths", "ctc_target_lengths")


def ctc_logits_grad(logits, reduction):
    """Our CTC gradient carried through log_softmax to the logits (what PyTorch reports)."""
    args = [INPUTS[k] for k in CTC_ARGS]
    free = L.ctc_loss_grad(log_softmax(logits), *args, reduction=reduction)
    return free - softmax(logits) * free.sum(axis=-1, keepdims=True)


# --- Agreement with PyTorch ---------------------------------------------------------


def check_against_torch(ref):
    for name in LOSSES:
        for reduction in REDUCTIONS:
            key = f"{name}:{reduction}"
            np.testing.assert_allclose(call(name, reduction), ref[key + ":value"],
                                       rtol=1e-12, atol=1e-14, err_msg=key)  # fmt: skip
            theirs = ref[key + ":grad"]
            if name == "kl":  # at p = 0 PyTorch's gradient is NaN; ours is the limit, -inf
                theirs = np.where(np.isnan(theirs) & (INPUTS["p"] == 0), -np.inf, theirs)
            np.testing.assert_allclose(call(name, reduction, grad=True), theirs,
                                       rtol=1e-11, atol=1e-14, err_msg=key + " grad")  # fmt: skip
    mask = np.arange(len(ref["ctc_logits"]))[:, None] < ref["ctc_input_lengths"][None, :]
    for reduction in REDUCTIONS:
        args = [INPUTS[k] for k in CTC_ARGS]
        ours = L.ctc_loss(log_softmax(INPUTS["ctc_logits"]), *args, reduction=reduction)
        np.testing.assert_allclose(ours, ref[f"ctc:{reduction}:value"], rtol=1e-12)
        grad = ctc_logits_grad(INPUTS["ctc_logits"], reduction)
        theirs = ref[f"ctc:{reduction}:grad_logits"]
        np.testing.assert_allclose(grad[mask], theirs[mask], rtol=1e-9, atol=1e-13)
        # PyTorch leaves frames past each input's end at 0, as the free-input gradient does
        np.testing.assert_array_equal(theirs[~mask], 0.0)


def test_matches_pytorch_reference_file():
    ref = dict(np.load(LOSS_REFERENCE_FILE))
    for key, value in INPUTS.items():  # the file was written from today's inputs
        np.testing.assert_array_equal(ref[key], value, err_msg=key)
    check_against_torch(ref)


def test_matches_pytorch_live():
    torch_or_skip()
    check_against_torch(INPUTS | torch_loss_outputs(INPUTS))


def test_smooth_l1_is_huber_divided_by_beta():
    # The relation the chapter states between PyTorch's two robust losses.
    torch_or_skip()
    import torch
    import torch.nn.functional as F

    a, b = torch.tensor(INPUTS["pred"]), torch.tensor(INPUTS["target"])
    smooth = F.smooth_l1_loss(a, b, beta=0.5, reduction="none").numpy()
    huber = L.huber_loss(INPUTS["pred"], INPUTS["target"], delta=0.5, reduction="none")
    np.testing.assert_allclose(smooth, huber / 0.5, rtol=1e-14)


# --- Gradients against finite differences -------------------------------------------

# KL's arguments must stay probability vectors, so it is checked in closed form below.
DIFFERENTIABLE = [name for name in LOSSES if name != "kl"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_matches_finite_differences(name, reduction):
    # For 'none' the gradient is that of the sum of the per-element (or per-row) losses.
    first = INPUTS[LOSSES[name][1][0]].copy()
    if name.startswith(("bce_logits", "focal")):
        first[0] = [-8.0, 9.0, -12.0, 11.0]  # moderate: differences of 1e3 are meaningless
    if name == "bce":  # keep the stencil (h ~ 7e-4) well away from the poles at 0 and 1
        first = np.clip(first, 0.1, 0.9)
    numeric = numerical_gradient(lambda v: np.sum(call(name, reduction, first=v)), first)
    analytic = call(name, reduction, grad=True, first=first)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


def test_kl_gradient_closed_form():
    p, q = INPUTS["p"], INPUTS["q"]
    grad = L.kl_divergence_grad(p, q, reduction="sum")
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(grad, np.log(p) - np.log(q) + 1, rtol=1e-15)
    assert grad[0, 2] == -np.inf  # d/dp (p log p) at p = 0
    np.testing.assert_allclose(L.kl_divergence_grad(p, q) * len(p), grad)  # 'mean' over rows


# --- CTC: brute force and edge cases ------------------------------------------------


def brute_force_ctc(log_probs, target, blank=0):
    """-log of the summed probability of every path that collapses to ``target``."""
    steps, classes = log_probs.shape
    total = -np.inf
    for path in itertools.product(range(classes), repeat=steps):
        merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        if [k for k in merged if k != blank] == list(target):
            total = np.logaddexp(total, sum(log_probs[t, k] for t, k in enumerate(path)))
    return -total


@pytest.mark.parametrize("target", [[1], [1, 2], [2, 2], [1, 2, 1], [], [3, 3, 1]])
@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_matches_brute_force(target, blank):
    rng = np.random.default_rng(len(target) + 10 * blank)
    log_probs = log_softmax(rng.normal(size=(5, 4)))
    target = [k if k != blank else 0 if blank else 3 for k in target]
    ours = L.ctc_loss(log_probs[:, None, :], [target] if target else np.zeros((1, 0), int),
                      [5], [len(target)], blank=blank, reduction="sum")  # fmt: skip
    np.testing.assert_allclose(ours, brute_force_ctc(log_probs, target, blank), rtol=1e-13)


def test_ctc_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    log_probs = rng.normal(size=(6, 3, 4))  # free inputs: no need to be normalised
    targets, in_len, tg_len = [[1, 1, 0], [2, 3, 1], [3, 0, 0]], [6, 5, 3], [2, 3, 1]
    for reduction in ("mean", "sum"):
        numeric = numerical_gradient(
            lambda v, r=reduction: L.ctc_loss(v, targets, in_len, tg_len, reduction=r), log_probs
        )
        grad = L.ctc_loss_grad(log_probs, targets, in_len, tg_len, reduction=reduction)
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-10)


def test_ctc_occupancy_is_a_distribution_over_classes_at_each_frame():
    args = [INPUTS[k] for k in CTC_ARGS]
    grad = L.ctc_loss_grad(log_softmax(INPUTS["ctc_logits"]), *args, reduction="sum")
    in_len = INPUTS["ctc_input_lengths"]
    per_frame = -grad.sum(axis=-1)
    frames = np.arange(len(grad))[:, None] < in_len[None, :]
    np.testing.assert_allclose(per_frame[frames], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(per_frame[~frames], 0.0)


def test_ctc_edge_cases():
    rng = np.random.default_rng(7)
    lp = log_softmax(rng.normal(size=(4, 1, 3)))
    empty = np.zeros((1, 0), dtype=np.int64)
    # empty target: the all-blank path only
    assert L.ctc_loss(lp, empty, [4], [0], reduction="sum") == pytest.approx(-lp[:, 0, 0].sum())
    # zero-length input with an empty target: probability 1 of the empty output
    assert L.ctc_loss(np.zeros((0, 1, 3)), empty, [0], [0], reduction="sum") == 0.0
    # repeated labels need a blank between them: (1, 1) needs 3 frames, 2 are not enough
    assert np.isfinite(L.ctc_loss(lp[:3], [[1, 1]], [3], [2], reduction="sum"))
    assert L.ctc_loss(lp[:2], [[1, 1]], [2], [2], reduction="sum") == np.inf
    assert L.ctc_loss(lp[:2], [[1, 1]], [2], [2], reduction="sum", zero_infinity=True) == 0.0
    np.testing.assert_array_equal(L.ctc_loss_grad(lp[:2], [[1, 1]], [2], [2]), 0.0)
    # 'mean' divides by the target length, clamped to at least 1
    batch = np.concatenate([lp, lp], axis=1)
    per = L.ctc_loss(batch, [[1, 2], [0, 0]], [4, 4], [2, 0], reduction="none")
    mean = L.ctc_loss(batch, [[1, 2], [0, 0]], [4, 4], [2, 0])
    assert mean == pytest.approx((per[0] / 2 + per[1] / 1) / 2)
    # concatenated targets equal padded ones
    flat = L.ctc_loss(batch, np.array([1, 2]), [4, 4], [2, 0], reduction="none")
    np.testing.assert_array_equal(flat, per)


def test_ctc_alpha_lattice_gives_the_likelihood():
    rng = np.random.default_rng(8)
    lp = log_softmax(rng.normal(size=(6, 4)))
    alpha = L.ctc_alpha(lp, [1, 2, 2])
    assert alpha.shape == (6, 7)
    assert alpha[0, 2:].max() == -np.inf  # only the first blank or first label at t = 0
    total = -np.logaddexp(alpha[-1, -1], alpha[-1, -2])
    np.testing.assert_allclose(total, brute_force_ctc(lp, [1, 2, 2]), rtol=1e-13)


# --- Extremes and properties --------------------------------------------------------


def test_extreme_logits_are_finite_and_exact():
    z = np.array([[1000.0, 0.0, -1000.0]])
    assert L.cross_entropy(z, np.array([2])) == pytest.approx(2000.0)
    assert L.cross_entropy(z, np.array([0])) == 0.0
    x, y = np.array([-1e3, 1e3, -1e3, 1e3]), np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits(x, y, reduction="none"),
                               [1000.0, 1000.0, 0.0, 0.0])  # fmt: skip
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits_grad(x, y, reduction="none"),
                               [-1.0, 1.0, 0.0, 0.0])  # fmt: skip
    focal = L.focal_loss(x, y)
    assert np.all(np.isfinite(focal)) and focal[2] == 0.0
    np.testing.assert_allclose(focal[:2], [0.25 * 1000.0, 0.75 * 1000.0])
    assert np.all(np.isfinite(L.focal_loss_grad(x, y, gamma=0.5)))


def test_naive_bce_fails_where_bce_with_logits_does_not():
    z, y = np.array([40.0]), np.array([0.0])
    p = softmax(np.stack([np.zeros(1), z], axis=-1))[..., 1]  # sigma(40) rounds to 1.0
    assert p[0] == 1.0
    assert L.binary_cross_entropy(p, y) == 100.0  # PyTorch's clamp; the true loss is 40
    assert L.binary_cross_entropy_with_logits(z, y) == pytest.approx(40.0)


def test_mse_and_huber_on_huge_residuals():
    big = np.array([1e300])
    assert L.mse_loss(big, -big) == np.inf  # the true 4e600 rounds to inf, silently
    assert L.huber_loss(big, np.zeros(1)) == pytest.approx(1e300)


def test_float32_stays_float32():
    a32 = INPUTS["pred"].astype(np.float32)
    t32 = INPUTS["target"].astype(np.float32)
    for fn in (L.mse_loss, L.mae_loss, L.huber_loss, L.mse_loss_grad, L.huber_loss_grad):
        assert np.asarray(fn(a32, t32)).dtype == np.float32
    assert L.cross_entropy(INPUTS["logits"].astype(np.float32), INPUTS["labels"]).dtype == (
        np.float32
    )


def test_inputs_are_not_mutated():
    before = {k: v.copy() for k, v in INPUTS.items()}
    for name in LOSSES:
        call(name, "mean")
        call(name, "mean", grad=True)
    for key, value in before.items():
        np.testing.assert_array_equal(INPUTS[key], value, err_msg=key)


probabilities = arrays(np.float64, 5, elements=st.floats(0.01, 1.0)).map(lambda v: v / v.sum())


@given(probabilities, probabilities)
def test_kl_is_nonnegative_and_zero_on_itself(p, q):
    assert L.kl_divergence(p, q) >= -1e-15
    assert abs(L.kl_divergence(p, p)) < 1e-15


@given(arrays(np.float64, 6, elements=st.floats(-1e3, 1e3)), st.floats(0.01, 10.0))
def test_huber_lies_between_its_pieces(residual, delta):
    zero = np.zeros_like(residual)
    huber = L.huber_loss(residual, zero, delta=delta, reduction="none")
    assert np.all(huber <= 0.5 * residual**2 + 1e-9)
    assert np.all(huber <= delta * np.abs(residual) + 1e-9)
    assert np.all(huber >= 0)


@given(arrays(np.float64, (3, 4), elements=st.floats(-10.0, 10.0)),
       arrays(np.float64, (3, 4), elements=st.floats(0.0, 1.0)))  # fmt: skip
def test_bce_with_logits_equals_the_textbook_formula(z, y):
    p = 1 / (1 + np.exp(-z))
    textbook = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    np.testing.assert_allclose(
        L.binary_cross_entropy_with_logits(z, y, reduction="none"), textbook, rtol=1e-8, atol=1e-12
    )


# --- Bad arguments ------------------------------------------------------------------

Z, Y = np.zeros((2, 3)), np.array([0, 2])


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: L.cross_entropy(Z, np.array([0, 3])), ValueError, "class index outside"),
        (lambda: L.cross_entropy(Z, np.array([0, -1])), ValueError, "class index outside"),
        (lambda: L.cross_entropy(Z, np.array([0, 1, 2])), ValueError, "must have shape"),
        (lambda: L.cross_entropy(Z, np.full((2, 3), 0.5)), ValueError, "must sum to 1"),
        (lambda: L.cross_entropy(Z, Y, label_smoothing=1.5), ValueError, "label_smoothing"),
        (lambda: L.cross_entropy(Z, Y, reduction="avg"), ValueError, "reduction"),
        (lambda: L.nll_loss(Z, np.array([0.0, 1.0])), TypeError, "integer class indices"),
        (lambda: L.binary_cross_entropy_with_logits(Z, Z + 2), ValueError, r"\[0, 1\]"),
        (lambda: L.binary_cross_entropy(Z + 1.5, Z), ValueError, "probs must lie"),
        (
            lambda: L.binary_cross_entropy_with_logits(Z, Z, pos_weight=[1.0, 2.0]),
            ValueError,
            "pos_weight",
        ),
        (lambda: L.mse_loss(Z, np.zeros(3)), ValueError, "same shape"),
        (lambda: L.kl_divergence([0.5, 0.6], [0.5, 0.5]), ValueError, "p must sum to 1"),
        (lambda: L.kl_divergence([0.5, 0.5], [1.5, -0.5]), ValueError, "q must lie"),
        (lambda: L.huber_loss(Z, Z, delta=-1.0), ValueError, "delta"),
        (lambda: L.hinge_loss(Z, Z), ValueError, "-1 or \\+1"),
        (lambda: L.hinge_loss(Z, Z + 1, margin=-1.0), ValueError, "margin"),
        (lambda: L.triplet_loss(Z, Z, Z, margin=-0.5), ValueError, "margin"),
        (lambda: L.triplet_loss(Z, Z, Z, p=0.5), ValueError, "p must be"),
        (lambda: L.info_nce(Z, Z, temperature=-0.1), ValueError, "temperature"),
        (lambda: L.info_nce(Z, Z, temperature=0.0), ValueError, "temperature"),
        (lambda: L.focal_loss(Z, Z, gamma=-1.0), ValueError, "gamma"),
        (lambda: L.focal_loss(Z, Z, alpha=2.0), ValueError, "alpha"),
        (
            lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1, 2]], [3], [4]),
            ValueError,
            "longer than its input",
        ),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1, 4]], [3], [2]), ValueError, "class indices"),
        (
            lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1, 0]], [3], [2]),
            ValueError,
            "other than blank",
        ),
        (lambda: L.ctc_loss(np.zeros((3, 4)), [[1]], [3], [1]), ValueError, r"\(T, N, C\)"),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1]], [4], [1]), ValueError, "input_lengths"),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [1, 2], [3], [1]), ValueError, "concatenated"),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1]], [3], [1], blank=4), ValueError, "blank"),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1]], [3.0], [1]), TypeError, "input_lengths"),
    ],
)
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()
