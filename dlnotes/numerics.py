"""Numerical-stability tools (chapter 9): log-sum-exp, temperature, clipping, float facts.

``logsumexp`` reduces over ``axis`` (an int, a tuple of ints, or None for all axes) as
``scipy.special.logsumexp`` and ``torch.logsumexp`` do, and ``logsumexp_grad(x, g, ...)``
is its vector-Jacobian product. ``softmax_with_temperature`` and its VJP act along one
axis. The clipping functions take one gradient array or a list of them (a model's
gradients) and return clipped copies of the same kind -- PyTorch's ``clip_grad_*_``
modify the gradients in place instead. ``float_info`` describes the four floating-point
formats of deep learning from their bit layout.

Inputs are never modified; float32 stays float32; no overflow warning and no NaN for any
finite input.
"""

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from dlnotes._checks import as_float_array, check_real
from dlnotes.activations import _shift_by_max, logsumexp_parts, softmax, softmax_grad
from dlnotes.similarity import _p_norm

__all__ = [
    "logsumexp", "logsumexp_grad",
    "softmax_with_temperature", "softmax_with_temperature_grad",
    "clip_grad_value", "clip_grad_norm", "total_norm",
    "FloatInfo", "float_info", "FLOAT_LAYOUTS",
]  # fmt: skip

# PyTorch's clip_grad_norm_ divides by (total_norm + 1e-6): this 1e-6.
CLIP_NORM_EPS = 1e-6


# --- Log-sum-exp --------------------------------------------------------------------


def _reduced_last(x, axis):
    """``x`` with the reduced axes moved last and merged into one, and the result shapes.

    Returns ``(merged, kept_shape, keepdims_shape, order)``: ``merged`` has shape
    ``kept_shape + (n,)`` with n the number of reduced entries per result, and ``order``
    is the transposition that moved the reduced axes last.
    """
    axes = tuple(range(x.ndim)) if axis is None else normalize_axis_tuple(axis, x.ndim, "axis")
    order = [a for a in range(x.ndim) if a not in axes] + list(axes)
    kept_shape = tuple(x.shape[a] for a in order[: x.ndim - len(axes)])
    n = math.prod(x.shape[a] for a in axes)
    merged = np.transpose(x, order).reshape(kept_shape + (n,))
    keepdims_shape = tuple(1 if a in axes else size for a, size in enumerate(x.shape))
    return merged, kept_shape, keepdims_shape, order


def logsumexp(x, axis=None, keepdims=False):
    r"""Log-sum-exp :math:`\log\sum_i e^{x_i} = m + \log\sum_i e^{x_i - m}`, :math:`m = \max x`.

    After the shift every exponent is <= 0, so nothing overflows, and the largest term is
    exactly 1: the sum is taken as :math:`1 + \sum_{i \ne k} e^{x_i - m}` through
    ``log1p`` (:func:`dlnotes.activations.logsumexp_parts`, the package's one
    log-sum-exp), which keeps the digits of a tiny remainder. Edge cases as PyTorch: an
    all -inf input gives -inf (not NaN), a +inf entry gives +inf, NaN propagates, and an
    empty reduction gives -inf (the log of an empty sum).
    """
    x = as_float_array(x, "x")
    merged, kept_shape, keepdims_shape, _ = _reduced_last(x, axis)
    if merged.shape[-1] == 0:
        out = np.full(kept_shape, -np.inf, dtype=x.dtype)
    else:
        m, _, log1p_rest = logsumexp_parts(merged, -1)
        out = (m + log1p_rest)[..., 0]
    return out.reshape(keepdims_shape) if keepdims else out


def logsumexp_grad(x, g, axis=None, keepdims=False):
    r"""VJP of :func:`logsumexp`, whose gradient is the softmax of the reduced entries.

    ``g`` has the shape of the result (with or without ``keepdims``, as given); the
    gradient is ``softmax(x) * g`` over the reduced axes, with the shape of ``x``.
    """
    x = as_float_array(x, "x")
    g = as_float_array(g, "g")
    merged, kept_shape, keepdims_shape, order = _reduced_last(x, axis)
    expected = keepdims_shape if keepdims else kept_shape
    if g.shape != expected:
        raise ValueError(f"g must have the shape of logsumexp's result {expected}, got {g.shape}")
    if merged.shape[-1] == 0:
        return np.zeros_like(x)
    weights = softmax(merged, -1) * g.reshape(kept_shape + (1,))
    # undo the merge: split the last axis back, then put every axis where it was
    unmerged = weights.reshape(tuple(x.shape[a] for a in order))
    return np.transpose(unmerged, np.argsort(order))


