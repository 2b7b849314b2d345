"""Regularization: weight penalties, dropout, label smoothing, spectral norm (chapter 3).

Every function checks its arguments and returns new arrays: inputs are never modified,
float32 stays float32, integers become float64. Names and defaults follow PyTorch
(``torch.nn.functional.dropout``, ``alpha_dropout``, the ``label_smoothing`` of
``cross_entropy``, the legacy ``torch.nn.utils.spectral_norm``); where the book's formula
differs (the penalty :math:`\\lambda\\sum w^2` has no 1/2) the docstring says so.

Gradients: ``l2_penalty_grad`` and ``l1_penalty_grad`` return the gradient of the penalty
with respect to the weights (a list when the weights are a list); the elementwise
``soft_threshold_grad``, ``dropout_grad`` and ``alpha_dropout_grad`` return the derivative
with respect to each entry, so the backward pass is ``g * f_grad(x)``; ``spectral_norm_grad``
is the vector-Jacobian product ``(weight, g) -> dL/dweight``.

Randomness comes only from an explicit ``rng`` (a ``numpy.random.Generator``): ``dropout``
and ``dropout_grad`` called with generators in the same state use the same mask.
"""

import numpy as np

from dlnotes._checks import as_float_array, check_flag, check_generator, check_int, check_real
from dlnotes.activations import SELU_ALPHA, SELU_SCALE

__all__ = [
    "l2_penalty", "l2_penalty_grad", "l1_penalty", "l1_penalty_grad",
    "soft_threshold", "soft_threshold_grad",
    "dropout", "dropout_grad", "dropout_mask", "alpha_dropout", "alpha_dropout_grad",
    "smooth_labels", "spectral_norm", "spectral_norm_grad", "initial_u",
]  # fmt: skip

# The value SELU saturates to for x -> -inf, -lambda * alpha (Klambauer et al. 2017): a
# dropped unit of alpha dropout is set to it. PyTorch writes +1.7580993408473766 as a
# literal (ATen/native/Dropout.cpp); this product of the SELU constants gives those digits.
ALPHA_DROPOUT_SATURATION = -SELU_SCALE * SELU_ALPHA

# Default eps of spectral normalisation, as in torch.nn.utils.spectral_norm.
SPECTRAL_NORM_EPS = 1e-12


# --- Shared checks ------------------------------------------------------------------


def _check_probability(p, name):
    """``p`` as a float in [0, 1]."""
    p = check_real(p, name, minimum=0.0)
    if p > 1.0:
        raise ValueError(f"{name} must be <= 1, got {p}")
    return p


# --- L2 and L1 penalties ------------------------------------------------------------


def _weights(w):
    """``w`` as a list of float arrays, and whether it was a list (a model's weights).

    A list or tuple is always a collection of weight arrays; anything else is one array.
    """
    if isinstance(w, list | tuple):
        if not w:
            raise ValueError("w must hold at least one weight array")
        return [as_float_array(a, f"w[{i}]") for i, a in enumerate(w)], True
    return [as_float_array(w, "w")], False


def _like(w_was_list, grads):
    """Return the gradients as a list if the weights were one, else the single array."""
    return grads if w_was_list else grads[0]


def l2_penalty(w, lam):
    r"""L2 penalty :math:`\Omega = \lambda \sum_i w_i^2`, summed over every array of ``w``.

    No factor 1/2 (some texts write :math:`\frac{\lambda}{2}\|w\|^2`): the gradient is
    :math:`2\lambda w`. Where :math:`\sum w_i^2` overflows, the sum is taken again as
    :math:`\sum_i (\sqrt\lambda\, w_i)^2`: for :math:`\lambda = 10^{-4}` and
    :math:`w = 10^{155}` the square overflows, while the penalty, :math:`10^{306}`, is a
    finite float (and :math:`\lambda = 0` gives 0, not :math:`0 \cdot \infty`).
    ``w`` is an array or a list of arrays.
    """
    arrays, _ = _weights(w)
    lam = check_real(lam, "lam", minimum=0.0)
    # overflow is handled below; where even the last sum overflows, the penalty exceeds
    # the largest float and inf is its rounding
    with np.errstate(over="ignore"):
        total = sum(np.sum(np.square(a)) for a in arrays)
        if np.isfinite(total):
            return lam * total
        root = np.sqrt(lam)
        return sum(np.sum(np.square(root * a)) for a in arrays)


