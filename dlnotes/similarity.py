"""Similarity and distance functions and their gradients (chapter 6).

Vectors lie along ``axis`` (default -1); the other axes are batch axes and broadcast as
numpy broadcasts, so ``x`` of shape (N, D) against ``y`` of shape (D,) compares every row
with one vector. Both vectors must have the same length D >= 1. Each ``f(x, y, ...)``
returns one value per pair (the broadcast batch shape); ``f_grad(x, y, g, ...)`` returns
the gradients of ``sum(g * f(x, y))`` with respect to x and to y, as ``(dx, dy)`` shaped
like x and y (summed over broadcast axes, as autograd does). ``pairwise_distances(X, Y)``
compares every row of X (n, D) with every row of Y (m, D).

Names and defaults follow PyTorch (``F.cosine_similarity``, ``torch.cdist``); the values
follow the textbook formulas exactly where PyTorch does not: the cosine has no eps clamp,
and pairwise Euclidean distances are accurate to ``PAIRWISE_RTOL`` in every entry. Norms
rescale each vector by its largest |entry| first, so entries near 1e200 (or 1e-200) neither
overflow nor underflow; a distance beyond the float range is inf. float32 stays float32,
integers become float64, inputs are never modified.
"""

from typing import NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index
from scipy.linalg import solve_triangular

from dlnotes._checks import as_float_array, check_choice, check_real

__all__ = [
    "dot", "dot_grad", "cosine_similarity", "cosine_similarity_grad",
    "euclidean_distance", "euclidean_distance_grad",
    "manhattan_distance", "manhattan_distance_grad",
    "minkowski_distance", "minkowski_distance_grad",
    "mahalanobis_distance", "mahalanobis_distance_grad",
    "pairwise_distances", "pairwise_distances_grad",
]  # fmt: skip

COSINE_EPS = 1e-8  # PyTorch's default eps of F.cosine_similarity (it clamps each norm there)
METRICS = ("euclidean", "sqeuclidean", "manhattan", "cosine")
# Relative accuracy of every squared distance pairwise_distances returns (so about half of
# it for the distances); the Gram identity alone cannot promise it for close points.
PAIRWISE_RTOL = 1e-12
# float64 unit roundoff 2^-53 and smallest subnormal 2^-1074, for the Gram error bound.
_UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2
_SMALLEST_SUBNORMAL = np.finfo(np.float64).smallest_subnormal
_BLOCK = 2**20  # entries of one temporary (block, m, D) array of differences: 8 MB


# --- Shared plumbing ----------------------------------------------------------------


def _as_vectors(x, y, axis):
    """x and y with the vector axis moved last (same number of axes); checks the lengths."""
    x, y = as_float_array(x, "x"), as_float_array(y, "y")
    ndim = max(x.ndim, y.ndim)
    if ndim == 0:
        raise ValueError("x must have at least one axis (the vector axis)")
    try:
        axis = normalize_axis_index(axis, ndim)
    except (TypeError, np.exceptions.AxisError):
        raise ValueError(f"axis must be an integer in [-{ndim}, {ndim}), got {axis!r}") from None
    xv = np.moveaxis(x.reshape((1,) * (ndim - x.ndim) + x.shape), axis, -1)
    yv = np.moveaxis(y.reshape((1,) * (ndim - y.ndim) + y.shape), axis, -1)
    if xv.shape[-1] != yv.shape[-1]:
        raise ValueError(
            f"y must have the same length as x along axis {axis}: {yv.shape[-1]} != {xv.shape[-1]}"
        )
    if xv.shape[-1] == 0:
        raise ValueError("x must have at least one entry along axis")
    try:
        np.broadcast_shapes(xv.shape[:-1], yv.shape[:-1])
    except ValueError:
        raise ValueError(f"y {y.shape} must broadcast with x {x.shape}") from None
    return xv, yv, axis


def _upstream(g, xv, yv):
    """The upstream gradient g, one value per pair: its shape must be the batch shape."""
    g = as_float_array(g, "g")
    batch = np.broadcast_shapes(xv.shape[:-1], yv.shape[:-1])
    if g.shape != batch:
        raise ValueError(f"g must have the shape of the result, {batch}, got {g.shape}")
    return g[..., None]


