"""Layers for a small training loop (chapter 10): the book's functions, put together.

A layer has ``forward(x)``, which calls a function of chapters 1-5 and keeps what the
backward pass needs, and ``backward(g)``, which calls the matching ``_grad`` with the
upstream gradient ``g`` (the gradient of the loss with respect to the layer's output),
returns the gradient with respect to the layer's input and **adds** the gradients of its
parameters into ``grads`` (a dict of arrays, one per entry of ``params``, named as in
``torch.nn``: ``weight``, ``bias``). Layers add no formula of their own: a
:class:`Linear` is ``x @ W + b`` and its three products, everything else is a call.

:class:`Sequential` runs the layers forward and backward and lists the parameter arrays
and their gradients, in the same order, for the optimizers of chapter 8, which update the
parameter arrays in place: a layer never rebinds them. Inputs are 2-D ``(N, features)``
(a batch of rows); weights are ``(fan_in, fan_out)`` (PyTorch's ``nn.Linear`` stores the
transpose). Randomness (initial weights, dropout masks) only through an explicit
``rng: numpy.random.Generator``. A shape that does not fit a layer raises ``ValueError``
naming the layer.
"""

import numpy as np

from dlnotes import activations, initializers, losses, normalization, numerics, regularization
from dlnotes._checks import as_float_array

__all__ = [
    "Layer", "Linear", "Activation", "Dropout", "LayerNorm", "Sequential", "train_step",
]  # fmt: skip


# --- The layer contract -------------------------------------------------------------


class Layer:
    """Base class: ``params`` and ``grads`` (dicts of arrays), the ``training`` flag, and
    the input check every layer makes."""

    def __init__(self):
        self.params, self.grads, self.training = {}, {}, True
        self._x = None

    def _add_param(self, name, value):
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def zero_grad(self):
        """Set every parameter gradient to 0, in place."""
        for g in self.grads.values():
            g[...] = 0.0

    def _input(self, x, features=None):
        """``x`` as a float array of shape (N, features), remembered for backward."""
        x = as_float_array(x, "x")
        if x.ndim != 2 or (features is not None and x.shape[1] != features):
            want = f"(N, {features})" if features is not None else "(N, features)"
            raise ValueError(f"{self!r} expects x of shape {want}, got {x.shape}")
        self._x = x
        return x

    def _upstream(self, g, features=None):
        """The upstream gradient, checked against the shape of the last output (``features``
        columns, or as many as the input had)."""
        if self._x is None:
            raise ValueError(f"{self!r}: backward called before forward")
        g = as_float_array(g, "g")
        shape = self._x.shape if features is None else (self._x.shape[0], features)
        if g.shape != shape:
            raise ValueError(f"{self!r} expects g of shape {shape}, got {g.shape}")
        return g


# --- Linear (chapter 5's initializers) ----------------------------------------------


class Linear(Layer):
    r"""Affine layer :math:`y = xW + b`, W of shape (in_features, out_features).

    ``init(shape, rng=rng, dtype=dtype)`` draws W: He's ``kaiming_normal`` by default
    (chapter 5), the bias starts at 0. PyTorch's ``nn.Linear`` draws both from
    ``kaiming_uniform(a=sqrt(5))`` instead; pass ``weight``/``bias`` to start from given
    values (copied).
    """

    def __init__(self, in_features, out_features, *, rng=None, init=None, weight=None,
                 bias=None, dtype=np.float64):  # fmt: skip
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        shape = (self.in_features, self.out_features)
        if weight is None:
            init = initializers.kaiming_normal if init is None else init
            weight = init(shape, rng=rng, dtype=dtype)
        weight = np.array(as_float_array(weight, "weight"), dtype=dtype)
        bias = np.zeros(shape[1], dtype) if bias is None else np.array(bias, dtype=dtype)
        if weight.shape != shape or bias.shape != shape[1:]:
            raise ValueError(f"{self!r}: weight must be {shape} and bias {shape[1:]}, "
                             f"got {weight.shape} and {bias.shape}")  # fmt: skip
        self._add_param("weight", weight)
        self._add_param("bias", bias)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"

    def forward(self, x):
        x = self._input(x, self.in_features)
        return x @ self.params["weight"] + self.params["bias"]

    def backward(self, g):
        g = self._upstream(g, self.out_features)
        self.grads["weight"] += self._x.T @ g  # dL/dW = x^T g
        self.grads["bias"] += g.sum(axis=0)  # dL/db = sum of g over the batch
        return g @ self.params["weight"].T  # dL/dx = g W^T


# --- Activation (chapter 1) ---------------------------------------------------------