def l2_penalty_grad(w, lam):
    r"""Gradient of :func:`l2_penalty`: :math:`2\lambda w`, one array per array of ``w``."""
    arrays, was_list = _weights(w)
    lam = check_real(lam, "lam", minimum=0.0)
    with np.errstate(over="ignore"):  # only where 2 lambda w exceeds the largest float
        return _like(was_list, [(2.0 * lam) * a for a in arrays])


def l1_penalty(w, lam):
    r"""L1 penalty :math:`\Omega = \lambda \sum_i |w_i|`, summed over every array of ``w``.

    Computed as :math:`\sum_i \lambda |w_i|`, so the sum overflows only where the penalty
    does, and :math:`\lambda = 0` gives 0.
    """
    arrays, _ = _weights(w)
    lam = check_real(lam, "lam", minimum=0.0)
    with np.errstate(over="ignore"):  # only where the penalty exceeds the largest float
        return sum(np.sum(lam * np.abs(a)) for a in arrays)


def l1_penalty_grad(w, lam):
    r"""(Sub)gradient of :func:`l1_penalty`: :math:`\lambda\,\mathrm{sign}(w)`, 0 at w = 0.

    sign(0) = 0 as PyTorch's ``sign`` (hence autograd of ``abs``) gives; any value in
    :math:`[-\lambda, \lambda]` is a subgradient there. Gradient descent with it makes
    weights oscillate around 0 rather than reach it: :func:`soft_threshold` does.
    """
    arrays, was_list = _weights(w)
    lam = check_real(lam, "lam", minimum=0.0)
    return _like(was_list, [lam * np.sign(a) for a in arrays])


def soft_threshold(w, t):
    r"""Soft thresholding :math:`S_t(w) = \mathrm{sign}(w)\max(|w| - t, 0)`, elementwise.

    The proximal step of the L1 penalty: :math:`S_t(v) = \arg\min_w \tfrac12(w - v)^2 +
    t|w|`. ISTA alternates a gradient step on the loss with :math:`S_{\eta\lambda}`, and
    every weight with :math:`|v| \le \eta\lambda` becomes exactly 0 (Daubechies et al.
    2004). PyTorch: ``torch.nn.functional.softshrink(w, t)``.
    """
    w = as_float_array(w, "w")
    t = check_real(t, "t", minimum=0.0)
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


def soft_threshold_grad(w, t):
    r"""Derivative of :func:`soft_threshold`: 1 where :math:`|w| > t`, else 0 (0 at the
    kink :math:`|w| = t`, like ReLU's at 0)."""
    w = as_float_array(w, "w")
    t = check_real(t, "t", minimum=0.0)
    return (np.abs(w) > t).astype(w.dtype)


# --- Dropout ------------------------------------------------------------------------


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def _keep(shape, p, rng):
    """Boolean mask, each entry True (kept) with probability 1 - p: one uniform draw each."""
    if rng is None:
        raise TypeError("rng is required: 0 < p < 1 draws a random mask (pass rng=Generator)")
    return check_generator(rng).random(shape) >= p


def dropout_mask(shape, p, *, rng=None, dtype=np.float64):
    r"""The scaled mask :math:`m_i = r_i/(1-p)`, :math:`r_i \sim \mathrm{Bernoulli}(1-p)`.

    ``dropout(x, p, rng=rng) == x * dropout_mask(x.shape, p, rng=rng2)`` when ``rng`` and
    ``rng2`` are in the same state, and the backward pass of dropout is ``g * m``. p = 0
    gives ones and p = 1 zeros, without a draw and without dividing by 1 - p = 0.
    """
    p = _check_probability(p, "p")
    dtype = _float_dtype(dtype)
    if p in (0.0, 1.0):
        return np.full(shape, 1.0 - p, dtype=dtype)
    # 1/(1 - p) first, then the product, as PyTorch's mask (noise / (1 - p)) does
    return np.where(_keep(shape, p, rng), 1.0 / (1.0 - p), 0.0).astype(dtype)


def _dropout_multiplier(x, p, training, rng):
    """``x`` checked, and the mask dropout multiplies it by (ones when not training)."""
    x = as_float_array(x, "x")
    p = _check_probability(p, "p")
    if not check_flag(training, "training"):
        return x, np.ones_like(x)
    return x, dropout_mask(x.shape, p, rng=rng, dtype=x.dtype)


