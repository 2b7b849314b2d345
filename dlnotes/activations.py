"""Activation functions and their derivatives (chapter 1).

Every function takes an array ``x`` (anything ``numpy.asarray`` accepts) and returns a
new array of the same shape; float32 stays float32, integers become float64. Names and
defaults follow ``torch.nn.functional``. Each ``f`` has ``f_grad`` with the same
parameters, giving the elementwise derivative ``f'(x)`` -- which is also the gradient of
``sum(f(x))``. For ``softmax`` and ``log_softmax``, which mix the entries of a vector,
``*_grad(z, g)`` is the vector-Jacobian product ``J^T g`` and ``*_jacobian(z)`` the full
Jacobian.

All functions are accurate to a few ulps in float64 over the whole real line, tails
included: no overflow or underflow warning and no NaN for any finite input, and the
limits at +-inf.
"""

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index
from scipy.special import erfc

from dlnotes._checks import as_float_array, check_choice, check_real, check_same_shape

__all__ = [
    "sigmoid", "sigmoid_grad", "log_sigmoid", "log_sigmoid_grad",
    "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu", "leaky_relu_grad",
    "prelu", "prelu_grad", "elu", "elu_grad", "selu", "selu_grad",
    "gelu", "gelu_grad", "swish", "swish_grad", "silu", "silu_grad",
    "mish", "mish_grad", "softplus", "softplus_grad",
    "softmax", "softmax_grad", "softmax_jacobian",
    "log_softmax", "log_softmax_grad", "log_softmax_jacobian",
]  # fmt: skip

# SELU's constants (Klambauer et al. 2017), to the digits PyTorch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# Coefficients of the tanh approximation of GELU (Hendrycks & Gimpel 2016).
GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_K = 0.044715


def _scaled(beta, x):
    """Return ``beta * x``, where overflow to +-inf is harmless.

    Only sigma(beta x) or e^(-beta |x|) is taken of the product, and for those an
    infinite argument gives the exact limit (0 or 1).
    """
    with np.errstate(over="ignore"):
        return beta * x


def _finite_below(x):
    """``x`` with -inf replaced by the most negative float, for products ``x * g(x)``.

    Where g vanishes as x -> -inf (sigma(x), Phi(x), ...), ``-inf * 0`` would be NaN;
    ``-max * 0`` is 0, the limit. +inf is kept: there g(x) = 1 and the product is +inf.
    """
    return np.maximum(x, np.finfo(x.dtype).min)


def _finite(x):
    """``x`` with +-inf replaced by +-max, for products ``x * h(x)`` where h vanishes at
    both ends (derivative terms such as x * sigma'(x))."""
    big = np.finfo(x.dtype).max
    return np.clip(x, -big, big)


# --- Sigmoid family -----------------------------------------------------------------


def sigmoid(x):
    r"""Logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`.

    Evaluated as :math:`p / (1 + p)` with :math:`p = e^x`: the naive form overflows in
    ``exp(-x)`` for x < -709, while here a very negative x only lets p underflow to 0.
    At the other end, p would overflow for x > 709, but sigma(x) is exactly 1 in float64
    from x = 37 on, so x is clipped at 40 first.
    """
    x = as_float_array(x, "x")
    p = np.exp(np.minimum(x, 40.0))
    return p / (1.0 + p)


def sigmoid_grad(x):
    r"""Derivative :math:`\sigma'(x) = \sigma(x)\,\sigma(-x) = e^{-|x|}/(1+e^{-|x|})^2`.

    The textbook form :math:`\sigma(1-\sigma)` cancels: for x > 37, ``1 - sigma(x)`` is
    exactly 0 in float64 although the derivative is about :math:`e^{-x}`.
    """
    x = as_float_array(x, "x")
    e = np.exp(-np.abs(x))
    return e / (1.0 + e) ** 2


def log_sigmoid(x):
    r""":math:`\log\sigma(x) = -\log(1 + e^{-x}) = \min(x, 0) - \log(1 + e^{-|x|})`.

    The right-hand form (the mirror image of softplus: log sigma(x) = -softplus(-x)) never
    exponentiates a positive number: ``log_sigmoid(-1000)`` is -1000 rather than
    ``log(0) = -inf``.
    """
    x = as_float_array(x, "x")
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def log_sigmoid_grad(x):
    r"""Derivative :math:`\frac{d}{dx}\log\sigma(x) = 1 - \sigma(x) = \sigma(-x)`."""
    return sigmoid(-as_float_array(x, "x"))


