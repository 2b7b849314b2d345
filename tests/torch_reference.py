"""The comparisons against PyTorch: the inputs, and what PyTorch returns for them.

Run as a script (with torch installed) to rewrite the reference files, all of them or
those of the modules named:

    python tests/torch_reference.py [module ...]

They are committed (``reference/activations_torch.npz``, ``reference/losses_torch.npz``),
so the tests compare against PyTorch even where torch is not installed; where it is, they
also compute the same results live (test_activations.py, test_losses.py). Everything is
float64; gradients come from autograd.
"""

import os
from pathlib import Path

import numpy as np

REFERENCE_FILE = Path(__file__).parent / "reference" / "activations_torch.npz"
LOSS_REFERENCE_FILE = Path(__file__).parent / "reference" / "losses_torch.npz"


def torch_or_skip():
    """For a live comparison: a skip where torch is missing -- a failure where CI requires
    it (DLNOTES_REQUIRE_TORCH)."""
    import pytest

    try:
        import torch  # noqa: F401
    except ImportError:
        if os.environ.get("DLNOTES_REQUIRE_TORCH"):
            pytest.fail("DLNOTES_REQUIRE_TORCH is set but torch cannot be imported")
        pytest.skip("torch is not installed: the committed reference file still ran")


# name -> (dlnotes.activations function, keyword arguments). Each is compared over the grid
# ``x`` below: the value and the derivative (the gradient of the sum, from autograd).
ELEMENTWISE = {
    "sigmoid": ("sigmoid", {}),
    "log_sigmoid": ("log_sigmoid", {}),
    "tanh": ("tanh", {}),
    "relu": ("relu", {}),
    "leaky_relu": ("leaky_relu", {}),
    "leaky_relu_0.2": ("leaky_relu", {"negative_slope": 0.2}),
    "elu": ("elu", {}),
    "elu_0.5": ("elu", {"alpha": 0.5}),
    "selu": ("selu", {}),
    "gelu": ("gelu", {}),
    "gelu_tanh": ("gelu", {"approximate": "tanh"}),
    "silu": ("silu", {}),
    "swish_1.5": ("swish", {"beta": 1.5}),
    "mish": ("mish", {}),
    "softplus": ("softplus", {}),
    "softplus_2": ("softplus", {"beta": 2.0}),
}

# name -> (dlnotes.activations function, softmax axis). Compared on ``z`` with the
# upstream gradient ``g`` (the vector-Jacobian product).
SOFTMAX = {
    "softmax": ("softmax", -1),
    "softmax_axis0": ("softmax", 0),
    "log_softmax": ("log_softmax", -1),
    "log_softmax_axis0": ("log_softmax", 0),
}


def make_inputs():
    """The inputs of every comparison, deterministic."""
    rng = np.random.default_rng(2025_09_29)
    # Step 0.05 over [-12, 12]: dense, and hits the kink x = 0 and the integers exactly.
    x = np.round(np.linspace(-12.0, 12.0, 481), 10)
    z = rng.uniform(-8.0, 8.0, size=(6, 9))
    z[0] *= 100.0  # a row of logits in the hundreds: exp(z) would overflow unshifted
    g = rng.normal(size=z.shape)
    return {
        "x": x,
        "z": z,
        "g": g,
        "prelu_x": rng.normal(size=(4, 3, 5)),  # (N, C, L), one slope per channel
        "prelu_a": np.array([0.25, -0.1, 0.7]),
    }


def torch_outputs(inputs):
    """Compute every comparison with PyTorch (float64, CPU); returns name -> array."""
    import torch
    import torch.nn.functional as F

    torch_functions = {
        "sigmoid": torch.sigmoid,
        "log_sigmoid": F.logsigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "leaky_relu_0.2": lambda t: F.leaky_relu(t, 0.2),
        "elu": F.elu,
        "elu_0.5": lambda t: F.elu(t, alpha=0.5),
        "selu": F.selu,
        "gelu": F.gelu,
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        "silu": F.silu,
        "swish_1.5": lambda t: t * torch.sigmoid(1.5 * t),  # no Swish(beta) in PyTorch
        "mish": F.mish,
        # PyTorch returns x itself once beta*x > threshold (20 by default); raise the
        # threshold so that torch computes the exact softplus over the whole grid.
        "softplus": lambda t: F.softplus(t, threshold=1000.0),
        "softplus_2": lambda t: F.softplus(t, beta=2.0, threshold=1000.0),
        "softmax": lambda t: F.softmax(t, dim=-1),
        "softmax_axis0": lambda t: F.softmax(t, dim=0),
        "log_softmax": lambda t: F.log_softmax(t, dim=-1),
        "log_softmax_axis0": lambda t: F.log_softmax(t, dim=0),
    }
    assert set(torch_functions) == set(ELEMENTWISE) | set(SOFTMAX)

    def value_and_grad(fn, array, upstream):
        t = torch.tensor(array, dtype=torch.float64, requires_grad=True)
        y = fn(t)
        y.backward(torch.tensor(upstream, dtype=torch.float64))
        return y.detach().numpy(), t.grad.numpy()

    out = {"torch_version": np.array(torch.__version__)}
    x, z, g = inputs["x"], inputs["z"], inputs["g"]
    for name in ELEMENTWISE:
        out[f"{name}:value"], out[f"{name}:grad"] = value_and_grad(
            torch_functions[name], x, np.ones_like(x)
        )
    for name in SOFTMAX:
        out[f"{name}:value"], out[f"{name}:grad"] = value_and_grad(torch_functions[name], z, g)

    px = torch.tensor(inputs["prelu_x"], requires_grad=True)
    pa = torch.tensor(inputs["prelu_a"], requires_grad=True)
    y = F.prelu(px, pa)
    y.sum().backward()
    out["prelu:value"] = y.detach().numpy()
    out["prelu:grad_x"] = px.grad.numpy()
    out["prelu:grad_a"] = pa.grad.numpy()
    return out


# --- Losses -------------------------------------------------------------------------

# name -> (dlnotes.losses function, names of its array arguments in make_loss_inputs(),
# keyword arguments). Each is compared for every reduction, value and gradient.
LOSSES = {
    "mse": ("mse_loss", ("pred", "target"), {}),
    "l1": ("l1_loss", ("pred", "target"), {}),
    "huber": ("huber_loss", ("pred", "target"), {}),
    "huber_0.5": ("huber_loss", ("pred", "target"), {"delta": 0.5}),
    "ce_index": ("cross_entropy", ("logits", "labels"), {}),
    "ce_probs": ("cross_entropy", ("logits", "class_probs"), {}),
    "ce_smoothing": ("cross_entropy", ("logits", "labels"), {"label_smoothing": 0.1}),
    "ce_spatial": ("cross_entropy", ("logits_ncd", "labels_nd"), {"axis": 1}),
    "nll": ("nll_loss", ("log_probs", "labels"), {}),
    "bce_logits": ("binary_cross_entropy_with_logits", ("bin_logits", "bin_soft"), {}),
    "bce_logits_pos_weight": ("binary_cross_entropy_with_logits", ("bin_logits", "bin_soft"),
                              {"pos_weight": [2.0, 0.5, 1.0, 3.0]}),
    "bce": ("binary_cross_entropy", ("bin_probs", "bin_soft"), {}),
    "kl": ("kl_divergence", ("p", "q"), {}),
    "focal": ("focal_loss", ("bin_logits", "bin_hard"), {}),
    "focal_soft_gamma0.5_no_alpha": ("focal_loss", ("bin_logits", "bin_soft"),
                                     {"gamma": 0.5, "alpha": -1.0}),
    "triplet": ("triplet_loss", ("anchor", "positive", "negative"), {}),
    "triplet_p1_margin0.5": ("triplet_loss", ("anchor", "positive", "negative"),
                             {"p": 1, "margin": 0.5}),
    "info_nce": ("info_nce", ("query", "keys"), {"temperature": 0.1}),
}  # fmt: skip
REDUCTIONS = ("mean", "sum", "none")
CTC_SIZE = {"T": 50, "N": 16, "C": 20, "S": 30}  # PyTorch's own test size
# A batch where only sequence 0 has a path: 1's target is longer than its input, 2's
# repeats need 5 frames in 4, 3 has no frame for its one label. Loss inf (0 with
# zero_infinity) for those, per sequence.
CTC_INFEASIBLE = {
    "ctc_bad_targets": np.array(
        [[1, 2, 0, 0, 0], [1, 2, 3, 4, 1], [2, 2, 2, 0, 0], [3, 0, 0, 0, 0]]
    ),
    "ctc_bad_input_lengths": np.array([6, 3, 4, 0]),
    "ctc_bad_target_lengths": np.array([2, 5, 3, 1]),
}