def _as_input_grad(grad, original, view, axis):
    """A gradient over the broadcast vectors, summed back to the shape of one input."""
    grad = np.broadcast_to(grad, np.broadcast_shapes(grad.shape, view.shape))
    stretched = tuple(i for i, n in enumerate(view.shape) if n == 1 and grad.shape[i] != 1)
    grad = grad.sum(axis=stretched, keepdims=True)
    return np.moveaxis(grad, -1, axis).reshape(original.shape).astype(original.dtype)


def _pow2_scale(u):
    """A power of two 2^k <= max |u_i| < 2^(k+1) along the last axis (keepdims).

    Dividing by it is exact and leaves the largest |entry| in [1, 2), so that squares can
    neither overflow (1e200^2) nor underflow (1e-200^2). A zero vector gets 1/2.
    """
    largest = np.max(np.abs(u), axis=-1, keepdims=True)
    _, exponent = np.frexp(largest)
    return np.ldexp(np.ones_like(largest), exponent - 1)


def _p_norm(u, p):
    r""":math:`\|u\|_p` along the last axis, rescaled by :func:`_pow2_scale` so that
    :math:`|u_i|^p` cannot overflow (``np.linalg.norm`` squares 1e200 to inf)."""
    scale = _pow2_scale(u)
    a = np.abs(u) / scale
    if p == 2:
        s = np.sqrt(np.einsum("...i,...i->...", a, a))
    elif p == 1:
        s = np.sum(a, axis=-1)
    elif p == np.inf:
        s = np.max(a, axis=-1)
    else:  # divide by the largest entry (1 in [1, 2) for a finite nonzero u): powers <= 1
        top = np.max(a, axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), np.maximum(top, 1.0), 1.0)
        s = top[..., 0] * np.sum((a / top) ** p, axis=-1) ** (1.0 / p)
    with np.errstate(over="ignore"):  # a norm beyond the float max is inf, its rounding
        return scale[..., 0] * s


def _p_norm_grad(u, p, norm):
    r"""Gradient of :math:`\|u\|_p`: :math:`\mathrm{sign}(u)(|u|/\|u\|_p)^{p-1}` (0 at u = 0).

    For p = inf the gradient is shared equally by the entries that attain the maximum, as
    ``torch.linalg.vector_norm`` does.
    """
    if p == np.inf:
        at_max = np.abs(u) == norm[..., None]
        count = np.maximum(np.sum(at_max, axis=-1, keepdims=True), 1)
        return (np.sign(u) * at_max / count).astype(u.dtype)
    safe = np.where(norm > 0, norm, 1.0)[..., None]
    return np.sign(u) * (np.abs(u) / safe) ** (p - 1.0)


def _unit_vectors(u, eps):
    r""":math:`u / \max(\|u\|_2, \varepsilon)` along the last axis, and :math:`\|u\|_2`.

    With ``eps = COSINE_EPS`` this is PyTorch's normalisation in ``F.cosine_similarity``.
    """
    norm = _p_norm(u, 2.0)
    return u / np.maximum(norm, eps)[..., None], norm


def _difference(xv, yv):
    """``(u, factor)`` with ``x - y = factor * u``: u is the difference itself, or half of
    it where a difference overflows (|x_i - y_i| > 1.8e308), so that its norm and the
    direction of the gradient stay finite."""
    with np.errstate(over="ignore"):
        u = xv - yv
    if np.isinf(u).any() and np.isfinite(xv).all() and np.isfinite(yv).all():
        return xv / 2 - yv / 2, 2.0
    return u, 1.0


# --- Dot product --------------------------------------------------------------------


def dot(x, y, axis=-1):
    r"""Dot product :math:`x^\top y = \sum_i x_i y_i` along ``axis``.

    Where a product overflows (x = (1e200, 1e200), y = (1e200, -1e200): the naive sum is
    inf - inf = NaN), the pair is recomputed with each vector divided by a power of two
    near its largest entry (exact): 0 there. A result beyond the float range is +-inf.
    """
    xv, yv, _ = _as_vectors(x, y, axis)
    with np.errstate(over="ignore", invalid="ignore"):  # repaired below
        total = np.einsum("...i,...i->...", xv, yv)
    redo = ~np.isfinite(total) & np.isfinite(xv).all(axis=-1) & np.isfinite(yv).all(axis=-1)
    if redo.any():
        sx, sy = _pow2_scale(xv), _pow2_scale(yv)
        scaled = np.einsum("...i,...i->...", xv / sx, yv / sy)
        small, large = np.minimum(sx, sy)[..., 0], np.maximum(sx, sy)[..., 0]
        with np.errstate(over="ignore"):  # smaller scale first: inf only if x^T y overflows
            total = np.where(redo, scaled * small * large, total)
    return total


