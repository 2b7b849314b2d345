"""Attention and positional encodings (chapter 7).

Scaled dot-product attention with its masks and its gradient, multi-head attention with
the gradients of every input and parameter, and the position signals a Transformer adds:
the sinusoidal encoding, rotary embeddings (RoPE) and ALiBi biases.

Axis letters, the same in every shape and every einsum string below:

    n  batch                        h  heads
    l  query positions (L)          s  key/value positions (S)
    e  query/key features (E; per head in multi-head attention)
    f  value features (Ev; per head)
    d  model width (embed_dim of multi-head attention, d_model of the encodings)
    ...  any leading batch/head axes

The layout is batch-first, as in ``torch.nn.functional.scaled_dot_product_attention``:
q (..., l, e), k (..., s, e), v (..., s, f), with the same leading axes. Weight matrices
are (fan_in, fan_out) as everywhere in dlnotes, so a projection is ``x @ w``
(``torch.nn.MultiheadAttention`` stores the transposes). A boolean ``attn_mask`` means
True = "may attend" (SDPA's sense) in both attention functions; ``key_padding_mask`` is
True = padding (``nn.MultiheadAttention``'s sense). A query whose every key is masked
gets zero weights and a zero output, as in PyTorch's SDPA since 2.5, never NaN.

``f_grad`` takes the parameters of ``f`` with the upstream gradient ``g`` inserted after
the arrays it differentiates, and returns the vector-Jacobian product: the gradients of
``sum(g * f(...))`` with respect to those arrays, in argument order. float32 stays
float32; integers are promoted to float64; inputs are never modified.
"""

import math
from typing import NamedTuple

import numpy as np

from dlnotes._checks import (
    as_float_array,
    check_flag,
    check_generator,
    check_int,
    check_parameter,
    check_real,
)
from dlnotes.activations import softmax, softmax_grad
from dlnotes.regularization import dropout_mask

__all__ = [
    "scaled_dot_product_attention", "scaled_dot_product_attention_grad",
    "attention_weights",
    "multi_head_attention", "multi_head_attention_grad", "MultiHeadAttentionGrads",
    "sinusoidal_positional_encoding",
    "rotary_embedding", "rotary_embedding_grad",
    "alibi_slopes", "alibi_bias",
]  # fmt: skip

# The base of the wavelengths of the sinusoidal encoding (Vaswani et al. 2017) and of
# RoPE (Su et al. 2021): pair r turns at the frequency base^(-2r/d), so the wavelengths
# run from 2 pi to 2 pi * base.
POSITION_BASE = 10000.0

# ALiBi's slopes for h heads, h a power of two, are 2^(-8k/h), k = 1..h: a geometric
# sequence from 2^(-8/h) down to 2^-8 (Press et al. 2022, section 3).
ALIBI_LOWEST_SLOPE_EXPONENT = 8


def _einsum(subscripts, *operands):
    # optimize=True hands the contraction to BLAS (matmul); plain einsum loops in C and is
    # about 5x slower on attention-sized arrays.
    return np.einsum(subscripts, *operands, optimize=True)


# --- Masks --------------------------------------------------------------------------


def _mask_bias(mask, name, shape, dtype, *, true_means_masked=False):
    """An additive bias from a mask, checked to broadcast to the scores' ``shape``.

    A boolean mask becomes 0 where attention is allowed and -inf where it is not (True =
    allowed, unless ``true_means_masked``); a floating mask is the bias itself, and may
    hold -inf but not NaN or +inf.
    """
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        allowed = ~mask if true_means_masked else mask
        bias = np.where(allowed, 0.0, -np.inf).astype(dtype)
    elif np.issubdtype(mask.dtype, np.floating):
        if np.isnan(mask).any() or (mask == np.inf).any():
            raise ValueError(f"{name} must not contain NaN or +inf")
        with np.errstate(over="ignore"):  # -1e300 in float32 is -inf: still "masked"
            bias = mask.astype(dtype, copy=False)
    else:
        raise TypeError(f"{name} must be a boolean or floating array, got dtype {mask.dtype}")
    try:
        fits = np.broadcast_shapes(bias.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} of shape {mask.shape} does not broadcast to the scores' shape {shape}"
        )
    return bias


