"""Weight initializers (chapter 5).

Every initializer returns a new array of the requested ``shape`` drawn from an explicit
``rng`` (a ``numpy.random.Generator``: there is no global seed) in the requested floating
``dtype`` (float64 by default). Names, arguments and defaults follow ``torch.nn.init``
(without the trailing underscore: nothing is filled in place), with one difference of
layout: a dense weight here is ``(fan_in, fan_out)``, so that a layer is ``y = x @ W``,
while PyTorch stores ``(out, in)``. For more than two axes the last two are (in, out) and
the leading ones the receptive field, as in JAX: a 3x3 convolution from 16 to 32 channels
is ``(3, 3, 16, 32)`` here and ``(32, 16, 3, 3)`` in PyTorch, with the same fans.

Xavier, Kaiming and LeCun are one-line calls to ``variance_scaling``, which draws from a
zero-mean uniform, normal or truncated normal of variance ``scale / n``, where ``n`` is
``fan_in``, ``fan_out`` or their mean, all from one ``compute_fans``. Initializers have no
gradient, so this module has no ``_grad`` functions.
"""

import math
import numbers
import operator

import numpy as np
from scipy.special import log_ndtr, ndtri_exp

from dlnotes._checks import check_choice, check_generator, check_real

__all__ = [
    "compute_fans", "calculate_gain", "variance_scaling",
    "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    "lecun_normal", "trunc_normal", "orthogonal",
]  # fmt: skip

# Standard deviation of a standard normal truncated to [-2, 2]:
# sqrt(1 - 4 phi(2) / (2 Phi(2) - 1)), phi and Phi the normal density and CDF (digits as in
# JAX's variance_scaling; checked against mpmath in the tests).
TRUNC_NORMAL_STD_2 = 0.87962566103423978