def make_loss_inputs():
    """The inputs of every loss comparison, deterministic."""
    rng = np.random.default_rng(2025_10_01)
    logits = rng.normal(scale=3.0, size=(8, 5))
    class_probs = rng.dirichlet(np.ones(5), size=8)
    bin_logits = rng.normal(scale=4.0, size=(6, 4))
    bin_logits[0] = [-1e3, 1e3, -40.0, 40.0]  # extreme logits: finite loss, no warning
    p = rng.dirichlet(np.ones(6), size=5)
    p[0, 2] = 0.0  # 0 log 0 = 0
    p[0] /= p[0].sum()
    steps, batch, classes, width = CTC_SIZE.values()
    input_lengths = rng.integers(steps // 2, steps + 1, size=batch)
    input_lengths[0] = steps
    target_lengths = np.minimum(rng.integers(0, width + 1, size=batch), input_lengths // 2)
    ctc_targets = rng.integers(1, classes, size=(batch, width))
    ctc_targets[1, :6] = [3, 3, 3, 7, 7, 2]  # repeated labels need blanks between them
    target_lengths[1], target_lengths[2] = 6, 0  # an empty target
    return {
        "pred": rng.normal(size=(4, 6)),
        "target": rng.normal(size=(4, 6)),
        "logits": logits,
        "labels": rng.integers(0, 5, size=8),
        "class_probs": class_probs,
        "log_probs": logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)),
        "logits_ncd": rng.normal(size=(3, 4, 5)),
        "labels_nd": rng.integers(0, 4, size=(3, 5)),
        "bin_logits": bin_logits,
        "bin_soft": rng.uniform(size=(6, 4)),
        "bin_hard": rng.integers(0, 2, size=(6, 4)).astype(np.float64),
        "bin_probs": rng.uniform(0.01, 0.99, size=(6, 4)),
        "p": p,
        "q": rng.dirichlet(np.ones(6), size=5),
        "anchor": rng.normal(size=(7, 3)),
        "positive": rng.normal(size=(7, 3)),
        "negative": rng.normal(size=(7, 3)),
        "query": rng.normal(size=(6, 8)),
        "keys": rng.normal(size=(6, 8)),
        "ctc_logits": rng.normal(size=(steps, batch, classes)),
        "ctc_targets": ctc_targets,
        "ctc_input_lengths": input_lengths,
        "ctc_target_lengths": target_lengths,
        "ctc_bad_logits": rng.normal(size=(6, 4, 5)),
        **CTC_INFEASIBLE,
    }


def torch_loss_outputs(inputs):
    """Every loss comparison computed with PyTorch; returns name -> array."""
    import torch
    import torch.nn.functional as F

    def sigmoid_focal_loss(x, y, gamma=2.0, alpha=0.25, reduction="none"):
        # torchvision.ops.sigmoid_focal_loss, written out (torchvision is not installed)
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        loss = ce * (1 - (p * y + (1 - p) * (1 - y))) ** gamma
        if alpha >= 0:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    def info_nce(q, k, temperature, reduction):
        sim = F.cosine_similarity(q[:, None, :], k[None, :, :], dim=-1) / temperature
        return F.cross_entropy(sim, torch.arange(len(q)), reduction=reduction)

    def kl(p, q, reduction):
        # kl_div takes log q and p; 'batchmean' is the divergence averaged over rows
        if reduction == "none":
            return F.kl_div(q.log(), p, reduction="none").sum(-1)
        return F.kl_div(q.log(), p, reduction="batchmean" if reduction == "mean" else "sum")

    torch_losses = {
        "mse": lambda a, b, r: F.mse_loss(a, b, reduction=r),
        "l1": lambda a, b, r: F.l1_loss(a, b, reduction=r),
        "huber": lambda a, b, r: F.huber_loss(a, b, reduction=r),
        "huber_0.5": lambda a, b, r: F.huber_loss(a, b, reduction=r, delta=0.5),
        "ce_index": lambda a, b, r: F.cross_entropy(a, b, reduction=r),
        "ce_probs": lambda a, b, r: F.cross_entropy(a, b, reduction=r),
        "ce_smoothing": lambda a, b, r: F.cross_entropy(a, b, reduction=r, label_smoothing=0.1),
        "ce_spatial": lambda a, b, r: F.cross_entropy(a, b, reduction=r),
        "nll": lambda a, b, r: F.nll_loss(a, b, reduction=r),
        "bce_logits": lambda a, b, r: F.binary_cross_entropy_with_logits(a, b, reduction=r),
        "bce_logits_pos_weight": lambda a, b, r: F.binary_cross_entropy_with_logits(
            a, b, reduction=r, pos_weight=torch.tensor([2.0, 0.5, 1.0, 3.0], dtype=a.dtype)),
        "bce": lambda a, b, r: F.binary_cross_entropy(a, b, reduction=r),
        "kl": lambda a, b, r: kl(a, b, r),
        "focal": lambda a, b, r: sigmoid_focal_loss(a, b, reduction=r),
        "focal_soft_gamma0.5_no_alpha": lambda a, b, r: sigmoid_focal_loss(
            a, b, gamma=0.5, alpha=-1.0, reduction=r),
        "triplet": lambda a, b, c, r: F.triplet_margin_loss(a, b, c, reduction=r),
        "triplet_p1_margin0.5": lambda a, b, c, r: F.triplet_margin_loss(
            a, b, c, p=1, margin=0.5, reduction=r),
        "info_nce": lambda a, b, r: info_nce(a, b, 0.1, r),
    }  # fmt: skip
    assert set(torch_losses) == set(LOSSES)

    out = {"torch_version": np.array(torch.__version__)}
    for name, (_, arg_names, _) in LOSSES.items():
        for reduction in REDUCTIONS:
            args = [torch.tensor(inputs[k]) for k in arg_names]
            args[0].requires_grad_(True)
            loss = torch_losses[name](*args, reduction)
            loss.sum().backward()  # for 'none': the elementwise derivatives
            out[f"{name}:{reduction}:value"] = loss.detach().numpy()
            out[f"{name}:{reduction}:grad"] = args[0].grad.numpy()

    logits = torch.tensor(inputs["ctc_logits"], requires_grad=True)
    for reduction in REDUCTIONS:
        logits.grad = None
        ctc_args = [torch.tensor(inputs[k]) for k in
                    ("ctc_targets", "ctc_input_lengths", "ctc_target_lengths")]  # fmt: skip
        loss = F.ctc_loss(logits.log_softmax(-1), *ctc_args, reduction=reduction)
        loss.sum().backward()
        out[f"ctc:{reduction}:value"] = loss.detach().numpy()
        out[f"ctc:{reduction}:grad_logits"] = logits.grad.numpy()

    logits = torch.tensor(inputs["ctc_bad_logits"], requires_grad=True)
    bad_args = [torch.tensor(v) for v in CTC_INFEASIBLE.values()]
    for zero_infinity in (False, True):  # without it, PyTorch's gradient there is NaN
        for reduction in REDUCTIONS:
            logits.grad = None
            loss = F.ctc_loss(logits.log_softmax(-1), *bad_args, reduction=reduction,
                              zero_infinity=zero_infinity)  # fmt: skip
            loss.sum().backward()
            key = f"ctc_infeasible:{zero_infinity}:{reduction}"
            out[f"{key}:value"] = loss.detach().numpy()
            out[f"{key}:grad_logits"] = logits.grad.numpy()
    return out


# --- Numerics -----------------------------------------------------------------------

NUMERICS_REFERENCE_FILE = Path(__file__).parent / "reference" / "numerics_torch.npz"
LOGSUMEXP_AXES = {"all": None, "axis0": 0, "axis-1": -1, "axes01": (0, 1)}
CLIP_NORM_TYPES = {"l2": 2.0, "l1": 1.0, "linf": float("inf"), "l3": 3.0}


