"""Optimizers and learning-rate schedules (chapter 8).

Optimizers are small classes with ``torch.optim``'s constructor arguments and defaults::

    opt = Adam(params, lr=1e-3)
    for t in range(steps):
        opt.lr = schedule(t)        # optional: the lr may change between steps
        opt.step(grads_at(params))

``params`` is a list (or tuple) of floating-point numpy arrays and ``step(grads)`` updates
them **in place**, as ``torch.optim`` does. This is the one documented exception in
dlnotes to "inputs are never modified": the parameter arrays are the optimizer's to
change; the gradient arrays passed to ``step`` are never modified. ``grads`` is a list of
arrays of the parameters' shapes. There is no ``zero_grad``: gradients are passed in.

The state is readable: ``opt.t`` is the number of steps taken, ``opt.state[i]`` a dict
of the buffers of parameter ``i``, named after the chapter's symbols (``b`` the momentum
buffer, ``G`` Adagrad's sum of squares, ``m`` and ``v`` the first and second moments,
``g_avg`` centered RMSprop's mean gradient, ``v_max`` AMSGrad's running maximum). Buffers
have the parameter's dtype.

Schedules are pure functions of the step ``t`` (an int or an integer array of steps,
vectorised; ``t = 0`` is the first step, PyTorch's ``last_epoch``) that return the
learning rate as float64, with the names and semantics of ``torch.optim.lr_scheduler``
where PyTorch has the schedule. Bad arguments raise ``ValueError``/``TypeError`` naming
the argument.
"""

import numpy as np

from dlnotes._checks import as_float_array, check_int, check_real, check_same_shape

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
    "step_lr", "exponential_lr", "exponential_decay", "cosine_annealing_lr",
    "cosine_annealing_warm_restarts", "linear_warmup", "warmup_cosine", "inverse_sqrt",
]  # fmt: skip


# --- Shared pieces of the update rules ----------------------------------------------


def _ema(avg, x, beta):
    r"""Exponential moving average in place: :math:`a \leftarrow \beta a + (1 - \beta) x`.

    Written :math:`a + (1 - \beta)(x - a)`, the same value, as PyTorch's ``lerp_`` does,
    so that the rounding matches too.
    """
    avg += (1.0 - beta) * (x - avg)


def _ema_of_square(avg, g, beta):
    r"""The moving average of :math:`g^2` in place: :math:`a \leftarrow \beta a + (1 - \beta) g^2`
    (in PyTorch's order of operations)."""
    avg *= beta
    avg += (1.0 - beta) * g * g


def _bias_correction(beta, t):
    r""":math:`1 - \beta^t`: the weight an EMA started at 0 has put on the data after t steps."""
    return 1.0 - beta**t


def _l2_gradient(g, theta, weight_decay):
    r"""Coupled weight decay (L2): :math:`g + \lambda\theta`, a new array (g is not modified)."""
    return g + weight_decay * theta if weight_decay != 0 else g


def _decay_weights(theta, lr, weight_decay):
    r"""Decoupled weight decay in place: :math:`\theta \leftarrow \theta(1 - \eta\lambda)`."""
    if weight_decay != 0:
        theta *= 1.0 - lr * weight_decay


def _check_beta(value, name):
    """A coefficient of an exponential moving average, in [0, 1)."""
    value = check_real(value, name, minimum=0.0)
    if value >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def _check_params(params):
    """The parameter list: floating-point, writeable ndarrays (they are updated in place)."""
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of numpy arrays, got {type(params).__name__}")
    if not params:
        raise ValueError("params must not be empty")
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            kind = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
            raise TypeError(f"params[{i}] must be a floating-point numpy array, got {kind}")
        if not p.flags.writeable:
            raise ValueError(f"params[{i}] must be writeable: the optimizer updates it in place")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("params must not contain the same array twice")
    return list(params)


# --- Optimizers ---------------------------------------------------------------------


