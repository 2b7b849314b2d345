"""Argument checks shared by every dlnotes module.

Each check raises a ``TypeError`` (wrong kind of object) or ``ValueError`` (right kind,
wrong value) whose message names the argument, so a learner sees at once what to fix.
"""

import numbers

import numpy as np


def as_float_array(x, name):
    """Return ``x`` as a floating-point ndarray, without copying when it already is one.

    Floating dtypes are kept (float32 stays float32); booleans and integers are promoted
    to float64; anything else (strings, objects, complex numbers) is a ``TypeError``.
    """
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.floating):
        return arr
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64)
    raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")


def check_real(value, name, *, minimum=None, strict=False):
    """Return ``value`` as a finite float, optionally bounded below.

    ``minimum`` is the smallest allowed value (excluded too when ``strict``).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be {relation} {minimum}, got {value}")
    return value


def check_int(value, name, *, minimum=None):
    """Return ``value`` as an int (a Python or numpy integer, not a bool), optionally
    at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_flag(value, name):
    """Return ``value`` as a bool; only ``True``/``False`` (or numpy bools) are accepted."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return bool(value)


def check_generator(rng, name="rng", *, when=""):
    """Return ``rng`` if it is a ``numpy.random.Generator``, else raise a ``TypeError``.

    ``when`` (e.g. ``"when dropout_p > 0"``) says in the message why one is needed.
    """
    if not isinstance(rng, np.random.Generator):
        reason = f" {when}" if when else ""
        raise TypeError(
            f"{name} must be a numpy.random.Generator{reason} (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``, else raise a ``ValueError``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_parameter(value, name, shape, dtype=None):
    """A weight or bias: ``value`` as a float array of exactly ``shape`` (cast to ``dtype``
    when given); ``None`` (a missing parameter) stays ``None``."""
    if value is None:
        return None
    value = as_float_array(value, name)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
    return value if dtype is None else value.astype(dtype, copy=False)


def check_same_shape(a, a_name, b, b_name):
    """Raise a ``ValueError`` unless the arrays ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"{b_name} must have the same shape as {a_name}: {b.shape} != {a.shape}")
