"""Loss functions and their gradients (chapter 2).

Names and semantics follow PyTorch (``torch.nn.functional``, and torchvision for the focal
loss). Every loss takes ``reduction="mean" | "sum" | "none"``; ``<name>_grad`` has the same
parameters and returns the gradient of the reduced loss with respect to the first argument.
All inputs are checked: a shape mismatch, a class index out of range or a probability
outside [0, 1] is an error, never a silent broadcast or a NaN.
"""

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from dlnotes._checks import as_float_array, check_choice, check_real, check_same_shape
from dlnotes.activations import log_softmax, sigmoid, softmax, softplus

# The norms and the clamped normalisation belong to chapter 6 (similarity); the
# representation losses below use them as PyTorch's do.
from dlnotes.similarity import COSINE_EPS, _p_norm, _p_norm_grad, _unit_vectors

__all__ = [
    "mse_loss", "mse_loss_grad", "mae_loss", "mae_loss_grad", "l1_loss", "l1_loss_grad",
    "huber_loss", "huber_loss_grad", "cross_entropy", "cross_entropy_grad",
    "nll_loss", "nll_loss_grad",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy", "binary_cross_entropy_grad",
    "kl_divergence", "kl_divergence_grad", "hinge_loss", "hinge_loss_grad",
    "focal_loss", "focal_loss_grad", "contrastive_loss", "contrastive_loss_grad",
    "triplet_loss", "triplet_loss_grad",
    "info_nce", "info_nce_grad", "ctc_loss", "ctc_loss_grad", "ctc_forward",
]  # fmt: skip

REDUCTIONS = ("mean", "sum", "none")


# --- Shared plumbing ----------------------------------------------------------------


def _reduce(loss, reduction):
    """Apply ``reduction`` to the per-element (or per-row) losses."""
    check_choice(reduction, "reduction", REDUCTIONS)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _reduce_grad(grad, reduction, count):
    """Scale per-element gradients for ``reduction``: 'mean' divides by ``count`` losses."""
    check_choice(reduction, "reduction", REDUCTIONS)
    return grad / count if reduction == "mean" else grad


def _pair(a, a_name, b, b_name):
    """Two float arrays of the same shape (PyTorch would broadcast; we refuse to)."""
    a, b = as_float_array(a, a_name), as_float_array(b, b_name)
    check_same_shape(a, a_name, b, b_name)
    return a, b


def _check_unit_interval(values, name):
    """Raise unless every entry of ``values`` lies in [0, 1]."""
    if not np.all((values >= 0) & (values <= 1)):
        raise ValueError(f"{name} must lie in [0, 1]")