def dot_grad(x, y, g, axis=-1):
    r"""Gradients :math:`(g\,y,\; g\,x)` of :math:`g\,x^\top y`."""
    xv, yv, axis = _as_vectors(x, y, axis)
    g = _upstream(g, xv, yv)
    return (
        _as_input_grad(g * yv, as_float_array(x, "x"), xv, axis),
        _as_input_grad(g * xv, as_float_array(y, "y"), yv, axis),
    )


# --- Cosine similarity --------------------------------------------------------------


class _Cosine(NamedTuple):
    xv: np.ndarray  # the vectors, vector axis last
    yv: np.ndarray
    axis: int
    xs: np.ndarray  # the vectors rescaled by a power of two: largest |entry| in [1, 2)
    ys: np.ndarray
    sx: np.ndarray  # those powers of two (keepdims)
    sy: np.ndarray
    sxx: np.ndarray  # sums of xs*xs, ys*ys over the vector axis
    syy: np.ndarray
    cos: np.ndarray


def _cosine_parts(x, y, axis, eps):
    xv, yv, axis = _as_vectors(x, y, axis)
    check_real(eps, "eps", minimum=0.0, strict=True)
    sx, sy = _pow2_scale(xv), _pow2_scale(yv)
    xs, ys = xv / sx, yv / sy
    sxx = np.einsum("...i,...i->...", xs, xs)
    syy = np.einsum("...i,...i->...", ys, ys)
    sxy = np.sum(xs * ys, axis=-1)
    norms = np.sqrt(sxx * syy)  # >= 1 unless a vector is zero, where sxy = 0 too
    cos = np.clip(sxy / np.where(norms > 0, norms, 1.0), -1.0, 1.0)
    return _Cosine(xv, yv, axis, xs, ys, sx, sy, sxx, syy, cos)


def cosine_similarity(x, y, axis=-1, eps=COSINE_EPS):
    r"""Cosine similarity :math:`x^\top y / (\|x\|\,\|y\|)` along ``axis``, exactly.

    Parallel vectors give 1 at any scale. Each vector is first divided by a power of two
    near its largest |entry| (exact), so the norms neither overflow nor underflow, and the
    result is clipped to [-1, 1] (rounding can exceed 1 by an ulp). PyTorch instead
    divides by :math:`\max(\|x\|, \varepsilon)\max(\|y\|, \varepsilon)`: a vector of norm
    5e-9 has cosine 0.25 with itself there, and parallel vectors of norm 1e200 get 0.
    Here ``eps`` (> 0) only stands for PyTorch's zero-vector convention: a zero vector has
    cosine 0 with everything.
    """
    return _cosine_parts(x, y, axis, eps).cos


def cosine_similarity_grad(x, y, g, axis=-1, eps=COSINE_EPS):
    r"""Gradients of :math:`g\cos(x, y)`:
    :math:`\partial\cos/\partial x = (\hat y - \cos\,\hat x)/\|x\|` with
    :math:`\hat x = x/\|x\|`, and symmetrically for y; 0 for a zero vector (where the
    cosine, defined as 0, has no gradient)."""
    c = _cosine_parts(x, y, axis, eps)
    g = _upstream(g, c.xv, c.yv)
    cos = c.cos[..., None]
    sxx, syy = c.sxx[..., None], c.syy[..., None]
    zero = (sxx == 0) | (syy == 0)
    sxx, syy = np.where(zero, 1.0, sxx), np.where(zero, 1.0, syy)
    # in rescaled units: d cos / d xs = ys / sqrt(sxx syy) - cos xs / sxx; x = sx * xs
    norms = np.sqrt(sxx * syy)
    dx = np.where(zero, 0.0, g * (c.ys / norms - cos * c.xs / sxx) / c.sx)
    dy = np.where(zero, 0.0, g * (c.xs / norms - cos * c.ys / syy) / c.sy)
    return (
        _as_input_grad(dx, as_float_array(x, "x"), c.xv, c.axis),
        _as_input_grad(dy, as_float_array(y, "y"), c.yv, c.axis),
    )