def _causal_bias(num_queries, num_keys, dtype):
    """0 on and below the diagonal, -inf above: query i sees keys 0..i (top-left aligned
    when l != s, as PyTorch's ``is_causal``)."""
    return np.where(np.tri(num_queries, num_keys, dtype=bool), 0.0, -np.inf).astype(dtype)


def _bias(attn_mask, is_causal, shape, dtype):
    """The additive bias of ``attn_mask`` or ``is_causal`` (None without either)."""
    is_causal = check_flag(is_causal, "is_causal")
    if is_causal and attn_mask is not None:
        raise ValueError("attn_mask must be None when is_causal is True (pass one or the other)")
    if is_causal:
        return _causal_bias(shape[-2], shape[-1], dtype)
    if attn_mask is None:
        return None
    return _mask_bias(attn_mask, "attn_mask", shape, dtype)


# --- Scaled dot-product attention ---------------------------------------------------


def _check_qkv(q, k, v):
    """q, k, v as arrays of one floating dtype, their shapes checked against each other."""
    q, k, v = (as_float_array(x, name) for x, name in ((q, "q"), (k, "k"), (v, "v")))
    for x, name in ((q, "q"), (k, "k"), (v, "v")):
        if x.ndim < 2:
            raise ValueError(
                f"{name} must have at least 2 dimensions (..., positions, "
                f"features), got shape {x.shape}"
            )
    for x, name in ((k, "k"), (v, "v")):
        if x.shape[:-2] != q.shape[:-2]:
            raise ValueError(
                f"{name} must have the leading axes of q: {x.shape[:-2]} != {q.shape[:-2]}"
            )
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(f"k must have the feature size e of q: {k.shape[-1]} != {q.shape[-1]}")
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v must have as many positions s as k: {v.shape[-2]} != {k.shape[-2]}")
    if q.shape[-1] == 0 or k.shape[-2] == 0:
        raise ValueError(
            f"q needs at least one feature and k at least one position, got "
            f"q {q.shape} and k {k.shape}"
        )
    dtype = np.result_type(q, k, v)
    return q.astype(dtype, copy=False), k.astype(dtype, copy=False), v.astype(dtype, copy=False)


def _check_scale(scale, q):
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else check_real(scale, "scale")


class _Attention(NamedTuple):
    """What the forward pass of attention leaves for the backward pass."""

    q: np.ndarray  # (..., l, e)
    k: np.ndarray  # (..., s, e)
    v: np.ndarray  # (..., s, f)
    scale: float
    scores: np.ndarray  # Z = scale q k^T + M, (..., l, s); -inf where masked
    weights: np.ndarray  # P = softmax(S), rows without any key set to 0
    has_key: np.ndarray | None  # (..., l, 1): False where every key is masked
    dropout: np.ndarray | None  # (..., l, s): keep / (1 - p), or None without dropout


def _scores_and_weights(q, k, bias, scale):
    """Scores, softmax weights and the rows that have a key, for ``_Attention``."""
    scores = _einsum("...le,...se->...ls", q * scale, k)
    if bias is None:
        return scores, softmax(scores), None
    scores = scores + bias
    # softmax spreads a row of -inf evenly (its limit of equal logits); a query that may
    # attend to nothing gets zero weights instead, as in PyTorch's SDPA.
    has_key = np.max(scores, axis=-1, keepdims=True) > -np.inf
    return scores, softmax(scores) * has_key, has_key


def _attention(q, k, v, bias, scale, dropout_p, rng):
    """The forward pass on checked arrays with an additive ``bias`` (or None)."""
    scores, weights, has_key = _scores_and_weights(q, k, bias, scale)
    dropout = None
    if dropout_p > 0.0:  # chapter 3's mask, drawn as for dropout on any other array
        dropout = dropout_mask(weights.shape, dropout_p, rng=rng, dtype=weights.dtype)
    return _Attention(q, k, v, scale, scores, weights, has_key, dropout)