def make_numerics_inputs():
    """Inputs of the chapter-9 comparisons, deterministic."""
    rng = np.random.default_rng(2026_11_27)
    x = rng.normal(scale=30.0, size=(4, 5, 6))
    x[0, 0] = [800.0, -800.0, 0.0, 799.0, -1e3, 5.0]  # exp would overflow unshifted
    grads = [rng.normal(size=(3, 4)), rng.normal(scale=5.0, size=(7,)), rng.normal(size=())]
    return {
        "lse_x": x,
        "clip_g0": grads[0],
        "clip_g1": grads[1],
        "clip_g2": grads[2],
    }


def torch_numerics_outputs(inputs):
    """torch.logsumexp (value and gradient) and torch.nn.utils's gradient clipping."""
    import torch

    out = {"torch_version": np.array(torch.__version__)}
    for name, axis in LOGSUMEXP_AXES.items():
        t = torch.tensor(inputs["lse_x"], requires_grad=True)
        dims = tuple(range(t.ndim)) if axis is None else axis
        y = torch.logsumexp(t, dim=dims)
        y.sum().backward()
        out[f"logsumexp:{name}:value"] = y.detach().numpy()
        out[f"logsumexp:{name}:grad"] = t.grad.numpy()

    def parameters():
        params = []
        for key in ("clip_g0", "clip_g1", "clip_g2"):
            p = torch.zeros(inputs[key].shape, dtype=torch.float64, requires_grad=True)
            p.grad = torch.tensor(inputs[key])
            params.append(p)
        return params

    for name, norm_type in CLIP_NORM_TYPES.items():
        for max_norm in (1.0, 1e3):  # clipping, and a max_norm too large to clip
            params = parameters()
            total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type, foreach=False)
            out[f"clip_norm:{name}:{max_norm}:total"] = total.numpy()
            for i, p in enumerate(params):
                out[f"clip_norm:{name}:{max_norm}:g{i}"] = p.grad.numpy()
    params = parameters()
    torch.nn.utils.clip_grad_value_(params, 0.5, foreach=False)
    for i, p in enumerate(params):
        out[f"clip_value:g{i}"] = p.grad.numpy()
    return out


# --- Regularization -----------------------------------------------------------------

REGULARIZATION_REFERENCE_FILE = Path(__file__).parent / "reference" / "regularization_torch.npz"
DROPOUT_PS = (0.2, 0.5)
SMOOTHING_EPSILONS = (0.1, 0.3)
SPECTRAL_ITERATIONS = (1, 3)
REGULARIZATION_LAMBDA = 0.3
SOFTSHRINK_T = 0.5


def make_regularization_inputs():
    """Inputs of the chapter-3 comparisons, deterministic."""
    rng = np.random.default_rng(2026_03_03)
    w0 = rng.normal(size=(4, 3))
    w0[0, 0] = 0.0  # sign(0) = 0 in the L1 gradient
    spectral_w = rng.normal(size=(5, 3))
    spectral_u = rng.normal(size=5)
    wide_w = rng.normal(size=(3, 6))
    wide_u = rng.normal(size=3)
    return {
        "w0": w0,
        "w1": rng.normal(scale=2.0, size=7),
        # dropout input: 20 000 multiples of 1/64 in [0.5, 2] (few distinct values keep the
        # file small), all above alpha dropout's saturation value -1.758
        "drop_x": rng.integers(32, 129, size=(100, 200)) / 64.0,
        "logits": rng.normal(scale=2.0, size=(8, 5)),
        "labels": rng.integers(0, 5, size=8),
        "spectral_w": spectral_w,
        "spectral_u": spectral_u / np.linalg.norm(spectral_u),
        "spectral_g": rng.normal(size=spectral_w.shape),
        "wide_w": wide_w,
        "wide_u": wide_u / np.linalg.norm(wide_u),
        "wide_g": rng.normal(size=wide_w.shape),
    }


def torch_regularization_outputs(inputs):
    """Penalties, softshrink, dropout and alpha dropout (from fixed torch seeds), the
    label_smoothing of cross_entropy, and the legacy torch.nn.utils.spectral_norm."""
    import torch
    import torch.nn.functional as F

    out = {"torch_version": np.array(torch.__version__)}
    lam = REGULARIZATION_LAMBDA
    penalties = {"l2": lambda t: lam * (t**2).sum(), "l1": lambda t: lam * t.abs().sum()}
    for name, penalty in penalties.items():
        ws = [torch.tensor(inputs[k], requires_grad=True) for k in ("w0", "w1")]
        value = sum(penalty(t) for t in ws)
        value.backward()
        out[f"{name}:value"] = value.detach().numpy()
        for i, t in enumerate(ws):
            out[f"{name}:grad{i}"] = t.grad.numpy()
    t = torch.tensor(inputs["w1"], requires_grad=True)
    y = F.softshrink(t, SOFTSHRINK_T)
    y.sum().backward()
    out["softshrink:value"], out["softshrink:grad"] = y.detach().numpy(), t.grad.numpy()

    x = inputs["drop_x"]
    for p in DROPOUT_PS:
        for name, fn in (("dropout", F.dropout), ("alpha_dropout", F.alpha_dropout)):
            t = torch.tensor(x, requires_grad=True)
            torch.manual_seed(7)
            y = fn(t, p, True)
            y.sum().backward()
            torch.manual_seed(7)  # the same mask on x + 1: kept entries move, dropped do not
            shifted = fn(torch.tensor(x + 1.0), p, True)
            out[f"{name}:{p}:value"] = y.detach().numpy()
            out[f"{name}:{p}:grad"] = t.grad.numpy()
            out[f"{name}:{p}:keep"] = (shifted != y).detach().numpy()

    for eps in SMOOTHING_EPSILONS:
        t = torch.tensor(inputs["logits"], requires_grad=True)
        y = F.cross_entropy(t, torch.tensor(inputs["labels"]), label_smoothing=eps)
        y.backward()
        out[f"smoothing:{eps}:value"] = y.detach().numpy()
        out[f"smoothing:{eps}:grad"] = t.grad.numpy()

    for prefix in ("spectral", "wide"):
        w = inputs[f"{prefix}_w"]
        for n in SPECTRAL_ITERATIONS:
            # a Linear stores (out, in) = w.shape; its u has length w.shape[0]
            layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64)
            with torch.no_grad():
                layer.weight.copy_(torch.tensor(w))
            layer = torch.nn.utils.spectral_norm(layer, n_power_iterations=n)
            with torch.no_grad():
                layer.weight_u.copy_(torch.tensor(inputs[f"{prefix}_u"]))
            layer.train()
            layer(torch.zeros(1, w.shape[1], dtype=torch.float64))  # runs the power iteration
            w_sn = layer.weight
            (w_sn * torch.tensor(inputs[f"{prefix}_g"])).sum().backward()
            u, v = layer.weight_u, layer.weight_v
            key = f"{prefix}:{n}"
            out[f"{key}:weight"] = w_sn.detach().numpy()
            out[f"{key}:u"] = u.numpy()
            out[f"{key}:sigma"] = torch.dot(u, torch.mv(layer.weight_orig, v)).detach().numpy()
            out[f"{key}:grad"] = layer.weight_orig.grad.numpy()
    return out


# --- Initializers -------------------------------------------------------------------

INITIALIZERS_REFERENCE_FILE = Path(__file__).parent / "reference" / "initializers_torch.npz"

# Weight shapes in dlnotes' layout (*receptive_field, in, out); torch_layout() gives
# PyTorch's (out, in, *receptive_field).
FAN_SHAPES = [(5, 3), (3, 5), (1, 1), (7, 4, 6), (3, 3, 16, 32), (2, 3, 4, 5, 6)]
# (nonlinearity, param) for calculate_gain; None is PyTorch's default param.
GAIN_CASES = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
              ("conv_transpose1d", None), ("conv_transpose2d", None),
              ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
              ("relu", 0.3), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 5**0.5),
              ("leaky_relu", -0.5), ("leaky_relu", 3), ("selu", None)]  # fmt: skip