# --- Euclidean, Manhattan and Minkowski distances -----------------------------------


def _check_p(p):
    """p >= 1, and p = inf allowed (the Chebyshev distance)."""
    if isinstance(p, (int, float, np.floating, np.integer)) and p == np.inf:
        return np.inf
    return check_real(p, "p", minimum=1.0)


def _minkowski_parts(x, y, p, axis):
    xv, yv, axis = _as_vectors(x, y, axis)
    p = _check_p(p)
    u, factor = _difference(xv, yv)
    return xv, yv, axis, p, u, factor, _p_norm(u, p)


def minkowski_distance(x, y, p=2.0, axis=-1):
    r"""Minkowski distance :math:`\|x - y\|_p = (\sum_i |x_i - y_i|^p)^{1/p}`, p >= 1.

    p = 1 is the Manhattan distance, p = 2 the Euclidean one, p = inf the largest
    :math:`|x_i - y_i|` (Chebyshev). The norm rescales by the largest difference, so
    differences near 1e200 do not overflow in :math:`|u_i|^p`.
    """
    *_, factor, norm = _minkowski_parts(x, y, p, axis)
    with np.errstate(over="ignore"):  # only where the distance exceeds the float max
        return factor * norm


def minkowski_distance_grad(x, y, g, p=2.0, axis=-1):
    r"""Gradients :math:`\pm g\,\mathrm{sign}(u)(|u|/\|u\|_p)^{p-1}`, u = x - y.

    At x = y the distance has no gradient (a cone's tip); the gradient given is 0, the
    subgradient PyTorch's ``torch.cdist`` also returns there. For p = inf, ties share.
    """
    xv, yv, axis, p, u, _, norm = _minkowski_parts(x, y, p, axis)
    grad = _upstream(g, xv, yv) * _p_norm_grad(u, p, norm)
    return (
        _as_input_grad(grad, as_float_array(x, "x"), xv, axis),
        _as_input_grad(-grad, as_float_array(y, "y"), yv, axis),
    )


def euclidean_distance(x, y, axis=-1):
    r"""Euclidean distance :math:`\|x - y\|_2 = \sqrt{\sum_i (x_i - y_i)^2}`.

    ``np.sqrt(np.sum((x - y)**2))`` overflows to inf for differences near 1e200 (the
    squares exceed 1.8e308); the rescaled norm does not.
    """
    return minkowski_distance(x, y, 2.0, axis)


def euclidean_distance_grad(x, y, g, axis=-1):
    r"""Gradients :math:`\pm g\,(x - y)/\|x - y\|_2`; 0 at x = y (see
    :func:`minkowski_distance_grad`)."""
    return minkowski_distance_grad(x, y, g, 2.0, axis)


def manhattan_distance(x, y, axis=-1):
    r"""Manhattan (L1, city-block) distance :math:`\|x - y\|_1 = \sum_i |x_i - y_i|`."""
    return minkowski_distance(x, y, 1.0, axis)


def manhattan_distance_grad(x, y, g, axis=-1):
    r"""Gradients :math:`\pm g\,\mathrm{sign}(x - y)` (0 where :math:`x_i = y_i`)."""
    return minkowski_distance_grad(x, y, g, 1.0, axis)


# --- Mahalanobis distance -----------------------------------------------------------


def _cholesky(cov, dim):
    """The lower Cholesky factor L of ``cov`` = L L^T, after checking that it is one."""
    cov = as_float_array(cov, "cov").astype(np.float64)
    if cov.shape != (dim, dim):
        raise ValueError(f"cov must be a ({dim}, {dim}) matrix for vectors of length {dim}, "
                         f"got shape {cov.shape}")  # fmt: skip
    if not np.isfinite(cov).all():
        raise ValueError("cov must be finite: it holds NaN or inf")
    if np.max(np.abs(cov - cov.T)) > 1e-12 * np.max(np.abs(cov)):
        raise ValueError("cov must be symmetric")
    try:
        factor = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        factor = None
    # A pivot L_kk^2 below D eps S_kk: variable k is numerically a combination of the
    # ones before it, so S is singular to working precision.
    if factor is None or np.any(np.diag(factor) ** 2 <= dim * np.finfo(float).eps * np.diag(cov)):
        raise ValueError("cov must be positive definite, but it is singular or indefinite; "
                         "a regularised cov + lambda * I (lambda > 0) is")  # fmt: skip
    return factor