# --- Softmax with temperature -------------------------------------------------------


def _scaled_logits(z, temperature, axis):
    r""":math:`(z - \max z)/\tau`: shifted first, so that a tiny tau cannot turn two
    different positive logits into the same +inf. A quotient that overflows is -inf,
    whose exponential 0 is the exact limit."""
    z = as_float_array(z, "z")
    temperature = check_real(temperature, "temperature", minimum=0.0, strict=True)
    if z.ndim == 0:
        raise ValueError("z must have at least one dimension (a vector of logits)")
    shifted = _shift_by_max(z, normalize_axis_index(axis, z.ndim, "axis"))
    with np.errstate(over="ignore"):
        return shifted / np.asarray(temperature, z.dtype), temperature


def softmax_with_temperature(z, temperature=1.0, axis=-1):
    r"""Softmax at temperature :math:`\tau`: :math:`e^{z_i/\tau} / \sum_j e^{z_j/\tau}`.

    :math:`\tau < 1` sharpens the distribution (towards the one-hot argmax as
    :math:`\tau \to 0`, ties shared evenly), :math:`\tau > 1` flattens it (towards the
    uniform distribution as :math:`\tau \to \infty`). Used in knowledge distillation
    (Hinton et al. 2015) and to control sampling.
    """
    scaled, _ = _scaled_logits(z, temperature, axis)
    return softmax(scaled, axis)


def softmax_with_temperature_grad(z, g, temperature=1.0, axis=-1):
    r"""VJP with respect to z: softmax's VJP at :math:`z/\tau`, divided by :math:`\tau`."""
    scaled, temperature = _scaled_logits(z, temperature, axis)
    return softmax_grad(scaled, g, axis) / np.asarray(temperature, scaled.dtype)


# --- Gradient clipping --------------------------------------------------------------


def _gradient_list(grads):
    """``(arrays, single)``: the gradients as a list of float arrays, and whether one
    array (rather than a list) was given, so that the result can match."""
    single = not isinstance(grads, list | tuple)
    arrays = [as_float_array(g, "grads") for g in ([grads] if single else grads)]
    if not arrays:
        raise ValueError("grads must hold at least one gradient array")
    return arrays, single


def clip_grad_value(grads, clip_value):
    r"""Clip every gradient entry: :math:`g_i \leftarrow \mathrm{clip}(g_i, -c, c)`.

    Returns clipped copies (one array or a list, as given). Each entry is clipped on its
    own, so the direction of the gradient vector changes whenever some entries are
    clipped and others are not.
    """
    arrays, single = _gradient_list(grads)
    clip_value = check_real(clip_value, "clip_value", minimum=0.0)
    clipped = [np.clip(g, -clip_value, clip_value) for g in arrays]
    return clipped[0] if single else clipped


def total_norm(grads, norm_type=2.0):
    r"""The p-norm of all gradient entries together, :math:`(\sum |g_i|^p)^{1/p}`.

    The entries are first divided by a power of two close to :math:`\max |g_i|`
    (:func:`dlnotes.similarity._p_norm`, the package's one p-norm), so no power
    overflows: gradients near 1e200 have a finite norm here, where PyTorch's
    ``clip_grad_norm_`` squares them to inf. ``norm_type`` inf gives :math:`\max|g_i|`.
    """
    arrays, _ = _gradient_list(grads)
    p = _check_norm_type(norm_type)
    entries = np.concatenate([np.ravel(g) for g in arrays], dtype=np.float64)
    return float(_p_norm(entries, p)) if entries.size else 0.0