def _attention_output(att):
    dropped = att.weights if att.dropout is None else att.weights * att.dropout
    return _einsum("...ls,...sf->...lf", dropped, att.v)


def _attention_backward(att, g):
    r"""``(dq, dk, dv)`` of :math:`\sum g \odot O` from the forward pass ``att``.

    O = P' v with P' = P * dropout, so dv = P'^T g and dP = (g v^T) * dropout; a row
    without keys has constant weights 0, so its dP is 0. dZ is the softmax VJP of dP
    (chapter 1), and Z = scale q k^T + M gives dq = scale dZ k, dk = scale dZ^T q.
    """
    dropped = att.weights if att.dropout is None else att.weights * att.dropout
    dv = _einsum("...ls,...lf->...sf", dropped, g)
    dweights = _einsum("...lf,...sf->...ls", g, att.v)
    if att.dropout is not None:
        dweights *= att.dropout
    if att.has_key is not None:
        dweights *= att.has_key
    dscores = softmax_grad(att.scores, dweights)
    dq = _einsum("...ls,...se->...le", dscores, att.k * att.scale)
    dk = _einsum("...ls,...le->...se", dscores, att.q * att.scale)
    return dq, dk, dv


def _sdpa_setup(q, k, v, attn_mask, is_causal, dropout_p, scale, rng):
    q, k, v = _check_qkv(q, k, v)
    bias = _bias(attn_mask, is_causal, q.shape[:-1] + k.shape[-2:-1], q.dtype)
    dropout_p = check_real(dropout_p, "dropout_p", minimum=0.0)
    if dropout_p >= 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    if dropout_p > 0.0:
        check_generator(rng, when="when dropout_p > 0")
    return _attention(q, k, v, bias, _check_scale(scale, q), dropout_p, rng)


def scaled_dot_product_attention(
    q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None, *, rng=None
):
    r""":math:`\mathrm{softmax}(QK^\top/\sqrt{d_k} + M)\,V` (Vaswani et al. 2017).

    q (..., l, e), k (..., s, e), v (..., s, f) -> (..., l, f). ``scale`` defaults to
    :math:`1/\sqrt{e}`. ``attn_mask`` broadcasts to (..., l, s): boolean, True where a
    query may attend to a key (M = 0 there, -inf elsewhere), or floating, added to the
    scores as M. ``is_causal`` masks the keys after each query (top-left aligned) and
    excludes ``attn_mask``. A query with every key masked gets the output 0, where the
    plain formula would give 0/0. ``dropout_p`` zeroes each weight with that probability
    and scales the rest by 1/(1 - p), drawing from ``rng``: a generator in the same state
    gives the same mask, which is how ``scaled_dot_product_attention_grad`` sees it. As
    ``torch.nn.functional.scaled_dot_product_attention``.
    """
    att = _sdpa_setup(q, k, v, attn_mask, is_causal, dropout_p, scale, rng)
    return _attention_output(att)


def scaled_dot_product_attention_grad(
    q, k, v, g, attn_mask=None, is_causal=False, dropout_p=0.0, scale=None, *, rng=None
):
    r"""Gradients ``(dq, dk, dv)`` of :math:`\sum g \odot \mathrm{Attention}(q, k, v)`.

    ``g`` has the output's shape (..., l, f). With :math:`P = \mathrm{softmax}(Z)`,
    :math:`Z = cQK^\top + M`: :math:`dV = P^\top g`, :math:`dP = g V^\top`,
    :math:`dZ = P \odot (dP - \mathrm{rowsum}(dP \odot P))` (softmax's VJP),
    :math:`dQ = c\,dZ\,K`, :math:`dK = c\,dZ^\top Q`. With dropout, pass ``rng`` in the
    state it had for the forward call, so that the same weights are dropped.
    """
    att = _sdpa_setup(q, k, v, attn_mask, is_causal, dropout_p, scale, rng)
    g = as_float_array(g, "g")
    expected = att.q.shape[:-1] + att.v.shape[-1:]
    if g.shape != expected:
        raise ValueError(f"g must have the output's shape (..., l, f) {expected}, got {g.shape}")
    return _attention_backward(att, g.astype(att.q.dtype, copy=False))


