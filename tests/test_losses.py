"""Tests of dlnotes.losses: mpmath accuracy, PyTorch conventions, finite differences,
brute-force CTC, extremes, errors.

numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import itertools

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    LOSSES,
    REDUCTIONS,
    load_reference,
    make_loss_inputs,
    torch_loss_outputs,
    torch_or_skip,
)

from dlnotes import losses as L
from dlnotes.activations import log_softmax, softmax, softplus
from dlnotes.gradcheck import numerical_gradient

INPUTS = make_loss_inputs()
# Properties, not timings: a loaded machine must not fail them (Hypothesis' 200 ms deadline).
NO_DEADLINE = settings(deadline=None)


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


# --- Accuracy against mpmath (BCE with logits, focal loss) --------------------------

mp.mp.dps = 50
TINY = np.finfo(np.float64).tiny  # the smallest normal float64, 2.2e-308
TARGETS = [0.0, 1.0, 0.5, 1e-3, 1 - 1e-3]
# Logits over [-700, 700], dense where the curves bend, and around each soft target's
# zero of the gradient, z = logit(y), where the exact gradient is a genuine difference.
ACCURACY_LOGITS = np.unique(np.concatenate([
    np.linspace(-700.0, 700.0, 141),
    np.linspace(-40.0, 40.0, 161),
    np.log(1e-3 / (1 - 1e-3)) + np.linspace(-1e-6, 1e-6, 5),
    -np.log(1e-3 / (1 - 1e-3)) + np.linspace(-1e-6, 1e-6, 5),
    np.linspace(-1e-6, 1e-6, 5),
]))  # fmt: skip


def mp_sigmoid(t):
    return 1 / (1 + mp.exp(-t))


def mp_softplus(t):
    return mp.log1p(mp.exp(t))


def mp_bce_terms(z, y, w=1):
    """The loss's two terms and the gradient's two terms, written out in mpmath."""
    value = [(1 - y) * mp_softplus(z), w * y * mp_softplus(-z)]
    grad = [(1 - y) * mp_sigmoid(z), -w * y * mp_sigmoid(-z)]
    return value, grad


def mp_focal_terms(z, y, gamma, alpha):
    """torchvision's focal loss, and its gradient's three terms, written out in mpmath."""
    ce = sum(mp_bce_terms(z, y)[0])
    p = mp_sigmoid(z)
    miss = 1 - (p * y + (1 - p) * (1 - y))
    alpha_t = 1 if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
    dmiss = (1 - 2 * y) * p * (1 - p)
    grad = [alpha_t * miss**gamma * t for t in mp_bce_terms(z, y)[1]]
    grad.append(alpha_t * ce * gamma * miss ** (gamma - 1) * dmiss)
    return [alpha_t * ce * miss**gamma], grad


def accuracy_error(computed, terms):
    """``|computed - sum(terms)|`` relative to the largest |term|: the plain relative error
    where the terms share a sign, and the best any formula can do where the exact result
    is a genuine difference (a soft target's gradient near its zero). Below the smallest
    normal float64, where no result has 53 bits, the error counts absolutely."""
    exact = mp.fsum(terms)
    scale = max(max(abs(t) for t in terms), mp.mpf(TINY))
    return float(abs(mp.mpf(float(computed)) - exact) / scale)


ACCURACY_CASES = {
    # name -> (function, gradient, keyword arguments, mpmath (value terms, grad terms))
    "bce_logits": (L.binary_cross_entropy_with_logits, L.binary_cross_entropy_with_logits_grad,
                   {"reduction": "none"}, lambda z, y: mp_bce_terms(z, y)),
    "bce_logits_pos_weight_3": (
        L.binary_cross_entropy_with_logits, L.binary_cross_entropy_with_logits_grad,
        {"pos_weight": 3.0, "reduction": "none"}, lambda z, y: mp_bce_terms(z, y, w=3)),
    "focal": (L.focal_loss, L.focal_loss_grad, {},
              lambda z, y: mp_focal_terms(z, y, gamma=2, alpha=mp.mpf(0.25))),
    "focal_gamma0.5_no_alpha": (L.focal_loss, L.focal_loss_grad, {"gamma": 0.5, "alpha": -1.0},
                                lambda z, y: mp_focal_terms(z, y, gamma=mp.mpf(0.5), alpha=-1)),
}  # fmt: skip
# A few ulps: 1e-15 is 4.5 eps. The focal gradient multiplies four rounded factors
# (alpha_t, m^gamma, sigma, CE); its largest error measured is 1.3e-15 (5.7 eps).
ACCURACY_LIMIT = {"value": 1e-15, "grad": 1e-15}
FOCAL_GRAD_LIMIT = 1.5e-15


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", ACCURACY_CASES)
def test_accuracy_against_mpmath(name, target):
    f, df, kwargs, mp_terms = ACCURACY_CASES[name]
    y = np.full_like(ACCURACY_LOGITS, target)
    values, grads = f(ACCURACY_LOGITS, y, **kwargs), df(ACCURACY_LOGITS, y, **kwargs)
    worst = {"value": 0.0, "grad": 0.0}
    for z, value, grad in zip(ACCURACY_LOGITS, values, grads, strict=True):
        # digits enough for the textbook 1 - p_t of the reference: 1 - (1 - e^-700)
        with mp.workdps(50 + int(abs(z))):
            value_terms, grad_terms = mp_terms(mp.mpf(float(z)), mp.mpf(target))
            worst["value"] = max(worst["value"], accuracy_error(value, value_terms))
            worst["grad"] = max(worst["grad"], accuracy_error(grad, grad_terms))
    limits = ACCURACY_LIMIT | ({"grad": FOCAL_GRAD_LIMIT} if name.startswith("focal") else {})
    for kind, error in worst.items():
        assert error <= limits[kind], f"{name} {kind} at y = {target}: {error:.3g}"


def test_pytorch_form_of_bce_cancels_where_ours_does_not():
    # PyTorch's (1 - y) z + softplus(-z) for y = 0 is softplus(z) as a difference of two
    # numbers near |z|: exactly 0 at z = -40 where the loss is e^-40 (the example).
    z, y = np.array([-40.0, -700.0]), np.zeros(2)
    theirs = (1 - y) * z + softplus(-z)
    assert np.all(theirs == 0.0)
    exact = np.exp(z)  # softplus(z) = log1p(e^z) = e^z to 1e-17 relative here
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits(z, y, reduction="none"),
                               exact, rtol=1e-15)  # fmt: skip
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits_grad(z, y, reduction="none"),
                               exact, rtol=1e-15)  # fmt: skip
    # the focal gradient's sigma(z) - y for y = 1 at z = 40: 1 - 1 in float64, -e^-40 exactly
    grad = L.focal_loss_grad(np.array([40.0]), np.ones(1), gamma=0.0, alpha=-1.0)
    np.testing.assert_allclose(grad, -np.exp(-40.0), rtol=1e-15)


def test_pytorch_itself_loses_these_digits():
    # What chapter 2 says of PyTorch: its BCE-with-logits is 0 for y = 0 at z = -40 (the
    # loss is e^-40), and its gradient 0 for y = 1 at z = 40 (the gradient is -e^-40).
    torch_or_skip()
    import torch
    import torch.nn.functional as F

    z = torch.tensor([-40.0, 40.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0], dtype=torch.float64)
    loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    loss.sum().backward()
    assert loss[0].item() == 0.0 and z.grad[1].item() == 0.0
    ours = L.binary_cross_entropy_with_logits(z.detach().numpy(), y.numpy(), reduction="none")
    grad = L.binary_cross_entropy_with_logits_grad(z.detach().numpy(), y.numpy(), reduction="none")
    np.testing.assert_allclose([ours[0], -grad[1]], np.exp(-40.0), rtol=1e-15)


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
    check_infeasible_ctc_against_torch(ref)


def check_infeasible_ctc_against_torch(ref):
    """One sequence without a path costs inf (0 with zero_infinity) and spoils nothing else.

    PyTorch's gradient for such a sequence is NaN on its frames without zero_infinity
    (sequences 1 and 2; sequence 3 has no frame) and 0 with it; ours is 0 in both cases
    (the loss is infinite, the gradient undefined).
    """
    logits = INPUTS["ctc_bad_logits"]
    args = [INPUTS[k] for k in ("ctc_bad_targets", "ctc_bad_input_lengths",
                                "ctc_bad_target_lengths")]  # fmt: skip
    for zero_infinity in (False, True):
        for reduction in REDUCTIONS:
            key = f"ctc_infeasible:{zero_infinity}:{reduction}"
            kwargs = {"reduction": reduction, "zero_infinity": zero_infinity}
            ours = L.ctc_loss(log_softmax(logits), *args, **kwargs)
            np.testing.assert_allclose(ours, ref[key + ":value"], rtol=1e-12, err_msg=key)
            free = L.ctc_loss_grad(log_softmax(logits), *args, **kwargs)
            grad = free - softmax(logits) * free.sum(axis=-1, keepdims=True)
            theirs = ref[key + ":grad_logits"]
            np.testing.assert_allclose(grad[:, 0], theirs[:, 0], rtol=1e-9, atol=1e-13)
            assert np.isnan(theirs[:, 1:3]).any(axis=(0, 2)).tolist() == [not zero_infinity] * 2
            np.testing.assert_array_equal(np.nan_to_num(theirs[:, 1:]), 0.0)
            np.testing.assert_array_equal(grad[:, 1:], 0.0)


def test_matches_pytorch_reference_file():
    check_against_torch(load_reference("losses"))


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
    # a target longer than its input has no path either, and a 0-frame input none for
    # a non-empty target
    assert L.ctc_loss(lp[:2], [[1, 2, 1]], [2], [3], reduction="sum") == np.inf
    assert L.ctc_loss(lp[:0], [[1]], [0], [1], reduction="sum") == np.inf
    # 'mean' divides by the target length, clamped to at least 1
    batch = np.concatenate([lp, lp], axis=1)
    per = L.ctc_loss(batch, [[1, 2], [0, 0]], [4, 4], [2, 0], reduction="none")
    mean = L.ctc_loss(batch, [[1, 2], [0, 0]], [4, 4], [2, 0])
    assert mean == pytest.approx((per[0] / 2 + per[1] / 1) / 2)
    # concatenated targets equal padded ones
    flat = L.ctc_loss(batch, np.array([1, 2]), [4, 4], [2, 0], reduction="none")
    np.testing.assert_array_equal(flat, per)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_infeasible_sequence_leaves_the_others_alone(reduction, zero_infinity):
    # Sequence 1's target (4 labels) is longer than its input (3 frames): its loss is inf,
    # or 0 with zero_infinity, and its gradient 0; sequences 0 and 2 are computed as if
    # alone. 'mean' still counts it in the batch size, as PyTorch does.
    rng = np.random.default_rng(9)
    lp = log_softmax(rng.normal(size=(5, 3, 4)))
    targets, in_len, tg_len = [[1, 2, 0, 0], [1, 2, 3, 1], [3, 3, 0, 0]], [5, 3, 4], [2, 4, 2]
    kwargs = {"reduction": "none", "zero_infinity": zero_infinity}
    per = L.ctc_loss(lp, targets, in_len, tg_len, **kwargs)
    assert per[1] == (0.0 if zero_infinity else np.inf)
    for b in (0, 2):
        alone = L.ctc_loss(lp[:, b : b + 1], [targets[b]], [in_len[b]], [tg_len[b]], **kwargs)
        assert per[b] == alone[0] and np.isfinite(per[b])
        grad_alone = L.ctc_loss_grad(lp[:, b : b + 1], [targets[b]], [in_len[b]], [tg_len[b]],
                                     **kwargs)  # fmt: skip
        np.testing.assert_array_equal(
            L.ctc_loss_grad(lp, targets, in_len, tg_len, **kwargs)[:, b], grad_alone[:, 0]
        )
    kwargs["reduction"] = reduction
    grad = L.ctc_loss_grad(lp, targets, in_len, tg_len, **kwargs)
    np.testing.assert_array_equal(grad[:, 1], 0.0)
    assert np.all(np.isfinite(grad))
    weights = {"none": None, "sum": np.ones(3), "mean": 1 / (3 * np.array(tg_len))}[reduction]
    if weights is not None:
        reduced = L.ctc_loss(lp, targets, in_len, tg_len, **kwargs)
        expected = np.sum(np.where(weights > 0, per * weights, 0.0))
        assert reduced == pytest.approx(expected, rel=1e-15)


def test_ctc_forward_lattice_gives_the_likelihood():
    rng = np.random.default_rng(8)
    lp = log_softmax(rng.normal(size=(6, 4)))
    phi = L.ctc_forward(lp, [1, 2, 2])
    assert phi.shape == (6, 7)
    # the initial conditions: at t = 0 only the first blank or the first label
    np.testing.assert_array_equal(phi[0, :2], lp[0, [0, 1]])
    assert phi[0, 2:].max() == -np.inf
    total = -np.logaddexp(phi[-1, -1], phi[-1, -2])
    np.testing.assert_allclose(total, brute_force_ctc(lp, [1, 2, 2]), rtol=1e-13)


# --- Contrastive loss ---------------------------------------------------------------

PAIRS = np.random.default_rng(11).normal(size=(2, 8, 3))
PAIR_LABELS = np.array([1, 0, 1, 0, 0, 1, 0, 0])


def contrastive_written_out(x1, x2, y, margin):
    """Hadsell et al.'s loss for one pair, with y = 1 similar, written with plain floats."""
    d = sum((a - b) ** 2 for a, b in zip(x1, x2, strict=True)) ** 0.5
    return 0.5 * d**2 if y == 1 else 0.5 * max(0.0, margin - d) ** 2


@pytest.mark.parametrize("margin", [0.0, 1.0, 2.5])
def test_contrastive_loss_is_the_formula_written_out(margin):
    x1, x2 = PAIRS
    per = L.contrastive_loss(x1, x2, PAIR_LABELS, margin=margin, reduction="none")
    expected = [contrastive_written_out(a, b, y, margin)
                for a, b, y in zip(x1, x2, PAIR_LABELS, strict=True)]  # fmt: skip
    np.testing.assert_allclose(per, expected, rtol=1e-14)
    mean = L.contrastive_loss(x1, x2, PAIR_LABELS, margin=margin)
    assert mean == pytest.approx(np.mean(expected), rel=1e-14)
    # one pair as (D,) vectors with a scalar label
    assert L.contrastive_loss(x1[0], x2[0], 1, margin=margin) == pytest.approx(expected[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_contrastive_gradient_matches_finite_differences(reduction):
    x1, x2 = PAIRS
    assert np.any((np.linalg.norm(x1 - x2, axis=1) < 2.5) & (PAIR_LABELS == 0))  # active
    for margin in (1.0, 2.5):
        kw = {"margin": margin, "reduction": reduction}
        numeric = numerical_gradient(
            lambda v, kw=kw: np.sum(L.contrastive_loss(v, x2, PAIR_LABELS, **kw)), x1
        )
        grad = L.contrastive_loss_grad(x1, x2, PAIR_LABELS, **kw)
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)
        # the gradient with respect to x2 is the negative: the loss depends on x1 - x2
        numeric_x2 = numerical_gradient(
            lambda v, kw=kw: np.sum(L.contrastive_loss(x1, v, PAIR_LABELS, **kw)), x2
        )
        np.testing.assert_allclose(-grad, numeric_x2, rtol=1e-7, atol=1e-9)


def test_contrastive_extremes():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [1e200, 0.0]])
    zero = np.zeros_like(x)
    similar, dissimilar = np.ones(3), np.zeros(3)
    # identical vectors: no loss when similar; 1/2 m^2 and a 0 subgradient when dissimilar
    np.testing.assert_array_equal(L.contrastive_loss(x, zero, similar, reduction="none")[:2],
                                  [0.0, 12.5])  # fmt: skip
    d_zero = L.contrastive_loss(x, zero, dissimilar, margin=2.0, reduction="none")
    np.testing.assert_array_equal(d_zero, [2.0, 0.0, 0.0])  # beyond the margin: nothing
    np.testing.assert_array_equal(L.contrastive_loss_grad(x, zero, dissimilar, margin=2.0,
                                                          reduction="none"), 0.0)  # fmt: skip
    # a distance of 1e200 squares to inf (like MSE), with no warning, and its gradient is x
    assert L.contrastive_loss(x, zero, similar, reduction="none")[2] == np.inf
    np.testing.assert_array_equal(L.contrastive_loss_grad(x, zero, similar, reduction="sum"), x)
    # float32 stays float32
    x32 = PAIRS.astype(np.float32)
    assert L.contrastive_loss(*x32, PAIR_LABELS).dtype == np.float32
    assert L.contrastive_loss_grad(*x32, PAIR_LABELS).dtype == np.float32