# name -> (dlnotes.initializers function, keyword arguments, shape in dlnotes' layout).
# PyTorch's function has the same name plus "_" and the same arguments and fills the
# shape in its own layout. Fan-in 128 against fan-out 16: a swapped convention would
# change a Kaiming variance 8-fold.
INITIALIZERS = {
    "xavier_uniform": ("xavier_uniform", {}, (128, 16)),
    "xavier_normal_tanh": ("xavier_normal", {"gain": 5.0 / 3.0}, (128, 16)),
    "kaiming_uniform": ("kaiming_uniform", {}, (128, 16)),
    "kaiming_uniform_a_sqrt5": ("kaiming_uniform", {"a": 5**0.5}, (128, 16)),
    "kaiming_uniform_conv_relu": ("kaiming_uniform", {"nonlinearity": "relu"}, (3, 3, 16, 8)),
    "kaiming_normal": ("kaiming_normal", {}, (128, 16)),
    "kaiming_normal_fan_out": ("kaiming_normal", {"mode": "fan_out"}, (128, 16)),
    "kaiming_normal_leaky_0.2": ("kaiming_normal", {"a": 0.2}, (128, 16)),
    "kaiming_normal_linear": ("kaiming_normal", {"nonlinearity": "linear"}, (128, 16)),
    "trunc_normal": ("trunc_normal", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 3.0}, (128, 16)),
    "orthogonal_tall": ("orthogonal", {"gain": 2.0}, (128, 16)),
    "orthogonal_wide_conv": ("orthogonal", {}, (2, 2, 3, 40)),
}
LINEAR_LAYER_SIZE = (128, 16)  # torch.nn.Linear(in_features, out_features)


def torch_layout(shape):
    """PyTorch's shape (out, in, *receptive_field) of a dlnotes weight shape."""
    return (shape[-1], shape[-2], *shape[:-2])


def from_torch_layout(weight):
    """A PyTorch weight (out, in, *receptive_field) in dlnotes' layout (..., in, out)."""
    return np.transpose(weight, (*range(2, weight.ndim), 1, 0))


def make_initializers_inputs():
    """The inputs of every initializer comparison (the cases above, as arrays)."""
    return {
        "fan_shapes": np.array([repr(s) for s in FAN_SHAPES]),
        "gain_names": np.array([name for name, _ in GAIN_CASES]),
        "gain_params": np.array([np.nan if p is None else p for _, p in GAIN_CASES]),
        "seed": np.array(2025_10_05),
    }


def torch_initializers_outputs(inputs):
    """Fans, gains and samples of torch.nn.init (samples in dlnotes' layout)."""
    import torch

    out = {"torch_version": np.array(torch.__version__)}
    out["fans"] = np.array([
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(torch_layout(s)))
        for s in FAN_SHAPES
    ])  # fmt: skip
    out["gains"] = np.array([torch.nn.init.calculate_gain(n, p) for n, p in GAIN_CASES])
    generator = torch.Generator().manual_seed(int(inputs["seed"]))
    for name, (fname, kwargs, shape) in INITIALIZERS.items():
        weight = torch.empty(torch_layout(shape), dtype=torch.float64)
        getattr(torch.nn.init, fname + "_")(weight, **kwargs, generator=generator)
        out[f"{name}:sample"] = from_torch_layout(weight.numpy())
    torch.manual_seed(int(inputs["seed"]))  # nn.Linear draws from the global generator
    layer = torch.nn.Linear(*LINEAR_LAYER_SIZE, dtype=torch.float64)
    out["linear:weight"] = from_torch_layout(layer.weight.detach().numpy())
    out["linear:bias"] = layer.bias.detach().numpy()
    return out


# --- Attention ----------------------------------------------------------------------

ATTENTION_REFERENCE_FILE = Path(__file__).parent / "reference" / "attention_torch.npz"

# name -> keyword arguments of scaled_dot_product_attention; a string value names the
# array of make_attention_inputs() to pass. Compared on sdpa_q, sdpa_k, sdpa_v, sdpa_g.
SDPA_CASES = {
    "plain": {},
    "bool_mask": {"attn_mask": "bool_mask"},  # row 1 fully masked
    "float_mask": {"attn_mask": "float_mask"},  # -inf entries, row 2 fully masked
    "batch_mask": {"attn_mask": "batch_mask"},  # (n, 1, l, s), broadcast over heads
    "causal": {"is_causal": True},  # l = 4 < s = 6: top-left aligned
    "scale": {"scale": 0.7},
}
# name -> keyword arguments of multi_head_attention (same convention; "biases": False
# leaves the four biases out). Compared on mha_query, mha_key, mha_value, mha_g.
MHA_CASES = {
    "mha": {},
    "mha_no_bias": {"biases": False},
    "mha_padding": {"key_padding_mask": "padding"},
    "mha_padding_bool_mask": {"key_padding_mask": "padding", "attn_mask": "mha_bool_mask"},
    "mha_float_mask": {"attn_mask": "mha_float_mask"},
    "mha_causal": {"is_causal": True},
}
MHA_SIZE = {"n": 3, "l": 4, "s": 5, "d": 8, "h": 2}


def make_attention_inputs():
    """The inputs of every attention comparison, deterministic."""
    rng = np.random.default_rng(2025_10_07)
    n, h, nq, s, e, f = 2, 3, 4, 6, 5, 7  # nq = l query positions
    bool_mask = rng.random((nq, s)) > 0.4
    bool_mask[:, 0] = True
    bool_mask[1] = False  # a query that may attend to nothing
    float_mask = rng.normal(size=(nq, s))
    float_mask[rng.random((nq, s)) < 0.3] = -np.inf
    float_mask[2] = -np.inf
    batch_mask = rng.random((n, 1, nq, s)) > 0.3
    mn, ml, ms, md = (MHA_SIZE[k] for k in "nlsd")
    padding = np.zeros((mn, ms), dtype=bool)
    padding[0, 3:] = True  # the last two keys of sequence 0 are padding
    padding[2, 4:] = True
    mha_bool_mask = rng.random((ml, ms)) > 0.3
    mha_bool_mask[:, 0] = True  # with the padding, every query keeps a key
    mha_float_mask = rng.normal(size=(ml, ms))
    return {
        "sdpa_q": rng.normal(size=(n, h, nq, e)),
        "sdpa_k": rng.normal(size=(n, h, s, e)),
        "sdpa_v": rng.normal(size=(n, h, s, f)),
        "sdpa_g": rng.normal(size=(n, h, nq, f)),
        "bool_mask": bool_mask,
        "float_mask": float_mask,
        "batch_mask": batch_mask,
        "mha_query": rng.normal(size=(mn, ml, md)),
        "mha_key": rng.normal(size=(mn, ms, md)),
        "mha_value": rng.normal(size=(mn, ms, md)),
        "mha_g": rng.normal(size=(mn, ml, md)),
        # dlnotes layout (fan_in, fan_out); PyTorch gets the transposes
        "w_q": rng.normal(scale=md**-0.5, size=(md, md)),
        "w_k": rng.normal(scale=md**-0.5, size=(md, md)),
        "w_v": rng.normal(scale=md**-0.5, size=(md, md)),
        "w_o": rng.normal(scale=md**-0.5, size=(md, md)),
        "b_q": rng.normal(size=md),
        "b_k": rng.normal(size=md),
        "b_v": rng.normal(size=md),
        "b_o": rng.normal(size=md),
        "padding": padding,
        "mha_bool_mask": mha_bool_mask,
        "mha_float_mask": mha_float_mask,
    }


