"""Tests of dlnotes.normalization: closed forms, mpmath, finite differences, PyTorch,
extremes and dtypes, bad arguments, properties.

numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch_reference import (
    BATCHNORM_LAYERS,
    NORMALIZATION_REFERENCE_FILE,
    NORMS,
    WEIGHT_NORMS,
    load_reference,
    make_normalization_inputs,
    torch_normalization_outputs,
    torch_or_skip,
)

from dlnotes import normalization as Norm
from dlnotes.gradcheck import numerical_gradient

INPUTS = make_normalization_inputs()
EPS = 1e-5


def call(name, grad=False, x=None, **params):
    """Run norm case ``name`` (or its gradient); ``x`` and parameters may be replaced."""
    fname, x_key, kwargs, param_keys = NORMS[name]
    x = INPUTS[x_key] if x is None else x
    given = {arg: INPUTS[key] for arg, key in param_keys.items()} | params
    if grad:
        return getattr(Norm, fname + "_grad")(x, INPUTS["g_" + x_key], **kwargs, **given)
    return getattr(Norm, fname)(x, **kwargs, **given)


def call_weight_norm(name, grad=False, v=None, g=None):
    v_key, g_key, dim = WEIGHT_NORMS[name]
    v = INPUTS[v_key] if v is None else v
    g = INPUTS[g_key] if g is None else g
    if grad:
        return Norm.weight_norm_grad(v, g, INPUTS["gw_" + v_key], dim=dim)
    return Norm.weight_norm(v, g, dim=dim)


def run_layer(momentum, affine, steps):
    """A BatchNorm trained on ``steps``; returns it and its training outputs."""
    layer = Norm.BatchNorm(3, momentum=momentum, affine=affine)
    if affine:
        layer.weight, layer.bias = INPUTS["w3"].copy(), INPUTS["b3"].copy()
    return layer, [layer(batch) for batch in steps]


# --- Closed-form values -------------------------------------------------------------


def test_closed_form_values():
    # one channel holding 1 and 3: mean 2, biased variance 1
    x = np.array([[1.0], [3.0]])
    np.testing.assert_allclose(Norm.batch_norm(x), [[-1.0], [1.0]] / np.sqrt(1 + EPS), rtol=1e-15)
    np.testing.assert_allclose(
        Norm.batch_norm(x, weight=[2.0], bias=[0.5]), [[-1.5], [2.5]], rtol=1e-5
    )
    # 1, 2, 3: mean 2, biased variance 2/3
    np.testing.assert_allclose(
        Norm.layer_norm([1.0, 2.0, 3.0], 3), np.array([-1.0, 0.0, 1.0]) / np.sqrt(2 / 3 + EPS)
    )
    # RMS of (3, 4) is sqrt(12.5); no centring
    eps64 = np.finfo(np.float64).eps
    np.testing.assert_allclose(
        Norm.rms_norm([3.0, 4.0], 2), np.array([3.0, 4.0]) / np.sqrt(12.5 + eps64), rtol=1e-15
    )
    np.testing.assert_allclose(Norm.weight_norm([[3.0], [4.0]], [[10.0]], dim=1), [[6.0], [8.0]])
    # two samples per channel: whatever the data, BN gives -+1 (times 1/sqrt(1 + eps/var))
    pair = np.array([[0.3, -7.0, 100.0], [2.3, 5.0, 100.5]])
    var = np.var(pair, axis=0)
    np.testing.assert_allclose(Norm.batch_norm(pair), [[-1], [1]] / np.sqrt(1 + EPS / var))


def test_group_norm_spans_layer_norm_and_instance_norm():
    x, w, b = INPUTS["x3d"], INPUTS["w6"], INPUTS["b6"]
    # one group: every channel of a sample together, i.e. layer norm over (C, L) ...
    per_sample = Norm.layer_norm(x, x.shape[1:])
    np.testing.assert_allclose(Norm.group_norm(x, 1), per_sample, rtol=1e-13, atol=1e-14)
    # ... with the affine map per channel
    np.testing.assert_allclose(Norm.group_norm(x, 1, w, b), per_sample * w[:, None] + b[:, None],
                               rtol=1e-13, atol=1e-14)  # fmt: skip
    # one group per channel: instance norm
    np.testing.assert_allclose(Norm.group_norm(x, 6, w, b), Norm.instance_norm(x, w, b),
                               rtol=1e-14, atol=1e-15)  # fmt: skip
    grads = Norm.group_norm_grad(x, INPUTS["g_x3d"], 6, w, b)
    for ours, theirs in zip(grads, Norm.instance_norm_grad(x, INPUTS["g_x3d"], w, b), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-14)


def test_rms_norm_equals_layer_norm_for_zero_mean_rows():
    x = INPUTS["x3d"] - INPUTS["x3d"].mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(Norm.rms_norm(x, 5, eps=EPS), Norm.layer_norm(x, 5),
                               rtol=1e-13, atol=1e-14)  # fmt: skip
    assert not np.allclose(Norm.rms_norm(INPUTS["x3d"], 5, eps=EPS), Norm.layer_norm(x, 5))


def test_weight_norm_separates_length_and_direction():
    v, g = INPUTS["v2d"], INPUTS["g_cols"]
    w = Norm.weight_norm(v, g, dim=1)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), g[0], rtol=1e-15)
    np.testing.assert_allclose(Norm.weight_norm(7.5 * v, g, dim=1), w, rtol=1e-15)
    # the gradient of v is orthogonal to v, column by column
    dv, _ = Norm.weight_norm_grad(v, g, INPUTS["gw_v2d"], dim=1)
    np.testing.assert_allclose(np.sum(dv * v, axis=0), 0.0, atol=1e-15)
    # a 1-d g (one per kept index) works too and gets a 1-d gradient
    np.testing.assert_allclose(Norm.weight_norm(v, g[0], dim=1), w, rtol=1e-15)
    assert Norm.weight_norm_grad(v, g[0], INPUTS["gw_v2d"], dim=1).g.shape == (4,)


# --- Precision against mpmath -------------------------------------------------------


def mp_standardize(row, eps):
    """(x - mean) / sqrt(var + eps) of the float64 values in ``row``, at 50 digits."""
    with mp.workdps(50):
        values = [mp.mpf(float(t)) for t in row]
        mean = mp.fsum(values) / len(values)
        var = mp.fsum((t - mean) ** 2 for t in values) / len(values)
        return np.array([float((t - mean) / mp.sqrt(var + mp.mpf(eps))) for t in values])


@pytest.mark.parametrize("offset", [0.0, 1e8, -3e15, 1e250])
@pytest.mark.parametrize("scale", [1.0, 1e-6, 1e200])
def test_layer_norm_precision_against_mpmath(offset, scale):
    rng = np.random.default_rng(11)
    x = offset + scale * rng.normal(size=(3, 64))
    ours = Norm.layer_norm(x, 64)
    for row, out in zip(x, ours, strict=True):
        # accurate to a few ulps of the output for the float64 data as stored
        np.testing.assert_allclose(out, mp_standardize(row, EPS), rtol=0, atol=1e-14)


def test_instance_norm_of_an_offset_channel_against_mpmath():
    # x4d's channel 2 is 1e3 + 0.01 noise over 10 values per (n, c): see TORCH_ATOL
    x = INPUTS["x4d"]
    ours = Norm.instance_norm(x)
    for n in range(x.shape[0]):
        exact = mp_standardize(x[n, 2].ravel(), EPS)
        np.testing.assert_allclose(ours[n, 2].ravel(), exact, rtol=0, atol=1e-15)


# --- Gradients against finite differences -------------------------------------------


@pytest.mark.parametrize("name", sorted(NORMS))
def test_gradients_match_finite_differences(name):
    fname, x_key, kwargs, param_keys = NORMS[name]
    g = INPUTS["g_" + x_key]
    x = INPUTS[x_key]
    if x_key == "x4d":
        # The stencil's step is 7e-4 |x|: 0.7 at channel 2's offset of 1e3, 70 times that
        # channel's spread. Differences need data of unit scale (numpy's own moments).
        x = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / x.std(axis=(0, 2, 3), keepdims=True)
    grads = call(name, grad=True, x=x)
    numeric = numerical_gradient(lambda t: np.sum(g * call(name, x=t)), x)
    if x_key == "x2d" and "eps" not in kwargs:
        # x2d's channel 1 is constant: there the output varies on the scale sqrt(eps) =
        # 3e-3, too close to the step (2e-3) for differences. The eps=0.1 case checks it.
        grads, numeric = grads._replace(x=grads.x[:, ::2]), numeric[:, ::2]
    np.testing.assert_allclose(grads.x, numeric, rtol=1e-7, atol=1e-9)
    for arg in ("weight", "bias"):
        if arg not in param_keys:
            assert getattr(grads, arg) is None
            continue
        p = INPUTS[param_keys[arg]]
        numeric = numerical_gradient(lambda t, a=arg: np.sum(g * call(name, x=x, **{a: t})), p)
        np.testing.assert_allclose(getattr(grads, arg), numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", sorted(WEIGHT_NORMS))
def test_weight_norm_gradients_match_finite_differences(name):
    v_key, g_key, _ = WEIGHT_NORMS[name]
    upstream = INPUTS["gw_" + v_key]
    dv, dg = call_weight_norm(name, grad=True)
    numeric_v = numerical_gradient(lambda t: np.sum(upstream * call_weight_norm(name, v=t)),
                                   INPUTS[v_key])  # fmt: skip
    numeric_g = numerical_gradient(lambda t: np.sum(upstream * call_weight_norm(name, g=t)),
                                   INPUTS[g_key])  # fmt: skip
    np.testing.assert_allclose(dv, numeric_v, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dg, numeric_g, rtol=1e-8, atol=1e-10)


def test_batchnorm_layer_gradients_match_finite_differences():
    layer, _ = run_layer(0.1, True, INPUTS["bn_steps"])
    x, g = INPUTS["bn_eval"], INPUTS["g_bn_eval"]
    for training in (True, False):
        grads = layer.grad(x, g, training=training)
        numeric = numerical_gradient(lambda t, m=training: np.sum(g * layer(t, training=m)), x)
        np.testing.assert_allclose(grads.x, numeric, rtol=1e-7, atol=1e-9)
    # the calls above in training mode updated the running statistics; grad() did not
    assert layer.num_batches_tracked == len(INPUTS["bn_steps"]) + 4 * x.size


def test_naive_backward_is_wrong():
    # Treating mean and variance as constants gives gamma * g / sigma: not the gradient.
    x, g = INPUTS["x4d"], INPUTS["g_x4d"]
    grads = Norm.batch_norm_grad(x, g)
    naive = g / np.sqrt(np.var(x, axis=(0, 2, 3), keepdims=True) + EPS)
    assert np.max(np.abs(naive - grads.x)) > 0.1
    # the true gradient is orthogonal to the shift direction, per channel
    np.testing.assert_allclose(grads.x.sum(axis=(0, 2, 3)), 0.0, atol=1e-10)


# --- Agreement with PyTorch ---------------------------------------------------------


# PyTorch's instance_norm loses digits on x4d's channel 2 (offset 1e3, spread 0.01): 1.7e-11
# off the 50-digit value, where ours is within 1 ulp (checked in the mpmath test's way).
TORCH_ATOL = {"instance_norm": 1e-10}


def check_against_torch(ref):
    for name, (_, _, _, param_keys) in NORMS.items():
        grads = call(name, grad=True)
        atol = TORCH_ATOL.get(name, 1e-12)
        np.testing.assert_allclose(call(name), ref[f"{name}:value"], rtol=1e-12, atol=atol,
                                   err_msg=name)  # fmt: skip
        np.testing.assert_allclose(grads.x, ref[f"{name}:grad_x"], rtol=1e-10, atol=10 * atol,
                                   err_msg=name + " grad_x")  # fmt: skip
        for arg in param_keys:
            np.testing.assert_allclose(getattr(grads, arg), ref[f"{name}:grad_{arg}"],
                                       rtol=1e-12, atol=atol, err_msg=arg)  # fmt: skip
    for name in WEIGHT_NORMS:
        dv, dg = call_weight_norm(name, grad=True)
        np.testing.assert_allclose(call_weight_norm(name), ref[f"{name}:value"], rtol=1e-14)
        np.testing.assert_allclose(dv, ref[f"{name}:grad_v"], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dg, ref[f"{name}:grad_g"], rtol=1e-12, atol=1e-14)
    for name, (momentum, affine) in BATCHNORM_LAYERS.items():
        layer, outputs = run_layer(momentum, affine, INPUTS["bn_steps"])
        key = f"bn_layer:{name}"
        for step, y in enumerate(outputs):
            np.testing.assert_allclose(y, ref[f"{key}:{step}:value"], rtol=1e-12, atol=1e-12)
        # the running statistics after the last step (each step is checked below)
        np.testing.assert_allclose(layer.running_mean, ref[f"{key}:{step}:running_mean"],
                                   rtol=1e-14, atol=1e-15)  # fmt: skip
        np.testing.assert_allclose(layer.running_var, ref[f"{key}:{step}:running_var"],
                                   rtol=1e-14)  # fmt: skip
        x, g = INPUTS["bn_eval"], INPUTS["g_bn_eval"]
        np.testing.assert_allclose(layer(x, training=False), ref[f"{key}:eval:value"], rtol=1e-13)
        grads = layer.grad(x, g, training=False)
        np.testing.assert_allclose(grads.x, ref[f"{key}:eval:grad_x"], rtol=1e-13)
        if affine:
            np.testing.assert_allclose(grads.weight, ref[f"{key}:eval:grad_weight"], rtol=1e-12)
            np.testing.assert_allclose(grads.bias, ref[f"{key}:eval:grad_bias"], rtol=1e-13)


def test_running_statistics_match_pytorch_at_every_step():
    ref = dict(np.load(NORMALIZATION_REFERENCE_FILE))
    for name, (momentum, affine) in BATCHNORM_LAYERS.items():
        layer = Norm.BatchNorm(3, momentum=momentum, affine=affine)
        for step, batch in enumerate(INPUTS["bn_steps"]):
            layer(batch)
            key = f"bn_layer:{name}:{step}"
            np.testing.assert_allclose(layer.running_mean, ref[key + ":running_mean"], rtol=1e-14)
            np.testing.assert_allclose(layer.running_var, ref[key + ":running_var"], rtol=1e-14)


@pytest.fixture(scope="module")
def torch_reference_file():
    return load_reference("normalization")


def test_matches_pytorch_reference_file(torch_reference_file):
    check_against_torch(torch_reference_file)


def test_matches_pytorch_live():
    torch_or_skip()
    check_against_torch(INPUTS | torch_normalization_outputs(INPUTS))


# --- BatchNorm's state --------------------------------------------------------------


def test_running_statistics_conventions():
    steps = INPUTS["bn_steps"]
    means = steps.mean(axis=(1, 3, 4))
    unbiased = steps.var(axis=(1, 3, 4), ddof=1)  # numpy's own estimator, not ours
    cumulative, _ = run_layer(None, True, steps)
    np.testing.assert_allclose(cumulative.running_mean, means.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(cumulative.running_var, unbiased.mean(axis=0), rtol=1e-14)
    last, _ = run_layer(1.0, True, steps)
    np.testing.assert_allclose(last.running_var, unbiased[-1], rtol=1e-14)
    frozen, _ = run_layer(0.0, True, steps)
    np.testing.assert_array_equal(frozen.running_mean, 0.0)
    np.testing.assert_array_equal(frozen.running_var, 1.0)
    # momentum 0.1 after one step
    one, _ = run_layer(0.1, True, steps[:1])
    np.testing.assert_allclose(one.running_var, 0.9 + 0.1 * unbiased[0], rtol=1e-15)


def test_eval_mode_uses_running_statistics_and_changes_nothing():
    layer, _ = run_layer(0.1, True, INPUTS["bn_steps"])
    state = (layer.running_mean.copy(), layer.running_var.copy(), layer.num_batches_tracked)
    single = INPUTS["bn_eval"][:1]  # a batch of one is fine in eval mode
    y = layer(single, training=False)
    shape = (1, 3, 1, 1)
    expected = (single - layer.running_mean.reshape(shape)) / np.sqrt(
        layer.running_var.reshape(shape) + EPS
    ) * layer.weight.reshape(shape) + layer.bias.reshape(shape)
    np.testing.assert_allclose(y, expected, rtol=1e-14)
    layer.grad(INPUTS["bn_steps"][0], np.ones_like(INPUTS["bn_steps"][0]))
    np.testing.assert_array_equal(layer.running_mean, state[0])
    np.testing.assert_array_equal(layer.running_var, state[1])
    assert layer.num_batches_tracked == state[2]


def test_train_and_eval_agree_once_the_running_statistics_converge():
    # One fixed batch, seen many times: the running mean converges to its mean, the
    # running variance to its unbiased variance; eval then differs only by n/(n-1).
    x = INPUTS["bn_steps"][0]
    layer = Norm.BatchNorm(3, affine=False)
    for _ in range(400):
        train = layer(x)
    n = x.size // 3
    var = np.var(x, axis=(0, 2, 3))  # numpy's biased variance
    # (400 rounded updates: channel 2, offset 4 and spread 0.01, keeps 10 digits)
    np.testing.assert_allclose(layer.running_mean, x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var * n / (n - 1), rtol=1e-10)
    ratio = np.sqrt((var + EPS) / (var * n / (n - 1) + EPS)).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(layer(x, training=False), train * ratio, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_row_blocks_give_the_unblocked_result(monkeypatch, name):
    # ROW_BLOCK only changes the order of the work: blocks of 3 samples (7 of them, the
    # last one partial) against one block holding all 20 samples.
    rng = np.random.default_rng(7)
    x, g, w, b = rng.normal(size=(4, 5, 6)), rng.normal(size=(4, 5, 6)), *rng.normal(size=(2, 6))
    kwargs = {"weight": w} | ({"bias": b} if name == "layer_norm" else {})
    f, f_grad = getattr(Norm, name), getattr(Norm, name + "_grad")
    results = {}
    for block in (10**6, 3):
        monkeypatch.setattr(Norm, "ROW_BLOCK", block)
        results[block] = f(x, 6, **kwargs), f_grad(x, g, 6, **kwargs)
    (whole, whole_grads), (blocked, blocked_grads) = results.values()
    np.testing.assert_array_equal(blocked, whole)
    np.testing.assert_array_equal(blocked_grads.x, whole_grads.x)
    for key in ("weight", "bias"):  # sums over the blocks: the same up to rounding
        if kwargs.get(key) is not None:
            np.testing.assert_allclose(getattr(blocked_grads, key), getattr(whole_grads, key),
                                       rtol=1e-13)  # fmt: skip


# --- Extremes, dtypes, mutation -----------------------------------------------------


def test_constant_channel_gives_exactly_zero():
    x = INPUTS["x2d"]  # channel 1 is constant
    y = Norm.batch_norm(x, INPUTS["w3"])
    np.testing.assert_array_equal(y[:, 1], 0.0)
    grads = Norm.batch_norm_grad(x, INPUTS["g_x2d"], INPUTS["w3"])
    assert np.isfinite(grads.x).all() and grads.weight[1] == 0.0
    const = np.full((2, 3, 4), 0.1)  # 0.1 is not a binary fraction: its mean rounds
    for y in (Norm.layer_norm(const, 4), Norm.instance_norm(const), Norm.group_norm(const, 3)):
        np.testing.assert_array_equal(y, 0.0)
    np.testing.assert_array_equal(Norm.rms_norm(np.zeros((2, 3)), 3), 0.0)


def test_offset_of_1e8_costs_no_digits():
    rng = np.random.default_rng(12)
    noise = np.round(rng.normal(size=(16, 4, 3)) * 2**20) / 2**20  # + 1e8 is exact
    shifted = noise + 1e8
    np.testing.assert_array_equal(shifted - 1e8, noise)
    np.testing.assert_allclose(Norm.batch_norm(shifted), Norm.batch_norm(noise), rtol=0, atol=1e-7)
    np.testing.assert_allclose(Norm.layer_norm(shifted, (4, 3)), Norm.layer_norm(noise, (4, 3)),
                               rtol=0, atol=1e-7)  # fmt: skip
    g = rng.normal(size=noise.shape)
    np.testing.assert_allclose(Norm.batch_norm_grad(shifted, g).x, Norm.batch_norm_grad(noise, g).x,
                               rtol=0, atol=1e-7)  # fmt: skip
    # the one-pass formula E[x^2] - E[x]^2 is off by O(1) there
    naive_var = np.mean(shifted**2, axis=(0, 2)) - np.mean(shifted, axis=(0, 2)) ** 2
    assert np.max(np.abs(naive_var - np.var(noise, axis=(0, 2)))) > 0.5


@pytest.mark.parametrize("magnitude", [1e3, 1e154, 1e300, 1e307])
def test_huge_data_normalises_without_overflow(magnitude):
    # Normalising m x with eps equals normalising x with eps / m^2 (at least 1e-300 here,
    # which is as good as 0 next to variances of order 1).
    x, g = INPUTS["x3d"], INPUTS["g_x3d"]
    small_eps = max(EPS / magnitude / magnitude, 1e-300)
    norms = (
        lambda t, e: Norm.layer_norm(t, 5, eps=e),
        lambda t, e: Norm.batch_norm(t, eps=e),
        lambda t, e: Norm.group_norm(t, 2, eps=e),
        lambda t, e: Norm.rms_norm(t, 5, eps=e),
    )
    for f in norms:
        np.testing.assert_allclose(f(x * magnitude, EPS), f(x, small_eps), rtol=1e-13, atol=1e-14)
    dx = Norm.layer_norm_grad(x * magnitude, g, 5).x
    expected = Norm.layer_norm_grad(x, g, 5, eps=small_eps).x / magnitude
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-14 / magnitude)
    w = Norm.weight_norm(INPUTS["v2d"] * magnitude, INPUTS["g_cols"], dim=1)
    np.testing.assert_allclose(w, Norm.weight_norm(INPUTS["v2d"], INPUTS["g_cols"], dim=1))


def test_tiny_weights_keep_their_direction():
    v = INPUTS["v2d"] * 1e-300  # the squares underflow to 0 unless rescaled
    expected = Norm.weight_norm(INPUTS["v2d"], INPUTS["g_rows"])
    np.testing.assert_allclose(Norm.weight_norm(v, INPUTS["g_rows"]), expected, rtol=1e-14)


def test_float32_stays_float32():
    for name in NORMS:
        fname, x_key, kwargs, param_keys = NORMS[name]
        x32 = INPUTS[x_key].astype(np.float32)
        y = call(name, x=x32)
        assert y.dtype == np.float32, name
        # against float64 on the same (rounded) data: x4d's channel 2 is 1e3 + 0.01 noise
        y64 = call(name, x=x32.astype(np.float64))
        np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-4, err_msg=name)
        grads = call(name, grad=True, x=x32)
        assert all(p is None or p.dtype == np.float32 for p in grads), name
    v32 = INPUTS["v2d"].astype(np.float32)
    assert Norm.weight_norm(v32, INPUTS["g_rows"]).dtype == np.float32
    assert all(p.dtype == np.float32 for p in Norm.weight_norm_grad(v32, 1.0, v32, dim=None))
    layer = Norm.BatchNorm(3)
    assert layer(INPUTS["bn_eval"].astype(np.float32)).dtype == np.float32
    assert layer(INPUTS["bn_eval"].astype(np.float32), training=False).dtype == np.float32
    # float32 data beyond 1.8e19 would overflow its squares
    big = INPUTS["x3d"].astype(np.float32) * np.float32(1e30)
    np.testing.assert_allclose(Norm.layer_norm(big, 5), Norm.layer_norm(INPUTS["x3d"], 5),
                               rtol=1e-4, atol=1e-4)  # fmt: skip


def test_integers_become_float64():
    assert Norm.layer_norm([[1, 2, 3]], 3).dtype == np.float64
    assert Norm.batch_norm(np.arange(6).reshape(3, 2)).dtype == np.float64
    assert Norm.rms_norm(np.arange(4), 4).dtype == np.float64
    assert Norm.weight_norm(np.arange(1, 5), 2, dim=None).dtype == np.float64


def test_inputs_are_not_mutated():
    before = {k: v.copy() for k, v in INPUTS.items()}
    for name in NORMS:
        call(name)
        call(name, grad=True)
    for name in WEIGHT_NORMS:
        call_weight_norm(name)
        call_weight_norm(name, grad=True)
    layer, _ = run_layer(0.1, True, INPUTS["bn_steps"])
    layer(INPUTS["bn_eval"], training=False)
    layer.grad(INPUTS["bn_eval"], INPUTS["g_bn_eval"], training=False)
    for key, value in before.items():
        np.testing.assert_array_equal(INPUTS[key], value, err_msg=key)


# --- Bad arguments ------------------------------------------------------------------

X = np.ones((2, 4, 3))


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: Norm.batch_norm(X, weight=np.ones(3)), ValueError, "weight must have shape"),
        (lambda: Norm.batch_norm(X, bias=np.ones((4, 1))), ValueError, "bias must have shape"),
        (lambda: Norm.batch_norm(np.ones((1, 4))), ValueError, "more than 1 value per channel"),
        (lambda: Norm.batch_norm(np.ones((1, 4, 1))), ValueError, "more than 1 value"),
        (lambda: Norm.batch_norm(np.ones(4)), ValueError, r"x must have shape \(N, C"),
        (lambda: Norm.batch_norm(X, eps=-1e-5), ValueError, "eps"),
        (lambda: Norm.batch_norm(X, eps=0.0), ValueError, "eps"),
        (lambda: Norm.batch_norm_grad(X, np.ones((2, 4))), ValueError, "g must have the shape"),
        (lambda: Norm.instance_norm(np.ones((2, 4))), ValueError, "spatial"),
        (lambda: Norm.instance_norm(np.ones((2, 4, 1))), ValueError, "spatial"),
        (lambda: Norm.group_norm(X, 3), ValueError, "num_groups must divide"),
        (lambda: Norm.group_norm(X, 0), ValueError, "num_groups"),
        (lambda: Norm.group_norm(X, 2.0), TypeError, "num_groups"),
        (lambda: Norm.group_norm(X, 2, weight=np.ones(2)), ValueError, "weight"),
        (lambda: Norm.layer_norm(X, (4,)), ValueError, "normalized_shape"),
        (lambda: Norm.layer_norm(X, (2, 4, 3, 1)), ValueError, "normalized_shape"),
        (lambda: Norm.layer_norm(X, ()), ValueError, "normalized_shape"),
        (lambda: Norm.layer_norm(X, 3, weight=np.ones(4)), ValueError, "weight"),
        (lambda: Norm.layer_norm(X, 3, eps=-1.0), ValueError, "eps"),
        (lambda: Norm.rms_norm(X, (3, 3)), ValueError, "normalized_shape"),
        (lambda: Norm.rms_norm(X, 3, eps=-1e-6), ValueError, "eps"),
        (lambda: Norm.layer_norm(np.array(["a"]), 1), TypeError, "x must be a real"),
        (lambda: Norm.weight_norm(X, np.ones(4), dim=-1), ValueError, "dim must be in"),
        (lambda: Norm.weight_norm(X, np.ones(3), dim=1), ValueError, "g must have 4"),
        (lambda: Norm.weight_norm(X, 1.0, dim=1.5), TypeError, "dim"),
        (lambda: Norm.weight_norm(np.zeros((2, 3)), np.ones(3), dim=1), ValueError, "zero slice"),
        (lambda: Norm.weight_norm_grad(X, 1.0, np.ones(3), dim=None), ValueError, "g must have"),
        (lambda: Norm.BatchNorm(0), ValueError, "num_features"),
        (lambda: Norm.BatchNorm(3, momentum=1.5), ValueError, "momentum"),
        (lambda: Norm.BatchNorm(3, eps=-1.0), ValueError, "eps"),
        (lambda: Norm.BatchNorm(3)(X), ValueError, "x must have 3 channels"),
        (lambda: Norm.BatchNorm(4)(np.ones((1, 4))), ValueError, "more than 1 value"),
    ],
)
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()


# --- Properties (hypothesis) --------------------------------------------------------

rows = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(2, 12)), elements=st.floats(-100.0, 100.0)
).filter(lambda a: np.ptp(a, axis=-1).min() > 1e-2)  # rows with some spread


@given(rows, st.floats(1e-3, 1e3), st.floats(-1e4, 1e4))
def test_layer_norm_is_invariant_to_scale_and_shift(x, a, b):
    # with eps scaled along (a^2 eps), LayerNorm(a x + b) = LayerNorm(x) exactly
    d = x.shape[-1]
    np.testing.assert_allclose(Norm.layer_norm(a * x + b, d, eps=a * a * EPS),
                               Norm.layer_norm(x, d), rtol=1e-7, atol=1e-7)  # fmt: skip


@given(rows, st.floats(1e-3, 1e3))
def test_rms_norm_is_invariant_to_scale_but_not_to_shift(x, a):
    d = x.shape[-1]
    y = Norm.rms_norm(x, d, eps=EPS)
    np.testing.assert_allclose(Norm.rms_norm(a * x, d, eps=a * a * EPS), y, rtol=1e-9, atol=1e-9)
    shifted = Norm.rms_norm(x + 10.0 * np.abs(x).max(), d, eps=EPS)
    assert np.max(np.abs(shifted - y)) > 1e-3


@settings(max_examples=50)
@given(rows, arrays(np.float64, 12, elements=st.floats(-5.0, 5.0)))
def test_gradients_are_orthogonal_to_the_invariances(x, seed_row):
    # LN(x + c) = LN(x): the gradient sums to 0 per row. RMSNorm(a x) ~ RMSNorm(x): the
    # gradient is orthogonal to x (up to eps, here the machine epsilon).
    d = x.shape[-1]
    g = np.resize(seed_row, x.shape)
    np.testing.assert_allclose(Norm.layer_norm_grad(x, g, d).x.sum(axis=-1), 0.0, atol=1e-12)
    dx = Norm.rms_norm_grad(x, g, d).x
    np.testing.assert_allclose(np.sum(dx * x, axis=-1), 0.0, atol=1e-10)


@given(arrays(np.float64, st.tuples(st.integers(2, 6), st.integers(1, 3), st.integers(1, 4)),
              elements=st.floats(-1e3, 1e3)))  # fmt: skip
def test_batch_norm_output_has_zero_mean_and_unit_variance(x):
    y = Norm.batch_norm(x)
    var = np.var(x, axis=(0, 2))
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.var(y, axis=(0, 2)), var / (var + EPS), rtol=1e-9, atol=1e-12)