def attention_weights(q, k, attn_mask=None, is_causal=False, scale=None):
    r"""The attention weights :math:`\mathrm{softmax}(QK^\top/\sqrt{d_k} + M)`, (..., l, s).

    The matrix ``scaled_dot_product_attention`` multiplies v with (before dropout), for
    plotting: each row sums to 1, or is all 0 where every key is masked.
    """
    q, k, _ = _check_qkv(q, k, k)
    bias = _bias(attn_mask, is_causal, q.shape[:-1] + k.shape[-2:-1], q.dtype)
    return _scores_and_weights(q, k, bias, _check_scale(scale, q))[1]


# --- Multi-head attention -----------------------------------------------------------


class _MultiHead(NamedTuple):
    """The checked inputs and parameters of multi-head attention, and its forward pass."""

    query: np.ndarray  # (n, l, d)
    key: np.ndarray  # (n, s, d)
    value: np.ndarray  # (n, s, d)
    w_q: np.ndarray  # (d, h, e): w_q's columns split into heads
    w_k: np.ndarray  # (d, h, e)
    w_v: np.ndarray  # (d, h, f)
    w_o: np.ndarray  # (h, f, d): w_o's rows split into heads
    heads: _Attention  # attention of the projected q, k, v: (n, h, l, e), ...
    heads_out: np.ndarray  # (n, h, l, f)


class MultiHeadAttentionGrads(NamedTuple):
    """Gradients of ``multi_head_attention``, named after its arguments.

    A bias passed as None gets the gradient it would have as a zero vector.
    """

    query: np.ndarray
    key: np.ndarray
    value: np.ndarray
    w_q: np.ndarray
    w_k: np.ndarray
    w_v: np.ndarray
    w_o: np.ndarray
    b_q: np.ndarray
    b_k: np.ndarray
    b_v: np.ndarray
    b_o: np.ndarray