def torch_attention_outputs(inputs):
    """SDPA and nn.MultiheadAttention (batch_first) on the inputs, with autograd gradients."""
    import torch
    import torch.nn.functional as F

    def tensor(name):
        return torch.tensor(inputs[name])

    out = {"torch_version": np.array(torch.__version__)}
    for name, kwargs in SDPA_CASES.items():
        q, k, v = (torch.tensor(inputs[f"sdpa_{x}"], requires_grad=True) for x in "qkv")
        kwargs = {key: tensor(val) if isinstance(val, str) else val for key, val in kwargs.items()}
        y = F.scaled_dot_product_attention(q, k, v, **kwargs)
        y.backward(tensor("sdpa_g"))
        out[f"{name}:output"] = y.detach().numpy()
        for x, t in zip("qkv", (q, k, v), strict=True):
            out[f"{name}:grad_{x}"] = t.grad.numpy()

    _, nq, s, d, h = MHA_SIZE.values()
    for name, kwargs in MHA_CASES.items():
        biases = kwargs.get("biases", True)
        module = torch.nn.MultiheadAttention(d, h, bias=biases, batch_first=True,
                                             dtype=torch.float64)  # fmt: skip
        with torch.no_grad():
            module.in_proj_weight.copy_(torch.cat([tensor(w).T for w in ("w_q", "w_k", "w_v")]))
            module.out_proj.weight.copy_(tensor("w_o").T)
            if biases:
                module.in_proj_bias.copy_(torch.cat([tensor(b) for b in ("b_q", "b_k", "b_v")]))
                module.out_proj.bias.copy_(tensor("b_o"))
        attn_mask = None
        if "attn_mask" in kwargs:
            attn_mask = tensor(kwargs["attn_mask"])
            if attn_mask.dtype == torch.bool:
                attn_mask = ~attn_mask  # the module's boolean mask is True = masked
        if kwargs.get("is_causal"):  # the module needs the mask itself, True = masked
            attn_mask = torch.ones(nq, s, dtype=torch.bool).triu(1)
        padding = tensor(kwargs["key_padding_mask"]) if "key_padding_mask" in kwargs else None
        query, key, value = (torch.tensor(inputs[f"mha_{x}"], requires_grad=True)
                             for x in ("query", "key", "value"))  # fmt: skip
        y, weights = module(query, key, value, key_padding_mask=padding, attn_mask=attn_mask,
                            average_attn_weights=False)  # fmt: skip
        y.backward(tensor("mha_g"))
        out[f"{name}:output"] = y.detach().numpy()
        out[f"{name}:weights"] = weights.detach().numpy()
        for x, t in (("query", query), ("key", key), ("value", value)):
            out[f"{name}:grad_{x}"] = t.grad.numpy()
        for pname, p in module.named_parameters():
            out[f"{name}:grad_{pname}"] = p.grad.numpy()
    return out


# --- Normalization ------------------------------------------------------------------

NORMALIZATION_REFERENCE_FILE = Path(__file__).parent / "reference" / "normalization_torch.npz"

# name -> (dlnotes.normalization function, input key, keyword arguments, parameters as
# argument name -> input key). Compared: the value, and the gradients of x and of each
# parameter given, for the upstream gradient "g_" + input key.
NORMS = {
    "batch_norm": ("batch_norm", "x4d", {}, {"weight": "w3", "bias": "b3"}),
    "batch_norm_plain": ("batch_norm", "x4d", {}, {}),
    "batch_norm_nc_weight": ("batch_norm", "x2d", {}, {"weight": "w3"}),
    "batch_norm_nc_eps": ("batch_norm", "x2d", {"eps": 0.1}, {"bias": "b3"}),
    "instance_norm": ("instance_norm", "x4d", {}, {"weight": "w3", "bias": "b3"}),
    "instance_norm_plain": ("instance_norm", "x3d", {}, {}),
    "group_norm_1": ("group_norm", "x3d", {"num_groups": 1}, {"weight": "w6", "bias": "b6"}),
    "group_norm_2": ("group_norm", "x3d", {"num_groups": 2}, {"weight": "w6", "bias": "b6"}),
    "group_norm_3_plain": ("group_norm", "x3d", {"num_groups": 3}, {}),
    "group_norm_6": ("group_norm", "x3d", {"num_groups": 6}, {"weight": "w6"}),
    "layer_norm": ("layer_norm", "x3d", {"normalized_shape": (5,)},
                   {"weight": "w5", "bias": "b5"}),
    "layer_norm_2_axes": ("layer_norm", "x3d", {"normalized_shape": (6, 5)},
                          {"weight": "w65", "bias": "b65"}),
    "layer_norm_plain": ("layer_norm", "x2d", {"normalized_shape": (3,)}, {}),
    "rms_norm": ("rms_norm", "x3d", {"normalized_shape": (5,)}, {"weight": "w5"}),
    "rms_norm_2_axes_eps": ("rms_norm", "x3d", {"normalized_shape": (6, 5), "eps": 1e-3}, {}),
}  # fmt: skip

# name -> (v key, g key, dim). PyTorch's torch._weight_norm reads dim=-1 as "one norm over
# the whole tensor", which dlnotes spells dim=None. Upstream gradient: "gw_" + v key.
WEIGHT_NORMS = {
    "weight_norm_dim0": ("v2d", "g_rows", 0),
    "weight_norm_dim1": ("v2d", "g_cols", 1),  # one length per output unit of (in, out)
    "weight_norm_whole": ("v2d", "g_whole", None),
    "weight_norm_conv": ("v4d", "g_conv", 0),
}

# nn.BatchNorm2d over several training steps: name -> (momentum, affine).
BATCHNORM_LAYERS = {"momentum_0.1": (0.1, True), "cumulative": (None, True),
                    "momentum_0.5_no_affine": (0.5, False)}  # fmt: skip


def make_normalization_inputs():
    """Inputs of the chapter-4 comparisons, deterministic."""
    rng = np.random.default_rng(2026_04_04)
    channel = np.array([1.0, 3.0, 0.01])[:, None, None]
    x4d = rng.normal(size=(4, 3, 5, 2)) * channel + np.array([0.0, -2.0, 1e3])[:, None, None]
    x2d = rng.normal(size=(6, 3))
    x2d[:, 1] = 2.5  # a constant channel: variance 0, output 0
    x3d = rng.normal(size=(3, 6, 5)) * 2.0 + 0.5
    v4d = rng.normal(size=(6, 3, 2, 2))
    steps = rng.normal(size=(5, 8, 3, 2, 2)) * channel + np.array([1.0, -1.0, 4.0])[:, None, None]
    inputs = {
        "x4d": x4d, "x2d": x2d, "x3d": x3d,
        "w3": rng.normal(size=3), "b3": rng.normal(size=3),
        "w6": rng.normal(size=6), "b6": rng.normal(size=6),
        "w5": rng.normal(size=5), "b5": rng.normal(size=5),
        "w65": rng.normal(size=(6, 5)), "b65": rng.normal(size=(6, 5)),
        "v2d": rng.normal(size=(5, 4)), "v4d": v4d,
        "g_rows": rng.uniform(0.5, 2.0, size=(5, 1)), "g_cols": rng.uniform(0.5, 2.0, size=(1, 4)),
        "g_whole": np.array([[1.7]]), "g_conv": rng.uniform(0.5, 2.0, size=(6, 1, 1, 1)),
        "bn_steps": steps, "bn_eval": rng.normal(size=(2, 3, 2, 2)) * 2.0,
    }  # fmt: skip
    for key in ("x4d", "x2d", "x3d", "bn_eval"):
        inputs["g_" + key] = rng.normal(size=inputs[key].shape)
    for key in ("v2d", "v4d"):
        inputs["gw_" + key] = rng.normal(size=inputs[key].shape)
    inputs["g_bn_steps"] = rng.normal(size=steps.shape[1:])
    return inputs