@NO_DEADLINE
@given(arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
       arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
       arrays(np.int64, 4, elements=st.integers(0, 1)), st.floats(0.0, 10.0))  # fmt: skip
def test_contrastive_loss_properties(x1, x2, y, margin):
    per = L.contrastive_loss(x1, x2, y, margin=margin, reduction="none")
    d = np.linalg.norm(x1 - x2, axis=1)
    assert np.all(per >= 0)
    assert np.all(per[(y == 0) & (d >= margin)] == 0)  # dissimilar and far enough: done
    assert np.all(per[y == 0] <= 0.5 * margin**2)  # the push is bounded by the margin
    np.testing.assert_allclose(per[y == 1], 0.5 * d[y == 1] ** 2, rtol=1e-12)


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


@NO_DEADLINE
@given(probabilities, probabilities)
def test_kl_is_nonnegative_and_zero_on_itself(p, q):
    assert L.kl_divergence(p, q) >= -1e-15
    assert abs(L.kl_divergence(p, p)) < 1e-15


@NO_DEADLINE
@given(arrays(np.float64, 6, elements=st.floats(-1e3, 1e3)), st.floats(0.01, 10.0))
def test_huber_lies_between_its_pieces(residual, delta):
    zero = np.zeros_like(residual)
    huber = L.huber_loss(residual, zero, delta=delta, reduction="none")
    assert np.all(huber <= 0.5 * residual**2 + 1e-9)
    assert np.all(huber <= delta * np.abs(residual) + 1e-9)
    assert np.all(huber >= 0)


@NO_DEADLINE
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
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1]], [3], [-1]), ValueError, "target_lengths"),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1]], [-1], [1]), ValueError, "input_lengths"),
        (lambda: L.ctc_loss(np.zeros((3, 1, 4)), [[1, 2]], [3], [3]), ValueError, "padded"),
        (lambda: L.contrastive_loss(Z, Z, [0, 1], margin=-1.0), ValueError, "margin"),
        (lambda: L.contrastive_loss(Z, Z, np.array([1, 2])), ValueError, "y must hold"),
        (lambda: L.contrastive_loss(Z, Z, np.array([1, 0, 1])), ValueError, "y must have"),
        (lambda: L.contrastive_loss(Z, np.zeros((2, 2)), [0, 1]), ValueError, "x2"),
        (lambda: L.contrastive_loss(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), Y), ValueError, "x1"),
        (lambda: L.contrastive_loss_grad(Z, Z, [0, 1], margin="1"), TypeError, "margin"),
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
