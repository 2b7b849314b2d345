r"""Normalization layers and their backward passes (chapter 4).

Batch, layer, instance, group and RMS normalization of activations, and weight
normalization of parameters, with PyTorch's names, defaults and layouts:

- ``batch_norm``, ``instance_norm`` and ``group_norm`` take ``x`` of shape (N, C, *S)
  (batch, channels, any number of spatial axes); their optional affine ``weight``
  (gamma) and ``bias`` (beta) hold one entry per channel, shape (C,);
- ``layer_norm`` and ``rms_norm`` normalise over the trailing ``normalized_shape`` of
  ``x``; their ``weight`` and ``bias`` have that shape;
- ``weight_norm(v, g, dim)`` reparametrises a weight as ``g * v / ||v||``;
- ``BatchNorm`` is the stateful layer with running statistics.

Every activation norm is one standardisation, :math:`\hat x = (x - \mu) / \sqrt{\sigma^2
+ \epsilon}`, over different axes, followed by the affine map :math:`\gamma \hat x +
\beta`. Each ``f`` has ``f_grad(x, g, ...)`` right below it, with the same parameters
plus the upstream gradient ``g = dL/dy`` (same shape as the output). It returns the
vector-Jacobian products as a named tuple whose fields are the differentiable arguments
in argument order -- :class:`NormGrads` ``(x, weight, bias)``, :class:`WeightNormGrads`
``(v, g)`` -- with None for a parameter that was not given. The gradients are the closed
forms derived in the chapter, computed from the same statistics as the forward pass.

Numerics: the statistics are two-pass (the mean of the data shifted by one of its own
values, then the mean square of the centred data), so an offset of 1e8 costs no digits
and a constant channel normalises to exactly 0; data whose squares would overflow
(beyond 1e154 in float64) is first divided by a power of two. ``eps`` must be > 0.
float32 stays float32 (parameters and ``g`` are cast to the dtype of ``x``), integers
become float64, and inputs are never modified.
"""

import math
import numbers
import string
from typing import NamedTuple

import numpy as np

from dlnotes._checks import as_float_array, check_int, check_parameter, check_real

__all__ = [
    "NormGrads", "WeightNormGrads",
    "batch_norm", "batch_norm_grad", "BatchNorm",
    "layer_norm", "layer_norm_grad",
    "instance_norm", "instance_norm_grad",
    "group_norm", "group_norm_grad",
    "rms_norm", "rms_norm_grad",
    "weight_norm", "weight_norm_grad",
]  # fmt: skip

# PyTorch's defaults (torch.nn.BatchNorm2d, LayerNorm, GroupNorm, InstanceNorm2d).
DEFAULT_EPS = 1e-5
DEFAULT_MOMENTUM = 0.1

# Samples per block in layer and RMS norm. Each sample is normalised on its own, so the
# rows can be processed in blocks; a block of 256 rows of 1024 float64 features is 2 MB,
# and the several passes over it then run from cache instead of main memory (about 1.5x
# faster on (4096, 1024), see benchmarks/benchmark.py).
ROW_BLOCK = 256


class NormGrads(NamedTuple):
    """Gradients of an activation norm: with respect to ``x``, ``weight`` and ``bias``
    (None for a parameter that was not given)."""

    x: np.ndarray
    weight: np.ndarray | None
    bias: np.ndarray | None


class WeightNormGrads(NamedTuple):
    """Gradients of :func:`weight_norm` with respect to the direction ``v`` and the
    length ``g``."""

    v: np.ndarray
    g: np.ndarray


# --- Shared plumbing ----------------------------------------------------------------


class _Stats(NamedTuple):
    centred: np.ndarray  # (x - mean) / scale
    inv_std: np.ndarray  # scale / sqrt(var + eps): xhat = centred * inv_std; keepdims
    scale: float | np.ndarray  # 1, or the power of two huge data was divided by
    mean: np.ndarray | None  # None for RMSNorm, which does not centre
    var: np.ndarray  # biased variance (RMSNorm: mean square), keepdims


