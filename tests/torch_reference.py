"""The activation comparisons against PyTorch: the inputs, and what PyTorch returns for them.

Run as a script (with torch installed) to rewrite ``reference/activations_torch.npz``:

    python tests/torch_reference.py

That file is committed, so the tests compare against PyTorch even where torch is not
installed; where it is, they also compute the same results live (see test_activations.py).
Everything is float64; gradients come from autograd.
"""

from pathlib import Path

import numpy as np

REFERENCE_FILE = Path(__file__).parent / "reference" / "activations_torch.npz"

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


if __name__ == "__main__":
    inputs = make_inputs()
    results = torch_outputs(inputs)
    REFERENCE_FILE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE_FILE, **inputs, **results)
    print(f"wrote {REFERENCE_FILE} ({len(results)} arrays, torch {results['torch_version']})")