def torch_normalization_outputs(inputs):
    """torch.nn.functional's norms, torch._weight_norm and nn.BatchNorm2d, with autograd."""
    import torch
    import torch.nn.functional as F

    def tensor(key):
        return torch.tensor(inputs[key], requires_grad=True)

    def torch_norm(fname, x, kwargs, weight, bias):
        if fname == "batch_norm":
            return F.batch_norm(x, None, None, weight, bias, training=True, **kwargs)
        if fname == "instance_norm":
            return F.instance_norm(x, weight=weight, bias=bias, **kwargs)
        if fname == "group_norm":
            # (F.group_norm's backward fails for a bias without a weight: not used here)
            return F.group_norm(x, kwargs["num_groups"], weight, bias)
        if fname == "layer_norm":
            return F.layer_norm(x, kwargs["normalized_shape"], weight, bias)
        return F.rms_norm(x, kwargs["normalized_shape"], weight, eps=kwargs.get("eps"))

    out = {"torch_version": np.array(torch.__version__)}
    for name, (fname, x_key, kwargs, params) in NORMS.items():
        x = tensor(x_key)
        given = {arg: tensor(key) for arg, key in params.items()}
        y = torch_norm(fname, x, kwargs, given.get("weight"), given.get("bias"))
        y.backward(torch.tensor(inputs["g_" + x_key]))
        out[f"{name}:value"] = y.detach().numpy()
        out[f"{name}:grad_x"] = x.grad.numpy()
        for arg, t in given.items():
            out[f"{name}:grad_{arg}"] = t.grad.numpy()

    for name, (v_key, g_key, dim) in WEIGHT_NORMS.items():
        v, g = tensor(v_key), tensor(g_key)
        w = torch._weight_norm(v, g, -1 if dim is None else dim)
        w.backward(torch.tensor(inputs["gw_" + v_key]))
        out[f"{name}:value"] = w.detach().numpy()
        out[f"{name}:grad_v"] = v.grad.numpy()
        out[f"{name}:grad_g"] = g.grad.numpy()

    for name, (momentum, affine) in BATCHNORM_LAYERS.items():
        layer = torch.nn.BatchNorm2d(3, momentum=momentum, affine=affine).double()
        if affine:
            with torch.no_grad():
                layer.weight.copy_(torch.tensor(inputs["w3"]))
                layer.bias.copy_(torch.tensor(inputs["b3"]))
        for step, batch in enumerate(inputs["bn_steps"]):
            x = torch.tensor(batch, requires_grad=True)
            y = layer(x)
            out[f"bn_layer:{name}:{step}:value"] = y.detach().numpy()
            out[f"bn_layer:{name}:{step}:running_mean"] = layer.running_mean.numpy().copy()
            out[f"bn_layer:{name}:{step}:running_var"] = layer.running_var.numpy().copy()
        layer.eval()
        x = tensor("bn_eval")
        y = layer(x)
        y.backward(torch.tensor(inputs["g_bn_eval"]))
        out[f"bn_layer:{name}:eval:value"] = y.detach().numpy()
        out[f"bn_layer:{name}:eval:grad_x"] = x.grad.numpy()
        if affine:
            out[f"bn_layer:{name}:eval:grad_weight"] = layer.weight.grad.numpy()
            out[f"bn_layer:{name}:eval:grad_bias"] = layer.bias.grad.numpy()
    return out


# --- Similarity and distances -------------------------------------------------------

SIMILARITY_REFERENCE_FILE = Path(__file__).parent / "reference" / "similarity_torch.npz"

# name -> (dlnotes.similarity function, names of its two array arguments, keyword
# arguments). Compared on value and on both gradients for the upstream gradient ``g_<x>``.
# PyTorch's eps conventions do not bite on these inputs (norms far above 1e-8; the eps of
# F.pairwise_distance is put into x beforehand: ``x_shifted`` = x + 1e-6).
SIMILARITY = {
    "dot": ("dot", ("x", "y"), {}),
    "cosine": ("cosine_similarity", ("x", "y"), {}),
    "cosine_broadcast": ("cosine_similarity", ("x", "y_row"), {}),
    "cosine_axis0": ("cosine_similarity", ("x", "y"), {"axis": 0}),
    "euclidean": ("euclidean_distance", ("x", "y"), {}),
    "pairwise_distance": ("euclidean_distance", ("x_shifted", "y"), {}),
    "manhattan": ("manhattan_distance", ("x", "y"), {}),
    "minkowski_3": ("minkowski_distance", ("x", "y"), {"p": 3.0}),
    "minkowski_inf": ("minkowski_distance", ("x", "y"), {"p": float("inf")}),
    "mahalanobis": ("mahalanobis_distance", ("x", "y"), {"cov": "cov"}),
}
# name -> (metric, torch.cdist p or None for cosine). Compared for X (n, D) against Y.
CDIST = {"euclidean": 2.0, "sqeuclidean": 2.0, "manhattan": 1.0, "cosine": None}


def make_similarity_inputs():
    """The inputs of every similarity comparison, deterministic."""
    rng = np.random.default_rng(2025_10_06)
    x, y = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    a = rng.normal(size=(8, 8))
    inputs = {
        "x": x,
        "y": y,
        "y_row": rng.normal(size=8),
        "x_shifted": x + 1e-6,
        "cov": a @ a.T / 8 + 0.5 * np.eye(8),
        "X": rng.normal(size=(7, 5)),
        "Y": rng.normal(size=(9, 5)),
        "G": rng.normal(size=(7, 9)),
    }
    for name in SIMILARITY:  # the upstream gradient, one value per pair
        inputs[f"g_{name}"] = rng.normal(size=8 if name == "cosine_axis0" else 6)
    return inputs


def torch_similarity_outputs(inputs):
    """Every similarity comparison computed with PyTorch; returns name -> array."""
    import torch
    import torch.nn.functional as F

    inf = float("inf")

    def mahalanobis(u, v, cov):
        diff = u - v
        return torch.sqrt(torch.sum(diff * torch.linalg.solve(cov, diff.T).T, dim=-1))

    torch_functions = {
        "dot": lambda u, v: torch.sum(u * v, dim=-1),
        "cosine": lambda u, v: F.cosine_similarity(u, v, dim=-1),
        "cosine_broadcast": lambda u, v: F.cosine_similarity(u, v, dim=-1),
        "cosine_axis0": lambda u, v: F.cosine_similarity(u, v, dim=0),
        "euclidean": lambda u, v: torch.linalg.vector_norm(u - v, dim=-1),
        "pairwise_distance": lambda u, v: F.pairwise_distance(u - 1e-6, v),
        "manhattan": lambda u, v: torch.linalg.vector_norm(u - v, ord=1, dim=-1),
        "minkowski_3": lambda u, v: torch.linalg.vector_norm(u - v, ord=3, dim=-1),
        "minkowski_inf": lambda u, v: torch.linalg.vector_norm(u - v, ord=inf, dim=-1),
        "mahalanobis": lambda u, v: mahalanobis(u, v, torch.tensor(inputs["cov"])),
    }
    assert set(torch_functions) == set(SIMILARITY)

    out = {"torch_version": np.array(torch.__version__)}
    for name, (_, arg_names, _) in SIMILARITY.items():
        u, v = (torch.tensor(inputs[k], requires_grad=True) for k in arg_names)
        value = torch_functions[name](u, v)
        value.backward(torch.tensor(inputs[f"g_{name}"]))
        out[f"{name}:value"] = value.detach().numpy()
        out[f"{name}:grad_x"], out[f"{name}:grad_y"] = u.grad.numpy(), v.grad.numpy()
    for metric, p in CDIST.items():
        u, v = (torch.tensor(inputs[k], requires_grad=True) for k in ("X", "Y"))
        if p is None:
            dist = 1 - F.cosine_similarity(u[:, None, :], v[None, :, :], dim=-1)
        else:  # the direct differences, not the Gram identity (torch's default past 25 rows)
            dist = torch.cdist(u, v, p=p, compute_mode="donot_use_mm_for_euclid_dist")
            dist = dist**2 if metric == "sqeuclidean" else dist
        dist.backward(torch.tensor(inputs["G"]))
        out[f"cdist_{metric}:value"] = dist.detach().numpy()
        out[f"cdist_{metric}:grad_x"] = u.grad.numpy()
        out[f"cdist_{metric}:grad_y"] = v.grad.numpy()
    return out


# --- Optimizers and schedules -------------------------------------------------------