class _Plan(NamedTuple):
    """How one call normalises: which axes, which parameters, broadcast how."""

    x: np.ndarray  # the input, reshaped for its statistics (group norm splits C)
    shape: tuple  # the shape of the input and of the output
    axes: tuple  # axes of ``x`` the mean and variance run over
    weight: np.ndarray | None  # broadcastable against ``x``
    bias: np.ndarray | None
    param_axes: tuple  # axes of ``x`` summed for the weight and bias gradients
    param_shape: tuple  # the shape of weight and bias as given
    eps: float
    center: bool  # subtract the mean (False for RMSNorm)


def _sum_product(a, b, axes):
    """``sum(a * b)`` over ``axes`` (dropped) without the temporary ``a * b``, accumulated
    in float64 at least and returned in the dtype of ``a``."""
    letters = string.ascii_letters[: a.ndim]
    kept = "".join(c for i, c in enumerate(letters) if i not in axes)
    total = np.einsum(f"{letters},{letters}->{kept}", a, b, dtype=np.promote_types(a.dtype, "d"))
    return total.astype(a.dtype, copy=False)


def _mean_product(a, b, axes):
    """``mean(a * b)`` over ``axes``, keepdims."""
    shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    return _sum_product(a, b, axes).reshape(shape) / math.prod(a.shape[i] for i in axes)


def _moments(x, axes, eps, center):
    r"""Centre ``x`` over ``axes`` and find its variance: two passes, the first shifted.

    The mean is taken of :math:`x - K`, with K one value of each group; then
    :math:`d = (x - K) - \mathrm{mean}(x - K)` and :math:`\sigma^2 = \mathrm{mean}(d^2)`.
    A constant group gives d = 0 exactly, and an offset such as 1e8 disappears in the
    exact subtraction x - K. The one-pass :math:`E[x^2] - E[x]^2` would lose 16 digits
    there: at x = 1e8 + noise both terms are 1e16 and their difference ~1.
    """
    if center:
        first = tuple(slice(0, 1) if i in axes else slice(None) for i in range(x.ndim))
        shift = x[first]
        centred = x - shift
        m0 = np.mean(centred, axis=axes, keepdims=True)
        centred -= m0
        mean = shift + m0
    else:
        centred, mean = x, None
    var = _mean_product(centred, centred, axes)
    return _Stats(centred, 1.0 / np.sqrt(var + eps), 1.0, mean, var)


