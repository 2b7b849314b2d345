"""Speed of dlnotes against the numpy floor and PyTorch, printed as ratios (not a test).

    make bench          (or: python benchmarks/benchmark.py)

For each activation on 10^6 float64 values: its time divided by one ``np.exp`` over the
same array (the cheapest a numpy formula with an exponential can be), the same for its
derivative, and its time divided by PyTorch's on one CPU thread, when torch is installed.
Times are the best of 15 repeats, measured in the same run on the same machine; on a
shared virtual machine they still vary by 10-30 % from run to run.

glibc returns freed 8 MB arrays to the system, so every numpy temporary is a fresh
mapping whose first touch page-faults; on a virtual machine that costs about as much as
the exp itself and would swamp what is measured. The script therefore re-runs itself with
malloc told to keep freed memory (PyTorch's own caching allocator does the same for it).
"""

import os
import sys
import timeit

import numpy as np

from dlnotes import activations as A

N = 10**6
TARGET_VS_EXP = 3.0

# label -> (function, derivative, name in torch.nn.functional or None, keyword arguments)
ELEMENTWISE = {
    "sigmoid": (A.sigmoid, A.sigmoid_grad, "sigmoid", {}),
    "log_sigmoid": (A.log_sigmoid, A.log_sigmoid_grad, "logsigmoid", {}),
    "tanh": (A.tanh, A.tanh_grad, "tanh", {}),
    "relu": (A.relu, A.relu_grad, "relu", {}),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_grad, "leaky_relu", {}),
    "prelu": (A.prelu, A.prelu_grad, "prelu", {"a": 0.25}),
    "elu": (A.elu, A.elu_grad, "elu", {}),
    "selu": (A.selu, A.selu_grad, "selu", {}),
    "gelu": (A.gelu, A.gelu_grad, "gelu", {}),
    "gelu(tanh)": (A.gelu, A.gelu_grad, "gelu", {"approximate": "tanh"}),
    "silu": (A.silu, A.silu_grad, "silu", {}),
    "swish(beta=1.5)": (A.swish, A.swish_grad, None, {"beta": 1.5}),
    "mish": (A.mish, A.mish_grad, "mish", {}),
    "softplus": (A.softplus, A.softplus_grad, "softplus", {}),
}


def best_time(fn, repeat=15, number=3):
    """Best wall time of one call, in seconds (the minimum is the least noisy estimate)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def torch_timer():
    """A function timing torch.nn.functional calls on one thread, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    F = torch.nn.functional

    def time_torch(name, array, kwargs):
        t = torch.from_numpy(array)
        if name == "prelu":  # PReLU's slope is a tensor argument
            kwargs = {"weight": torch.tensor([kwargs["a"]], dtype=t.dtype)}
        fn = getattr(torch, name, None) if name in ("sigmoid", "tanh") else getattr(F, name)
        with torch.no_grad():
            return best_time(lambda: fn(t, **kwargs))

    return time_torch


def main():
    x = np.random.default_rng(0).normal(scale=3.0, size=N)
    z = x.reshape(1000, 1000)
    floor = best_time(lambda: np.exp(x))
    time_torch = torch_timer()
    print(f"10^6 float64 values; np.exp takes {floor * 1e3:.2f} ms (the floor); "
          "malloc keeps freed memory")  # fmt: skip
    if time_torch is None:
        print("torch is not installed: no PyTorch column")
    header = f"{'function':<18}{'f / exp':>10}{'grad / exp':>12}{'f / torch':>12}"
    print(header)
    print("-" * len(header))

    worst = 0.0
    rows = [(label, f, df, tname, kw) for label, (f, df, tname, kw) in ELEMENTWISE.items()]
    rows += [
        ("softmax", A.softmax, lambda t: A.softmax_grad(t, t), "softmax", {"axis": -1}),
        ("log_softmax", A.log_softmax, lambda t: A.log_softmax_grad(t, t), "log_softmax",
         {"axis": -1}),
    ]  # fmt: skip
    for label, f, df, tname, kwargs in rows:
        data = z if label.endswith("softmax") else x
        ratio = best_time(lambda: f(data, **kwargs)) / floor  # noqa: B023 (called at once)
        grad_kwargs = {} if label.endswith("softmax") else kwargs
        grad_ratio = best_time(lambda: df(data, **grad_kwargs)) / floor  # noqa: B023
        worst = max(worst, ratio)
        vs_torch = "-"
        if time_torch is not None and tname is not None:
            torch_kwargs = {"dim": -1} if label.endswith("softmax") else kwargs
            if label == "gelu(tanh)":
                torch_kwargs = {"approximate": "tanh"}
            ours = best_time(lambda: f(data, **kwargs))  # noqa: B023
            vs_torch = f"{ours / time_torch(tname, data, dict(torch_kwargs)):.2f}"
        print(f"{label:<18}{ratio:>10.2f}{grad_ratio:>12.2f}{vs_torch:>12}")
    verdict = "met" if worst <= TARGET_VS_EXP else "NOT met"
    print(f"\nslowest forward: {worst:.2f} x np.exp (target <= {TARGET_VS_EXP}: {verdict})")


MALLOC_KEEP = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}

if __name__ == "__main__":
    if any(os.environ.get(k) != v for k, v in MALLOC_KEEP.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], os.environ | MALLOC_KEEP)
    main()