OPTIM_REFERENCE_FILE = Path(__file__).parent / "reference" / "optim_torch.npz"
OPTIM_STEPS = 200
OPTIM_CHECKPOINTS = (1, 2, 3, 10, 50, 100, 200)  # parameters are stored after these steps
# name -> (optimizer class name, keyword arguments, lr scheduled or not). Every case runs
# on every problem of OPTIM_PROBLEMS; the lr of a problem is the case's times its scale.
OPTIM_CASES = {
    "sgd": ("SGD", {"lr": 0.02}, False),
    "sgd_momentum": ("SGD", {"lr": 0.02, "momentum": 0.9}, False),
    "sgd_dampening_wd": ("SGD", {"lr": 0.02, "momentum": 0.8, "dampening": 0.5,
                                 "weight_decay": 0.1}, False),
    "sgd_nesterov": ("SGD", {"lr": 0.02, "momentum": 0.9, "nesterov": True}, False),
    "sgd_momentum_scheduled": ("SGD", {"lr": 0.02, "momentum": 0.9}, True),
    "adagrad": ("Adagrad", {"lr": 0.5}, False),
    "adagrad_options": ("Adagrad", {"lr": 0.5, "lr_decay": 0.01, "weight_decay": 0.1,
                                    "initial_accumulator_value": 0.5, "eps": 1e-6}, True),
    "rmsprop": ("RMSprop", {"lr": 0.01}, False),
    "rmsprop_centered": ("RMSprop", {"lr": 0.01, "centered": True}, False),
    "rmsprop_momentum": ("RMSprop", {"lr": 0.01, "momentum": 0.9, "alpha": 0.9}, False),
    "rmsprop_all": ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True,
                                "weight_decay": 0.1, "eps": 1e-3}, True),
    "adam": ("Adam", {"lr": 0.05}, False),
    "adam_amsgrad": ("Adam", {"lr": 0.05, "amsgrad": True}, False),
    "adam_wd_betas": ("Adam", {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-3,
                               "weight_decay": 0.1}, False),
    "adam_scheduled": ("Adam", {"lr": 0.05}, True),
    "adamw": ("AdamW", {"lr": 0.05}, False),
    "adamw_amsgrad_wd": ("AdamW", {"lr": 0.05, "weight_decay": 0.5, "amsgrad": True}, False),
    "adamw_scheduled": ("AdamW", {"lr": 0.05, "betas": (0.8, 0.99)}, True),
}  # fmt: skip
OPTIM_PROBLEMS = {"quadratic": 1.0, "rosenbrock": 0.02}  # problem -> lr scale
# dlnotes state name -> PyTorch state name
OPTIM_STATE_NAMES = {"b": "momentum_buffer", "G": "sum", "m": "exp_avg", "g_avg": "grad_avg",
                     "v_max": "max_exp_avg_sq"}  # fmt: skip


def optim_state_name(optimizer, name):
    """PyTorch's name of a dlnotes state buffer (``v`` is RMSprop's square_avg)."""
    if name == "v":
        return "square_avg" if optimizer == "RMSprop" else "exp_avg_sq"
    return OPTIM_STATE_NAMES[name]


def optim_lr(base, k):
    """The lr of step k (from 0) of a scheduled case: a half cosine from base to base/10."""
    return base * (0.55 + 0.45 * np.cos(np.pi * k / OPTIM_STEPS))


def optim_gradients(problem, params, k, inputs):
    """The gradient of step k (from 0) at ``params`` (numpy arrays): a random quadratic
    per array plus fixed noise (coordinates of very different noise scales), or
    Rosenbrock's function on four (x, y) pairs."""
    if problem == "quadratic":
        grads = []
        for i, p in enumerate(params):
            A, c = inputs[f"quad_A{i}"], inputs[f"quad_c{i}"]
            noise = inputs[f"quad_noise{i}"][k]
            grads.append((A @ (p.reshape(-1) - c) + noise).reshape(p.shape))
        return grads
    x, y = params[0][:, 0], params[0][:, 1]
    return [np.stack([-2.0 * (1.0 - x) - 400.0 * x * (y - x**2), 200.0 * (y - x**2)], axis=1)]


def optim_start(problem, inputs):
    """Fresh copies of the starting parameters of a problem."""
    if problem == "quadratic":
        return [inputs[f"quad_start{i}"].copy() for i in range(3)]
    return [inputs["rosen_start"].copy()]


def make_optim_inputs():
    """Inputs of the chapter-8 comparisons (random quadratics, Rosenbrock), deterministic."""
    rng = np.random.default_rng(2026_08_08)
    out = {}
    for i, shape in enumerate([(3, 4), (5,), ()]):
        n = int(np.prod(shape))
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        eigenvalues = np.geomspace(0.1, 10.0, n)  # condition number 100
        out[f"quad_A{i}"] = (q * eigenvalues) @ q.T
        out[f"quad_c{i}"] = rng.normal(size=n)
        out[f"quad_start{i}"] = rng.normal(size=shape)
        scales = np.geomspace(0.01, 3.0, n)  # small and large gradient variance
        out[f"quad_noise{i}"] = rng.normal(size=(OPTIM_STEPS, n)) * scales
    out["rosen_start"] = np.array([[-1.2, 1.0], [0.5, -0.5], [1.5, 1.5], [-0.5, 2.0]])
    return out


def torch_optim_outputs(inputs):
    """torch.optim (foreach=False) on every case and problem, and the lr schedulers."""
    import warnings

    import torch
    from torch.optim import lr_scheduler as S

    out = {"torch_version": np.array(torch.__version__)}
    for case, (cls, kwargs, scheduled) in OPTIM_CASES.items():
        for problem, scale in OPTIM_PROBLEMS.items():
            kw = kwargs | {"lr": kwargs["lr"] * scale}
            tensors = [torch.tensor(p) for p in optim_start(problem, inputs)]
            opt = getattr(torch.optim, cls)(tensors, foreach=False, **kw)
            for k in range(OPTIM_STEPS):
                if scheduled:
                    opt.param_groups[0]["lr"] = optim_lr(kw["lr"], k)
                grads = optim_gradients(problem, [t.numpy() for t in tensors], k, inputs)
                for t, g in zip(tensors, grads, strict=True):
                    t.grad = torch.tensor(g)
                opt.step()
                if k + 1 in OPTIM_CHECKPOINTS:
                    for i, t in enumerate(tensors):
                        out[f"{case}:{problem}:{k + 1}:p{i}"] = t.numpy().copy()
            for i, t in enumerate(tensors):
                for name, value in opt.state[t].items():
                    out[f"{case}:{problem}:state{i}:{name}"] = value.numpy().copy()

    def lrs(make, steps=300, base=0.1):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        scheduler = make(opt)
        values = []
        for _ in range(steps):
            values.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        return np.array(values)

    d_model, warmup = 512, 40

    def noam(t):  # the paper's formula, step numbers from 1
        s = t + 1
        return d_model**-0.5 * min(s**-0.5, s * warmup**-1.5)

    def warmup_cosine_from_zero(t):  # 0 -> 1 in 25 steps, cosine to 0 at step 250, then 0
        if t < 25:
            return t / 25
        return 0.5 * (1.0 + np.cos(np.pi * min(t - 25, 225) / 225))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's deprecated epoch argument
        out["sched:step"] = lrs(lambda o: S.StepLR(o, step_size=30, gamma=0.5))
        out["sched:exponential"] = lrs(lambda o: S.ExponentialLR(o, gamma=0.98))
        out["sched:cosine"] = lrs(lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-3))
        out["sched:cosine_zero"] = lrs(lambda o: S.CosineAnnealingLR(o, T_max=120))
        for T_0, T_mult in ((50, 1), (10, 2), (7, 3)):
            out[f"sched:restarts:{T_0}:{T_mult}"] = lrs(
                lambda o, a=T_0, b=T_mult: S.CosineAnnealingWarmRestarts(o, a, b, eta_min=0.01)
            )
        out["sched:linear_default"] = lrs(lambda o: S.LinearLR(o))
        out["sched:linear"] = lrs(lambda o: S.LinearLR(o, start_factor=0.1, total_iters=40))
        out["sched:linear_down"] = lrs(
            lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.5, total_iters=60)
        )
        out["sched:warmup_cosine_sequential"] = lrs(
            lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=30),
                                         S.CosineAnnealingLR(o, T_max=170, eta_min=1e-4)],
                                     milestones=[30]), steps=201)  # fmt: skip
        out["sched:warmup_cosine_lambda"] = lrs(
            lambda o: S.LambdaLR(o, warmup_cosine_from_zero), base=1.0
        )
        out["sched:inverse_sqrt"] = lrs(lambda o: S.LambdaLR(o, noam), base=1.0)
    return out


# --- Layers and a training run (nn) --------------------------------------------------

NN_REFERENCE_FILE = Path(__file__).parent / "reference" / "nn_torch.npz"