def dropout(x, p=0.5, training=True, *, rng=None):
    r"""Inverted dropout :math:`\tilde h_i = h_i r_i/(1-p)`, :math:`r_i \sim
    \mathrm{Bernoulli}(1-p)` (Srivastava et al. 2014).

    Each entry is zeroed with probability p and the survivors are scaled by 1/(1 - p), so
    :math:`E[\tilde h_i] = h_i` and evaluation (``training=False``) is the identity, as
    ``torch.nn.functional.dropout``. p = 1 gives zeros. ``rng`` is needed only when a mask
    is drawn (training with 0 < p < 1).
    """
    x, m = _dropout_multiplier(x, p, training, rng)
    with np.errstate(over="ignore"):  # only where x / (1 - p) exceeds the largest float
        return x * m


def dropout_grad(x, p=0.5, training=True, *, rng=None):
    r"""Derivative of :func:`dropout` with respect to each entry: the mask m itself.

    With ``rng`` in the state the forward pass used, the backward pass is ``g * m``.
    """
    return _dropout_multiplier(x, p, training, rng)[1]


def _alpha_dropout_affine(x, p, training, rng):
    r"""``x`` checked, and ``(m, c)`` with ``alpha_dropout(x) = x * m + c``.

    A kept unit maps to :math:`a x + b`, a dropped one to :math:`a\alpha' + b`, with
    :math:`\alpha'` = ``ALPHA_DROPOUT_SATURATION``, :math:`q = 1 - p`,
    :math:`a = (q + \alpha'^2 q p)^{-1/2}` and :math:`b = -a p \alpha'`.
    """
    x = as_float_array(x, "x")
    p = _check_probability(p, "p")
    if not check_flag(training, "training") or p in (0.0, 1.0):
        value = 0.0 if (training and p == 1.0) else 1.0  # p = 1: zeros, as PyTorch
        return x, np.full_like(x, value), np.zeros_like(x)
    keep = _keep(x.shape, p, rng)
    a = 1.0 / np.sqrt((1.0 - p) * (1.0 + ALPHA_DROPOUT_SATURATION**2 * p))
    b = -a * p * ALPHA_DROPOUT_SATURATION
    m = np.where(keep, a, 0.0).astype(x.dtype)
    c = np.where(keep, b, a * ALPHA_DROPOUT_SATURATION + b).astype(x.dtype)
    return x, m, c


def alpha_dropout(x, p=0.5, training=True, *, rng=None):
    r"""Alpha dropout, the SELU companion: keeps mean 0 and variance 1 (Klambauer et al. 2017).

    A dropped unit is set to SELU's saturation value :math:`\alpha' = -\lambda\alpha`
    (not to 0, which is not a typical SELU output), then the affine map :math:`a y + b`
    restores mean 0 and variance 1 for an input with mean 0 and variance 1. Constants and
    the p = 1 case (zeros) as ``torch.nn.functional.alpha_dropout``, whose ``training``
    defaults to False; here it defaults to True, as for :func:`dropout`.
    """
    x, m, c = _alpha_dropout_affine(x, p, training, rng)
    with np.errstate(over="ignore"):  # only where a * x exceeds the largest float
        return x * m + c


def alpha_dropout_grad(x, p=0.5, training=True, *, rng=None):
    r"""Derivative of :func:`alpha_dropout` with respect to each entry: a for a kept unit,
    0 for a dropped one (the offset does not depend on x)."""
    return _alpha_dropout_affine(x, p, training, rng)[1]


# --- Label smoothing ----------------------------------------------------------------


def smooth_labels(target, num_classes, epsilon):
    r"""Smoothed one-hot targets :math:`y^{LS}_k = (1-\varepsilon)\,\mathbb 1[k=y] +
    \varepsilon/K` from class indices (Szegedy et al. 2016).

    Returns shape ``target.shape + (num_classes,)``, float64. Cross-entropy against these
    targets equals ``dlnotes.losses.cross_entropy(..., label_smoothing=epsilon)``, PyTorch's
    convention: the :math:`\varepsilon/K` goes to every class, the true one included.
    """
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    epsilon = _check_probability(epsilon, "epsilon")
    if np.any((target < 0) | (target >= num_classes)):
        raise ValueError(f"target holds a class index outside [0, {num_classes})")
    smoothed = np.full(target.shape + (int(num_classes),), epsilon / num_classes)
    on = (1.0 - epsilon) + epsilon / num_classes  # the order (1 - eps) * 1 + eps / K
    np.put_along_axis(smoothed, target[..., None], on, axis=-1)
    return smoothed


# --- Spectral normalisation ---------------------------------------------------------