class Activation(Layer):
    """Any elementwise pair ``f``, ``f_grad`` of chapter 1, by name: ``Activation("gelu")``,
    ``Activation("leaky_relu", negative_slope=0.2)``. The backward pass is
    ``g * f_grad(x)``."""

    def __init__(self, name, **kwargs):
        super().__init__()
        if name in ("softmax", "log_softmax") or not hasattr(activations, name + "_grad"):
            raise ValueError(f"name must be an elementwise activation of dlnotes.activations "
                             f"with a _grad, got {name!r}")  # fmt: skip
        self.name, self.kwargs = name, kwargs
        self.f = getattr(activations, name)
        self.f_grad = getattr(activations, name + "_grad")

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"Activation({self.name!r}{args})"

    def forward(self, x):
        return self.f(self._input(x), **self.kwargs)

    def backward(self, g):
        return self._upstream(g) * self.f_grad(self._x, **self.kwargs)


# --- Dropout (chapter 3) ------------------------------------------------------------


class Dropout(Layer):
    """Inverted dropout with probability p: ``x * m`` with m from ``dropout_mask``, drawn
    from ``rng`` in training mode; the identity in eval mode. The backward pass is
    ``g * m``. The last mask stays readable as ``mask``."""

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        regularization.dropout(np.zeros(0), p, training=False)  # checks p now
        if rng is None and 0.0 < p < 1.0:
            raise TypeError("rng is required: 0 < p < 1 draws masks (pass rng=Generator)")
        self.p, self.rng, self.mask = p, rng, None

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def forward(self, x):
        x = self._input(x)
        if not self.training:
            self.mask = np.ones_like(x)
        else:
            self.mask = regularization.dropout_mask(x.shape, self.p, rng=self.rng,
                                                    dtype=x.dtype)  # fmt: skip
        return x * self.mask

    def backward(self, g):
        return self._upstream(g) * self.mask


# --- LayerNorm (chapter 4) ----------------------------------------------------------


class LayerNorm(Layer):
    """Layer normalization over the features of each row, with a learnable ``weight``
    (gamma, starts at 1) and ``bias`` (beta, starts at 0), as ``nn.LayerNorm``."""

    def __init__(self, features, eps=normalization.DEFAULT_EPS, *, dtype=np.float64):
        super().__init__()
        self.features, self.eps = int(features), eps
        self._add_param("weight", np.ones(self.features, dtype))
        self._add_param("bias", np.zeros(self.features, dtype))

    def __repr__(self):
        return f"LayerNorm({self.features})"

    def _args(self):
        return (self.features,), self.params["weight"], self.params["bias"], self.eps

    def forward(self, x):
        return normalization.layer_norm(self._input(x, self.features), *self._args())

    def backward(self, g):
        g = self._upstream(g)
        dx, dweight, dbias = normalization.layer_norm_grad(self._x, g, *self._args())
        self.grads["weight"] += dweight
        self.grads["bias"] += dbias
        return dx


# --- Sequential ---------------------------------------------------------------------


class Sequential:
    """Layers run in order; ``backward`` runs them in reverse. ``parameters()`` and
    ``gradients()`` list the arrays layer by layer, in the same order, for an optimizer:
    ``AdamW(model.parameters())`` then ``opt.step(model.gradients())``."""

    def __init__(self, *layers):
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise TypeError("layers must be one or more dlnotes.nn layers")
        self.layers = list(layers)

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            try:
                x = layer.forward(x)
            except ValueError as err:  # say which layer, as PyTorch's traceback does
                raise ValueError(f"layer {i}: {err}") from err
        return x

    def backward(self, g):
        for i in reversed(range(len(self.layers))):
            try:
                g = self.layers[i].backward(g)
            except ValueError as err:
                raise ValueError(f"layer {i}: {err}") from err
        return g

    def named_parameters(self):
        """``(name, array)`` pairs, named ``"<layer index>.<param>"`` as in PyTorch."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.params.items()]  # fmt: skip

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def gradients(self):
        return [layer.grads[name] for layer in self.layers for name in layer.params]

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()

    def train(self, mode=True):
        """Training mode (dropout draws masks) or, with ``mode=False``, eval mode."""
        for layer in self.layers:
            layer.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)


# --- One training step (chapters 2, 8 and 9) ----------------------------------------


def train_step(model, optimizer, x, target, *, label_smoothing=0.0, max_norm=None):
    """Forward, label-smoothed cross-entropy, backward, clipping by the total norm, update.

    Returns the batch's loss (before the update) and the total gradient norm (before
    clipping). ``optimizer`` holds ``model.parameters()`` and updates them in place; set
    its ``lr`` from a schedule before the call. ``max_norm=None`` does not clip.
    """
    model.train()
    model.zero_grad()
    logits = model.forward(x)
    loss = losses.cross_entropy(logits, target, label_smoothing=label_smoothing)
    model.backward(losses.cross_entropy_grad(logits, target, label_smoothing=label_smoothing))
    grads = model.gradients()
    if max_norm is None:
        total = numerics.total_norm(grads)
    else:
        grads, total = numerics.clip_grad_norm(grads, max_norm)
    optimizer.step(grads)
    return float(loss), float(total)