def _standardize(x, axes, eps, center=True):
    """``_moments``, falling back to rescaled data where the squares overflow.

    Normalisation is unchanged by x -> x / s when eps -> eps / s^2. For data beyond
    1e154 (float64), each group is divided by a power of two s (exact) close to its
    largest magnitude, so that d^2 stays finite.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        stats = _moments(x, axes, eps, center)
    if np.isfinite(stats.var).all() or not np.isfinite(x).all():
        return stats  # ordinary data; or inf/NaN in x, which propagate as in PyTorch
    _, exponent = np.frexp(np.max(np.abs(x), axis=axes, keepdims=True))
    scale = np.ldexp(np.ones((), x.dtype), np.maximum(exponent - 1, 0))  # never scale up
    stats = _moments(x / scale, axes, eps / scale / scale, center)
    with np.errstate(over="ignore"):  # the true variance may exceed the float range
        var = stats.var * scale * scale
    mean = None if stats.mean is None else stats.mean * scale
    return _Stats(stats.centred, stats.inv_std, scale, mean, var)


def _standardize_grad(xhat, h, axes, center):
    r"""Backward of the standardisation: :math:`\partial L/\partial x` from
    :math:`h = r\,\bar{\hat x}`, where :math:`\bar{\hat x} = \partial L/\partial\hat x` and
    :math:`r = 1/\sqrt{\sigma^2 + \epsilon}` (r is constant over a group, so it can be
    multiplied in first).

    :math:`r\,(\bar{\hat x} - \mathrm{mean}\,\bar{\hat x} - \hat x\,\mathrm{mean}(\bar{\hat
    x}\hat x))`, means over ``axes``; without centring (RMSNorm) the middle term drops.
    Exact for any eps.
    """
    dx = xhat * -_mean_product(h, xhat, axes)
    dx += h
    if center:
        dx -= np.mean(h, axis=axes, keepdims=True)
    return dx


def _forward(plan):
    """Normalise as ``plan`` says."""
    return _output(_standardize(plan.x, plan.axes, plan.eps, plan.center), plan)


def _output(stats, plan):
    r""":math:`\gamma\hat x + \beta` with :math:`\hat x` = centred * inv_std."""
    y = _product(stats.centred, stats.inv_std, plan.weight, fresh=stats.centred is not plan.x)
    if plan.bias is not None:
        y += plan.bias
    return y.reshape(plan.shape)


def _product(a, per_group, weight, fresh):
    """``a * per_group * weight`` (weight may be None), in place when ``a`` is ``fresh`` (a
    temporary of ours); the two factors are merged first when that is smaller than ``a``
    (per-channel weights), so that ``a`` is traversed once or twice, never copied twice."""
    if weight is not None and np.broadcast(per_group, weight).size < a.size:
        per_group, weight = per_group * weight, None
    y = np.multiply(a, per_group, out=a if fresh else None)
    if weight is not None:
        y *= weight
    return y


def _backward(plan, g):
    """The gradients of ``_forward`` for the upstream gradient ``g``."""
    g = _upstream(g, plan.shape, plan.x.dtype).reshape(plan.x.shape)
    stats = _standardize(plan.x, plan.axes, plan.eps, plan.center)
    xhat = _product(stats.centred, stats.inv_std, None, fresh=stats.centred is not plan.x)
    r = stats.inv_std / stats.scale
    h = _product(g, r, plan.weight, fresh=False)  # r * dL/dxhat, dL/dxhat = gamma * g
    dx = _standardize_grad(xhat, h, plan.axes, plan.center).reshape(plan.shape)
    return NormGrads(dx, *_affine_grads(plan, g, xhat))


def _affine_grads(plan, g, xhat):
    r""":math:`\sum \bar y\,\hat x` and :math:`\sum \bar y` over ``plan.param_axes``."""
    dw = db = None
    if plan.weight is not None:
        dw = _sum_product(g, xhat, plan.param_axes).reshape(plan.param_shape)
    if plan.bias is not None:
        db = np.sum(g, axis=plan.param_axes).reshape(plan.param_shape)
    return dw, db


def _upstream(g, shape, dtype):
    """The upstream gradient, checked against the output's shape, in the input's dtype."""
    g = as_float_array(g, "g")
    if g.shape != shape:
        raise ValueError(f"g must have the shape of the output {shape}, got {g.shape}")
    return g.astype(dtype, copy=False)


def _channel_plan(x, weight, bias, eps, axes, groups=None):
    """A plan for (N, C, *S) input with per-channel parameters of shape (C,).

    With ``groups``, the statistics see x as (N, G, C/G, *S); ``axes`` refer to that
    layout.
    """
    channels = x.shape[1]
    channel_axes = (channels,) if groups is None else (groups, channels // groups)
    grouped = x.reshape(x.shape[:1] + channel_axes + x.shape[2:])
    broadcast = (1, *channel_axes) + (1,) * (x.ndim - 2)
    weight = check_parameter(weight, "weight", (channels,), x.dtype)
    bias = check_parameter(bias, "bias", (channels,), x.dtype)
    return _Plan(
        x=grouped,
        shape=x.shape,
        axes=axes,
        weight=None if weight is None else weight.reshape(broadcast),
        bias=None if bias is None else bias.reshape(broadcast),
        param_axes=(0, *range(1 + len(channel_axes), grouped.ndim)),
        param_shape=(channels,),
        eps=check_real(eps, "eps", minimum=0.0, strict=True),
        center=True,
    )


def _channel_input(x):
    """``x`` as a float array of shape (N, C, *S)."""
    x = as_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, C, *spatial), got shape {x.shape}")
    return x


# --- Batch normalization ------------------------------------------------------------


def _batch_plan(x, weight, bias, eps):
    x = _channel_input(x)
    if x.size <= x.shape[1]:
        raise ValueError(
            f"x must have more than 1 value per channel in training, got shape {x.shape}"
        )
    return _channel_plan(x, weight, bias, eps, axes=(0, *range(2, x.ndim)))


def batch_norm(x, weight=None, bias=None, eps=DEFAULT_EPS):
    r"""Batch normalization in training mode (Ioffe & Szegedy 2015).

    :math:`y = \gamma\,(x - \mu_c)/\sqrt{\sigma_c^2 + \epsilon} + \beta` with the mean and
    the biased variance of channel c over the batch and spatial axes (N, *S), as
    ``torch.nn.functional.batch_norm(x, None, None, weight, bias, training=True)``. A
    channel needs more than one value (PyTorch: "Expected more than 1 value per channel").
    For running statistics and eval mode, see :class:`BatchNorm`.
    """
    return _forward(_batch_plan(x, weight, bias, eps))


def batch_norm_grad(x, g, weight=None, bias=None, eps=DEFAULT_EPS):
    r"""Gradients of :func:`batch_norm`: a :class:`NormGrads` ``(x, weight, bias)``.

    :math:`\bar x = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}\bigl(\bar y -
    \mathrm{mean}\,\bar y - \hat x\,\mathrm{mean}(\bar y\hat x)\bigr)` per channel,
    :math:`\bar\gamma = \sum \bar y\,\hat x`, :math:`\bar\beta = \sum \bar y`.
    """
    return _backward(_batch_plan(x, weight, bias, eps), g)


class BatchNorm:
    """Batch normalization with running statistics, as ``torch.nn.BatchNorm1d/2d/3d``.

    ``layer(x, training=True)`` normalises with the batch's statistics and updates
    ``running_mean`` and ``running_var`` (which stores the *unbiased* variance):
    ``running = (1 - momentum) * running + momentum * batch``; ``momentum=None`` gives the
    cumulative average, momentum 1/t at the t-th batch. ``training=False`` normalises
    with the running statistics and changes nothing. ``weight`` (ones) and ``bias``
    (zeros) are attributes, None when ``affine=False``. The running statistics are
    float64 whatever the input's dtype; the output keeps the input's dtype.
    """

    def __init__(self, num_features, eps=DEFAULT_EPS, momentum=DEFAULT_MOMENTUM, affine=True):
        self.num_features = check_int(num_features, "num_features", minimum=1)
        self.eps = check_real(eps, "eps", minimum=0.0, strict=True)
        if momentum is not None:
            momentum = check_real(momentum, "momentum", minimum=0.0)
            if momentum > 1.0:
                raise ValueError(f"momentum must be <= 1 or None, got {momentum}")
        self.momentum = momentum
        self.weight = np.ones(num_features) if affine else None
        self.bias = np.zeros(num_features) if affine else None
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0

    def __call__(self, x, training=True):
        plan = self._plan(x, training)
        if training:
            stats = _standardize(plan.x, plan.axes, plan.eps)
            self._update_running(stats, count=plan.x.size // self.num_features)
        else:
            stats = self._running_stats(plan)
        return _output(stats, plan)

    def grad(self, x, g, training=True):
        """Gradients of ``self(x, training)`` (without updating any state): a
        :class:`NormGrads`. In eval mode the layer is a fixed per-channel affine map."""
        if training:
            return batch_norm_grad(x, g, self.weight, self.bias, self.eps)
        plan = self._plan(x, training)
        g = _upstream(g, plan.shape, plan.x.dtype)
        stats = self._running_stats(plan)
        scale = stats.inv_std if plan.weight is None else stats.inv_std * plan.weight
        return NormGrads(g * scale, *_affine_grads(plan, g, stats.centred * stats.inv_std))

    def _plan(self, x, training):
        x = _channel_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(f"x must have {self.num_features} channels, got shape {x.shape}")
        if training:
            return _batch_plan(x, self.weight, self.bias, self.eps)
        # eval mode uses no batch statistics: a single sample is fine
        return _channel_plan(x, self.weight, self.bias, self.eps, axes=())

    def _running_stats(self, plan):
        shape = (1, -1) + (1,) * (plan.x.ndim - 2)
        mean = self.running_mean.astype(plan.x.dtype).reshape(shape)
        var = self.running_var.astype(plan.x.dtype).reshape(shape)
        return _Stats(plan.x - mean, 1.0 / np.sqrt(var + plan.eps), 1.0, mean, var)

    def _update_running(self, stats, count):
        self.num_batches_tracked += 1
        m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        unbiased = stats.var.reshape(-1) * (count / (count - 1))  # Bessel's correction
        self.running_mean = (1.0 - m) * self.running_mean + m * stats.mean.reshape(-1)
        self.running_var = (1.0 - m) * self.running_var + m * unbiased


# --- Layer normalization ------------------------------------------------------------


def _trailing_plan(x, normalized_shape, weight, bias, eps, center=True):
    """A plan for statistics over the trailing ``normalized_shape`` of ``x``."""
    x = as_float_array(x, "x")
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if not 1 <= k <= x.ndim or x.shape[x.ndim - k :] != normalized_shape:
        raise ValueError(
            f"normalized_shape must be a non-empty suffix of x.shape {x.shape}, "
            f"got {normalized_shape}"
        )
    axes = tuple(range(x.ndim - k, x.ndim))
    return _Plan(
        x=x,
        shape=x.shape,
        axes=axes,
        weight=check_parameter(weight, "weight", normalized_shape, x.dtype),
        bias=check_parameter(bias, "bias", normalized_shape, x.dtype),
        param_axes=tuple(range(x.ndim - k)),
        param_shape=normalized_shape,
        eps=check_real(eps, "eps", minimum=0.0, strict=True),
        center=center,
    )


def _row_blocks(plan, g=None):
    """Split a trailing plan into plans of at most ``ROW_BLOCK`` samples.

    Yields ``(rows, block, g_block)``: the slice of the samples (leading axes merged), the
    plan for them and their part of the upstream gradient ``g`` (None if not given).
    """
    features = plan.param_shape
    x_rows = plan.x.reshape(-1, *features)
    g_rows = None if g is None else g.reshape(-1, *features)
    axes = tuple(range(1, 1 + len(features)))
    for start in range(0, len(x_rows), ROW_BLOCK):
        rows = slice(start, start + ROW_BLOCK)
        block = plan._replace(x=x_rows[rows], shape=x_rows[rows].shape, axes=axes,
                              param_axes=(0,))  # fmt: skip
        yield rows, block, None if g is None else g_rows[rows]


def _trailing_forward(plan):
    """``_forward`` block by block (:data:`ROW_BLOCK`), into one output array."""
    y = np.empty(plan.shape, plan.x.dtype)
    y_rows = y.reshape(-1, *plan.param_shape)
    for rows, block, _ in _row_blocks(plan):
        y_rows[rows] = _forward(block)
    return y


def _trailing_backward(plan, g):
    """``_backward`` block by block: the input gradient block by block, the parameter
    gradients summed over the blocks."""
    g = _upstream(g, plan.shape, plan.x.dtype)
    dx = np.empty(plan.shape, plan.x.dtype)
    dx_rows = dx.reshape(-1, *plan.param_shape)
    zeros = np.zeros(plan.param_shape, plan.x.dtype)
    dw = None if plan.weight is None else zeros.copy()
    db = None if plan.bias is None else zeros.copy()
    for rows, block, g_block in _row_blocks(plan, g):
        grads = _backward(block, g_block)
        dx_rows[rows] = grads.x
        if dw is not None:
            dw += grads.weight
        if db is not None:
            db += grads.bias
    return NormGrads(dx, dw, db)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=DEFAULT_EPS):
    r"""Layer normalization (Ba, Kiros & Hinton 2016) over the trailing ``normalized_shape``.

    :math:`y = \gamma \odot (x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta`, mean and
    biased variance over the last ``len(normalized_shape)`` axes of each sample; gamma
    and beta have shape ``normalized_shape`` (one entry per feature, not per channel).
    """
    return _trailing_forward(_trailing_plan(x, normalized_shape, weight, bias, eps))


def layer_norm_grad(x, g, normalized_shape, weight=None, bias=None, eps=DEFAULT_EPS):
    r"""Gradients of :func:`layer_norm`: a :class:`NormGrads` ``(x, weight, bias)``.

    The batch-norm formula with the roles of the axes swapped: means over the normalised
    features of each sample, parameter sums over the leading axes.
    """
    return _trailing_backward(_trailing_plan(x, normalized_shape, weight, bias, eps), g)


# --- Instance and group normalization -----------------------------------------------


def _instance_plan(x, weight, bias, eps):
    x = _channel_input(x)
    if x.ndim < 3 or x.size <= x.shape[0] * x.shape[1]:
        raise ValueError(f"x must have more than 1 spatial element, got shape {x.shape}")
    return _channel_plan(x, weight, bias, eps, axes=tuple(range(2, x.ndim)))


def instance_norm(x, weight=None, bias=None, eps=DEFAULT_EPS):
    r"""Instance normalization (Ulyanov et al. 2016): each sample's each channel alone.

    Mean and biased variance over the spatial axes only, per (n, c); optional
    per-channel affine. Like PyTorch's default, no running statistics.
    """
    return _forward(_instance_plan(x, weight, bias, eps))


def instance_norm_grad(x, g, weight=None, bias=None, eps=DEFAULT_EPS):
    """Gradients of :func:`instance_norm`: a :class:`NormGrads` ``(x, weight, bias)``."""
    return _backward(_instance_plan(x, weight, bias, eps), g)


def _group_plan(x, num_groups, weight, bias, eps):
    x = _channel_input(x)
    num_groups = check_int(num_groups, "num_groups", minimum=1)
    channels = x.shape[1]
    if channels % num_groups:
        raise ValueError(f"num_groups must divide the {channels} channels, got {num_groups}")
    # (N, C, *S) seen as (N, G, C/G, *S): statistics over each sample's group of channels
    return _channel_plan(x, weight, bias, eps, tuple(range(2, x.ndim + 1)), num_groups)


def group_norm(x, num_groups, weight=None, bias=None, eps=DEFAULT_EPS):
    r"""Group normalization (Wu & He 2018): channels split into ``num_groups`` groups.

    Mean and biased variance per sample over the channels of a group and the spatial
    axes; the affine map is per channel. ``num_groups=1`` normalises each sample over
    (C, *S) like layer norm; ``num_groups=C`` is instance norm.
    """
    return _forward(_group_plan(x, num_groups, weight, bias, eps))


def group_norm_grad(x, g, num_groups, weight=None, bias=None, eps=DEFAULT_EPS):
    """Gradients of :func:`group_norm`: a :class:`NormGrads` ``(x, weight, bias)``."""
    return _backward(_group_plan(x, num_groups, weight, bias, eps), g)


# --- RMS normalization --------------------------------------------------------------


def _rms_plan(x, normalized_shape, weight, eps):
    x = as_float_array(x, "x")
    if eps is None:  # PyTorch's default: the machine epsilon of the dtype
        eps = float(np.finfo(x.dtype).eps)
    return _trailing_plan(x, normalized_shape, weight, None, eps, center=False)


def rms_norm(x, normalized_shape, weight=None, eps=None):
    r"""RMS normalization (Zhang & Sennrich 2019): :math:`y = \gamma \odot x /
    \sqrt{\mathrm{mean}(x^2) + \epsilon}` over the trailing ``normalized_shape``.

    No mean is subtracted and there is no bias. ``eps=None`` is the machine epsilon of
    the dtype of ``x`` (2.2e-16 in float64), as in ``torch.nn.functional.rms_norm``.
    """
    return _trailing_forward(_rms_plan(x, normalized_shape, weight, eps))


def rms_norm_grad(x, g, normalized_shape, weight=None, eps=None):
    r"""Gradients of :func:`rms_norm`: a :class:`NormGrads` ``(x, weight, None)``.

    :math:`\bar x = r\,(\bar{\hat x} - \hat x\,\mathrm{mean}(\bar{\hat x}\hat x))`, the
    layer-norm formula without the mean term.
    """
    return _trailing_backward(_rms_plan(x, normalized_shape, weight, eps), g)


# --- Weight normalization -----------------------------------------------------------


class _Direction(NamedTuple):
    u: np.ndarray  # v / ||v||
    norm: np.ndarray  # ||v||, keepdims
    g: np.ndarray  # the length, broadcastable against v
    axes: tuple  # the axes of each norm


def _direction(v, g, dim):
    """The unit direction of ``v`` over every axis but ``dim``, and ``g`` reshaped."""
    v = as_float_array(v, "v")
    g = as_float_array(g, "g").astype(v.dtype, copy=False)
    if dim is None:
        axes, kept = tuple(range(v.ndim)), (1,) * v.ndim
    else:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"dim must be an integer or None, got {type(dim).__name__}")
        if not 0 <= dim < v.ndim:
            # PyTorch reads dim=-1 as "no axis kept" (one norm over the whole tensor)
            raise ValueError(
                f"dim must be in [0, {v.ndim}) or None for the whole tensor, got {dim}"
            )
        axes = tuple(i for i in range(v.ndim) if i != dim)
        kept = tuple(v.shape[i] if i == dim else 1 for i in range(v.ndim))
    if g.size != int(np.prod(kept)) or g.ndim > v.ndim:
        raise ValueError(f"g must have {int(np.prod(kept))} entries (shape {kept}), got {g.shape}")
    # ||v|| as s * ||v / s|| with s = max |v|: no overflow of the squares
    s = np.max(np.abs(v), axis=axes, keepdims=True)
    if not np.all(s > 0):
        raise ValueError("v must not have a zero slice: the direction of 0 is undefined")
    scaled = v / s
    norm_scaled = np.sqrt(np.sum(scaled * scaled, axis=axes, keepdims=True))
    return _Direction(scaled / norm_scaled, s * norm_scaled, g.reshape(kept), axes)


def weight_norm(v, g, dim=0):
    r"""Weight normalization (Salimans & Kingma 2016): :math:`w = g\,v / \lVert v\rVert`.

    ``dim`` is PyTorch's: the axis kept, one norm over all the other axes (one ``g`` per
    index of ``dim``). ``dim=None`` takes one norm over the whole tensor (PyTorch's
    ``dim=-1`` in ``torch._weight_norm``; here negative values are an error). For
    dlnotes' (fan_in, fan_out) weights, one length per output unit is ``dim=1``.
    """
    d = _direction(v, g, dim)
    return d.g * d.u


def weight_norm_grad(v, g, grad_w, dim=0):
    r"""Gradients of :func:`weight_norm`: a :class:`WeightNormGrads` ``(v, g)``.

    The upstream gradient comes third, ``grad_w``, because ``g`` is the length (as in
    the paper and PyTorch). :math:`\bar g = \langle \bar w, u\rangle` and
    :math:`\bar v = \frac{g}{\lVert v\rVert}(\bar w - u\,\langle \bar w, u\rangle)` with
    :math:`u = v/\lVert v\rVert`: the gradient of v is orthogonal to v.
    """
    d = _direction(v, g, dim)
    grad_w = _upstream(grad_w, d.u.shape, d.u.dtype)
    along = np.sum(grad_w * d.u, axis=d.axes, keepdims=True)
    dv = (d.g / d.norm) * (grad_w - d.u * along)
    return WeightNormGrads(dv, along.reshape(np.shape(g)).astype(d.u.dtype))