def tanh(x):
    r"""Hyperbolic tangent :math:`\tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})`."""
    return np.tanh(as_float_array(x, "x"))


def tanh_grad(x):
    r"""Derivative :math:`1 - \tanh^2(x) = \mathrm{sech}^2(x) = 4e^{-2|x|}/(1+e^{-2|x|})^2`.

    As with the sigmoid, ``1 - tanh(x)**2`` is exactly 0 for |x| > 19 in float64; the
    exponential form keeps full relative precision in the tails.
    """
    x = as_float_array(x, "x")
    e2 = np.exp(-np.abs(x)) ** 2  # not exp(-2|x|): 2|x| overflows for |x| near the float max
    return 4.0 * e2 / (1.0 + e2) ** 2


# --- ReLU family --------------------------------------------------------------------


def _positive_plus_negative(x, negative_part):
    """``max(x, 0) + negative_part``: the piecewise functions of the ReLU family.

    ``negative_part`` is the x <= 0 branch evaluated on min(x, 0), which is 0 for x > 0,
    so the sum is the right branch everywhere. ``np.where(x > 0, x, ...)`` is vectorised
    too, but it needs both branches computed in full first, and its per-element choice is
    slower on inputs of mixed sign; the ``_grad`` functions use it where both branches
    are cheap.
    """
    return np.maximum(x, 0.0) + negative_part


def relu(x):
    r"""Rectified linear unit :math:`\max(0, x)` (Nair & Hinton 2010)."""
    return np.maximum(as_float_array(x, "x"), 0.0)


def relu_grad(x):
    """Derivative of ReLU: 1 for x > 0, else 0 (0 at the kink, as in PyTorch)."""
    x = as_float_array(x, "x")
    return (x > 0).astype(x.dtype)


def leaky_relu(x, negative_slope=0.01):
    r""":math:`x` for x > 0, :math:`\alpha x` otherwise (Maas et al. 2013).

    ``negative_slope`` is :math:`\alpha`; PyTorch's default is 0.01.
    """
    x = as_float_array(x, "x")
    negative_slope = check_real(negative_slope, "negative_slope")
    return _positive_plus_negative(x, negative_slope * np.minimum(x, 0.0))


def leaky_relu_grad(x, negative_slope=0.01):
    """Derivative of Leaky ReLU: 1 for x > 0, else ``negative_slope`` (also at x = 0)."""
    x = as_float_array(x, "x")
    negative_slope = check_real(negative_slope, "negative_slope")
    return np.where(x > 0, 1.0, negative_slope).astype(x.dtype)


def _prelu_slope(x, a):
    """Check ``a`` and shape it to broadcast against ``x`` along the channel axis 1.

    As in PyTorch, ``a`` holds either one slope shared by all channels or one slope per
    channel; the channel axis is axis 1 of ``x`` (N, C, ...).
    """
    a = as_float_array(a, "a").astype(x.dtype, copy=False)
    if a.ndim > 1:
        raise ValueError(f"a must be a scalar or a 1-D array of slopes, got shape {a.shape}")
    if a.size == 1:
        return a.reshape(())
    channels = x.shape[1] if x.ndim >= 2 else None
    if a.size != channels:
        raise ValueError(
            f"a must have 1 element or one per channel (x.shape[1]); got {a.size} slopes "
            f"for x of shape {x.shape}"
        )
    return a.reshape((a.size,) + (1,) * (x.ndim - 2))


def prelu(x, a):
    r"""Parametric ReLU: :math:`x` for x > 0, :math:`a x` otherwise (He et al. 2015).

    ``a`` is learnable: a scalar (or shape ``(1,)``) shared by all channels, or shape
    ``(C,)`` with one slope per channel of ``x`` of shape ``(N, C, ...)``.
    """
    x = as_float_array(x, "x")
    slope = _prelu_slope(x, a)
    return _positive_plus_negative(x, slope * np.minimum(x, 0.0))


def prelu_grad(x, a):
    r"""Gradients of :math:`\sum \mathrm{PReLU}(x, a)` with respect to ``x`` and ``a``.

    Returns ``(dx, da)``: ``dx`` is the elementwise derivative (1 for x > 0, else the
    slope) and ``da`` has the shape of ``a``: :math:`\partial/\partial a_c` sums
    :math:`\min(x, 0)` over every element of channel c. For an upstream gradient ``g``,
    the slope's gradient is the same sum weighted by ``g``.
    """
    x = as_float_array(x, "x")
    slope = _prelu_slope(x, a)
    dx = np.where(x > 0, 1.0, np.broadcast_to(slope, x.shape)).astype(x.dtype)
    per_element = np.minimum(x, 0.0)
    if slope.ndim == 0:
        da = per_element.sum()
    else:
        da = per_element.sum(axis=tuple(i for i in range(x.ndim) if i != 1))
    return dx, np.reshape(da, np.shape(a)).astype(x.dtype)