def _multi_head(
    query, key, value, num_heads, weights, biases, attn_mask, key_padding_mask, is_causal
):
    """Check everything, project into heads and run attention; returns ``(_MultiHead, b_o)``."""
    arrays = [
        as_float_array(x, name) for x, name in ((query, "query"), (key, "key"), (value, "value"))
    ]
    for x, name in zip(arrays, ("query", "key", "value"), strict=True):
        if x.ndim != 3:
            raise ValueError(f"{name} must have 3 dimensions (n, positions, d), got {x.shape}")
    query, key, value = arrays
    n, num_queries, d = query.shape
    if key.shape[::2] != (n, d) or value.shape != key.shape:
        raise ValueError(
            f"key and value must have the shape (n, s, d) with n = {n}, d = {d} "
            f"of query; got {key.shape} and {value.shape}"
        )
    h = check_int(num_heads, "num_heads", minimum=1)
    if d % h:
        raise ValueError(f"num_heads must divide the model width d = {d}, got {h}")
    e = d // h
    weights = [
        check_parameter(w, name, (d, d))
        for w, name in zip(weights, ("w_q", "w_k", "w_v", "w_o"), strict=True)
    ]
    biases = [
        check_parameter(b, name, (d,))
        for b, name in zip(biases, ("b_q", "b_k", "b_v", "b_o"), strict=True)
    ]
    dtype = np.result_type(query, key, value, *weights, *[b for b in biases if b is not None])
    w_q, w_k, w_v, w_o = (w.astype(dtype, copy=False) for w in weights)
    b_q, b_k, b_v, b_o = (
        np.zeros(d, dtype) if b is None else b.astype(dtype, copy=False) for b in biases
    )
    query, key, value = (x.astype(dtype, copy=False) for x in (query, key, value))
    s = key.shape[1]
    bias = _bias(attn_mask, is_causal, (n, h, num_queries, s), dtype)
    if key_padding_mask is not None:
        padding = np.asarray(key_padding_mask)
        if padding.dtype != np.bool_ or padding.shape != (n, s):
            raise ValueError(
                f"key_padding_mask must be a boolean array of shape (n, s) = "
                f"{(n, s)}, got {padding.dtype} {padding.shape}"
            )
        padding_bias = _mask_bias(
            padding[:, None, None, :],
            "key_padding_mask",
            (n, h, num_queries, s),
            dtype,
            true_means_masked=True,
        )
        bias = padding_bias if bias is None else bias + padding_bias
    w_q, w_k, w_v = (w.reshape(d, h, e) for w in (w_q, w_k, w_v))
    qh = _einsum("nld,dhe->nhle", query, w_q) + b_q.reshape(h, 1, e)
    kh = _einsum("nsd,dhe->nhse", key, w_k) + b_k.reshape(h, 1, e)
    vh = _einsum("nsd,dhf->nhsf", value, w_v) + b_v.reshape(h, 1, e)
    heads = _attention(qh, kh, vh, bias, 1.0 / math.sqrt(e), 0.0, None)
    parts = _MultiHead(
        query, key, value, w_q, w_k, w_v, w_o.reshape(h, e, d), heads, _attention_output(heads)
    )
    return parts, b_o


def multi_head_attention(
    query, key, value, num_heads, w_q, w_k, w_v, w_o, b_q=None, b_k=None,
    b_v=None, b_o=None, attn_mask=None, key_padding_mask=None, is_causal=False,
):  # fmt: skip
    r""":math:`\mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\,W^O`, with
    :math:`\mathrm{head}_i = \mathrm{Attention}(QW_i^Q, KW_i^K, VW_i^V)` (Vaswani et al. 2017).

    query (n, l, d), key and value (n, s, d); weights (d, d) in (fan_in, fan_out) layout,
    biases (d,) or None. Head i uses columns i*e..(i+1)*e of w_q, w_k, w_v (e = d / h) and
    rows i*e..(i+1)*e of w_o, so the head outputs, concatenated, meet w_o whole.
    ``attn_mask`` broadcasts to (n, h, l, s) with the meaning it has in
    :func:`scaled_dot_product_attention` (boolean True = may attend; ``nn.MultiheadAttention``
    reads a boolean mask the other way round); ``key_padding_mask`` (n, s) is True at
    padding, as in PyTorch. ``is_causal`` applies the causal mask (PyTorch's module takes it
    only as a hint about ``attn_mask``). Returns ``(output (n, l, d), weights (n, h, l, s))``:
    the weights per head, ``average_attn_weights=False`` in PyTorch. A query whose keys are
    all masked gets zeros (PyTorch's module gives NaN there).
    """
    parts, b_o = _multi_head(
        query, key, value, num_heads, (w_q, w_k, w_v, w_o), (b_q, b_k, b_v, b_o),
        attn_mask, key_padding_mask, is_causal,
    )  # fmt: skip
    output = _einsum("nhlf,hfd->nld", parts.heads_out, parts.w_o) + b_o
    return output, parts.heads.weights