def _check_distribution(values, name, axis):
    """Raise unless ``values`` holds probability vectors along ``axis``."""
    _check_unit_interval(values, name)
    if not np.allclose(values.sum(axis=axis), 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1 along axis {axis}")


# --- Regression: MSE, MAE, Huber ----------------------------------------------------


def mse_loss(pred, target, reduction="mean"):
    r"""Mean squared error :math:`\frac1n\sum (\hat y_i - y_i)^2`.

    A residual beyond 1.3e154 squares to inf, the correctly rounded value, silently.
    """
    pred, target = _pair(pred, "pred", target, "target")
    with np.errstate(over="ignore"):
        return _reduce((pred - target) ** 2, reduction)


def mse_loss_grad(pred, target, reduction="mean"):
    r"""Gradient of :func:`mse_loss` with respect to ``pred``: :math:`2(\hat y - y)/n`."""
    pred, target = _pair(pred, "pred", target, "target")
    return _reduce_grad(2.0 * (pred - target), reduction, pred.size)


def mae_loss(pred, target, reduction="mean"):
    r"""Mean absolute error :math:`\frac1n\sum |\hat y_i - y_i|` (PyTorch: ``l1_loss``)."""
    pred, target = _pair(pred, "pred", target, "target")
    return _reduce(np.abs(pred - target), reduction)


def mae_loss_grad(pred, target, reduction="mean"):
    r"""Subgradient of :func:`mae_loss`: :math:`\mathrm{sign}(\hat y - y)/n`, 0 at a tie."""
    pred, target = _pair(pred, "pred", target, "target")
    return _reduce_grad(np.sign(pred - target), reduction, pred.size)


l1_loss = mae_loss
l1_loss_grad = mae_loss_grad


def huber_loss(pred, target, delta=1.0, reduction="mean"):
    r"""Huber loss: :math:`\tfrac12 a^2` for :math:`|a| \le \delta`, else
    :math:`\delta(|a| - \tfrac12\delta)`, with :math:`a = \hat y - y` (Huber 1964).

    Written as :math:`c\,(|a| - \tfrac12 c)` with :math:`c = \min(|a|, \delta)`: one
    formula for both pieces, and no square of a large residual that would overflow.
    """
    pred, target = _pair(pred, "pred", target, "target")
    delta = check_real(delta, "delta", minimum=0.0, strict=True)
    a = np.abs(pred - target)
    c = np.minimum(a, delta)
    return _reduce(c * (a - 0.5 * c), reduction)


def huber_loss_grad(pred, target, delta=1.0, reduction="mean"):
    r"""Gradient of :func:`huber_loss`: the residual clipped to :math:`[-\delta, \delta]`."""
    pred, target = _pair(pred, "pred", target, "target")
    delta = check_real(delta, "delta", minimum=0.0, strict=True)
    return _reduce_grad(np.clip(pred - target, -delta, delta), reduction, pred.size)


# --- Classification: cross-entropy, NLL ---------------------------------------------


def _class_indices(target, logits, axis):
    """Integer ``target`` checked as class indices for ``logits``, with ``axis`` kept as a
    length-1 axis (ready for ``take_along_axis``); None if ``target`` is not integer."""
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        return None
    expected = logits.shape[:axis] + logits.shape[axis + 1 :]
    if target.shape != expected:
        raise ValueError(f"target of class indices must have shape {expected}, got {target.shape}")
    classes = logits.shape[axis]
    if np.any((target < 0) | (target >= classes)):
        raise ValueError(f"target holds a class index outside [0, {classes})")
    return np.expand_dims(target, axis)


def _class_probabilities(target, logits, axis, label_smoothing):
    """Floating ``target`` checked as class probabilities, then label-smoothed."""
    probs = as_float_array(target, "target")
    check_same_shape(logits, "logits", probs, "target")
    _check_distribution(probs, "target", axis)
    return (1.0 - label_smoothing) * probs + label_smoothing / logits.shape[axis]


def _logits_and_axis(logits, axis, name="logits"):
    """``logits`` as a float array with at least the class axis, and ``axis`` normalised."""
    logits = as_float_array(logits, name)
    if logits.ndim == 0:
        raise ValueError(f"{name} must have a class axis")
    return logits, normalize_axis_index(axis, logits.ndim, "axis")


def _check_smoothing(label_smoothing):
    label_smoothing = check_real(label_smoothing, "label_smoothing", minimum=0.0)
    if label_smoothing > 1.0:
        raise ValueError(f"label_smoothing must be <= 1, got {label_smoothing}")
    return label_smoothing


def _times_log(q, log_p):
    """``q * log_p`` with 0 wherever q is 0 (the convention 0 log 0 = 0, no 0 * -inf)."""
    out = np.zeros(np.broadcast_shapes(q.shape, log_p.shape), np.result_type(q, log_p))
    return np.multiply(q, log_p, out=out, where=q != 0)


def cross_entropy(logits, target, axis=-1, label_smoothing=0.0, reduction="mean"):
    r"""Cross-entropy :math:`-\sum_k y_k \log\mathrm{softmax}(z)_k` for each row of logits.

    ``target`` is class indices (integers) or class probabilities y (floats), as in
    PyTorch. Computed through :func:`~dlnotes.activations.log_softmax`, never through
    probabilities, so a logit gap of 1000 gives a loss of 1000, not ``-log(0) = inf``.
    ``label_smoothing`` :math:`\varepsilon` replaces y by :math:`(1-\varepsilon)y +
    \varepsilon/C` over all C classes (Szegedy et al. 2016); for class indices that is
    :math:`-(1-\varepsilon)\log \hat p_y - \varepsilon\,\mathrm{mean}_k \log \hat p_k`
    (:math:`\hat p = \mathrm{softmax}(z)`), with no one-hot matrix built. 'mean'
    averages over rows.
    """
    logits, axis = _logits_and_axis(logits, axis)
    label_smoothing = _check_smoothing(label_smoothing)
    log_p = log_softmax(logits, axis)
    index = _class_indices(target, logits, axis)
    if index is None:
        q = _class_probabilities(target, logits, axis, label_smoothing)
        return _reduce(-_times_log(q, log_p).sum(axis=axis), reduction)
    rows = -(1.0 - label_smoothing) * np.take_along_axis(log_p, index, axis).squeeze(axis)
    if label_smoothing:
        rows = rows - label_smoothing * log_p.mean(axis=axis)
    return _reduce(rows, reduction)


def cross_entropy_grad(logits, target, axis=-1, label_smoothing=0.0, reduction="mean"):
    r"""Gradient of :func:`cross_entropy` with respect to the logits: softmax(z) - y per row,
    divided by the number of rows N under 'mean'."""
    logits, axis = _logits_and_axis(logits, axis)
    label_smoothing = _check_smoothing(label_smoothing)
    grad = softmax(logits, axis)
    index = _class_indices(target, logits, axis)
    if index is None:
        grad -= _class_probabilities(target, logits, axis, label_smoothing)
    else:
        picked = np.take_along_axis(grad, index, axis)
        np.put_along_axis(grad, index, picked - (1.0 - label_smoothing), axis)
        grad -= label_smoothing / logits.shape[axis]
    return _reduce_grad(grad, reduction, logits.size // logits.shape[axis])


def _nll_index(log_probs, target, axis):
    index = _class_indices(target, log_probs, axis)
    if index is None:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    return index


def nll_loss(log_probs, target, axis=-1, reduction="mean"):
    r"""Negative log-likelihood :math:`-\log p(y)`, picking ``log_probs[y]`` along ``axis``.

    ``log_probs`` are log-probabilities, e.g. from :func:`log_softmax`; ``target`` class
    indices. ``nll_loss(log_softmax(z), y)`` equals ``cross_entropy(z, y)``.
    """
    log_probs, axis = _logits_and_axis(log_probs, axis, "log_probs")
    index = _nll_index(log_probs, np.asarray(target), axis)
    return _reduce(-np.take_along_axis(log_probs, index, axis).squeeze(axis), reduction)


def nll_loss_grad(log_probs, target, axis=-1, reduction="mean"):
    """Gradient of :func:`nll_loss` with respect to ``log_probs``: -onehot(y)."""
    log_probs, axis = _logits_and_axis(log_probs, axis, "log_probs")
    index = _nll_index(log_probs, np.asarray(target), axis)
    grad = np.zeros_like(log_probs)
    np.put_along_axis(grad, index, -1.0, axis)
    return _reduce_grad(grad, reduction, log_probs.size // log_probs.shape[axis])


# --- Binary classification: BCE with logits, naive BCE, hinge ------------------------


def _binary_inputs(logits, target, logits_name="logits"):
    logits, target = _pair(logits, logits_name, target, "target")
    _check_unit_interval(target, "target")
    return logits, target


def _pos_weight(target, pos_weight):
    """``pos_weight`` w checked (w >= 0) and broadcast to ``target``; 1.0 when None."""
    if pos_weight is None:
        return 1.0
    pos_weight = as_float_array(pos_weight, "pos_weight")
    if np.any(pos_weight < 0):
        raise ValueError("pos_weight must be >= 0")
    try:
        return np.broadcast_to(pos_weight, target.shape)
    except ValueError:
        raise ValueError(
            f"pos_weight of shape {pos_weight.shape} does not broadcast to target {target.shape}"
        ) from None


def binary_cross_entropy_with_logits(logits, target, pos_weight=None, reduction="mean"):
    r"""Binary cross-entropy on logits: :math:`-[w\,y\log\sigma(z) + (1-y)\log(1-\sigma(z))]`.

    Computed as :math:`(1-y)\,\mathrm{softplus}(z) + w\,y\,\mathrm{softplus}(-z)`, a sum of
    non-negative terms, so every digit is kept. PyTorch's equal form
    :math:`(1-y)\,z + (1 + (w-1)y)\,\mathrm{softplus}(-z)` gets the small loss of a
    negative logit as a difference of large numbers: for y = 0 it is exactly 0 from
    z = -37 on, where the true loss is :math:`e^z`. ``pos_weight`` w weighs the
    positive term; both forms are finite for any finite logit (1000 at z = -1000, y = 1).
    """
    logits, target = _binary_inputs(logits, target)
    weight = _pos_weight(target, pos_weight)
    loss = (1.0 - target) * softplus(logits) + weight * target * softplus(-logits)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits_grad(logits, target, pos_weight=None, reduction="mean"):
    r"""Gradient with respect to the logits: :math:`(1-y)\,\sigma(z) - w\,y\,\sigma(-z)`.

    Without ``pos_weight`` this is the familiar :math:`\sigma(z) - y`, written so that
    nothing cancels for a hard target: PyTorch's :math:`(1-y) - (1+(w-1)y)\,\sigma(-z)`
    is exactly 0 for y = 0 once z < -37, where the gradient is :math:`e^z`.
    """
    logits, target = _binary_inputs(logits, target)
    weight = _pos_weight(target, pos_weight)
    grad = (1.0 - target) * sigmoid(logits) - weight * target * sigmoid(-logits)
    return _reduce_grad(grad, reduction, logits.size)


def binary_cross_entropy(probs, target, reduction="mean"):
    r"""Binary cross-entropy on probabilities, as PyTorch's ``F.binary_cross_entropy``.

    :math:`-[y\log p + (1-y)\log(1-p)]` with each log clamped at -100, as PyTorch does
    to avoid inf. It is here for contrast: p = sigmoid(z) rounds to exactly 1 for z > 37,
    and the loss then saturates at 100 where the true value is z (see the chapter).
    """
    probs, target = _binary_inputs(probs, target, "probs")
    _check_unit_interval(probs, "probs")
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped next
        log_p = np.maximum(np.log(probs), -100.0)
        log_1mp = np.maximum(np.log1p(-probs), -100.0)
    return _reduce(-(target * log_p + (1.0 - target) * log_1mp), reduction)


def binary_cross_entropy_grad(probs, target, reduction="mean"):
    r"""Gradient with respect to p: :math:`(p - y) / \max(p(1-p), 10^{-12})`, as PyTorch."""
    probs, target = _binary_inputs(probs, target, "probs")
    _check_unit_interval(probs, "probs")
    grad = (probs - target) / np.maximum(probs * (1.0 - probs), 1e-12)
    return _reduce_grad(grad, reduction, probs.size)


def _check_signs(y):
    if not np.all((y == 1) | (y == -1)):
        raise ValueError("y must hold labels -1 or +1")


def hinge_loss(scores, y, margin=1.0, reduction="mean"):
    r"""Hinge loss :math:`\max(0, m - y\,f(x))` with labels :math:`y \in \{-1, +1\}`.

    The loss of the (soft-margin) support vector machine (Cortes & Vapnik 1995). PyTorch
    has no plain binary hinge loss; ``MultiMarginLoss`` and ``HingeEmbeddingLoss`` are
    its nearest relatives.
    """
    scores, y = _pair(scores, "scores", y, "y")
    _check_signs(y)
    margin = check_real(margin, "margin", minimum=0.0)
    return _reduce(np.maximum(0.0, margin - y * scores), reduction)


def hinge_loss_grad(scores, y, margin=1.0, reduction="mean"):
    """Subgradient of :func:`hinge_loss`: -y inside the margin, 0 outside (and on it)."""
    scores, y = _pair(scores, "scores", y, "y")
    _check_signs(y)
    margin = check_real(margin, "margin", minimum=0.0)
    return _reduce_grad(np.where(margin - y * scores > 0, -y, 0.0), reduction, scores.size)


# --- KL divergence ------------------------------------------------------------------


def _kl_terms(p, q, axis):
    p, q = _pair(p, "p", q, "q")
    axis = normalize_axis_index(axis, max(p.ndim, 1), "axis")
    _check_distribution(p, "p", axis)
    _check_distribution(q, "q", axis)
    return p, q, axis


def kl_divergence(p, q, axis=-1, reduction="mean"):
    r"""Kullback-Leibler divergence :math:`D(P\|Q) = \sum_i p_i \log(p_i/q_i)` per row.

    Conventions: :math:`0 \log(0/q) = 0`, and :math:`p \log(p/0) = +\infty` for p > 0.
    'mean' averages the per-row divergences, which is what PyTorch's
    ``kl_div(log_q, p, reduction="batchmean")`` computes; its 'mean' divides by the
    number of elements instead and is not the divergence.
    """
    p, q, axis = _kl_terms(p, q, axis)
    present = p > 0
    # log(q) = -inf where q = 0 < p gives D = +inf; logs of 1 fill the p = 0 slots.
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.where(present, p, 1.0)) - np.log(np.where(present, q, 1.0))
    return _reduce(np.sum(np.where(present, p * log_ratio, 0.0), axis=axis), reduction)


def kl_divergence_grad(p, q, axis=-1, reduction="mean"):
    r"""Gradient of :func:`kl_divergence` with respect to p: :math:`\log(p/q) + 1`.

    At p = 0 the derivative of :math:`p\log p` is :math:`-\infty`, and that is returned.
    """
    p, q, axis = _kl_terms(p, q, axis)
    with np.errstate(divide="ignore"):
        grad = np.log(p) - np.log(q) + 1.0
    rows = p.size // p.shape[axis] if p.ndim else 1
    return _reduce_grad(grad, reduction, rows)


# --- Focal loss ---------------------------------------------------------------------


def _focal_parts(logits, target, gamma, alpha):
    r"""Shared by the focal loss and its gradient: the checked inputs, alpha_t, the
    cross-entropy and :math:`1 - p_t = y\,\sigma(-z) + (1-y)\,\sigma(z)` (a sum of
    non-negative terms: never a cancellation)."""
    logits, target = _binary_inputs(logits, target)
    gamma = check_real(gamma, "gamma", minimum=0.0)
    alpha = check_real(alpha, "alpha")
    if alpha > 1.0:
        raise ValueError(f"alpha must be <= 1 (or < 0 to disable it), got {alpha}")
    alpha_t = 1.0 if alpha < 0 else alpha * target + (1.0 - alpha) * (1.0 - target)
    ce = binary_cross_entropy_with_logits(logits, target, reduction="none")
    miss = target * sigmoid(-logits) + (1.0 - target) * sigmoid(logits)
    return logits, target, gamma, alpha_t, ce, miss


def focal_loss(logits, target, gamma=2.0, alpha=0.25, reduction="none"):
    r"""Binary focal loss :math:`-\alpha_t (1-p_t)^\gamma \log p_t` on logits (Lin et al. 2017).

    Matches torchvision's ``sigmoid_focal_loss``: BCE-with-logits times
    :math:`(1-p_t)^\gamma`, times :math:`\alpha_t = \alpha y + (1-\alpha)(1-y)` unless
    ``alpha < 0`` (then :math:`\alpha_t = 1`); its default reduction is 'none'. Both
    factors are sums of non-negative terms, so the product keeps every digit.
    """
    _, _, gamma, alpha_t, ce, miss = _focal_parts(logits, target, gamma, alpha)
    return _reduce(alpha_t * ce * miss**gamma, reduction)


def focal_loss_grad(logits, target, gamma=2.0, alpha=0.25, reduction="none"):
    r"""Gradient of :func:`focal_loss` with respect to the logits.

    With :math:`\bar p_t = 1 - p_t` and :math:`\bar p_t' = (1-2y)\,\sigma(z)\sigma(-z)`:
    :math:`\alpha_t\,\bar p_t^{\gamma}\,[(1-y)\sigma(z) - y\sigma(-z)
    + \gamma\,\mathrm{CE}\,(1-2y)\,\rho]`, where
    :math:`\rho = \sigma(z)\sigma(-z)/\bar p_t` lies in (0, 1]. Factoring
    :math:`\bar p_t^{\gamma}` out of :math:`\bar p_t^{\gamma-1}\bar p_t'` keeps the
    gradient finite for :math:`\gamma < 1`, where :math:`\bar p_t^{\gamma-1}` alone is
    infinite as :math:`p_t \to 1`. For a hard target the bracket's terms share one sign:
    nothing cancels.
    """
    logits, target, gamma, alpha_t, ce, miss = _focal_parts(logits, target, gamma, alpha)
    s_pos, s_neg = sigmoid(logits), sigmoid(-logits)
    # rho = s_pos s_neg / miss is exactly s_pos for y = 1 and s_neg for y = 0 (with no
    # rounding, and no 0/0 where miss underflows, |z| > 745); a soft target keeps miss > 0.
    hard = target * s_pos + (1.0 - target) * s_neg
    ratio = np.divide(s_pos * s_neg, miss, out=hard, where=(target > 0) & (target < 1))
    bracket = (1.0 - target) * s_pos - target * s_neg + gamma * ce * (1.0 - 2.0 * target) * ratio
    return _reduce_grad(alpha_t * miss**gamma * bracket, reduction, logits.size)


# --- Representation learning: contrastive, triplet, InfoNCE ------------------------


def _contrastive_parts(x1, x2, y, margin):
    """Checked inputs of the contrastive loss: the differences x1 - x2, their Euclidean
    lengths d, where the pairs are similar, and the margin."""
    x1, x2 = _pair(x1, "x1", x2, "x2")
    if x1.ndim not in (1, 2):
        raise ValueError(f"x1 must be (D,) or (N, D) embeddings, got shape {x1.shape}")
    y = as_float_array(y, "y")
    if y.shape != x1.shape[:-1]:
        raise ValueError(f"y must have shape {x1.shape[:-1]} (one label per pair), got {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold labels 1 (similar) or 0 (dissimilar)")
    margin = check_real(margin, "margin", minimum=0.0)
    diff = x1 - x2
    return diff, _p_norm(diff, 2.0), y == 1, margin


def contrastive_loss(x1, x2, y, margin=1.0, reduction="mean"):
    r"""Pairwise contrastive loss :math:`\tfrac12[y\,d^2 + (1-y)\max(0, m - d)^2]`
    (Hadsell, Chopra & LeCun 2006), :math:`d = \|x_1 - x_2\|_2`.

    Labels: y = 1 for a similar pair (pulled together), 0 for a dissimilar one (pushed
    apart until it is at least the margin m away). The paper writes Y = 0 for similar;
    the 1/2 is the paper's, and makes the gradient of the similar branch exactly
    :math:`x_1 - x_2`. Rows of ``x1`` (N, D) are the pairs; PyTorch has no such loss.
    A distance beyond 1.3e154 squares to inf, the correctly rounded value, silently.
    """
    _, d, similar, margin = _contrastive_parts(x1, x2, y, margin)
    with np.errstate(over="ignore"):
        pull = 0.5 * d**2
    return _reduce(np.where(similar, pull, 0.5 * np.maximum(margin - d, 0.0) ** 2), reduction)


def contrastive_loss_grad(x1, x2, y, margin=1.0, reduction="mean"):
    r"""Gradient with respect to ``x1``: :math:`x_1 - x_2` for a similar pair,
    :math:`-\max(0, m - d)\,(x_1 - x_2)/d` for a dissimilar one (the gradient with
    respect to ``x2`` is its negative). At d = 0 a dissimilar pair has no direction to
    be pushed in; its (sub)gradient is taken as 0 there.
    """
    diff, d, similar, margin = _contrastive_parts(x1, x2, y, margin)
    push = np.maximum(margin - d, 0.0) / np.where(d > 0, d, 1.0)  # diff is 0 where d is
    grad = np.where(similar[..., None], diff, -push[..., None] * diff)
    return _reduce_grad(grad, reduction, d.size)


def _triplet_parts(anchor, positive, negative, margin, p, eps):
    anchor, positive = _pair(anchor, "anchor", positive, "positive")
    anchor, negative = _pair(anchor, "anchor", negative, "negative")
    if anchor.ndim not in (1, 2):
        raise ValueError(f"anchor must be (D,) or (N, D) embeddings, got shape {anchor.shape}")
    margin = check_real(margin, "margin", minimum=0.0)
    p = check_real(p, "p", minimum=1.0)
    eps = check_real(eps, "eps", minimum=0.0)
    # PyTorch's pairwise_distance adds eps to the difference, not to the norm
    u_pos, u_neg = anchor - positive + eps, anchor - negative + eps
    d_pos, d_neg = _p_norm(u_pos, p), _p_norm(u_neg, p)
    return u_pos, u_neg, d_pos, d_neg, margin, p


def triplet_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, reduction="mean"):
    r"""Triplet margin loss :math:`\max(0, d(x^a, x^+) - d(x^a, x^-) + m)` (Schroff et al.
    2015), with anchor :math:`x^a`, positive :math:`x^+`, negative :math:`x^-`.

    :math:`d(x, x') = \|x - x' + \mathrm{eps}\|_r` with :math:`r` = ``p``, as PyTorch's
    ``TripletMarginLoss`` (margin 1, p = 2, eps 1e-6). Rows of ``anchor`` (N, D) are the
    triplets.
    """
    _, _, d_pos, d_neg, margin, _ = _triplet_parts(anchor, positive, negative, margin, p, eps)
    return _reduce(np.maximum(d_pos - d_neg + margin, 0.0), reduction)


def triplet_loss_grad(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, reduction="mean"):
    r"""Gradient with respect to the anchor: :math:`\nabla d(a,p) - \nabla d(a,n)` where
    the loss is positive, 0 where the triplet already satisfies the margin."""
    parts = _triplet_parts(anchor, positive, negative, margin, p, eps)
    u_pos, u_neg, d_pos, d_neg, margin, p = parts
    active = (d_pos - d_neg + margin > 0)[..., None]
    grad = active * (_p_norm_grad(u_pos, p, d_pos) - _p_norm_grad(u_neg, p, d_neg))
    return _reduce_grad(grad, reduction, d_pos.size)


def _info_nce_parts(query, keys, temperature):
    query, keys = _pair(query, "query", keys, "keys")
    if query.ndim != 2:
        raise ValueError(f"query must be (N, D) embeddings, got shape {query.shape}")
    temperature = check_real(temperature, "temperature", minimum=0.0, strict=True)
    q_unit, q_norm = _unit_vectors(query, COSINE_EPS)
    k_unit, _ = _unit_vectors(keys, COSINE_EPS)
    logits = q_unit @ k_unit.T / temperature  # cosine similarities / tau
    return logits, q_unit, q_norm, k_unit, temperature, np.arange(len(query))


def info_nce(query, keys, temperature=0.1, reduction="mean"):
    r"""InfoNCE :math:`-\log \frac{\exp(\mathrm{sim}(u_i, v_i)/\tau)}
    {\sum_j \exp(\mathrm{sim}(u_i, v_j)/\tau)}` per query :math:`u_i`.

    :math:`\mathrm{sim}` is the cosine similarity of query i and key j: key i is the
    positive of query i, the other keys its negatives (van den Oord et al. 2018). It is a
    cross-entropy over the rows of the similarity matrix with targets 0, 1, ..., N-1.
    """
    logits, *_, labels = _info_nce_parts(query, keys, temperature)
    return cross_entropy(logits, labels, reduction=reduction)


def info_nce_grad(query, keys, temperature=0.1, reduction="mean"):
    r"""Gradient with respect to the queries, through the cosine normalisation.

    With :math:`G = \partial L / \partial(\text{logits})` (softmax minus identity), the
    unit query receives :math:`G\hat K/\tau`; the normalisation then removes the radial
    part and divides by the norm: :math:`(g - (g\cdot\hat q)\hat q)/\|q\|`.
    """
    logits, q_unit, q_norm, k_unit, temperature, labels = _info_nce_parts(query, keys, temperature)
    g_unit = cross_entropy_grad(logits, labels, reduction=reduction) @ k_unit / temperature
    clamped = (q_norm <= COSINE_EPS)[:, None]  # there q_unit = q / eps, a plain scaling
    radial = np.sum(g_unit * q_unit, axis=1, keepdims=True) * q_unit
    return np.where(clamped, g_unit, g_unit - radial) / np.maximum(q_norm, COSINE_EPS)[:, None]


# --- CTC ----------------------------------------------------------------------------


def _int_array(values, name, ndim):
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {values.dtype}")
    if values.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {values.shape}")
    return values


def _ctc_setup(log_probs, targets, input_lengths, target_lengths, blank):
    """Check CTC's inputs; return the log-probabilities and the extended label sequences.

    The extended sequence of a target l = (l_1, ..., l_L) puts a blank before, between
    and after the labels: (b, l_1, b, l_2, ..., l_L, b), 2L + 1 symbols. Shorter ones are
    padded to the longest; ``skip`` marks where a path may jump two places (s-2 -> s),
    which is allowed onto a label that differs from the label two places back.
    """
    log_probs = as_float_array(log_probs, "log_probs")
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (T, N, C), got shape {log_probs.shape}")
    steps, batch, classes = log_probs.shape
    if isinstance(blank, bool) or not isinstance(blank, int | np.integer):
        raise TypeError(f"blank must be an int, got {type(blank).__name__}")
    if not 0 <= blank < classes:
        raise ValueError(f"blank must be a class index in [0, {classes}), got {blank}")
    input_lengths = _int_array(input_lengths, "input_lengths", 1)
    target_lengths = _int_array(target_lengths, "target_lengths", 1)
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if lengths.shape != (batch,):
            raise ValueError(f"{name} must have one entry per sequence ({batch})")
        if np.any(lengths < 0):
            raise ValueError(f"{name} must be >= 0")
    if np.any(input_lengths > steps):
        raise ValueError(f"input_lengths must be <= T = {steps}")
    # A target longer than its input is no error: that sequence's loss is inf (no path).

    targets = np.asarray(targets)
    if targets.size == 0:  # an empty list has no integer dtype yet
        targets = targets.astype(np.int64)
    if targets.ndim == 1:  # concatenated targets
        if targets.size != target_lengths.sum():
            raise ValueError("concatenated targets must have sum(target_lengths) entries")
        starts = np.concatenate([[0], np.cumsum(target_lengths)[:-1]])
        labels = [targets[s : s + n] for s, n in zip(starts, target_lengths, strict=True)]
    else:  # padded (N, S)
        targets = _int_array(targets, "targets", 2)
        if targets.shape[0] != batch or targets.shape[1] < target_lengths.max(initial=0):
            raise ValueError("padded targets must be (N, S) with S >= max(target_lengths)")
        labels = [targets[b, :n] for b, n in enumerate(target_lengths)]
    for sequence in labels:
        _int_array(sequence, "targets", 1)
        if np.any((sequence < 0) | (sequence >= classes) | (sequence == blank)):
            raise ValueError(f"targets must be class indices in [0, {classes}) other than blank")

    width = 2 * target_lengths.max(initial=0) + 1
    extended = np.full((batch, width), blank)
    for b, sequence in enumerate(labels):
        extended[b, 1 : 2 * len(sequence) : 2] = sequence
    valid = np.arange(width) < (2 * target_lengths + 1)[:, None]
    skip = np.zeros((batch, width), dtype=bool)
    skip[:, 2:] = (extended[:, 2:] != blank) & (extended[:, 2:] != extended[:, :-2])
    return log_probs, extended, valid, skip, input_lengths, target_lengths


def _shift(a, k):
    """``a`` moved k places along the last axis, right for k > 0 and left for k < 0, with
    -inf (log 0) coming in: ``_shift(phi, 1)[s]`` is ``phi[s - 1]``."""
    out = np.full_like(a, -np.inf)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def _ctc_lattices(log_probs, extended, valid, skip, input_lengths, target_lengths):
    """Forward (phi) and backward (psi) variables in log space, and the log-likelihoods.

    phi[t, b, s]: log-probability of all prefixes of paths of sequence b that are at
    extended position s after emitting frame t; psi[t, b, s]: the same for the suffixes
    from frame t on. Frame t's emission is included in both (Graves's convention), so
    phi + psi counts it twice. Loops run over the frames only: each step updates every
    sequence and every position at once. Sequences shorter than T keep their values past
    their end. A sequence with no path (e.g. a target longer than its input) ends at -inf.
    """
    steps, batch, _ = log_probs.shape
    emit = log_probs[:, np.arange(batch)[:, None], extended]  # (T, N, S'): log yhat_t(l'_s)
    emit = np.where(valid, emit, -np.inf)
    phi = np.full(emit.shape, -np.inf)
    psi = np.full(emit.shape, -np.inf)
    empty = np.where(target_lengths == 0, 0.0, -np.inf)  # log p(l) of a 0-frame input
    if steps == 0:
        return emit, phi, psi, empty
    phi[0, :, :2] = emit[0, :, :2]  # start in the first blank or on the first label
    for t in range(1, steps):
        prev = phi[t - 1]
        stay_or_step = np.logaddexp(prev, _shift(prev, 1))
        arrived = np.logaddexp(stay_or_step, np.where(skip, _shift(prev, 2), -np.inf))
        phi[t] = np.where((t < input_lengths)[:, None], arrived + emit[t], prev)

    last = 2 * target_lengths  # the final blank; the final label sits at last - 1
    rows = np.arange(batch)
    ends = np.zeros(emit.shape[1:], dtype=bool)
    ends[rows, last] = True
    ends[rows, np.maximum(last - 1, 0)] = True
    for t in range(steps - 1, -1, -1):
        if t == steps - 1:
            later = np.full(emit.shape[1:], -np.inf)
        else:
            nxt = psi[t + 1]  # stay at s, step to s + 1, or skip to s + 2 where allowed
            later = np.logaddexp(nxt, _shift(nxt, -1))
            later = np.logaddexp(later, _shift(np.where(skip, nxt, -np.inf), -2))
        at_end = (t == input_lengths - 1)[:, None]
        psi[t] = np.where(at_end, np.where(ends, emit[t], -np.inf), later + emit[t])
        psi[t] = np.where((t < input_lengths)[:, None], psi[t], -np.inf)

    final = phi[np.maximum(input_lengths - 1, 0), rows]  # phi at each sequence's end
    log_likelihood = np.logaddexp(final[rows, last], np.where(
        target_lengths > 0, final[rows, np.maximum(last - 1, 0)], -np.inf))  # fmt: skip
    log_likelihood = np.where(input_lengths == 0, empty, log_likelihood)
    return emit, phi, psi, log_likelihood


def _ctc_scale(target_lengths, reduction):
    """Per-sequence weights of each loss in the reduced loss (PyTorch's CTC 'mean')."""
    check_choice(reduction, "reduction", REDUCTIONS)
    if reduction == "mean":
        return 1.0 / (np.maximum(target_lengths, 1) * len(target_lengths))
    return np.ones(len(target_lengths))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):  # fmt: skip
    r"""Connectionist temporal classification loss (Graves et al. 2006).

    :math:`-\log \sum_{\pi \in \mathcal B^{-1}(l)} \prod_t \hat y_t(\pi_t)`: the sum over every
    frame-level path that collapses (merge repeats, drop blanks) to the target l,
    computed by the forward recursion in log space. Layout as PyTorch: ``log_probs`` is
    (T, N, C) and already log-softmaxed; ``targets`` padded (N, S) or concatenated 1-D.
    'mean' divides each loss by its target length (at least 1), then averages over the
    batch. An infeasible alignment (fewer frames than L + number of adjacent repeats,
    e.g. a target longer than its input) gives that sequence an infinite loss, or 0 with
    ``zero_infinity``, as PyTorch does; the other sequences are unaffected.
    """
    *parts, input_lengths, target_lengths = _ctc_setup(
        log_probs, targets, input_lengths, target_lengths, blank
    )
    *_, log_likelihood = _ctc_lattices(*parts, input_lengths, target_lengths)
    losses = -log_likelihood + 0.0  # + 0.0 turns the -0.0 of an empty sequence into 0.0
    if zero_infinity:
        losses = np.where(np.isinf(losses), 0.0, losses)
    weighted = losses * _ctc_scale(target_lengths, reduction)
    return weighted if reduction == "none" else weighted.sum()