def _check_norm_type(norm_type):
    if norm_type in (np.inf, "inf"):
        return np.inf
    return check_real(norm_type, "norm_type", minimum=0.0, strict=True)


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    r"""Rescale all gradients together when their total norm exceeds ``max_norm``.

    :math:`g \leftarrow g \cdot \min\bigl(1, c/(\|g\| + 10^{-6})\bigr)` with
    :math:`\|g\|` the :func:`total_norm` of every array, as PyTorch's
    ``clip_grad_norm_``: the direction of the whole gradient is kept. Returns
    ``(clipped, total)``: clipped copies (one array or a list, as given) and the total
    norm before clipping. A non-finite total is an error with ``error_if_nonfinite``;
    otherwise, as in PyTorch, the scale is 0 (an inf total) or NaN (a NaN total).
    """
    arrays, single = _gradient_list(grads)
    max_norm = check_real(max_norm, "max_norm", minimum=0.0)
    total = total_norm(arrays, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise ValueError(f"grads have a non-finite total norm ({total}): cannot clip them")
    if np.isfinite(total):
        scale = min(1.0, max_norm / (total + CLIP_NORM_EPS))
    else:  # PyTorch's max_norm / (total + 1e-6): 0 for an inf total, NaN for a NaN one
        scale = 0.0 if total == np.inf else np.nan
    with np.errstate(invalid="ignore"):  # only a non-finite total: inf * 0 = NaN, as PyTorch
        clipped = [g * np.asarray(scale, g.dtype) for g in arrays]
    return (clipped[0] if single else clipped), total


# --- Floating-point formats ---------------------------------------------------------

# name -> (exponent bits, fraction bits): IEEE 754 binary16/32/64, and Google's bfloat16
# (float32's exponent with 7 fraction bits), which numpy has no dtype for.
FLOAT_LAYOUTS = {
    "float16": (5, 10),
    "bfloat16": (8, 7),
    "float32": (8, 23),
    "float64": (11, 52),
}


class FloatInfo(NamedTuple):
    """Facts about a binary floating-point format (all values as Python floats)."""

    name: str
    bits: int
    eps: float  # spacing of the numbers just above 1
    smallest_normal: float
    smallest_subnormal: float
    max: float
    exp_overflow: float  # exp(x) overflows to inf above this x (log of max)
    exp_underflow: float  # exp(x) rounds to 0 below this x (log of half the subnormal)


def float_info(dtype):
    r"""Eps, range and exp's overflow/underflow thresholds of a format, from its bit layout.

    With e exponent bits and f fraction bits, the exponent bias is
    :math:`b = 2^{e-1} - 1`: eps = :math:`2^{-f}`, the largest value
    :math:`(2 - 2^{-f})\,2^{b}`, the smallest normal :math:`2^{1-b}`, the smallest
    subnormal :math:`2^{1-b-f}`. ``exp(x)`` overflows above :math:`\log(\max)` and
    rounds to 0 below :math:`\log(\text{subnormal}/2)`. ``dtype`` is one of
    ``FLOAT_LAYOUTS`` (a name or a numpy dtype).
    """
    name = dtype if isinstance(dtype, str) else None
    if name is None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            raise TypeError(
                f"dtype must be a float format name or a numpy dtype, got {dtype!r}"
            ) from None
    if name not in FLOAT_LAYOUTS:
        options = ", ".join(FLOAT_LAYOUTS)
        raise ValueError(f"dtype must be one of {options}, got {name!r}")
    exponent_bits, fraction_bits = FLOAT_LAYOUTS[name]
    bias = 2 ** (exponent_bits - 1) - 1
    largest = math.ldexp(2.0 - math.ldexp(1.0, -fraction_bits), bias)
    subnormal = math.ldexp(1.0, 1 - bias - fraction_bits)
    return FloatInfo(
        name=name,
        bits=1 + exponent_bits + fraction_bits,
        eps=math.ldexp(1.0, -fraction_bits),
        smallest_normal=math.ldexp(1.0, 1 - bias),
        smallest_subnormal=subnormal,
        max=largest,
        exp_overflow=math.log(largest),
        exp_underflow=math.log(subnormal) - math.log(2.0),
    )
