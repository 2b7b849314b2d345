"""Tests of dlnotes.nn: each layer's backward (finite differences, PyTorch autograd), the
Sequential container, train_step, and a 100-step training run equal to PyTorch's.

numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import (
    NN_HYPER,
    NN_MASK_SEED,
    NN_P,
    NN_SIZES,
    NN_STEPS,
    load_reference,
    make_nn_inputs,
    torch_nn_outputs,
    torch_or_skip,
)

from dlnotes import activations as A
from dlnotes import nn
from dlnotes import optim as O
from dlnotes.gradcheck import max_relative_error, numerical_gradient

INPUTS = make_nn_inputs()
RNG_SEED = 2026_05_12


def dropout_with_fixed_mask(p=0.3):
    """A Dropout layer that draws the same mask at every forward (for finite differences)."""

    class FixedMaskDropout(nn.Dropout):
        def forward(self, x):
            self.rng = np.random.default_rng(7)
            return super().forward(x)

    return FixedMaskDropout(p, rng=np.random.default_rng(7))


# name -> (a fresh layer, input width, output width). Every layer is checked from this table.
def make_layers():
    rng = np.random.default_rng(RNG_SEED)
    norm = nn.LayerNorm(6)
    norm.params["weight"][...] = rng.uniform(0.5, 1.5, 6)
    norm.params["bias"][...] = rng.normal(size=6)
    linear = nn.Linear(6, 4, rng=rng)
    linear.params["bias"][...] = rng.normal(size=4)
    return {
        "linear": (linear, 6, 4),
        "gelu": (nn.Activation("gelu"), 6, 6),
        "gelu_tanh": (nn.Activation("gelu", approximate="tanh"), 6, 6),
        "leaky_relu": (nn.Activation("leaky_relu", negative_slope=0.2), 6, 6),
        "tanh": (nn.Activation("tanh"), 6, 6),
        "dropout": (dropout_with_fixed_mask(), 6, 6),
        "layer_norm": (norm, 6, 6),
    }


LAYER_NAMES = list(make_layers())


def mlp(sizes=NN_SIZES, p=NN_P, rng=None, dtype=np.float64):
    """The parity network: (Linear, LayerNorm, GELU, Dropout) twice, then Linear."""
    rng = np.random.default_rng(RNG_SEED) if rng is None else rng
    d_in, h1, h2, c = sizes
    layers = []
    for fan_in, fan_out in ((d_in, h1), (h1, h2)):
        layers += [nn.Linear(fan_in, fan_out, rng=rng, dtype=dtype),
                   nn.LayerNorm(fan_out, dtype=dtype), nn.Activation("gelu"),
                   nn.Dropout(p, rng=rng)]  # fmt: skip
    return nn.Sequential(*layers, nn.Linear(h2, c, rng=rng, dtype=dtype))


def parity_model():
    """mlp() with the reference's initial weights and dropout drawing the reference's masks."""
    model = mlp()
    mask_rng = np.random.default_rng(NN_MASK_SEED)
    for dropout in model.layers[3::4]:
        dropout.rng = mask_rng  # one generator for both, as make_nn_inputs draws them
    lin, ln = model.layers[0::4], model.layers[1::4]
    for i, layer in enumerate(lin):
        layer.params["weight"][...] = INPUTS[f"w{i}"]
        layer.params["bias"][...] = INPUTS[f"b{i}"]
    for k, layer in enumerate(ln):
        layer.params["weight"][...] = INPUTS[f"ln_w{k}"]
        layer.params["bias"][...] = INPUTS[f"ln_b{k}"]
    return model


def run_parity():
    """The training run of torch_reference.torch_nn_outputs, with dlnotes."""
    hp = NN_HYPER
    model = parity_model()
    opt = O.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    lrs = O.warmup_cosine(np.arange(NN_STEPS), hp["lr"], hp["warmup_steps"], NN_STEPS,
                          eta_min=hp["eta_min"], start_factor=hp["start_factor"])  # fmt: skip
    out, masks = {"run:loss": [], "run:total_norm": [], "run:lr": lrs}, []
    for t in range(NN_STEPS):
        opt.lr = lrs[t]
        loss, total = nn.train_step(model, opt, INPUTS["x"][t], INPUTS["y"][t],
                                    label_smoothing=hp["label_smoothing"],
                                    max_norm=hp["max_norm"])  # fmt: skip
        out["run:loss"].append(loss)
        out["run:total_norm"].append(total)
        masks.append([model.layers[3].mask, model.layers[7].mask])
    for i, p in enumerate(model.parameters()):
        out[f"run:final:{i}"] = p
    return out, np.array(masks)


# --- Closed forms -------------------------------------------------------------------


def test_linear_is_x_w_plus_b_and_its_backward_the_three_products():
    layer = nn.Linear(2, 3, weight=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], bias=[0.5, 0.0, -1.0])
    x = np.array([[1.0, 1.0], [2.0, -1.0]])
    np.testing.assert_array_equal(layer.forward(x), [[5.5, 7.0, 8.0], [-1.5, -1.0, -1.0]])
    g = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(layer.backward(g), [[1.0, 4.0], [3.0, 6.0]])
    np.testing.assert_array_equal(layer.grads["weight"], [[1.0, 0.0, 2.0], [1.0, 0.0, -1.0]])
    np.testing.assert_array_equal(layer.grads["bias"], [1.0, 0.0, 1.0])


def test_linear_default_init_is_he_normal_with_zero_bias():
    layer = nn.Linear(400, 300, rng=np.random.default_rng(0))
    w = layer.params["weight"]
    assert w.shape == (400, 300) and np.all(layer.params["bias"] == 0.0)
    # Var = 2/fan_in; the sample variance of 120000 draws is within 2 % (8 standard errors)
    assert abs(w.var() / (2.0 / 400) - 1.0) < 0.02 and abs(w.mean()) < 0.001


def test_activation_layer_is_the_chapter_pair():
    x = np.linspace(-3.0, 3.0, 13).reshape(1, -1)
    g = np.arange(13.0).reshape(1, -1)
    layer = nn.Activation("relu")
    np.testing.assert_array_equal(layer.forward(x), np.maximum(x, 0.0))
    np.testing.assert_array_equal(layer.backward(g), np.where(x > 0, g, 0.0))
    layer = nn.Activation("gelu", approximate="tanh")
    np.testing.assert_array_equal(layer.forward(x), A.gelu(x, approximate="tanh"))


def test_dropout_modes():
    x = np.ones((400, 50))
    layer = nn.Dropout(0.25, rng=np.random.default_rng(1))
    y = layer.forward(x)
    assert set(np.unique(y)) == {0.0, 1.0 / 0.75}
    assert abs(np.mean(y == 0.0) - 0.25) < 0.01  # 20000 draws: sd 0.003
    np.testing.assert_array_equal(layer.backward(x), y)  # backward is g * mask
    layer.training = False
    np.testing.assert_array_equal(layer.forward(2.0 * x), 2.0 * x)
    np.testing.assert_array_equal(nn.Dropout(0.0).forward(x), x)  # p = 0 needs no rng


def test_layer_norm_rows_have_mean_0_and_variance_just_below_1():
    x = np.random.default_rng(2).normal(3.0, 5.0, size=(4, 32))
    y = nn.LayerNorm(32).forward(x)
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-15)
    var = x.var(axis=1)
    np.testing.assert_allclose(y.var(axis=1), var / (var + 1e-5), rtol=1e-12)


# --- Finite differences (VJPs: the gradient of sum(g * layer(x))) -------------------


def check_layer_gradients(layer, x, g, rtol=1e-7):
    y = layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(g)
    expected = numerical_gradient(lambda z: np.sum(g * layer.forward(z)), x)
    assert max_relative_error(dx, expected) < rtol, "input gradient"
    for name, param in layer.params.items():
        saved = param.copy()

        def f(value, param=param):
            param[...] = value
            return np.sum(g * layer.forward(x))

        expected = numerical_gradient(f, saved)
        param[...] = saved
        assert max_relative_error(layer.grads[name], expected) < rtol, name
    return y


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_layer_backward_matches_finite_differences(name):
    layer, d_in, d_out = make_layers()[name]
    rng = np.random.default_rng(3)
    check_layer_gradients(layer, rng.normal(size=(5, d_in)), rng.normal(size=(5, d_out)))


def test_sequential_backward_matches_finite_differences_end_to_end():
    rng = np.random.default_rng(4)
    model = mlp((5, 7, 6, 3), p=0.0, rng=rng)
    x, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    model.forward(x)
    dx = model.backward(g)
    expected = numerical_gradient(lambda z: np.sum(g * model.forward(z)), x)
    assert max_relative_error(dx, expected) < 1e-7
    for (name, param), grad in zip(model.named_parameters(), model.gradients(), strict=True):
        saved = param.copy()

        def f(value, param=param):
            param[...] = value
            return np.sum(g * model.forward(x))

        expected = numerical_gradient(f, saved)
        param[...] = saved
        assert max_relative_error(grad, expected) < 1e-7, name


def test_train_step_loss_gradient_matches_finite_differences():
    # the gradient train_step hands the optimizer (no clipping) is that of the smoothed loss
    from dlnotes import losses as L

    rng = np.random.default_rng(5)
    model = mlp((5, 7, 6, 3), p=0.0, rng=rng)
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)

    class Recorder:
        def step(self, grads):
            self.grads = [g.copy() for g in grads]

    opt = Recorder()
    loss, total = nn.train_step(model, opt, x, y, label_smoothing=0.1)
    assert loss == L.cross_entropy(model.forward(x), y, label_smoothing=0.1)
    np.testing.assert_allclose(total, np.sqrt(sum(np.sum(g**2) for g in opt.grads)), rtol=1e-14)
    first = model.parameters()[0]
    saved = first.copy()

    def f(value):
        first[...] = value
        return L.cross_entropy(model.forward(x), y, label_smoothing=0.1)

    expected = numerical_gradient(f, saved)
    first[...] = saved
    assert max_relative_error(opt.grads[0], expected) < 1e-7


# --- Sequential and train_step ------------------------------------------------------


def test_sequential_lists_parameters_in_order_and_gradients_accumulate():
    rng = np.random.default_rng(6)
    model = mlp((5, 7, 6, 3), p=0.5, rng=rng)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias",
                     "5.weight", "5.bias", "8.weight", "8.bias"]  # fmt: skip
    for layer_param, listed in zip(
        [lay.params[n] for lay in model.layers for n in lay.params], model.parameters(), strict=True
    ):
        assert layer_param is listed  # the optimizer updates the layers' own arrays
    model.eval()
    x, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    model.forward(x)
    model.backward(g)
    once = [grad.copy() for grad in model.gradients()]
    model.forward(x)
    model.backward(g)
    for a, b in zip(model.gradients(), once, strict=True):
        np.testing.assert_allclose(a, 2.0 * b, rtol=1e-15)
    model.zero_grad()
    assert all(np.all(grad == 0.0) for grad in model.gradients())


def test_eval_mode_is_deterministic_and_train_mode_is_not():
    model = mlp((5, 7, 6, 3), p=0.5, rng=np.random.default_rng(7))
    x = np.random.default_rng(8).normal(size=(4, 5))
    model.eval()
    np.testing.assert_array_equal(model.forward(x), model.forward(x))
    model.train()
    assert not np.array_equal(model.forward(x), model.forward(x))


def test_train_step_fits_a_small_problem():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(64, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1.0)
    model = mlp((4, 16, 16, 3), p=0.0, rng=rng)
    opt = O.AdamW(model.parameters(), lr=1e-2)
    first = nn.train_step(model, opt, x, y)[0]
    for _ in range(200):
        last = nn.train_step(model, opt, x, y, max_norm=1.0)[0]
    model.eval()
    assert last < 0.05 * first
    assert np.mean(model.forward(x).argmax(axis=1) == y) == 1.0


# --- PyTorch: each layer, and the 100-step training run -----------------------------

LAYER_CASES = {  # reference name -> a dlnotes layer with the reference's parameters
    "linear": lambda: nn.Linear(NN_SIZES[2], NN_SIZES[3], weight=INPUTS["w2"], bias=INPUTS["b2"]),
    "layer_norm": lambda: parity_model().layers[1],
    "gelu": lambda: nn.Activation("gelu"),
}


def check_against_torch(ref):
    for name, make in LAYER_CASES.items():
        layer = make()
        y = layer.forward(INPUTS["layer_x"])
        g = INPUTS["layer_g_out"] if name == "linear" else INPUTS["layer_g"]
        dx = layer.backward(g)
        np.testing.assert_allclose(y, ref[f"layer:{name}:value"], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(dx, ref[f"layer:{name}:grad_x"], rtol=1e-12, atol=1e-14)
        for pname, grad in layer.grads.items():
            np.testing.assert_allclose(grad, ref[f"layer:{name}:grad_{pname}"], rtol=1e-12,
                                       atol=1e-14, err_msg=f"{name}.{pname}")  # fmt: skip
    ours, masks = run_parity()
    # our Dropout layers drew the masks PyTorch was given
    np.testing.assert_array_equal(masks, np.where(INPUTS["keep"], 1.0 / (1.0 - NN_P), 0.0))
    np.testing.assert_allclose(ours["run:lr"], ref["run:lr"], rtol=1e-14)
    # the targets: losses to 1e-10 relative, final weights to 1e-9
    assert max_relative_error(ours["run:loss"], ref["run:loss"], floor=0.0) < 1e-10
    assert max_relative_error(ours["run:total_norm"], ref["run:total_norm"], floor=0.0) < 1e-9
    clipped = np.mean(ref["run:total_norm"] > NN_HYPER["max_norm"])
    assert 0.2 < clipped < 0.9  # the run exercises both sides of the clipping threshold
    for i in range(len(parity_model().parameters())):
        assert max_relative_error(ours[f"run:final:{i}"], ref[f"run:final:{i}"]) < 1e-9, i


@pytest.fixture(scope="module")
def reference():
    return load_reference("nn")


def test_matches_pytorch_reference_file(reference):
    check_against_torch(reference)


def test_matches_pytorch_live():
    torch_or_skip()
    check_against_torch(torch_nn_outputs(INPUTS))


# --- Extremes and dtypes ------------------------------------------------------------


def test_float32_network_stays_float32():
    model = mlp((5, 7, 6, 3), p=0.5, rng=np.random.default_rng(10), dtype=np.float32)
    x = np.random.default_rng(11).normal(size=(4, 5)).astype(np.float32)
    y = model.forward(x)
    assert y.dtype == np.float32
    assert model.backward(np.ones_like(y)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.gradients())


def test_huge_inputs_give_finite_outputs_through_layer_norm():
    model = mlp((5, 7, 6, 3), p=0.0, rng=np.random.default_rng(12))
    x = np.random.default_rng(13).normal(size=(4, 5)) * 1e300
    y = model.forward(x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(model.backward(np.ones_like(y))))


def test_integers_become_float64():
    layer = nn.Linear(2, 2, weight=np.eye(2))
    assert layer.forward(np.array([[1, 2]])).dtype == np.float64


def test_inputs_are_not_mutated():
    model = mlp((5, 7, 6, 3), p=0.5, rng=np.random.default_rng(14))
    x, g = np.ones((4, 5)), np.ones((4, 3))
    x_copy, g_copy = x.copy(), g.copy()
    model.forward(x)
    model.backward(g)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(g, g_copy)
    w = np.eye(2)
    layer = nn.Linear(2, 2, weight=w)
    layer.params["weight"] += 1.0
    np.testing.assert_array_equal(w, np.eye(2))  # the given weight is copied


# --- Bad arguments: the message names the argument or the layer ---------------------


def _backward_first():
    nn.Linear(2, 2, weight=np.eye(2)).backward(np.ones((1, 2)))


def _wrong_upstream():
    layer = nn.Linear(2, 3, weight=np.ones((2, 3)))
    layer.forward(np.ones((4, 2)))
    layer.backward(np.ones((4, 2)))


def _sequential_backward_mismatch():
    model = mlp((5, 7, 6, 3), p=0.0)
    model.forward(np.ones((4, 5)))
    model.backward(np.ones((4, 4)))


BAD_CALLS = [
    (lambda: mlp((5, 7, 6, 3)).forward(np.ones((4, 6))), ValueError,
     r"layer 0: Linear\(5, 7\) expects x of shape \(N, 5\)"),
    (lambda: nn.Sequential(nn.Linear(5, 7, rng=np.random.default_rng(0)), nn.LayerNorm(6))
     .forward(np.ones((2, 5))), ValueError, r"layer 1: LayerNorm\(6\)"),
    (lambda: nn.Linear(2, 2, weight=np.eye(2)).forward(np.ones(2)), ValueError, "Linear"),
    (_sequential_backward_mismatch, ValueError, r"layer 8: Linear\(6, 3\) expects g"),
    (_backward_first, ValueError, "before forward"),
    (_wrong_upstream, ValueError, r"Linear\(2, 3\) expects g of shape \(4, 3\)"),
    (lambda: nn.Linear(2, 3, weight=np.eye(2)), ValueError, "weight"),
    (lambda: nn.Linear(2, 2, weight="w"), TypeError, "weight"),
    (lambda: nn.Linear(2, 2), TypeError, "rng"),
    (lambda: nn.Activation("softmax"), ValueError, "name"),
    (lambda: nn.Activation("no_such"), ValueError, "name"),
    (lambda: nn.Dropout(1.5, rng=np.random.default_rng(0)), ValueError, "p"),
    (lambda: nn.Dropout(0.5), TypeError, "rng"),
    (lambda: nn.Sequential(), TypeError, "layers"),
    (lambda: nn.Sequential(np.eye(2)), TypeError, "layers"),
    (lambda: nn.LayerNorm(3).forward(np.ones((2, 4))), ValueError, "LayerNorm"),
]  # fmt: skip


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- Properties ---------------------------------------------------------------------


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_linear_layers_compose_to_the_product_of_their_weights(n, d, h, seed):
    rng = np.random.default_rng(seed)
    a, b = nn.Linear(d, h, rng=rng), nn.Linear(h, 3, rng=rng)
    x, g = rng.normal(size=(n, d)), rng.normal(size=(n, 3))
    model = nn.Sequential(a, b)
    w = a.params["weight"] @ b.params["weight"]
    np.testing.assert_allclose(model.forward(x), x @ w, atol=1e-12)
    np.testing.assert_allclose(model.backward(g), g @ w.T, atol=1e-12)


@settings(deadline=None, max_examples=30)
@given(st.floats(1e-3, 1e3), st.floats(-1e3, 1e3), st.integers(0, 2**32 - 1))
def test_layer_norm_layer_ignores_scale_and_shift_of_its_rows(scale, shift, seed):
    x = np.random.default_rng(seed).normal(size=(3, 8))
    layer = nn.LayerNorm(8, eps=1e-30)  # eps too small to matter
    np.testing.assert_allclose(layer.forward(scale * x + shift), layer.forward(x), atol=1e-9)