def _mahalanobis_parts(x, y, cov):
    xv, yv, axis = _as_vectors(x, y, -1)
    dim = xv.shape[-1]
    factor = _cholesky(cov, dim)
    u, scale = _difference(xv, yv)
    # z = L^{-1} u, so that u^T S^{-1} u = z^T z: no inverse, and no negative d^2 to clamp
    z = solve_triangular(factor, u.reshape(-1, dim).T, lower=True).T.reshape(u.shape)
    return xv, yv, axis, factor, z, scale, _p_norm(z, 2.0)


def mahalanobis_distance(x, y, cov):
    r"""Mahalanobis distance :math:`\sqrt{(x - y)^\top S^{-1} (x - y)}`, S = ``cov`` (D, D).

    Computed as :math:`\|L^{-1}(x - y)\|_2` with the Cholesky factor :math:`S = LL^\top`
    (Mahalanobis 1936): a triangular solve, never an explicit inverse. A singular,
    indefinite, non-symmetric or non-finite ``cov`` is a ``ValueError``. Vectors lie
    along the last axis.
    """
    xv, yv, *_, scale, norm = _mahalanobis_parts(x, y, cov)
    with np.errstate(over="ignore"):
        return (scale * norm).astype(np.result_type(xv, yv))


def mahalanobis_distance_grad(x, y, g, cov):
    r"""Gradients :math:`\pm g\,S^{-1}(x - y)/d_M = \pm g\,L^{-\top} z/\|z\|`; 0 at x = y."""
    xv, yv, axis, factor, z, _, norm = _mahalanobis_parts(x, y, cov)
    direction = _p_norm_grad(z, 2.0, norm)  # z / ||z||
    dim = xv.shape[-1]
    w = solve_triangular(factor, direction.reshape(-1, dim).T, lower=True, trans="T")
    grad = _upstream(g, xv, yv) * w.T.reshape(z.shape)
    return (
        _as_input_grad(grad, as_float_array(x, "x"), xv, axis),
        _as_input_grad(-grad, as_float_array(y, "y"), yv, axis),
    )


# --- Pairwise distances -------------------------------------------------------------


def _pairwise_inputs(X, Y, metric):
    """X (n, D) and Y (m, D) as float64 (Y is X when None), and the result dtype."""
    check_choice(metric, "metric", METRICS)
    X = as_float_array(X, "X")
    if X.ndim != 2 or X.shape[1] == 0:
        raise ValueError(f"X must be a 2-D array (n, D) with D >= 1, got shape {X.shape}")
    if Y is None:
        return X.astype(np.float64, copy=False), X.astype(np.float64, copy=False), X.dtype
    Y = as_float_array(Y, "Y")
    if Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"Y must be a 2-D array (m, {X.shape[1]}) like X, got shape {Y.shape}")
    dtype = np.result_type(X, Y)
    return X.astype(np.float64, copy=False), Y.astype(np.float64, copy=False), dtype


def _common_scale(X, Y):
    """X / s, Y / s and s, for one power of two s that keeps every square and product
    of entries clear of overflow and underflow: s = 1 (no copy) for entries up to 2^250,
    else largest |entry| / s in [1, 2) (dividing by a power of two is exact)."""
    largest = max(np.max(np.abs(X)), np.max(np.abs(Y)))
    if largest == 0 or 2.0**-250 <= largest <= 2.0**250:
        return X, Y, 1.0
    scale = float(_pow2_scale(np.array([largest]))[0])
    return X / scale, Y / scale, scale


class _Gram(NamedTuple):
    sq: np.ndarray  # (n, m) squared distances of the scaled points, by the Gram identity
    rows: np.ndarray  # the entries where the identity may have lost accuracy ...
    cols: np.ndarray
    direct: np.ndarray  # ... and their distances, from the differences (scaled units)
    xc: np.ndarray  # the scaled points, centred on their common mean
    yc: np.ndarray
    scale: float


