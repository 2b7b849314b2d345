"""Finite-difference derivative checks, used by the tests and by the chapters.

Central differences with a fourth-order stencil: the truncation error is O(h^4) and the
rounding error O(eps/h), so with h ~ eps^(1/5) (about 7e-4 in float64) a smooth function's
derivative comes out with a relative error near 1e-12 -- tight enough to catch a wrong
constant or a wrong branch, which is what these checks are for.
"""

import numpy as np

from dlnotes._checks import as_float_array, check_choice

__all__ = ["numerical_derivative", "numerical_gradient", "max_relative_error"]

# Stencils of the fourth-order first derivative, as (offsets in h, weights / (12 h)).
_STENCILS = {
    "central": ((-2, -1, 1, 2), (1, -8, 8, -1)),
    # one-sided: only f(x), f(x -+ h), ..., f(x -+ 4h), for derivatives at a kink
    "left": ((0, -1, -2, -3, -4), (25, -48, 36, -16, 3)),
    "right": ((0, 1, 2, 3, 4), (-25, 48, -36, 16, -3)),
}


def _step(x):
    """Step size h ~ eps^(1/5) * max(1, |x|), rounded so that x + h is exact."""
    h = np.finfo(np.float64).eps ** 0.2 * np.maximum(1.0, np.abs(x))
    return (x + h) - x


def numerical_derivative(f, x, side="central"):
    """Elementwise derivative of an elementwise function ``f`` at the points ``x``.

    ``side="left"`` or ``"right"`` uses only points on that side of x, to check the
    derivative a function reports at a kink (ReLU's 0 at x = 0 is the left derivative).
    Works in float64 whatever the dtype of ``x``.
    """
    x = as_float_array(x, "x").astype(np.float64)
    check_choice(side, "side", tuple(_STENCILS))
    offsets, weights = _STENCILS[side]
    h = _step(x)
    total = sum(
        w * np.asarray(f(x + k * h), dtype=np.float64)
        for k, w in zip(offsets, weights, strict=True)
    )
    return total / (12.0 * h)


def numerical_gradient(f, x):
    """Gradient of the scalar function ``f`` at ``x``, one coordinate at a time.

    Costs four evaluations of ``f`` per element of ``x``; meant for small arrays. To check
    a vector-Jacobian product ``vjp(z, g)`` of a vector function ``F``, take
    ``f = lambda z: np.sum(g * F(z))``.
    """
    x = as_float_array(x, "x").astype(np.float64)
    offsets, weights = _STENCILS["central"]
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        h = _step(x[index])
        total = 0.0
        for k, w in zip(offsets, weights, strict=True):
            shifted = x.copy()
            shifted[index] += k * h
            total += w * float(f(shifted))
        grad[index] = total / (12.0 * h)
    return grad


def max_relative_error(actual, expected, floor=1.0):
    """Largest ``|actual - expected| / max(|expected|, floor)``, a mixed relative/absolute error.

    ``floor`` sets where the measure turns absolute: with the default 1, values above 1
    are compared relatively and smaller ones absolutely. Pass ``floor=0`` for a purely
    relative error (both arrays then must be nonzero where they differ).
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf and 0/0 are set below
        ratio = np.abs(actual - expected) / np.maximum(np.abs(expected), floor)
    ratio = np.where(actual == expected, 0.0, ratio)  # equal infinities count as exact
    return float(np.max(ratio)) if ratio.size else 0.0