def multi_head_attention_grad(
    query, key, value, num_heads, w_q, w_k, w_v, w_o, g, b_q=None, b_k=None,
    b_v=None, b_o=None, attn_mask=None, key_padding_mask=None, is_causal=False,
):  # fmt: skip
    r"""Gradients of :math:`\sum g \odot \mathrm{output}` of :func:`multi_head_attention`.

    ``g`` (n, l, d) is the upstream gradient of the output (not of the weights). Returns
    :class:`MultiHeadAttentionGrads` (query, key, value, w_q, w_k, w_v, w_o, b_q, b_k, b_v,
    b_o). Each projection :math:`Y = XW + b` passes :math:`dX = dY\,W^\top`,
    :math:`dW = X^\top dY`, :math:`db = \sum dY` back; between them sits the attention VJP
    of every head. For self-attention (query is key is value) add the three input
    gradients.
    """
    parts, _ = _multi_head(
        query, key, value, num_heads, (w_q, w_k, w_v, w_o), (b_q, b_k, b_v, b_o),
        attn_mask, key_padding_mask, is_causal,
    )  # fmt: skip
    g = as_float_array(g, "g")
    if g.shape != parts.query.shape:
        raise ValueError(
            f"g must have the output's shape (n, l, d) {parts.query.shape}, got {g.shape}"
        )
    g = g.astype(parts.query.dtype, copy=False)
    d = parts.query.shape[-1]
    d_heads_out = _einsum("nld,hfd->nhlf", g, parts.w_o)
    dw_o = _einsum("nhlf,nld->hfd", parts.heads_out, g).reshape(d, d)
    dqh, dkh, dvh = _attention_backward(parts.heads, d_heads_out)
    return MultiHeadAttentionGrads(
        query=_einsum("nhle,dhe->nld", dqh, parts.w_q),
        key=_einsum("nhse,dhe->nsd", dkh, parts.w_k),
        value=_einsum("nhsf,dhf->nsd", dvh, parts.w_v),
        w_q=_einsum("nld,nhle->dhe", parts.query, dqh).reshape(d, d),
        w_k=_einsum("nsd,nhse->dhe", parts.key, dkh).reshape(d, d),
        w_v=_einsum("nsd,nhsf->dhf", parts.value, dvh).reshape(d, d),
        w_o=dw_o,
        b_q=dqh.sum(axis=(0, 2)).reshape(d),
        b_k=dkh.sum(axis=(0, 2)).reshape(d),
        b_v=dvh.sum(axis=(0, 2)).reshape(d),
        b_o=g.sum(axis=(0, 1)),
    )


# --- Positional encodings -----------------------------------------------------------


def _angles(positions, d, base):
    r"""Angles :math:`p\,\theta_r` with :math:`\theta_r = \mathrm{base}^{-2r/d}`, r < d/2.

    ``positions`` (any shape) -> positions.shape + (d/2,), float64: the sinusoidal
    encoding takes their sine and cosine, RoPE rotates pair r by them.
    """
    frequencies = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    return positions[..., None] * frequencies


def _check_base(base):
    return check_real(base, "base", minimum=0.0, strict=True)


def _check_even(d, name):
    d = check_int(d, name, minimum=2)
    if d % 2:
        raise ValueError(f"{name} must be even (sin and cos come in pairs), got {d}")
    return d


