"""Tests of dlnotes.attention: closed forms, gradients, masks, PyTorch, encodings.

numpy's RuntimeWarnings are errors here (pyproject.toml): a fully masked row that made
0/0, or an overflow in the scores, fails the test that triggered it.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    MHA_CASES,
    SDPA_CASES,
    load_reference,
    make_attention_inputs,
    torch_attention_outputs,
    torch_or_skip,
)

from dlnotes import attention as At
from dlnotes.gradcheck import numerical_gradient

RNG = np.random.default_rng(7)


def random_qkv(n=2, nq=3, s=4, e=3, f=2, rng=RNG):
    return (rng.normal(size=(n, nq, e)), rng.normal(size=(n, s, e)),
            rng.normal(size=(n, s, f)), rng.normal(size=(n, nq, f)))  # fmt: skip


# Masks for queries (3) x keys (4), as keyword arguments: every kind the functions take.
BOOL_MASK = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 1]], dtype=bool)  # row 1: none
FLOAT_MASK = np.array([[0.5, -np.inf, 0.0, -1.0], [-np.inf] * 4, [0.0, 2.0, -np.inf, 0.3]])
MASKS = {
    "none": {},
    "bool": {"attn_mask": BOOL_MASK},
    "bool_broadcast": {"attn_mask": BOOL_MASK[None, :, :]},
    "float": {"attn_mask": FLOAT_MASK},
    "causal": {"is_causal": True},
    "scale": {"scale": 0.3},
}


def sdpa_reference(q, k, v, bias, scale):
    """Attention written out row by row with plain exp and sums, no masks beyond ``bias``."""
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    for index in np.ndindex(q.shape[:-1]):
        scores = scale * (k[index[:-1]] @ q[index]) + bias[index[-1]]
        allowed = scores > -np.inf
        if allowed.any():
            w = np.exp(scores[allowed] - scores[allowed].max())
            out[index] = (w / w.sum()) @ v[index[:-1]][allowed]
    return out


# --- Closed forms ---------------------------------------------------------------------


def test_two_keys_by_hand():
    # scores 0 and ln 3 (scale 1): weights 1/4 and 3/4, output 3/4 of v_1
    q, k, v = np.array([[1.0]]), np.array([[0.0], [np.log(3.0)]]), np.array([[0.0], [4.0]])
    np.testing.assert_allclose(At.attention_weights(q, k, scale=1.0), [[0.25, 0.75]], rtol=1e-15)
    np.testing.assert_allclose(At.scaled_dot_product_attention(q, k, v, scale=1.0), [[3.0]])
    # the default scale is 1/sqrt(e)
    q4, k4 = np.ones((1, 4)), np.ones((2, 4)) * [[0.0], [np.log(3.0) / 2]]
    np.testing.assert_allclose(At.attention_weights(q4, k4), [[0.25, 0.75]], rtol=1e-15)


def test_zero_query_averages_the_values_and_one_key_copies_it():
    _, k, v, _ = random_qkv()
    q = np.zeros((2, 3, 3))
    out = At.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out, np.broadcast_to(v.mean(axis=1, keepdims=True), out.shape))
    one = At.scaled_dot_product_attention(RNG.normal(size=(2, 3, 3)), k[:, :1], v[:, :1])
    np.testing.assert_allclose(one, np.broadcast_to(v[:, :1], one.shape), rtol=1e-15)


@pytest.mark.parametrize("mask", sorted(MASKS))
def test_matches_the_row_by_row_formula(mask):
    q, k, v, _ = random_qkv()
    kwargs = MASKS[mask]
    if "attn_mask" in kwargs:
        m = kwargs["attn_mask"].reshape(3, 4)
        bias = np.where(m, 0.0, -np.inf) if m.dtype == bool else m
    elif kwargs.get("is_causal"):
        bias = np.where(np.arange(4)[None, :] <= np.arange(3)[:, None], 0.0, -np.inf)
    else:
        bias = np.zeros((3, 4))
    scale = kwargs.get("scale", 1 / math.sqrt(3))
    expected = sdpa_reference(q, k, v, bias, scale)
    out = At.scaled_dot_product_attention(q, k, v, **kwargs)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


def test_causal_equals_the_lower_triangular_boolean_mask():
    q, k, v, _ = random_qkv(nq=5, s=3)  # l > s: rows past s see every key
    tri = np.tril(np.ones((5, 3), dtype=bool))
    np.testing.assert_array_equal(
        At.scaled_dot_product_attention(q, k, v, is_causal=True),
        At.scaled_dot_product_attention(q, k, v, attn_mask=tri),
    )
    w = At.attention_weights(q, k, is_causal=True)
    assert np.all(w[:, 0] == [1.0, 0.0, 0.0]) and np.all(np.triu(w[0], 1) == 0)


def test_fully_masked_row_gives_zeros_and_zero_gradients():
    q, k, v, g = random_qkv()
    for kwargs in (MASKS["bool"], MASKS["float"]):
        out = At.scaled_dot_product_attention(q, k, v, **kwargs)
        weights = At.attention_weights(q, k, **kwargs)
        assert np.all(out[:, 1] == 0) and np.all(weights[:, 1] == 0)
        np.testing.assert_allclose(weights[:, [0, 2]].sum(-1), 1.0, rtol=1e-15)
        dq, dk, dv = At.scaled_dot_product_attention_grad(q, k, v, g, **kwargs)
        assert np.all(dq[:, 1] == 0)
        # the fully masked query leaves k and v alone: the gradients equal those without it
        rows = [0, 2]
        _, dk2, dv2 = At.scaled_dot_product_attention_grad(
            q[:, rows], k, v, g[:, rows], attn_mask=kwargs["attn_mask"][rows]
        )
        np.testing.assert_allclose(dk, dk2, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(dv, dv2, rtol=1e-13, atol=1e-15)


def test_a_float_mask_of_a_constant_changes_nothing():
    q, k, v, _ = random_qkv()
    plain = At.scaled_dot_product_attention(q, k, v)
    shifted = At.scaled_dot_product_attention(q, k, v, attn_mask=np.full((3, 4), 123.0))
    np.testing.assert_allclose(shifted, plain, rtol=1e-12)


def test_sinusoidal_encoding_against_the_closed_form():
    pe = At.sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16) and pe.dtype == np.float64
    for pos in range(50):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            # the angle itself is rounded: an error of a few ulps of the angle is all
            # any formula can promise
            tol = 4 * np.finfo(float).eps * max(angle, 1.0)
            assert pe[pos, 2 * i] == pytest.approx(math.sin(angle), rel=0, abs=tol)
            assert pe[pos, 2 * i + 1] == pytest.approx(math.cos(angle), rel=0, abs=tol)
    np.testing.assert_array_equal(pe[0], np.tile([0.0, 1.0], 8))
    other = At.sinusoidal_positional_encoding(3, 4, base=100.0)
    np.testing.assert_allclose(other[2], [math.sin(2), math.cos(2), math.sin(0.2), math.cos(0.2)])
    assert At.sinusoidal_positional_encoding(0, 4).shape == (0, 4)


def test_sinusoidal_dot_product_depends_only_on_the_offset():
    pe = At.sinusoidal_positional_encoding(200, 32)
    theta = 10000.0 ** (-np.arange(0, 32, 2) / 32)
    for offset in (0, 1, 7, 50):
        dots = np.sum(pe[: 200 - offset] * pe[offset:], axis=1)
        np.testing.assert_allclose(dots, np.sum(np.cos(offset * theta)), rtol=1e-12, atol=1e-12)


def rope_complex(x, positions, base=10000.0):
    """RoPE as complex multiplication: x_2i + i x_2i+1 times e^(i p theta_i)."""
    d = x.shape[-1]
    theta = np.array([base ** (-2 * i / d) for i in range(d // 2)])
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * np.asarray(positions)[..., None] * theta)
    return np.stack([z.real, z.imag], axis=-1).reshape(z.shape[:-1] + (d,))


def test_rope_against_complex_multiplication():
    x = RNG.normal(size=(2, 5, 8))
    positions = np.arange(5)
    np.testing.assert_allclose(At.rotary_embedding(x, positions), rope_complex(x, positions),
                               rtol=1e-13, atol=1e-14)  # fmt: skip
    odd_positions = np.array([[3.0, 0.5, 100.0, 7.0, 1e4]] * 2)  # any real positions
    expected = rope_complex(x, odd_positions, base=500.0)
    np.testing.assert_allclose(At.rotary_embedding(x, odd_positions, base=500.0), expected,
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(At.rotary_embedding(x, np.zeros(5)), x)


def test_rope_scores_depend_only_on_the_offset():
    q, k = RNG.normal(size=16), RNG.normal(size=16)

    def score(m, n):
        return At.rotary_embedding(q[None], [m]) @ At.rotary_embedding(k[None], [n])[0]

    for m, n in ((5, 2), (105, 102), (3, 0), (40, 37)):
        np.testing.assert_allclose(score(m, n), score(3, 0), rtol=1e-12)
    assert abs(score(5, 2) - score(5, 3)) > 1e-3


def test_rope_split_halves_layout_is_a_permutation():
    # Libraries that rotate (x_i, x_{i+d/2}) compute the same map on permuted features.
    d = 8
    x = RNG.normal(size=(6, d))
    perm = np.concatenate([np.arange(0, d, 2), np.arange(1, d, 2)])  # interleaved -> halves
    theta = 10000.0 ** (-np.arange(0, d, 2) / d)
    angle = np.arange(6)[:, None] * theta
    halves = x[:, perm]
    first, second = halves[:, : d // 2], halves[:, d // 2 :]
    rotated = np.concatenate(
        [first * np.cos(angle) - second * np.sin(angle),
         first * np.sin(angle) + second * np.cos(angle)], axis=1
    )  # fmt: skip
    np.testing.assert_allclose(rotated, At.rotary_embedding(x, np.arange(6))[:, perm], atol=1e-14)


def test_alibi_slopes_and_bias():
    np.testing.assert_array_equal(At.alibi_slopes(8), 2.0 ** -np.arange(1, 9))
    np.testing.assert_array_equal(At.alibi_slopes(1), [2.0**-8])
    # h = 6: the 4-head slopes, then every other slope of 8 heads (the paper's code)
    np.testing.assert_array_equal(
        At.alibi_slopes(6), [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]
    )
    bias = At.alibi_bias(2, 3, 4)
    assert bias.shape == (2, 3, 4)
    np.testing.assert_array_equal(bias[0], -2.0**-4 * np.array([[0, 1, 2, 3], [1, 0, 1, 2],
                                                                 [2, 1, 0, 1]]))  # fmt: skip
    np.testing.assert_array_equal(bias[1], bias[0] / 16)


def test_multi_head_equals_a_loop_of_single_heads():
    inputs = make_attention_inputs()
    n, nq, d, h = 3, 4, 8, 2
    e = d // h
    query, key, value = (inputs[f"mha_{x}"] for x in ("query", "key", "value"))
    w = {name: inputs[name] for name in ("w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o")}
    out, weights = At.multi_head_attention(query, key, value, h, **w)
    heads = []
    for i in range(h):
        cols = slice(i * e, (i + 1) * e)
        q = query @ w["w_q"][:, cols] + w["b_q"][cols]
        k = key @ w["w_k"][:, cols] + w["b_k"][cols]
        v = value @ w["w_v"][:, cols] + w["b_v"][cols]
        heads.append(At.scaled_dot_product_attention(q, k, v))
        np.testing.assert_allclose(weights[:, i], At.attention_weights(q, k), rtol=1e-14)
    expected = np.concatenate(heads, axis=-1) @ w["w_o"] + w["b_o"]
    assert out.shape == (n, nq, d) and weights.shape == (n, h, nq, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


# --- Gradients against finite differences --------------------------------------------


@pytest.mark.parametrize("mask", sorted(MASKS))
def test_sdpa_gradient_matches_finite_differences(mask):
    q, k, v, g = random_qkv()
    kwargs = MASKS[mask]
    grads = At.scaled_dot_product_attention_grad(q, k, v, g, **kwargs)
    arrays = [q, k, v]
    for i, grad in enumerate(grads):

        def f(t, i=i):
            args = arrays[:i] + [t] + arrays[i + 1 :]
            return np.sum(g * At.scaled_dot_product_attention(*args, **kwargs))

        np.testing.assert_allclose(grad, numerical_gradient(f, arrays[i]), rtol=1e-8, atol=1e-10)


def test_sdpa_gradient_with_dropout_matches_finite_differences():
    q, k, v, g = random_qkv()

    def attention(q, k, v):  # a fresh generator: the same mask at every call
        return At.scaled_dot_product_attention(q, k, v, dropout_p=0.3, rng=np.random.default_rng(3))

    grads = At.scaled_dot_product_attention_grad(q, k, v, g, dropout_p=0.3,
                                                 rng=np.random.default_rng(3))  # fmt: skip
    numeric = [
        numerical_gradient(lambda t: np.sum(g * attention(t, k, v)), q),
        numerical_gradient(lambda t: np.sum(g * attention(q, t, v)), k),
        numerical_gradient(lambda t: np.sum(g * attention(q, k, t)), v),
    ]
    for grad, expected in zip(grads, numeric, strict=True):
        np.testing.assert_allclose(grad, expected, rtol=1e-8, atol=1e-10)


MHA_ARGUMENTS = ("query", "key", "value", "w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"is_causal": True}, {"key_padding_mask": np.array([[0, 0, 1], [0, 1, 1]], bool),
                               "attn_mask": np.array([[1, 0, 1]] * 2, bool)}],
    ids=["plain", "causal", "masks"],
)  # fmt: skip
def test_mha_gradients_match_finite_differences(kwargs):
    rng = np.random.default_rng(11)
    n, nq, s, d, h = 2, 2, 3, 4, 2
    values = {
        "query": rng.normal(size=(n, nq, d)),
        "key": rng.normal(size=(n, s, d)),
        "value": rng.normal(size=(n, s, d)),
        **{w: rng.normal(size=(d, d)) / 2 for w in ("w_q", "w_k", "w_v", "w_o")},
        **{b: rng.normal(size=d) for b in ("b_q", "b_k", "b_v", "b_o")},
    }
    g = rng.normal(size=(n, nq, d))
    grads = At.multi_head_attention_grad(num_heads=h, g=g, **values, **kwargs)
    for name in MHA_ARGUMENTS:

        def f(t, name=name):
            out, _ = At.multi_head_attention(num_heads=h, **(values | {name: t}), **kwargs)
            return np.sum(g * out)

        numeric = numerical_gradient(f, values[name])
        np.testing.assert_allclose(getattr(grads, name), numeric, rtol=1e-8, atol=1e-10,
                                   err_msg=name)  # fmt: skip


def test_mha_without_biases_reports_the_gradient_of_a_zero_bias():
    inputs = make_attention_inputs()
    args = [inputs[x] for x in ("mha_query", "mha_key", "mha_value")]
    weights = [inputs[w] for w in ("w_q", "w_k", "w_v", "w_o")]
    zeros = [np.zeros(8)] * 4
    without = At.multi_head_attention_grad(*args, 2, *weights, inputs["mha_g"])
    with_zeros = At.multi_head_attention_grad(*args, 2, *weights, inputs["mha_g"], *zeros)
    for a, b in zip(without, with_zeros, strict=True):
        np.testing.assert_array_equal(a, b)


def test_rope_gradient_is_the_inverse_rotation():
    x, g = RNG.normal(size=(3, 6)), RNG.normal(size=(3, 6))
    positions = [0.0, 2.0, 9.0]
    grad = At.rotary_embedding_grad(x, g, positions)
    numeric = numerical_gradient(lambda t: np.sum(g * At.rotary_embedding(t, positions)), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(At.rotary_embedding(grad, positions), g, atol=1e-14)


# --- Agreement with PyTorch -----------------------------------------------------------


@pytest.fixture(scope="module")
def torch_reference_file():
    return load_reference("attention")


@pytest.fixture(scope="module")
def torch_live():
    torch_or_skip()
    inputs = make_attention_inputs()
    return inputs | torch_attention_outputs(inputs)


def check_against_torch(ref):
    """Compare dlnotes with one set of PyTorch results (file or live)."""
    q, k, v, g = (ref[f"sdpa_{x}"] for x in "qkvg")
    for name, kwargs in SDPA_CASES.items():
        kwargs = {key: ref[val] if isinstance(val, str) else val for key, val in kwargs.items()}
        out = At.scaled_dot_product_attention(q, k, v, **kwargs)
        np.testing.assert_allclose(out, ref[f"{name}:output"], rtol=1e-13, atol=1e-14,
                                   err_msg=name)  # fmt: skip
        grads = At.scaled_dot_product_attention_grad(q, k, v, g, **kwargs)
        for x, grad in zip("qkv", grads, strict=True):
            np.testing.assert_allclose(grad, ref[f"{name}:grad_{x}"], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name} d{x}")  # fmt: skip

    d = 8
    inputs = [ref[f"mha_{x}"] for x in ("query", "key", "value")]
    for name, kwargs in MHA_CASES.items():
        kwargs = {key: ref[val] if isinstance(val, str) else val for key, val in kwargs.items()}
        params = {w: ref[w] for w in ("w_q", "w_k", "w_v", "w_o")}
        if kwargs.pop("biases", True):
            params |= {b: ref[b] for b in ("b_q", "b_k", "b_v", "b_o")}
        out, weights = At.multi_head_attention(*inputs, 2, **params, **kwargs)
        np.testing.assert_allclose(out, ref[f"{name}:output"], rtol=1e-13, atol=1e-14,
                                   err_msg=name)  # fmt: skip
        np.testing.assert_allclose(weights, ref[f"{name}:weights"], rtol=1e-13, atol=1e-15)
        grads = At.multi_head_attention_grad(*inputs, 2, g=ref["mha_g"], **params, **kwargs)
        # PyTorch's layout: in_proj_weight stacks the (out, in) matrices w_q^T, w_k^T, w_v^T
        expected = {
            "query": ref[f"{name}:grad_query"],
            "key": ref[f"{name}:grad_key"],
            "value": ref[f"{name}:grad_value"],
            "w_q": ref[f"{name}:grad_in_proj_weight"][:d].T,
            "w_k": ref[f"{name}:grad_in_proj_weight"][d : 2 * d].T,
            "w_v": ref[f"{name}:grad_in_proj_weight"][2 * d :].T,
            "w_o": ref[f"{name}:grad_out_proj.weight"].T,
        }
        if "b_q" in params:
            in_bias = np.split(ref[f"{name}:grad_in_proj_bias"], 3)
            expected |= dict(zip(("b_q", "b_k", "b_v"), in_bias, strict=True))
            expected["b_o"] = ref[f"{name}:grad_out_proj.bias"]
        for key, value in expected.items():
            np.testing.assert_allclose(getattr(grads, key), value, rtol=1e-12, atol=1e-13,
                                       err_msg=f"{name} d{key}")  # fmt: skip


def test_matches_pytorch_reference_file(torch_reference_file):
    check_against_torch(torch_reference_file)


def test_matches_pytorch_live(torch_live):
    check_against_torch(torch_live)


def test_fully_padded_sequence_zeros_here_nan_in_pytorchs_module():
    torch_or_skip()
    import torch

    inputs = make_attention_inputs()
    d = 8
    padding = np.zeros((3, 5), dtype=bool)
    padding[1] = True  # sequence 1 is all padding
    weights = [inputs[w] for w in ("w_q", "w_k", "w_v", "w_o")]
    args = [inputs[f"mha_{x}"] for x in ("query", "key", "value")]
    out, attn = At.multi_head_attention(*args, 2, *weights, key_padding_mask=padding)
    assert np.all(out[1] == 0) and np.all(attn[1] == 0) and np.isfinite(out).all()
    module = torch.nn.MultiheadAttention(d, 2, bias=False, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.tensor(np.concatenate([w.T for w in weights[:3]])))
        module.out_proj.weight.copy_(torch.tensor(weights[3].T))
    theirs, _ = module(*map(torch.tensor, args), key_padding_mask=torch.tensor(padding))
    assert torch.isnan(theirs[1]).all()
    np.testing.assert_allclose(theirs[[0, 2]].detach().numpy(), out[[0, 2]], rtol=1e-13)


# --- Dropout ------------------------------------------------------------------------


def test_dropout_statistics():
    q, k, v, _ = random_qkv(n=1, nq=4, s=50, e=3, f=1)
    v = np.ones_like(v)  # the output is then the sum of the kept, rescaled weights
    p = 0.25
    plain = At.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(plain, 1.0, rtol=1e-14)
    rng = np.random.default_rng(2024)
    outs = np.stack([At.scaled_dot_product_attention(q, k, v, dropout_p=p, rng=rng)
                     for _ in range(4000)])  # fmt: skip
    # E[kept weights / (1 - p)] sums to 1; the standard error of 4000 draws is ~0.004
    np.testing.assert_allclose(outs.mean(axis=0), 1.0, atol=0.02)
    # a generator in the same state draws the same mask
    a = At.scaled_dot_product_attention(q, k, v, dropout_p=p, rng=np.random.default_rng(5))
    b = At.scaled_dot_product_attention(q, k, v, dropout_p=p, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_dropout_zeroes_the_expected_fraction():
    q, k, v, _ = random_qkv(n=1, nq=200, s=200, e=2, f=200)
    v = np.eye(200)[None]  # output row l is then the kept weights of row l themselves
    weights = At.attention_weights(q, k)
    out = At.scaled_dot_product_attention(q, k, v, dropout_p=0.4, rng=np.random.default_rng(0))
    dropped = out == 0
    assert abs(dropped.mean() - 0.4) < 0.01  # 40 000 Bernoulli draws: 4 sd = 0.0098
    np.testing.assert_allclose(out[~dropped], weights[~dropped] / 0.6, rtol=1e-12)


# --- Extremes, dtypes, mutation -------------------------------------------------------


@pytest.mark.parametrize("size", [1e3, 1e150])
def test_extreme_inputs_give_finite_results_without_warnings(size):
    q, k, v, g = random_qkv()
    q, k = q * size, k * size  # scores up to 1e6 and 1e300: the softmax is one-hot
    out = At.scaled_dot_product_attention(q, k, v)
    assert np.isfinite(out).all()
    top = np.argmax(np.einsum("nle,nse->nls", q / size, k / size), axis=-1)
    np.testing.assert_allclose(out, np.take_along_axis(v, top[..., None], axis=1), rtol=1e-12)
    for grad in At.scaled_dot_product_attention_grad(q, k, v, g, **MASKS["bool"]):
        assert np.isfinite(grad).all()
    huge_bias = np.where(BOOL_MASK, 0.0, -1e300)  # a finite "mask" of -1e300
    np.testing.assert_allclose(
        At.scaled_dot_product_attention(q / size, k / size, v, attn_mask=huge_bias)[:, [0, 2]],
        At.scaled_dot_product_attention(q / size, k / size, v, attn_mask=BOOL_MASK)[:, [0, 2]],
    )


def test_float32_stays_float32():
    q, k, v, g = (x.astype(np.float32) for x in random_qkv())
    for kwargs in MASKS.values():
        out = At.scaled_dot_product_attention(q, k, v, **kwargs)
        assert out.dtype == np.float32
        ref = At.scaled_dot_product_attention(*(x.astype(np.float64) for x in (q, k, v)), **kwargs)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
        assert all(x.dtype == np.float32 for x in At.scaled_dot_product_attention_grad(
            q, k, v, g, **kwargs))  # fmt: skip
        assert At.attention_weights(q, k, **kwargs).dtype == np.float32
    out32 = At.scaled_dot_product_attention(q, k, v, dropout_p=0.5, rng=np.random.default_rng(1))
    q64, k64, v64 = (x.astype(np.float64) for x in (q, k, v))
    out64 = At.scaled_dot_product_attention(q64, k64, v64, dropout_p=0.5,
                                            rng=np.random.default_rng(1))  # fmt: skip
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-6)  # the same mask
    x = RNG.normal(size=(2, 4)).astype(np.float32)
    assert At.rotary_embedding(x, [1, 2]).dtype == np.float32
    assert At.rotary_embedding_grad(x, x, [1, 2]).dtype == np.float32
    inputs = make_attention_inputs()
    args = [inputs[f"mha_{x}"].astype(np.float32) for x in ("query", "key", "value")]
    weights = [inputs[w].astype(np.float32) for w in ("w_q", "w_k", "w_v", "w_o")]
    out, attn = At.multi_head_attention(*args, 2, *weights)
    assert out.dtype == attn.dtype == np.float32
    grads = At.multi_head_attention_grad(*args, 2, *weights, args[0])
    assert all(x.dtype == np.float32 for x in grads)


def test_integers_and_lists_become_float64():
    out = At.scaled_dot_product_attention([[1, 0]], [[1, 0], [0, 1]], [[1], [2]])
    assert out.dtype == np.float64
    assert At.rotary_embedding([[1, 2]], [0]).dtype == np.float64


def test_inputs_are_not_mutated():
    q, k, v, g = random_qkv()
    mask = BOOL_MASK.copy()
    before = [x.copy() for x in (q, k, v, g)]
    At.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    At.scaled_dot_product_attention_grad(q, k, v, g, attn_mask=mask, dropout_p=0.5,
                                         rng=np.random.default_rng(0))  # fmt: skip
    At.attention_weights(q, k, attn_mask=mask)
    x = RNG.normal(size=(3, 4))
    x0 = x.copy()
    At.rotary_embedding(x, np.arange(3))
    At.rotary_embedding_grad(x, x, np.arange(3))
    np.testing.assert_array_equal(x, x0)
    for x, b in zip((q, k, v, g), before, strict=True):
        np.testing.assert_array_equal(x, b)
    np.testing.assert_array_equal(mask, BOOL_MASK)
    inputs = make_attention_inputs()
    names = ("mha_query", "mha_key", "mha_value", "w_q", "w_k", "w_v", "w_o", "mha_g",
             "b_q", "b_k", "b_v", "b_o", "padding")  # fmt: skip
    arrays = [inputs[x] for x in names]
    copies = [x.copy() for x in arrays]
    At.multi_head_attention(*arrays[:3], 2, *arrays[3:7], *arrays[8:12],
                            key_padding_mask=arrays[12])  # fmt: skip
    At.multi_head_attention_grad(*arrays[:3], 2, *arrays[3:12], key_padding_mask=arrays[12])
    for x, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(x, c)


# --- Bad arguments --------------------------------------------------------------------

Q, K, V = np.ones((2, 3, 4)), np.ones((2, 5, 4)), np.ones((2, 5, 6))
X, W = np.ones((2, 3, 8)), np.ones((8, 8))


def sdpa(**kwargs):
    return At.scaled_dot_product_attention(**({"q": Q, "k": K, "v": V} | kwargs))


def mha(**kwargs):
    args = {"query": X, "key": X, "value": X, "num_heads": 2, "w_q": W, "w_k": W, "w_v": W,
            "w_o": W}  # fmt: skip
    return At.multi_head_attention(**(args | kwargs))


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: sdpa(k=np.ones((2, 5, 3))), ValueError, "k must have the feature size"),
        (lambda: sdpa(v=np.ones((2, 4, 6))), ValueError, "v must have as many positions"),
        (lambda: sdpa(k=np.ones((3, 5, 4))), ValueError, "k must have the leading axes"),
        (lambda: sdpa(v=np.ones((1, 5, 6))), ValueError, "v must have the leading axes"),
        (lambda: sdpa(q=np.ones(4)), ValueError, "q must have at least 2 dimensions"),
        (lambda: sdpa(k=np.ones((2, 0, 4)), v=np.ones((2, 0, 6))), ValueError, "k at least one"),
        (lambda: sdpa(q=np.array([["a"]])), TypeError, "q must be a real"),
        (lambda: sdpa(attn_mask=np.ones((3, 4), bool)), ValueError, "attn_mask of shape"),
        (lambda: sdpa(attn_mask=np.ones((3, 2, 3, 5), bool)), ValueError, "attn_mask of shape"),
        (lambda: sdpa(attn_mask=np.ones((3, 5), int)), TypeError, "attn_mask must be a boolean"),
        (lambda: sdpa(attn_mask=np.full((3, 5), np.nan)), ValueError, "attn_mask must not"),
        (lambda: sdpa(attn_mask=np.full((3, 5), np.inf)), ValueError, "attn_mask must not"),
        (lambda: sdpa(attn_mask=np.ones((3, 5), bool), is_causal=True), ValueError,
         "attn_mask must be None when is_causal"),
        (lambda: sdpa(is_causal=1), TypeError, "is_causal"),
        (lambda: sdpa(dropout_p=1.0, rng=RNG), ValueError, "dropout_p"),
        (lambda: sdpa(dropout_p=-0.1, rng=RNG), ValueError, "dropout_p"),
        (lambda: sdpa(dropout_p="0.1", rng=RNG), TypeError, "dropout_p"),
        (lambda: sdpa(dropout_p=0.1), TypeError, "rng"),
        (lambda: sdpa(dropout_p=0.1, rng=np.random.RandomState(0)), TypeError, "rng"),
        (lambda: sdpa(scale=float("nan")), ValueError, "scale"),
        (lambda: At.scaled_dot_product_attention_grad(Q, K, V, np.ones((2, 3, 4))), ValueError,
         "g must have the output's shape"),
        (lambda: At.attention_weights(Q, np.ones((2, 5, 3))), ValueError, "k must have"),
        (lambda: mha(num_heads=3), ValueError, "num_heads must divide"),
        (lambda: mha(num_heads=0), ValueError, "num_heads"),
        (lambda: mha(num_heads=2.0), TypeError, "num_heads"),
        (lambda: mha(query=np.ones((3, 8))), ValueError, "query must have 3 dimensions"),
        (lambda: mha(key=np.ones((2, 3, 4))), ValueError, "key and value"),
        (lambda: mha(value=np.ones((2, 4, 8))), ValueError, "key and value"),
        (lambda: mha(w_k=np.ones((8, 4))), ValueError, "w_k must have shape"),
        (lambda: mha(b_v=np.ones(4)), ValueError, "b_v must have shape"),
        (lambda: mha(key_padding_mask=np.ones((2, 4), bool)), ValueError, "key_padding_mask"),
        (lambda: mha(key_padding_mask=np.ones((2, 3))), ValueError, "key_padding_mask"),
        (lambda: mha(attn_mask=np.ones((3, 4), bool)), ValueError, "attn_mask of shape"),
        (lambda: mha(attn_mask=np.ones((3, 3), bool), is_causal=True), ValueError, "attn_mask"),
        (lambda: At.multi_head_attention_grad(X, X, X, 2, W, W, W, W, np.ones((2, 3))),
         ValueError, "g must have"),
        (lambda: At.sinusoidal_positional_encoding(4, 7), ValueError, "d_model must be even"),
        (lambda: At.sinusoidal_positional_encoding(4, 0), ValueError, "d_model"),
        (lambda: At.sinusoidal_positional_encoding(-1, 4), ValueError, "num_positions"),
        (lambda: At.sinusoidal_positional_encoding(4.0, 4), TypeError, "num_positions"),
        (lambda: At.sinusoidal_positional_encoding(4, 4, base=0.0), ValueError, "base"),
        (lambda: At.rotary_embedding(np.ones((3, 5)), np.arange(3)), ValueError, "x must have"),
        (lambda: At.rotary_embedding(np.ones((3, 4)), np.arange(4)), ValueError, "positions"),
        (lambda: At.rotary_embedding(np.ones((3, 4)), ["a"] * 3), TypeError, "positions"),
        (lambda: At.rotary_embedding_grad(np.ones((3, 4)), np.ones((3, 2)), np.arange(3)),
         ValueError, "g must have"),
        (lambda: At.alibi_slopes(0), ValueError, "num_heads"),
        (lambda: At.alibi_bias(4, -1, 3), ValueError, "L"),
        (lambda: At.alibi_bias(4, 3, True), TypeError, "S"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()


# --- Properties (hypothesis) ----------------------------------------------------------

moderate = st.floats(-5.0, 5.0, allow_nan=False)


@settings(deadline=None)
@given(arrays(np.float64, (2, 3), elements=moderate), arrays(np.float64, (4, 3), elements=moderate),
       arrays(np.bool_, (2, 4)), st.permutations(range(4)))  # fmt: skip
def test_weights_are_distributions_and_keys_are_a_set(q, k, mask, order):
    w = At.attention_weights(q, k, attn_mask=mask)
    assert np.all(w >= 0) and np.all(w[~mask] == 0)
    np.testing.assert_allclose(w.sum(axis=-1), mask.any(axis=-1).astype(float), rtol=1e-14)
    # permuting the keys (with their values and mask columns) permutes the weights only
    v = np.arange(8.0).reshape(4, 2)
    order = list(order)
    out = At.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    permuted = At.scaled_dot_product_attention(q, k[order], v[order], attn_mask=mask[:, order])
    np.testing.assert_allclose(permuted, out, rtol=1e-12, atol=1e-12)


@given(arrays(np.float64, (3, 6), elements=moderate),
       arrays(np.float64, 3, elements=st.floats(-1e4, 1e4)))  # fmt: skip
def test_rope_preserves_norms(x, positions):
    y = At.rotary_embedding(x, positions)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