# calculate_gain: PyTorch's names of the layers that have no nonlinearity (gain 1).
LINEAR_LAYERS = ("linear", "conv1d", "conv2d", "conv3d",
                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")  # fmt: skip
NONLINEARITIES = (*LINEAR_LAYERS, "sigmoid", "tanh", "relu", "leaky_relu", "selu")
# Default negative slope of leaky_relu, as torch.nn.functional.leaky_relu.
LEAKY_RELU_SLOPE = 0.01

FAN_MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
# trunc_normal: log Phi(x) = -x^2/2 overflows float64 below x = -1.8e154; an interval this
# many standard deviations out on one side is refused rather than sampled wrongly.
TRUNC_NORMAL_MAX_DEVIATIONS = 1e150


# --- Shared checks ------------------------------------------------------------------


def _check_shape(shape, min_ndim):
    """``shape`` (an int or a sequence of ints) as a tuple of positive ints."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from None
    if len(dims) < min_ndim:
        raise ValueError(
            f"shape must have at least {min_ndim} axes (..., fan_in, fan_out), got {dims}"
        )
    if any(d <= 0 for d in dims):
        raise ValueError(f"shape must have positive sizes, got {dims}")
    return dims


def _check_generator(rng, dtype):
    """Raise unless ``rng`` is a numpy Generator and ``dtype`` a floating dtype."""
    check_generator(rng)
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating dtype, got {np.dtype(dtype)}")


# --- Fans and gains -----------------------------------------------------------------


def compute_fans(shape):
    r"""Fan-in and fan-out of a weight of ``shape`` ``(*receptive_field, in, out)``.

    :math:`n_\mathrm{in} = \mathrm{in}\cdot r` and :math:`n_\mathrm{out} = \mathrm{out}\cdot r`,
    with :math:`r` the product of the leading (receptive-field) axes, 1 for a dense layer.
    PyTorch's ``_calculate_fan_in_and_fan_out`` gives the same numbers for the
    ``(out, in, *receptive_field)`` layout. A vector (a bias) or a scalar has no fans.
    """
    dims = _check_shape(shape, min_ndim=2)
    receptive_field = math.prod(dims[:-2])
    return dims[-2] * receptive_field, dims[-1] * receptive_field


def calculate_gain(nonlinearity, param=None):
    r"""The gain :math:`g` that keeps the signal's scale through ``nonlinearity``.

    PyTorch's table: 1 for linear layers and the sigmoid, 5/3 for tanh, :math:`\sqrt 2` for
    ReLU, :math:`\sqrt{2 / (1 + s^2)}` for leaky ReLU of negative slope :math:`s`
    (``param``, default 0.01) and 3/4 for SELU. ``param`` is ignored by the others.
    """
    check_choice(nonlinearity, "nonlinearity", NONLINEARITIES)
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = LEAKY_RELU_SLOPE if param is None else check_real(param, "param")
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 0.75  # found empirically by PyTorch (pull request 50664), not derived
    return 1.0


# --- Variance scaling: Xavier, Kaiming, LeCun ---------------------------------------


def variance_scaling(shape, scale, mode, distribution, *, rng, dtype=np.float64):
    r"""Zero-mean weights of variance :math:`\mathrm{Var}(w) = \mathrm{scale} / n`.

    :math:`n` is ``fan_in``, ``fan_out`` or ``fan_avg`` :math:`= (n_\mathrm{in} +
    n_\mathrm{out})/2` (``mode``). ``distribution`` is ``"uniform"`` on
    :math:`[-\sqrt{3\,\mathrm{Var}}, \sqrt{3\,\mathrm{Var}}]`, ``"normal"``, or
    ``"truncated_normal"`` cut at two of its standard deviations, whose standard deviation is
    first divided by ``TRUNC_NORMAL_STD_2`` so that the variance after the cut is still
    ``Var`` (without it the cut would shrink the variance by 23 %). JAX's
    ``variance_scaling``, of which every initializer below is a special case.
    """
    _check_generator(rng, dtype)
    scale = check_real(scale, "scale", minimum=0.0)
    check_choice(mode, "mode", FAN_MODES)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    dims = _check_shape(shape, min_ndim=2)
    fan_in, fan_out = compute_fans(dims)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std  # U(-b, b) has variance b^2 / 3
        return rng.uniform(-bound, bound, size=dims).astype(dtype)
    if distribution == "normal":
        return (std * rng.standard_normal(size=dims)).astype(dtype)
    std = std / TRUNC_NORMAL_STD_2
    return trunc_normal(dims, std=std, a=-2.0 * std, b=2.0 * std, rng=rng, dtype=dtype)


def _gain_squared(gain):
    """gain^2, the ``scale`` of variance_scaling, for a gain that must be >= 0."""
    gain = check_real(gain, "gain", minimum=0.0)
    if not math.isfinite(gain * gain):
        raise ValueError(f"gain must be below 1e154 (its square is the variance), got {gain}")
    return gain * gain


def _kaiming_scale(a, nonlinearity):
    """gain^2 for Kaiming init: ``a`` is the negative slope, used by leaky_relu only."""
    return calculate_gain(nonlinearity, check_real(a, "a")) ** 2


def _kaiming_mode(mode):
    return check_choice(mode, "mode", ("fan_in", "fan_out"))


def xavier_uniform(shape, gain=1.0, *, rng, dtype=np.float64):
    r"""Glorot & Bengio (2010): :math:`U(-b, b)`, :math:`b = g\sqrt{6/(n_\mathrm{in} +
    n_\mathrm{out})}`, i.e. :math:`\mathrm{Var}(w) = 2g^2 / (n_\mathrm{in} + n_\mathrm{out})`."""
    return variance_scaling(shape, _gain_squared(gain), "fan_avg", "uniform", rng=rng, dtype=dtype)


def xavier_normal(shape, gain=1.0, *, rng, dtype=np.float64):
    r"""Glorot & Bengio (2010): :math:`N(0, 2g^2 / (n_\mathrm{in} + n_\mathrm{out}))`."""
    return variance_scaling(shape, _gain_squared(gain), "fan_avg", "normal", rng=rng, dtype=dtype)


def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng,
                    dtype=np.float64):  # fmt: skip
    r"""He et al. (2015): :math:`U(-b, b)`, :math:`b = g\sqrt{3 / n}`, n the fan of ``mode``.

    :math:`\mathrm{Var}(w) = g^2/n`, with the gain :math:`g` of ``calculate_gain``. PyTorch's
    defaults: ``nonlinearity="leaky_relu"`` with slope ``a = 0`` is ReLU's
    :math:`g = \sqrt 2`, i.e. :math:`\mathrm{Var}(w) = 2/n_\mathrm{in}`. ``a = sqrt(5)`` gives
    :math:`U(\pm 1/\sqrt{n_\mathrm{in}})`, the default weight of PyTorch's ``nn.Linear``.
    """
    scale = _kaiming_scale(a, nonlinearity)
    return variance_scaling(shape, scale, _kaiming_mode(mode), "uniform", rng=rng, dtype=dtype)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng,
                   dtype=np.float64):  # fmt: skip
    r"""He et al. (2015): :math:`N(0, g^2 / n)`, :math:`n` the fan of ``mode``; for ReLU
    (the default) :math:`\mathrm{Var}(w) = 2 / n_\mathrm{in}`. Not truncated, as PyTorch."""
    scale = _kaiming_scale(a, nonlinearity)
    return variance_scaling(shape, scale, _kaiming_mode(mode), "normal", rng=rng, dtype=dtype)


def lecun_normal(shape, *, rng, dtype=np.float64):
    r"""LeCun et al. (1998): :math:`N(0, 1/n_\mathrm{in})`, the initialization SELU needs.

    Klambauer et al. (2017) derive SELU's fixed point for this variance; it is PyTorch's
    ``kaiming_normal_(w, nonlinearity="linear")``. JAX and Keras draw it from a truncated
    normal of the same variance instead.
    """
    return variance_scaling(shape, 1.0, "fan_in", "normal", rng=rng, dtype=dtype)


# --- Truncated normal ---------------------------------------------------------------


def trunc_normal(shape, mean=0.0, std=1.0, a=-2.0, b=2.0, *, rng, dtype=np.float64):
    r"""Normal :math:`N(\mu, \sigma^2)` conditioned on :math:`a \le w \le b`.

    The bounds are in the units of :math:`w`, as in PyTorch's ``trunc_normal_`` (not in
    standard deviations, as in SciPy's ``truncnorm``); note that ``std`` is the standard
    deviation before the cut. Sampled by inverting the CDF: :math:`w = \mu + \sigma
    \Phi^{-1}(u)`, :math:`u` uniform on :math:`[\Phi(\alpha), \Phi(\beta)]`,
    :math:`\alpha = (a - \mu)/\sigma`, :math:`\beta = (b - \mu)/\sigma`. Naively,
    :math:`\Phi(\alpha)` and :math:`\Phi(\beta)` both round to 1 in a far right tail
    (:math:`\alpha > 8.3`) and the samples collapse onto one point; here the interval is
    mirrored into the left tail and :math:`u` is drawn in logarithms, so any interval
    works (:math:`[10, 11]` standard deviations out, or :math:`[10^3, 10^3 + 1]`).
    """
    _check_generator(rng, dtype)
    dims = _check_shape(shape, min_ndim=0)
    mean, a, b = check_real(mean, "mean"), check_real(a, "a"), check_real(b, "b")
    std = check_real(std, "std", minimum=0.0, strict=True)
    if not a < b:
        raise ValueError(f"a must be < b, got a={a}, b={b}")
    # Python floats: a bound 1e300 standard deviations out becomes -inf or inf, silently.
    alpha, beta = (a - mean) / std, (b - mean) / std
    sign = -1.0 if alpha + beta > 0 else 1.0  # mirror into the left half, where Phi is tiny
    lo, hi = sorted((sign * alpha, sign * beta))
    if hi < -TRUNC_NORMAL_MAX_DEVIATIONS:
        raise ValueError(
            f"a and b must not both lie more than {TRUNC_NORMAL_MAX_DEVIATIONS:.0e} standard "
            f"deviations from mean on the same side, got a={a}, b={b}, mean={mean}, std={std}"
        )
    log_lo, log_hi = log_ndtr(lo), log_ndtr(hi)
    # u = Phi(hi) (r + v (1 - r)) with r = Phi(lo) / Phi(hi) in [0, 1] and v uniform on
    # (0, 1]: no cancellation, and never 0, so log u is finite.
    r = math.exp(log_lo - log_hi)
    v = 1.0 - rng.random(size=dims)
    z = sign * ndtri_exp(log_hi + np.log(r + v * (1.0 - r)))
    with np.errstate(over="ignore"):  # an infinite product is clipped to its bound below
        w = mean + std * z
    # the clip also catches ndtri_exp landing one rounding error outside [alpha, beta]
    return np.clip(w, a, b).astype(dtype)


# --- Orthogonal ---------------------------------------------------------------------


def orthogonal(shape, gain=1.0, *, rng, dtype=np.float64):
    r"""Saxe et al. (2014): :math:`g\,Q` with :math:`Q^\top Q = I` (or :math:`QQ^\top = I`).

    The leading axes are flattened into the rows, giving an :math:`n_\mathrm{in}\times
    \mathrm{out}` matrix :math:`M` (PyTorch flattens the same axes into its columns). For
    a tall :math:`M` the columns are orthonormal, for a wide one the rows: :math:`Q` comes
    from the QR decomposition of a Gaussian matrix of the tall orientation, transposed
    back when :math:`M` is wide. QR alone is not uniformly (Haar) distributed -- LAPACK's
    Householder QR makes :math:`Q_{11} \le 0` always -- so each column of :math:`Q` is
    multiplied by the sign of the matching diagonal entry of :math:`R` (Mezzadri 2007).
    """
    _check_generator(rng, dtype)
    dims = _check_shape(shape, min_ndim=2)
    gain = check_real(gain, "gain", minimum=0.0)
    rows, cols = math.prod(dims[:-1]), dims[-1]
    tall = rows >= cols
    q, r = np.linalg.qr(rng.standard_normal(size=(rows, cols) if tall else (cols, rows)))
    q = q * np.where(np.diagonal(r) < 0, -1.0, 1.0)  # sign(diag R), with sign(0) = +1
    return (gain * (q if tall else q.T)).reshape(dims).astype(dtype)