def sinusoidal_positional_encoding(num_positions, d_model, base=POSITION_BASE):
    r""":math:`PE_{p,2r} = \sin(p/\mathrm{base}^{2r/d})`, :math:`PE_{p,2r+1} = \cos(\dots)`.

    The fixed encoding of the Transformer (Vaswani et al. 2017), (l, d) for the positions
    p = 0..l-1, float64: sine on the even dimensions, cosine on the odd ones, pair r
    turning with wavelength :math:`2\pi\,\mathrm{base}^{2r/d}`. ``d_model`` must be even.
    """
    num_positions = check_int(num_positions, "num_positions", minimum=0)
    d_model = _check_even(d_model, "d_model")
    angles = _angles(np.arange(num_positions, dtype=np.float64), d_model, _check_base(base))
    pe = np.empty((num_positions, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles)
    return pe


def _rotary_setup(x, positions, base):
    """x checked, and the cosines and sines of its rotation angles, (..., l, d/2)."""
    x = as_float_array(x, "x")
    if x.ndim < 1 or x.shape[-1] % 2:
        raise ValueError(
            f"x must have an even number of features d (pairs rotate), got shape {x.shape}"
        )
    positions = as_float_array(positions, "positions")
    try:
        np.broadcast_shapes(positions.shape, x.shape[:-1])
    except ValueError:
        raise ValueError(
            f"positions of shape {positions.shape} does not broadcast to x's "
            f"positions {x.shape[:-1]}"
        ) from None
    angles = _angles(positions.astype(np.float64), x.shape[-1], _check_base(base))
    return x, np.cos(angles).astype(x.dtype), np.sin(angles).astype(x.dtype)


def _rotate_pairs(x, cos, sin):
    """Rotate each pair (x_2r, x_2r+1) by the angle whose cosine and sine are given."""
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty(np.broadcast_shapes(x.shape, cos.shape[:-1] + x.shape[-1:]), x.dtype)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def rotary_embedding(x, positions, base=POSITION_BASE):
    r"""Rotary position embedding (RoPE, Su et al. 2021): rotate pair r of x by :math:`p\theta_r`.

    x (..., l, d), d even; ``positions`` broadcasts to (..., l). Consecutive pairs
    :math:`(x_{2r}, x_{2r+1})` turn by the angle :math:`p\,\theta_r`,
    :math:`\theta_r = \mathrm{base}^{-2r/d}`, as in the RoFormer paper; libraries that
    rotate :math:`(x_r, x_{r+d/2})` instead compute the same map on permuted features.
    Applied to q and k, it makes :math:`\langle R_m q, R_n k\rangle` depend on m - n only.
    """
    x, cos, sin = _rotary_setup(x, positions, base)
    return _rotate_pairs(x, cos, sin)


def rotary_embedding_grad(x, g, positions, base=POSITION_BASE):
    r"""VJP of :func:`rotary_embedding`: :math:`R^\top g`, each pair turned back by its angle.

    The map is a rotation, linear in x, so its transpose is its inverse; ``g`` has the
    output's shape.
    """
    x, cos, sin = _rotary_setup(x, positions, base)
    g = as_float_array(g, "g")
    expected = np.broadcast_shapes(x.shape, cos.shape[:-1] + x.shape[-1:])
    if g.shape != expected:
        raise ValueError(f"g must have the output's shape {expected}, got {g.shape}")
    return _rotate_pairs(g.astype(x.dtype, copy=False), cos, -sin)


def alibi_slopes(num_heads):
    r"""ALiBi's head slopes :math:`\lambda_a = 2^{-8a/h}`, a = 1..h (Press et al. 2022).

    For h not a power of two, the paper's recipe: the slopes of the largest power of two
    :math:`2^b < h`, then every other slope of :math:`2^{b+1}` heads until there are h.
    (The paper calls the slopes m.)
    """
    h = check_int(num_heads, "num_heads", minimum=1)

    def power_of_two(count):
        return 2.0 ** (-ALIBI_LOWEST_SLOPE_EXPONENT * np.arange(1, count + 1) / count)

    lower = 1 << (h.bit_length() - 1)  # the largest power of two <= h
    if lower == h:
        return power_of_two(h)
    return np.concatenate([power_of_two(lower), power_of_two(2 * lower)[0::2][: h - lower]])


def alibi_bias(num_heads, L, S):
    r"""ALiBi's additive bias :math:`-\lambda_a\,|i - j|`, shape (h, l, s) (Press et al. 2022).

    Added to the scores (as a float ``attn_mask``) it penalises a key linearly in its
    distance from the query, with one slope per head (:func:`alibi_slopes`). Causal
    models see only j <= i, where this is the paper's :math:`-\lambda_a(i - j)`; the symmetric
    form extends it to keys after the query. Query i and key j are aligned at 0, like
    ``is_causal``.
    """
    slopes = alibi_slopes(num_heads)
    L, S = check_int(L, "L", minimum=0), check_int(S, "S", minimum=0)
    distance = np.abs(np.arange(L)[:, None] - np.arange(S)[None, :])
    return -slopes[:, None, None] * distance