class Optimizer:
    """Base class: holds ``params``, the learning rate ``lr``, the step count ``t`` and
    one state dict per parameter. Subclasses fill the state and define ``step``."""

    def __init__(self, params, lr):
        self.params = _check_params(params)
        self.lr = lr
        self.t = 0
        self.state = [{} for _ in self.params]

    @property
    def lr(self):
        """The learning rate of the next step; a schedule may set it between steps."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_real(value, "lr", minimum=0.0)

    def _zeros(self, value=0.0):
        """A buffer per parameter, of its shape and dtype, filled with ``value``."""
        return [np.full_like(p, value) for p in self.params]

    def _with_grads(self, grads):
        """Count the step; return (theta, g, state) for each parameter."""
        if isinstance(grads, np.ndarray) or not isinstance(grads, (list, tuple)):
            raise TypeError(f"grads must be a list of arrays, got {type(grads).__name__}")
        if len(grads) != len(self.params):
            raise ValueError(f"grads must have one array per parameter: "
                             f"{len(grads)} != {len(self.params)}")  # fmt: skip
        checked = []
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            g = as_float_array(g, f"grads[{i}]")
            check_same_shape(p, f"params[{i}]", g, f"grads[{i}]")
            checked.append(g)
        self.t += 1
        return zip(self.params, checked, self.state, strict=True)


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, PyTorch's form.

    .. math::
        g \leftarrow g + \lambda\theta,\quad
        b_t = \mu b_{t-1} + (1 - \tau) g_t \ (b_1 = g_1),\quad
        \theta \leftarrow \theta - \eta\, b_t

    Nesterov momentum steps along :math:`g_t + \mu b_t` instead of :math:`b_t`. With
    dampening 0 this is the velocity form :math:`u_t = \mu u_{t-1} + \eta g_t`,
    :math:`\theta \leftarrow \theta - u_t` with :math:`u = \eta b`, as long as the lr is
    constant (Polyak 1964; Sutskever et al. 2013 for Nesterov's form).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):  # fmt: skip
        super().__init__(params, lr)
        self.momentum = check_real(momentum, "momentum", minimum=0.0)
        self.dampening = check_real(dampening, "dampening")
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("nesterov requires a momentum > 0 and zero dampening")
        self.nesterov = bool(nesterov)
        for s in self.state:
            s["b"] = None  # the momentum buffer, created from the first gradient

    def step(self, grads):
        """One update of every parameter, in place."""
        mu = self.momentum
        for theta, g, s in self._with_grads(grads):
            g = _l2_gradient(g, theta, self.weight_decay)
            if mu != 0:
                if s["b"] is None:
                    s["b"] = g.astype(theta.dtype, copy=True)  # b_1 = g_1
                else:
                    s["b"] *= mu
                    s["b"] += (1.0 - self.dampening) * g
                g = g + mu * s["b"] if self.nesterov else s["b"]
            theta -= self.lr * g


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al. 2011): each coordinate's step shrinks with its history.

    .. math::
        G_t = G_{t-1} + g_t^2,\quad
        \theta \leftarrow \theta - \frac{\eta_t}{\sqrt{G_t} + \epsilon}\, g_t,\quad
        \eta_t = \frac{\eta}{1 + (t - 1)\,\delta}

    with :math:`\delta` = ``lr_decay``; eps is added outside the square root (PyTorch).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):  # fmt: skip
        super().__init__(params, lr)
        self.lr_decay = check_real(lr_decay, "lr_decay", minimum=0.0)
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        G0 = check_real(initial_accumulator_value, "initial_accumulator_value", minimum=0.0)
        self.eps = check_real(eps, "eps", minimum=0.0)
        for s, G in zip(self.state, self._zeros(G0), strict=True):
            s["G"] = G

    def step(self, grads):
        """One update of every parameter, in place."""
        for theta, g, s in self._with_grads(grads):
            g = _l2_gradient(g, theta, self.weight_decay)
            lr_t = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
            s["G"] += g * g
            theta -= lr_t * g / (np.sqrt(s["G"]) + self.eps)


class RMSprop(Optimizer):
    r"""RMSprop (Tieleman & Hinton 2012): Adagrad's sum replaced by a moving average.

    .. math::
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2,\quad
        \theta \leftarrow \theta - \eta\, \frac{g_t}{\sqrt{v_t} + \epsilon}

    ``centered`` divides by an estimate of the standard deviation instead,
    :math:`\sqrt{v_t - \bar g_t^2}` with :math:`\bar g_t` the moving average of g;
    ``momentum`` accumulates :math:`b_t = \mu b_{t-1} + g_t / (\sqrt{v_t} + \epsilon)`
    (from :math:`b_0 = 0`) and steps along it. eps is added outside the square root, as
    in PyTorch (TensorFlow and optax put it inside). ``alpha`` must be in [0, 1) here;
    PyTorch accepts any alpha >= 0, but alpha >= 1 is no average.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False):  # fmt: skip
        super().__init__(params, lr)
        self.alpha = _check_beta(alpha, "alpha")
        self.eps = check_real(eps, "eps", minimum=0.0)
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        self.momentum = check_real(momentum, "momentum", minimum=0.0)
        self.centered = bool(centered)
        for i, s in enumerate(self.state):
            s["v"] = np.zeros_like(self.params[i])
            if self.centered:
                s["g_avg"] = np.zeros_like(self.params[i])
            if self.momentum > 0:
                s["b"] = np.zeros_like(self.params[i])

    def step(self, grads):
        """One update of every parameter, in place."""
        for theta, g, s in self._with_grads(grads):
            g = _l2_gradient(g, theta, self.weight_decay)
            _ema_of_square(s["v"], g, self.alpha)
            if self.centered:
                _ema(s["g_avg"], g, self.alpha)
                # v - g_avg^2 >= 0 in exact arithmetic; rounding can make it -1e-20
                # (a constant gradient), where PyTorch's sqrt gives NaN
                rms = np.sqrt(np.maximum(s["v"] - s["g_avg"] ** 2, 0.0))
            else:
                rms = np.sqrt(s["v"])
            if self.momentum > 0:
                s["b"] *= self.momentum
                s["b"] += g / (rms + self.eps)
                theta -= self.lr * s["b"]
            else:
                theta -= self.lr * g / (rms + self.eps)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015): moving averages of g and g^2, bias-corrected.

    .. math::
        \begin{aligned}
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, &
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,\\
        \hat m_t &= m_t / (1 - \beta_1^t), &
        \hat v_t &= v_t / (1 - \beta_2^t),\\
        \theta &\leftarrow \theta - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)
        \end{aligned}

    eps is added outside the square root, after the bias correction (PyTorch's and the
    paper's form). ``weight_decay`` is coupled L2 (:math:`g \leftarrow g + \lambda\theta`),
    as in ``torch.optim.Adam``; :class:`AdamW` decouples it. ``amsgrad`` (Reddi et al.
    2018) divides by the running maximum ``v_max`` of :math:`v_t` instead.
    """

    decoupled = False  # AdamW: decay the weights, not the gradient

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):  # fmt: skip
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_beta(betas[0], "betas[0]"), _check_beta(betas[1], "betas[1]"))
        self.eps = check_real(eps, "eps", minimum=0.0)
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        self.amsgrad = bool(amsgrad)
        for i, s in enumerate(self.state):
            s["m"], s["v"] = np.zeros_like(self.params[i]), np.zeros_like(self.params[i])
            if self.amsgrad:
                s["v_max"] = np.zeros_like(self.params[i])

    def step(self, grads):
        """One update of every parameter, in place."""
        beta1, beta2 = self.betas
        for theta, g, s in self._with_grads(grads):
            if self.decoupled:
                _decay_weights(theta, self.lr, self.weight_decay)
            else:
                g = _l2_gradient(g, theta, self.weight_decay)
            _ema(s["m"], g, beta1)
            _ema_of_square(s["v"], g, beta2)
            v = s["v"]
            if self.amsgrad:
                v = np.maximum(s["v_max"], v, out=s["v_max"])
            m_hat = s["m"] / _bias_correction(beta1, self.t)
            v_hat = v / _bias_correction(beta2, self.t)
            theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

    Before the Adam step the weights shrink, :math:`\theta \leftarrow \theta(1 -
    \eta\lambda)`, whatever the gradient's scale; in :class:`Adam` the decay term
    :math:`\lambda\theta` is divided by :math:`\sqrt{\hat v_t}` with the gradient.
    PyTorch's default ``weight_decay`` is 1e-2 here (0 in Adam).
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# --- Learning-rate schedules --------------------------------------------------------


def _steps(t):
    """The step ``t`` as an int64 array (any shape), checked to be >= 0."""
    arr = np.asarray(t)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"t must be an integer step or an integer array, got {arr.dtype}")
    if np.any(arr < 0):
        raise ValueError(f"t must be >= 0, got {arr.min()}")
    return arr.astype(np.int64)


def _lr(values):
    """float64 result: a numpy scalar for a scalar step, an array otherwise."""
    return np.asarray(values, dtype=np.float64)[()]


def step_lr(t, base_lr, step_size, gamma=0.1):
    r"""Step decay :math:`\eta_t = \eta_0\,\gamma^{\lfloor t/k \rfloor}`, k = ``step_size``
    (``torch.optim.lr_scheduler.StepLR``): the lr is multiplied by gamma every k steps."""
    t = _steps(t)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0)
    step_size = check_int(step_size, "step_size", minimum=1)
    gamma = check_real(gamma, "gamma", minimum=0.0)
    return _lr(base_lr * gamma ** (t // step_size))


def exponential_lr(t, base_lr, gamma):
    r"""Exponential decay per step :math:`\eta_t = \eta_0\,\gamma^t` (``ExponentialLR``)."""
    t = _steps(t)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0)
    gamma = check_real(gamma, "gamma", minimum=0.0)
    return _lr(base_lr * gamma ** t.astype(np.float64))


def exponential_decay(t, base_lr, k):
    r"""Exponential decay in continuous form :math:`\eta_t = \eta_0 e^{-kt}`.

    The same schedule as :func:`exponential_lr` with :math:`\gamma = e^{-k}`
    (:math:`k = -\log\gamma`); no PyTorch scheduler has this parametrisation.
    """
    t = _steps(t)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0)
    k = check_real(k, "k", minimum=0.0)
    return _lr(base_lr * np.exp(-k * t))


def _cosine(base_lr, eta_min, fraction):
    r""":math:`\eta_{min} + (\eta_0 - \eta_{min})(1 + \cos\pi f)/2`: from base_lr at f = 0
    down to eta_min at f = 1."""
    return eta_min + (base_lr - eta_min) * 0.5 * (1.0 + np.cos(np.pi * fraction))


def cosine_annealing_lr(t, base_lr, T_max, eta_min=0.0):
    r"""Cosine annealing (Loshchilov & Hutter 2017, ``CosineAnnealingLR``).

    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi t/T_{max}))`.
    As in PyTorch it is not clamped after T_max: the cosine goes back up (period 2 T_max).
    """
    t = _steps(t)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0)
    T_max = check_int(T_max, "T_max", minimum=1)
    eta_min = check_real(eta_min, "eta_min", minimum=0.0)
    return _lr(_cosine(base_lr, eta_min, t / T_max))


def cosine_annealing_warm_restarts(t, base_lr, T_0, T_mult=1, eta_min=0.0):
    r"""Cosine annealing with warm restarts, SGDR (``CosineAnnealingWarmRestarts``).

    The lr follows the cosine of :func:`cosine_annealing_lr` over a cycle of
    :math:`T_i` steps, then restarts at base_lr; cycle i lasts
    :math:`T_i = T_0 T_{mult}^i`. With :math:`T_{cur}` the steps since the last restart,
    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi T_{cur}/T_i))`.
    """
    t = _steps(t)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0)
    T_0 = check_int(T_0, "T_0", minimum=1)
    T_mult = check_int(T_mult, "T_mult", minimum=1)
    eta_min = check_real(eta_min, "eta_min", minimum=0.0)
    if T_mult == 1:
        T_cur, T_i = t % T_0, np.full_like(t, T_0)
    else:
        # cycle i starts at T_0 (T_mult^i - 1)/(T_mult - 1); estimate i with a log, then
        # correct it by one either way in integers (the log may round at a boundary)
        i = np.floor(np.log1p(t * (T_mult - 1) / T_0) / np.log(T_mult)).astype(np.int64)

        def start(i):
            return T_0 * (T_mult**i - 1) // (T_mult - 1)

        i = np.where(start(i) > t, i - 1, i)
        i = np.where(start(i + 1) <= t, i + 1, i)
        T_cur, T_i = t - start(i), T_0 * T_mult**i
    return _lr(_cosine(base_lr, eta_min, T_cur / T_i))


def linear_warmup(t, base_lr, warmup_steps, start_factor=1.0 / 3.0, end_factor=1.0):
    r"""Linear warmup (``LinearLR``, with ``total_iters`` = warmup_steps).

    :math:`\eta_t = \eta_0\bigl(s + (e - s)\min(t, W)/W\bigr)`: from start_factor times
    base_lr at t = 0 to end_factor times base_lr at t = W, then constant. PyTorch's
    defaults (s = 1/3, e = 1). PyTorch needs s > 0 (its recursive form divides by the
    previous factor); this closed form also accepts s = 0, a warmup from zero.
    """
    t = _steps(t)
    base_lr = check_real(base_lr, "base_lr", minimum=0.0)
    warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=1)
    start_factor, end_factor = (
        check_real(start_factor, "start_factor", minimum=0.0),
        check_real(end_factor, "end_factor", minimum=0.0),
    )
    if start_factor > 1.0 or end_factor > 1.0:
        raise ValueError(f"start_factor and end_factor must be in [0, 1], "
                         f"got {start_factor} and {end_factor}")  # fmt: skip
    fraction = np.minimum(t, warmup_steps) / warmup_steps
    return _lr(base_lr * (start_factor + (end_factor - start_factor) * fraction))


def warmup_cosine(t, base_lr, warmup_steps, total_steps, eta_min=0.0, start_factor=0.0):
    r"""Linear warmup, then cosine decay to eta_min at ``total_steps``, then eta_min.

    :func:`linear_warmup` from start_factor times base_lr (0 by default, as in Hugging
    Face's ``get_cosine_schedule_with_warmup``) to base_lr over the first W steps, then
    :func:`cosine_annealing_lr` over the remaining ``total_steps - W`` steps, clamped at
    eta_min after them (PyTorch: ``SequentialLR`` of ``LinearLR`` and
    ``CosineAnnealingLR``, which is not clamped, or a ``LambdaLR``).
    """
    t = _steps(t)
    warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=1)
    total_steps = check_int(total_steps, "total_steps", minimum=warmup_steps + 1)
    warm = linear_warmup(t, base_lr, warmup_steps, start_factor)
    decay_t = np.clip(t - warmup_steps, 0, total_steps - warmup_steps)
    decay = cosine_annealing_lr(decay_t, base_lr, total_steps - warmup_steps, eta_min)
    return _lr(np.where(t < warmup_steps, warm, decay))


def inverse_sqrt(t, d_model, warmup_steps):
    r"""The Transformer's schedule (Vaswani et al. 2017), linear warmup then 1/sqrt(step).

    :math:`\eta = d^{-1/2}\min(n^{-1/2},\ n\,W^{-3/2})` with :math:`n = t + 1`: the paper
    counts steps from 1, so step t = 0 (the first) uses n = 1 -- no division by zero. The
    two branches meet at n = W, the peak :math:`(d W)^{-1/2}`.
    """
    t = _steps(t)
    d_model = check_int(d_model, "d_model", minimum=1)
    warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=1)
    n = (t + 1).astype(np.float64)
    return _lr(d_model**-0.5 * np.minimum(n**-0.5, n * warmup_steps**-1.5))