def _gram(X, Y):
    r"""Squared Euclidean distances :math:`\|x\|^2 + \|y\|^2 - 2x^\top y` in one product.

    The points are scaled by a power of two and centred on their mean first (distances
    do not change). Rounding error analysis (Higham 2002, with
    :math:`\gamma_n = nu/(1 - nu)`) bounds the error of each entry by
    :math:`\gamma_{2D+8}(\|x_c\| + \|y_c\|)^2`; where that is not below ``PAIRWISE_RTOL``
    times the entry (close points: the terms cancel), the distance is recomputed from the
    difference of the original points.
    """
    xs, ys, scale = _common_scale(X, Y)
    mean = (xs.sum(axis=0) + ys.sum(axis=0)) / (len(xs) + len(ys))
    xc, yc = xs - mean, ys - mean
    dim = X.shape[1]
    nx, ny = np.einsum("ij,ij->i", xc, xc), np.einsum("ij,ij->i", yc, yc)
    # [xc, |xc|^2, 1] . [-2 yc, 1, |yc|^2] = |xc - yc|^2: the whole identity is one BLAS call
    a = np.concatenate([xc, nx[:, None], np.ones((len(xc), 1))], axis=1)
    b = np.concatenate([-2.0 * yc, np.ones((len(yc), 1)), ny[:, None]], axis=1)
    sq = a @ b.T
    # error bound, doubled for safety; the floor covers underflow (2^-1074 per rounding)
    gamma = 2.0 * (2 * dim + 8) * _UNIT_ROUNDOFF
    k = gamma * (1.0 + 1.0 / PAIRWISE_RTOL)
    floor = (1.0 + 1.0 / PAIRWISE_RTOL) * (2 * dim + 8) * _SMALLEST_SUBNORMAL
    nx, ny = np.sqrt(nx), np.sqrt(ny)
    # a bound per row first (one pass that writes nothing), then entry by entry
    row_bound = k * (nx + ny.max()) ** 2 + floor
    suspect = np.flatnonzero(sq.min(axis=1) < row_bound)
    rows, cols = np.nonzero(sq[suspect] < row_bound[suspect, None])
    rows = suspect[rows]
    lost = sq[rows, cols] < k * (nx[rows] + ny[cols]) ** 2 + floor
    rows, cols = rows[lost], cols[lost]
    direct = np.empty(len(rows))
    step = max(1, _BLOCK // dim)
    for start in range(0, len(rows), step):
        r, c = rows[start : start + step], cols[start : start + step]
        direct[start : start + step] = _p_norm(xs[r] - ys[c], 2.0)
    return _Gram(sq, rows, cols, direct, xc, yc, scale)


def _blockwise_manhattan(xs, ys):
    """All L1 distances of the rows, by blocks of rows (never an (n, m, D) array)."""
    out = np.empty((len(xs), len(ys)))
    step = max(1, _BLOCK // (len(ys) * xs.shape[1]))
    for start in range(0, len(xs), step):
        block = xs[start : start + step, None, :] - ys[None, :, :]
        out[start : start + step] = np.abs(block).sum(axis=-1)
    return out


def _unit_rows_exact(X):
    """Rows divided by their norms (exactly: rescaled first), zero rows left 0; and norms."""
    scale = _pow2_scale(X)
    # a rescaled nonzero row has norm >= 1, so the clamp only keeps zero rows at 0
    unit, norm = _unit_vectors(X / scale, COSINE_EPS)
    return unit, scale[:, 0] * norm


def pairwise_distances(X, Y=None, metric="euclidean"):
    r"""Distances between every row of X (n, D) and every row of Y (m, D): an (n, m) matrix.

    ``Y=None`` compares X with itself. ``metric``: ``"euclidean"``, ``"sqeuclidean"``
    (its square), ``"manhattan"`` or ``"cosine"`` (the distance 1 - cosine similarity,
    with cosine 0 for a zero row). Euclidean distances come from the Gram identity
    :math:`\|x\|^2 + \|y\|^2 - 2x^\top y` (one matrix product: BLAS speed), whose
    cancellation for close points is detected by an error bound and repaired by
    recomputing those entries from the differences: every entry is accurate to
    ``PAIRWISE_RTOL`` relative, and the diagonal of ``pairwise_distances(X)`` is exactly 0.
    ``torch.cdist`` uses the identity without the repair.
    """
    X, Y, dtype = _pairwise_inputs(X, Y, metric)
    if len(X) == 0 or len(Y) == 0:
        return np.zeros((len(X), len(Y)), dtype=dtype)
    if metric == "cosine":
        (ux, _), (uy, _) = _unit_rows_exact(X), _unit_rows_exact(Y)
        return (1.0 - np.clip(ux @ uy.T, -1.0, 1.0)).astype(dtype, copy=False)
    if metric == "manhattan":
        xs, ys, scale = _common_scale(X, Y)
        with np.errstate(over="ignore"):  # a distance beyond the float max is inf
            return (_blockwise_manhattan(xs, ys) * scale).astype(dtype, copy=False)
    gram = _gram(X, Y)
    out = np.maximum(gram.sq, 0.0, out=gram.sq)  # rounding can leave a d^2 slightly < 0
    with np.errstate(over="ignore"):  # only where the result exceeds the float max
        if metric == "euclidean":
            out = np.sqrt(out, out=out)
            if gram.scale != 1.0:
                out *= gram.scale
            out[gram.rows, gram.cols] = gram.direct * gram.scale
        else:
            if gram.scale != 1.0:  # twice: s^2 alone may overflow where s^2 d^2 does not
                out *= gram.scale
                out *= gram.scale
            out[gram.rows, gram.cols] = (gram.direct * gram.scale) ** 2
    return out.astype(dtype, copy=False)


def pairwise_distances_grad(X, Y, G, metric="euclidean"):
    r"""Gradients of :math:`\sum_{ij} G_{ij} D_{ij}`, D = ``pairwise_distances(X, Y)``.

    Returns ``(dX, dY)``. With ``Y=None`` the rows of X play both parts and the result is
    ``(dX, None)``, dX holding both contributions. Euclidean: :math:`\partial D_{ij} /
    \partial x_i = (x_i - y_j)/D_{ij}` (0 where :math:`D_{ij} = 0`), summed with weights
    G as matrix products on the centred points; sqeuclidean: :math:`2(x_i - y_j)`;
    manhattan: :math:`\mathrm{sign}(x_i - y_j)`; cosine: minus the cosine gradient.
    """
    same = Y is None
    X64, Y64, _ = _pairwise_inputs(X, Y, metric)
    G = as_float_array(G, "G")
    if G.shape != (len(X64), len(Y64)):
        raise ValueError(f"G must have shape {(len(X64), len(Y64))}, got {G.shape}")
    if metric in ("euclidean", "sqeuclidean"):
        gram = _gram(X64, Y64)
        if metric == "sqeuclidean":
            w = 2.0 * G * gram.scale
        else:  # the distances in scaled units, repaired as in pairwise_distances
            dist = np.sqrt(np.maximum(gram.sq, 0.0))
            dist[gram.rows, gram.cols] = gram.direct
            w = np.where(dist > 0, G, 0.0) / np.where(dist > 0, dist, 1.0)
        # sum_j w_ij (x_i - y_j) = (sum_j w_ij) x_i - (W Y)_i, on the centred points
        dx = w.sum(axis=1)[:, None] * gram.xc - w @ gram.yc
        dy = w.sum(axis=0)[:, None] * gram.yc - w.T @ gram.xc
    elif metric == "manhattan":
        xs, ys, _ = _common_scale(X64, Y64)  # scaled: no difference overflows
        dx, dy = np.zeros_like(xs), np.zeros_like(ys)
        step = max(1, _BLOCK // (len(ys) * xs.shape[1]))
        for start in range(0, len(xs), step):
            signs = np.sign(xs[start : start + step, None, :] - ys[None, :, :])
            gb = G[start : start + step]
            dx[start : start + step] = np.einsum("ij,ijd->id", gb, signs)
            dy -= np.einsum("ij,ijd->jd", gb, signs)
    else:
        (ux, nx), (uy, ny) = _unit_rows_exact(X64), _unit_rows_exact(Y64)
        s = np.clip(ux @ uy.T, -1.0, 1.0)
        gs = G * s
        # d(1 - s_ij)/dx_i = -(u_j - s_ij u_i)/|x_i|, 0 for a zero row
        dx = -(G @ uy - gs.sum(axis=1)[:, None] * ux) / np.where(nx > 0, nx, 1.0)[:, None]
        dy = -(G.T @ ux - gs.sum(axis=0)[:, None] * uy) / np.where(ny > 0, ny, 1.0)[:, None]
    if same:
        return (dx + dy).astype(as_float_array(X, "X").dtype), None
    return dx.astype(as_float_array(X, "X").dtype), dy.astype(as_float_array(Y, "Y").dtype)