# The parity run: an MLP in -> hidden -> hidden -> classes (Linear, LayerNorm, GELU,
# dropout; then Linear), label-smoothed cross-entropy, clipping by the total norm, AdamW
# with linear warmup then cosine decay, for NN_STEPS mini-batches.
NN_SIZES = (12, 16, 16, 5)
NN_STEPS, NN_BATCH, NN_P, NN_MASK_SEED = 100, 8, 0.2, 2026_05_11
NN_HYPER = {"lr": 1e-2, "warmup_steps": 10, "eta_min": 1e-4, "start_factor": 0.01,
            "weight_decay": 0.01, "label_smoothing": 0.1, "max_norm": 1.5}  # fmt: skip


def make_nn_inputs():
    """Initial weights ((in, out) layout), mini-batches, and the dropout masks of the run.

    The masks are the kept entries ``keep[t, k]`` of dropout layer k at step t, drawn as
    ``dropout_mask`` draws them (``rng.random(shape) >= p``) from one generator seeded
    NN_MASK_SEED, step by step, layer by layer: a network whose two Dropout layers share
    ``default_rng(NN_MASK_SEED)`` draws the same masks (the test checks that it does).
    """
    rng = np.random.default_rng(2026_05_10)
    inputs = {}
    for i, (fan_in, fan_out) in enumerate(zip(NN_SIZES[:-1], NN_SIZES[1:], strict=True)):
        inputs[f"w{i}"] = rng.normal(size=(fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        inputs[f"b{i}"] = rng.normal(size=fan_out) * 0.1
    for k in range(2):
        inputs[f"ln_w{k}"] = rng.uniform(0.5, 1.5, size=NN_SIZES[1])
        inputs[f"ln_b{k}"] = rng.normal(size=NN_SIZES[1]) * 0.1
    inputs["x"] = rng.normal(size=(NN_STEPS, NN_BATCH, NN_SIZES[0]))
    inputs["y"] = rng.integers(0, NN_SIZES[-1], size=(NN_STEPS, NN_BATCH))
    mask_rng = np.random.default_rng(NN_MASK_SEED)
    inputs["keep"] = np.array([[mask_rng.random((NN_BATCH, NN_SIZES[1])) >= NN_P
                                for _ in range(2)] for _ in range(NN_STEPS)])  # fmt: skip
    # one batch for the single-layer comparisons (hidden width), and upstream gradients
    inputs["layer_x"] = rng.normal(size=(5, NN_SIZES[1])) * 2.0
    inputs["layer_g"] = rng.normal(size=(5, NN_SIZES[1]))
    inputs["layer_g_out"] = rng.normal(size=(5, NN_SIZES[-1]))
    return inputs


def torch_nn_outputs(inputs):
    """Each layer with autograd, and the parity run with torch.nn, torch.optim.AdamW,
    SequentialLR(LinearLR, CosineAnnealingLR) and clip_grad_norm_."""
    import torch
    import torch.nn.functional as F

    S = torch.optim.lr_scheduler
    hp = NN_HYPER

    def linear(i):
        layer = torch.nn.Linear(*NN_SIZES[i : i + 2]).double()
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(inputs[f"w{i}"].T))
            layer.bias.copy_(torch.tensor(inputs[f"b{i}"]))
        return layer

    def layer_norm(k):
        layer = torch.nn.LayerNorm(NN_SIZES[1]).double()
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(inputs[f"ln_w{k}"]))
            layer.bias.copy_(torch.tensor(inputs[f"ln_b{k}"]))
        return layer

    out = {"torch_version": np.array(torch.__version__)}
    g_hidden, g_out = torch.tensor(inputs["layer_g"]), torch.tensor(inputs["layer_g_out"])
    for name, layer, g in (("linear", linear(2), g_out), ("layer_norm", layer_norm(0), g_hidden),
                           ("gelu", torch.nn.GELU(), g_hidden)):  # fmt: skip
        x = torch.tensor(inputs["layer_x"], requires_grad=True)
        y = layer(x)
        y.backward(g)
        out[f"layer:{name}:value"] = y.detach().numpy()
        out[f"layer:{name}:grad_x"] = x.grad.numpy()
        for pname, param in layer.named_parameters():
            grad = param.grad.numpy()
            out[f"layer:{name}:grad_{pname}"] = grad.T if grad.ndim == 2 else grad

    linears, norms = [linear(i) for i in range(3)], [layer_norm(k) for k in range(2)]
    params = [p for k in range(2) for m in (linears[k], norms[k]) for p in (m.weight, m.bias)]
    params += [linears[2].weight, linears[2].bias]  # in the order of Sequential.parameters()
    opt = torch.optim.AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
    warmup = S.LinearLR(opt, start_factor=hp["start_factor"], total_iters=hp["warmup_steps"])
    cosine = S.CosineAnnealingLR(opt, T_max=NN_STEPS - hp["warmup_steps"], eta_min=hp["eta_min"])
    sched = S.SequentialLR(opt, [warmup, cosine], milestones=[hp["warmup_steps"]])
    masks = np.where(inputs["keep"], 1.0 / (1.0 - NN_P), 0.0)  # dropout_mask's values
    losses, norms_, lrs = [], [], []
    for t in range(NN_STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        h = torch.tensor(inputs["x"][t])
        for k in range(2):
            h = F.gelu(norms[k](linears[k](h))) * torch.tensor(masks[t, k])
        loss = F.cross_entropy(linears[2](h), torch.tensor(inputs["y"][t]),
                               label_smoothing=hp["label_smoothing"])  # fmt: skip
        opt.zero_grad()
        loss.backward()
        norms_.append(torch.nn.utils.clip_grad_norm_(params, hp["max_norm"]).item())
        opt.step()
        sched.step()
        losses.append(loss.item())
    out["run:loss"], out["run:total_norm"], out["run:lr"] = map(np.array, (losses, norms_, lrs))
    for i, p in enumerate(params):
        value = p.detach().numpy()
        out[f"run:final:{i}"] = value.T if value.ndim == 2 else value
    return out


# module -> (reference file, inputs, PyTorch's outputs for them). A new module adds one
# entry (and its two functions above); ``python tests/torch_reference.py <module>``
# rewrites that module's file only, all of them without an argument.
REFERENCES = {
    "attention": (ATTENTION_REFERENCE_FILE, make_attention_inputs, torch_attention_outputs),
    "activations": (REFERENCE_FILE, make_inputs, torch_outputs),
    "losses": (LOSS_REFERENCE_FILE, make_loss_inputs, torch_loss_outputs),
    "normalization": (
        NORMALIZATION_REFERENCE_FILE,
        make_normalization_inputs,
        torch_normalization_outputs,
    ),
    "numerics": (NUMERICS_REFERENCE_FILE, make_numerics_inputs, torch_numerics_outputs),
    "regularization": (
        REGULARIZATION_REFERENCE_FILE,
        make_regularization_inputs,
        torch_regularization_outputs,
    ),
    "initializers": (
        INITIALIZERS_REFERENCE_FILE,
        make_initializers_inputs,
        torch_initializers_outputs,
    ),
    "similarity": (
        SIMILARITY_REFERENCE_FILE,
        make_similarity_inputs,
        torch_similarity_outputs,
    ),
    "optim": (OPTIM_REFERENCE_FILE, make_optim_inputs, torch_optim_outputs),
    "nn": (NN_REFERENCE_FILE, make_nn_inputs, torch_nn_outputs),
}


def load_reference(module):
    """The committed PyTorch results of ``module``, checked to have been written from the
    inputs the tests use now (a stale file fails here: rewrite it with this script)."""
    path, make, _ = REFERENCES[module]
    reference = dict(np.load(path))
    for key, value in make().items():
        np.testing.assert_array_equal(reference[key], value, err_msg=f"{path.name}: {key}")
    return reference


if __name__ == "__main__":
    import sys

    for module in sys.argv[1:] or list(REFERENCES):
        path, make, compute = REFERENCES[module]
        path.parent.mkdir(exist_ok=True)
        inputs = make()
        results = compute(inputs)
        np.savez_compressed(path, **inputs, **results)
        print(f"wrote {path} ({len(results)} arrays, torch {results['torch_version']})")