def ctc_loss_grad(log_probs, targets, input_lengths, target_lengths, blank=0,
                  reduction="mean", zero_infinity=False):  # fmt: skip
    r"""Gradient of :func:`ctc_loss` with respect to ``log_probs`` as free inputs.

    It is minus the posterior occupancy :math:`\omega_t(k)`, the probability that a path
    of the target emits class k at frame t: :math:`\sum_{s: l'_s = k}
    \exp(\phi_t(s) + \psi_t(s) - \log \hat y_t(l'_s) - \log p(l))`, weighted as the
    reduction weighs the loss. PyTorch reports the gradient with respect to the logits
    before log_softmax instead, which is ``softmax(logits) - occupancy`` (see the
    chapter). Frames past a sequence's end get 0, and so does a sequence with an
    infinite loss, whose gradient is undefined: PyTorch returns NaN there unless
    ``zero_infinity`` (then 0), and one such sequence must not spoil the batch.
    """
    log_probs, extended, valid, skip, input_lengths, target_lengths = _ctc_setup(
        log_probs, targets, input_lengths, target_lengths, blank
    )
    emit, phi, psi, log_likelihood = _ctc_lattices(
        log_probs, extended, valid, skip, input_lengths, target_lengths
    )
    feasible = np.isfinite(log_likelihood)
    with np.errstate(invalid="ignore"):  # -inf - -inf off the lattice: zeroed just below
        log_post = phi + psi - emit - np.where(feasible, log_likelihood, 0.0)[:, None]
    post = np.where(np.isfinite(emit) & feasible[:, None], np.exp(log_post), 0.0)
    occupancy = np.zeros_like(log_probs)
    steps, batch, width = post.shape
    t_index = np.arange(steps)[:, None, None]
    b_index = np.arange(batch)[None, :, None]
    np.add.at(occupancy, (t_index, b_index, extended[None]), post)
    weight = _ctc_scale(target_lengths, reduction)
    return -occupancy * weight[None, :, None]


def ctc_forward(log_probs, target, blank=0):
    r"""The forward lattice of one sequence: :math:`\log\phi_t(s)`, shape (T, 2L + 1).

    ``log_probs`` is (T, C) and ``target`` a 1-D label sequence; for the chapter's figure.
    """
    log_probs = as_float_array(log_probs, "log_probs")
    target = np.asarray(target, dtype=np.int64)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, C), got shape {log_probs.shape}")
    parts = _ctc_setup(log_probs[:, None, :], target[None, :], [len(log_probs)],
                       [len(target)], blank)  # fmt: skip
    _, phi, _, _ = _ctc_lattices(*parts)
    return phi[:, 0, :]