def elu(x, alpha=1.0):
    r"""Exponential linear unit: :math:`x` for x > 0, :math:`\alpha(e^x - 1)` otherwise.

    Clevert et al. 2016. ``expm1`` keeps precision near 0. It is evaluated on
    :math:`\min(x, 0)`, which is 0 for x > 0: ``expm1(1000)`` would overflow, and a
    ``np.where(x > 0, x, alpha * np.expm1(x))`` computes both branches everywhere.
    """
    x = as_float_array(x, "x")
    alpha = check_real(alpha, "alpha", minimum=0.0)
    return _positive_plus_negative(x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x, alpha=1.0):
    r"""Derivative of ELU: 1 for x > 0, :math:`\alpha e^x` otherwise (also at x = 0)."""
    x = as_float_array(x, "x")
    alpha = check_real(alpha, "alpha", minimum=0.0)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def selu(x):
    r"""Scaled ELU :math:`\lambda\,\mathrm{ELU}(x, \alpha)` with the self-normalising
    constants :math:`\alpha \approx 1.6733`, :math:`\lambda \approx 1.0507`
    (Klambauer et al. 2017)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_grad(x):
    r"""Derivative of SELU: :math:`\lambda` for x > 0, :math:`\lambda\alpha e^x` otherwise."""
    return SELU_SCALE * elu_grad(x, SELU_ALPHA)


# --- Smooth ReLU-likes: GELU, Swish/SiLU, Mish, Softplus -----------------------------


def _gelu_tanh_argument(x):
    r"""Return ``(xc, 2u)``: x clipped to [-1000, 1000], and :math:`2u = 2c(x_c + k x_c^3)`.

    The cube would overflow for |x| > 5e102; beyond |x| = 1000, sigma(2u) is already
    exactly 0 or 1, so clipping changes nothing else.
    """
    xc = np.clip(x, -1000.0, 1000.0)
    return xc, 2.0 * GELU_TANH_C * xc * (1.0 + GELU_TANH_K * xc * xc)


def gelu(x, approximate="none"):
    r"""Gaussian error linear unit :math:`x\,\Phi(x)` (Hendrycks & Gimpel 2016).

    ``approximate="none"`` (PyTorch's default) is exact: :math:`\Phi(x) =
    \tfrac12\,\mathrm{erfc}(-x/\sqrt2)`. Written with erfc rather than :math:`1 +
    \mathrm{erf}(x/\sqrt2)`, which cancels to 0 for x < -8.

    ``approximate="tanh"`` is :math:`\tfrac{x}{2}(1 + \tanh u)`, :math:`u =
    \sqrt{2/\pi}\,(x + 0.044715x^3)`, evaluated as :math:`x\,\sigma(2u)` (the same
    function, since :math:`1 + \tanh u = 2\sigma(2u)`) so that the left tail does not
    cancel to 0 either.
    """
    x = as_float_array(x, "x")
    check_choice(approximate, "approximate", ("none", "tanh"))
    if approximate == "none":
        cdf = 0.5 * erfc(x * -math.sqrt(0.5))
    else:
        cdf = sigmoid(_gelu_tanh_argument(x)[1])
    return _finite_below(x) * cdf


def gelu_grad(x, approximate="none"):
    r"""Derivative of GELU.

    Exact: :math:`\Phi(x) + x\,\varphi(x)` with :math:`\varphi` the standard normal
    density. Tanh form: :math:`\sigma(2u) + x \cdot 2u' \cdot \sigma'(2u)`.
    """
    x = as_float_array(x, "x")
    check_choice(approximate, "approximate", ("none", "tanh"))
    if approximate == "none":
        # x * phi(x) is exactly 0 beyond |x| = 40; clipping keeps x**2 from overflowing.
        xc = np.clip(x, -40.0, 40.0)
        pdf = np.exp(-0.5 * xc * xc) / math.sqrt(2.0 * math.pi)
        return 0.5 * erfc(x * -math.sqrt(0.5)) + xc * pdf
    xc, two_u = _gelu_tanh_argument(x)
    two_du = 2.0 * GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * xc * xc)
    return sigmoid(two_u) + xc * two_du * sigmoid_grad(two_u)


def swish(x, beta=1.0):
    r"""Swish :math:`x\,\sigma(\beta x)` (Ramachandran et al. 2017); beta = 1 is SiLU."""
    x = as_float_array(x, "x")
    beta = check_real(beta, "beta", minimum=0.0, strict=True)
    return _finite_below(x) * sigmoid(_scaled(beta, x))


def swish_grad(x, beta=1.0):
    r"""Derivative of Swish: :math:`\sigma(\beta x) + \beta x\,\sigma'(\beta x)`."""
    x = as_float_array(x, "x")
    beta = check_real(beta, "beta", minimum=0.0, strict=True)
    bx = _scaled(beta, x)
    return sigmoid(bx) + _finite(x) * (beta * sigmoid_grad(bx))


def silu(x):
    r"""Sigmoid linear unit :math:`x\,\sigma(x)`: PyTorch's name for Swish with beta = 1."""
    return swish(x, 1.0)


def silu_grad(x):
    r"""Derivative of SiLU: :math:`\sigma(x)(1 + x\,\sigma(-x))`."""
    return swish_grad(x, 1.0)


def _mish_gate(x):
    r"""Return ``(x_hi, n)`` with :math:`\tanh(\mathrm{softplus}(x)) = n/(n+2)`.

    :math:`\tanh(\log(1+e^x)) = ((1+e^x)^2 - 1)/((1+e^x)^2 + 1) = n/(n+2)` with
    :math:`n = e^x(e^x + 2)`: one exp instead of exp, log and tanh. n is computed from
    ``x_hi``, x clipped where :math:`e^{2x}` would overflow (x = 353 in float64, 43 in
    float32); the ratio is exactly 1 long before, and :math:`1 - n/(n+2) = 2/(n+2)` keeps
    its precision up to the clip.
    """
    x_hi = np.minimum(x, np.log(np.finfo(x.dtype).max) / 2 - 1)
    p = np.exp(x_hi)
    return x_hi, p * (p + 2.0)


def mish(x):
    r"""Mish :math:`x \tanh(\mathrm{softplus}(x))` (Misra 2019)."""
    x = as_float_array(x, "x")
    _, n = _mish_gate(x)
    return _finite_below(x) * (n / (n + 2.0))


def mish_grad(x):
    r"""Derivative of Mish: :math:`t + x\,(1 - t^2)\,\sigma(x)`.

    Here :math:`t = \tanh(\mathrm{softplus}(x))`, and :math:`(1 - t^2)\sigma(x)` is the
    derivative of t by the chain rule (softplus' = sigma). :math:`1 - t^2` is taken as
    :math:`(1 - t)(1 + t)` with :math:`1 - t = 2/(n+2)`, which does not cancel where t is
    close to 1 as ``1 - t`` would.
    """
    x = as_float_array(x, "x")
    x_hi, n = _mish_gate(x)
    t, one_minus_t = n / (n + 2.0), 2.0 / (n + 2.0)
    # The second term vanishes beyond the clip of x_hi, and below x = -800 (sigma(x) is 0
    # from -745): the clipped x keeps -inf * 0 from making a NaN.
    xc = np.maximum(x_hi, -800.0)
    return t + xc * (one_minus_t * (1.0 + t) * sigmoid(xc))


def softplus(x, beta=1.0):
    r"""Softplus :math:`\frac1\beta\log(1 + e^{\beta x})`, a smooth ReLU.

    Computed as :math:`\max(x, 0) + \frac1\beta\log(1 + e^{-\beta|x|})`: the exponent
    is never positive, so nothing overflows, and the result is exact everywhere. PyTorch
    instead returns x itself once :math:`\beta x > 20` (its ``threshold``), which is off
    by :math:`\log(1+e^{-20}) \approx 2\times10^{-9}` at the switch.
    """
    x = as_float_array(x, "x")
    beta = check_real(beta, "beta", minimum=0.0, strict=True)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-_scaled(beta, np.abs(x)))) / beta