def _norm(v):
    """Euclidean norm of a vector, scaled by its largest entry: no overflow at 1e200 and
    no underflow to 0 at 1e-200 (``sqrt(v @ v)`` would give inf or 0)."""
    scale = np.max(np.abs(v))
    if scale == 0.0:
        return scale
    return scale * np.sqrt(np.sum(np.square(v / scale)))


def _normalize(v, eps):
    """``v / max(||v||, eps)``, as ``torch.nn.functional.normalize``."""
    return v / max(_norm(v), eps)


def _matrix(weight):
    weight = as_float_array(weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"weight must be a 2-D matrix, got shape {weight.shape}")
    return weight


def _power_iteration(weight, u, n_power_iterations, eps):
    """Check the arguments; return ``(weight, u_new, v, sigma)`` after the iterations."""
    weight = _matrix(weight)
    u = as_float_array(u, "u")
    if u.shape != (weight.shape[0],):
        raise ValueError(
            f"u must be a vector of length weight.shape[0] = {weight.shape[0]}, got {u.shape}"
        )
    n_power_iterations = check_int(n_power_iterations, "n_power_iterations", minimum=1)
    eps = check_real(eps, "eps", minimum=0.0, strict=True)
    u = u.astype(weight.dtype)
    for _ in range(n_power_iterations):
        v = _normalize(weight.T @ u, eps)
        u = _normalize(weight @ v, eps)
    sigma = u @ (weight @ v)  # >= 0: u is W v scaled by a positive number
    return weight, u, v, sigma


def spectral_norm(weight, u, n_power_iterations=1, eps=SPECTRAL_NORM_EPS):
    r"""Spectral normalisation :math:`W/\sigma(W)` with :math:`\sigma` from power iteration
    (Miyato et al. 2018).

    Each iteration is :math:`v = \mathrm{normalize}(W^\top u)`, :math:`u =
    \mathrm{normalize}(W v)`; then :math:`\sigma = u^\top W v`, which approaches the
    largest singular value from below. ``normalize(v)`` is :math:`v/\max(\|v\|,
    \varepsilon)`. As the legacy ``torch.nn.utils.spectral_norm`` in training mode: one
    iteration per call, and the caller carries ``u`` from one call to the next. ``u`` has
    length ``weight.shape[0]`` (PyTorch's Linear stores (out, in), the transpose of the
    dlnotes layout: pass ``weight.T`` to use PyTorch's u). Returns ``(weight / sigma,
    u_new, sigma)``; where sigma is 0 (a zero weight) the weight is returned unscaled,
    where PyTorch gives 0/0 = NaN. As in PyTorch, a vector shorter than ``eps`` is not
    normalised, so a weight with entries far below ``eps`` gets a sigma that is far too
    small; the norms themselves are scaled and neither overflow nor underflow.
    """
    weight, u, _, sigma = _power_iteration(weight, u, n_power_iterations, eps)
    scaled = weight / sigma if sigma > 0 else weight.copy()
    return scaled, u, sigma


def spectral_norm_grad(weight, g, u, n_power_iterations=1, eps=SPECTRAL_NORM_EPS):
    r"""Vector-Jacobian product of :func:`spectral_norm`'s first output with respect to W.

    With u and v held fixed, as PyTorch does (its power iteration runs without autograd),
    :math:`\partial\sigma/\partial W = u v^\top`, so for an upstream gradient G of
    :math:`\hat W = W/\sigma`:
    :math:`\partial L/\partial W = \bigl(G - \langle G, \hat W\rangle\, u v^\top\bigr)/\sigma`.
    """
    weight, u, v, sigma = _power_iteration(weight, u, n_power_iterations, eps)
    g = as_float_array(g, "g")
    if g.shape != weight.shape:
        raise ValueError(f"g must have the same shape as weight: {g.shape} != {weight.shape}")
    if sigma == 0:
        return g.copy()
    along = np.sum(g * weight) / sigma  # <G, W / sigma>
    return (g - along * np.outer(u, v)) / sigma


def initial_u(weight, *, rng=None):
    r"""The first u of power iteration, as PyTorch draws it: a standard normal vector of
    length ``weight.shape[0]``, normalised (with ``SPECTRAL_NORM_EPS``)."""
    weight = _matrix(weight)
    if rng is None:
        raise TypeError("rng is required: initial_u draws a random vector (pass rng=Generator)")
    draw = check_generator(rng).standard_normal(weight.shape[0])
    return _normalize(draw, SPECTRAL_NORM_EPS).astype(weight.dtype)