def softplus_grad(x, beta=1.0):
    r"""Derivative of Softplus: :math:`\sigma(\beta x)`."""
    x = as_float_array(x, "x")
    beta = check_real(beta, "beta", minimum=0.0, strict=True)
    return sigmoid(_scaled(beta, x))


# --- Softmax ------------------------------------------------------------------------


def _softmax_input(z, axis):
    """Check ``z`` and ``axis`` for the softmax family; return ``(z, axis)`` normalised."""
    z = as_float_array(z, "z")
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension (a vector of logits)")
    axis = normalize_axis_index(axis, z.ndim, "axis")
    if z.shape[axis] == 0:
        raise ValueError(f"z must have at least one entry along axis {axis}, got shape {z.shape}")
    return z, axis


def _shift_by_max(z, axis):
    r"""Return :math:`z - \max z` along ``axis``: every entry <= 0, so exp cannot overflow.

    If a maximum is infinite, ``z - max`` would give ``inf - inf = NaN``. There, entries
    equal to the maximum shift to 0 and the rest to -inf: the softmax spreads its mass
    evenly over the +inf entries, and an all -inf vector gives the uniform distribution,
    the limit of equal logits.
    """
    m = np.max(z, axis=axis, keepdims=True)
    if np.isfinite(m).all():
        return z - m
    return np.subtract(z, m, out=np.zeros_like(z), where=z != m)


class _ExpParts(NamedTuple):
    """The sum :math:`\\sum_j e^{z_j} = e^m (1 + \\mathrm{rest})` in pieces (keepdims)."""

    m: np.ndarray  # max_j z_j
    shifted: np.ndarray  # z - m, from _shift_by_max: 0 at the maximum
    k: np.ndarray  # index of the maximum along the axis (for take/put_along_axis)
    others: np.ndarray  # e^(z - m) with the entry at k set to 0
    rest: np.ndarray  # sum of ``others``: the part of the sum that is not the 1


def _exp_parts(z, axis):
    """Split the shifted exponentials into the 1 of the maximum and the ``rest``.

    Kept apart, the small ``rest`` is not lost when it is added to 1: log-sum-exp takes
    ``log1p(rest)``, and the largest probability's complement ``1 - s_k`` is
    ``rest / (1 + rest)`` instead of a difference that rounds to 0.
    """
    m = np.max(z, axis=axis, keepdims=True)
    shifted = _shift_by_max(z, axis)
    k = np.argmax(shifted, axis=axis, keepdims=True)
    others = np.exp(shifted)
    np.put_along_axis(others, k, 0.0, axis)
    return _ExpParts(m, shifted, k, others, others.sum(axis=axis, keepdims=True))


def _softmax_parts(z, axis):
    """Return ``(s, k, s_k, c_k)``: the softmax, the index k of its largest entry, s_k, and
    the complement :math:`c_k = 1 - s_k = \\mathrm{rest}/(1 + \\mathrm{rest})` (keepdims)."""
    _, _, k, s, rest = _exp_parts(z, axis)
    np.put_along_axis(s, k, 1.0, axis)  # e^(z_k - m) = 1
    total = 1.0 + rest
    s /= total
    return s, k, 1.0 / total, rest / total


def softmax(z, axis=-1):
    r""":math:`\mathrm{softmax}(z)_i = e^{z_i} / \sum_j e^{z_j}` along ``axis``.

    Softmax is unchanged by adding a constant to every z_j, so it is computed on
    :math:`z - \max_j z_j`, whose exponentials lie in (0, 1].
    """
    z, axis = _softmax_input(z, axis)
    return _softmax_parts(z, axis)[0]


def logsumexp_parts(z, axis):
    r"""The log-sum-exp of ``z`` along ``axis`` as ``(m, shifted, log1p_rest)``, keepdims.

    :math:`\log\sum_j e^{z_j} = m + \log\bigl(1 + \sum_{j \ne k} e^{z_j - m}\bigr)` with
    :math:`m = z_k = \max_j z_j`: ``shifted`` is :math:`z - m` and ``log1p_rest`` the
    ``log1p`` term. Taking ``log`` of the whole sum instead rounds :math:`1 + e^{-40}` to
    1 and loses every digit of the small correction (z = (0, -40) would give a
    log-softmax of exactly 0 for the first entry instead of :math:`-e^{-40}`). The one
    log-sum-exp of dlnotes: ``log_softmax``, the losses and ``numerics.logsumexp`` use it.
    An infinite maximum follows :func:`_shift_by_max`, so the sum is -inf for an all
    -inf vector and +inf when an entry is +inf; a NaN propagates.
    """
    m, shifted, _, _, rest = _exp_parts(z, axis)
    return m, shifted, np.log1p(rest)


def log_softmax(z, axis=-1):
    r""":math:`\log\mathrm{softmax}(z)_i = z_i - \log\sum_j e^{z_j}` (log-sum-exp trick).

    Taking ``log(softmax(z))`` instead would give ``log(0) = -inf`` as soon as one
    probability underflows, e.g. for z = (0, -800). The sum is taken as
    :math:`1 + \sum_{j \ne k} e^{z_j - m}` through ``log1p`` (:func:`logsumexp_parts`),
    so the dominant entry keeps its tiny log-probability: :math:`-e^{-40}` for
    z = (0, -40), where PyTorch returns 0.
    """
    z, axis = _softmax_input(z, axis)
    _, shifted, log1p_rest = logsumexp_parts(z, axis)
    return shifted - log1p_rest


def _vjp_input(z, g, axis):
    """Check ``z``, ``axis`` and the upstream gradient ``g`` of a softmax VJP."""
    z, axis = _softmax_input(z, axis)
    g = as_float_array(g, "g")
    check_same_shape(z, "z", g, "g")
    return z, g, axis


def softmax_grad(z, g, axis=-1):
    r"""Vector-Jacobian product of softmax: :math:`J^\top g = s \odot (g - \langle g, s\rangle)`.

    ``g`` is the upstream gradient (same shape as ``z``); the result is the gradient of
    :math:`\sum_i g_i\,\mathrm{softmax}(z)_i` with respect to z. Computed with
    :math:`d = g - g_k` in place of g (the same result, since the s_j sum to 1), k the
    largest entry: for z = (0, -40), g = (1, 0), :math:`g_0 - \langle g, s\rangle` would
    be 1 - 1 = 0 instead of :math:`e^{-40}`.
    """
    z, g, axis = _vjp_input(z, g, axis)
    s, k, _, _ = _softmax_parts(z, axis)
    d = g - np.take_along_axis(g, k, axis)
    return s * (d - np.sum(d * s, axis=axis, keepdims=True))


def log_softmax_grad(z, g, axis=-1):
    r"""Vector-Jacobian product of log-softmax: :math:`g - s \sum_j g_j`.

    At the largest entry k the difference :math:`g_k - s_k g_k` is written
    :math:`g_k (1 - s_k)` with the exact complement: for z = (0, -40) and g = (1, 0)
    (the gradient of :math:`\log s_0`) it gives :math:`e^{-40}`, not 0.
    """
    z, g, axis = _vjp_input(z, g, axis)
    s, k, s_k, c_k = _softmax_parts(z, axis)
    g_k = np.take_along_axis(g, k, axis)
    g_others = g.copy()
    np.put_along_axis(g_others, k, 0.0, axis)
    others_sum = g_others.sum(axis=axis, keepdims=True)
    out = g - s * (g_k + others_sum)
    np.put_along_axis(out, k, g_k * c_k - s_k * others_sum, axis)
    return out


def _softmax_and_log_jacobian(z, axis):
    """Softmax with ``axis`` moved last, and the log-softmax Jacobian delta_ij - s_j.

    The diagonal entry of the largest probability is its exact complement 1 - s_k.
    """
    z, axis = _softmax_input(z, axis)
    s, k, _, c_k = (np.moveaxis(a, axis, -1) for a in _softmax_parts(z, axis))
    size = s.shape[-1]
    log_jacobian = np.eye(size, dtype=s.dtype) - s[..., None, :]
    flat = log_jacobian.reshape(s.shape[:-1] + (size * size,))  # a view: writes go through
    np.put_along_axis(flat, k * (size + 1), c_k, -1)
    return s, log_jacobian


def softmax_jacobian(z, axis=-1):
    r"""Full Jacobian :math:`J_{ij} = \partial s_i / \partial z_j = s_i(\delta_{ij} - s_j)`.

    Row i is :math:`s_i` times row i of the log-softmax Jacobian, since
    :math:`\partial s_i = s_i\,\partial\log s_i`. For ``z`` of shape ``(..., K)``
    (``axis`` moved last) the result has shape ``(..., K, K)``, row i holding the
    derivatives of output i.
    """
    s, log_jacobian = _softmax_and_log_jacobian(z, axis)
    return s[..., :, None] * log_jacobian


def log_softmax_jacobian(z, axis=-1):
    r"""Full Jacobian of log-softmax: :math:`\partial\log s_i/\partial z_j = \delta_{ij} - s_j`."""
    return _softmax_and_log_jacobian(z, axis)[1]
