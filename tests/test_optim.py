"""Tests of dlnotes.optim: optimizers (against torch.optim, 200 steps) and lr schedules.

numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_reference import (
    OPTIM_CASES,
    OPTIM_CHECKPOINTS,
    OPTIM_PROBLEMS,
    OPTIM_STEPS,
    load_reference,
    make_optim_inputs,
    optim_gradients,
    optim_lr,
    optim_start,
    optim_state_name,
    torch_optim_outputs,
    torch_or_skip,
)

from dlnotes import optim as O

INPUTS = make_optim_inputs()
T = np.arange(300)

# reference key -> our schedule over the steps it was recorded for
SCHEDULES = {
    "sched:step": lambda t: O.step_lr(t, 0.1, 30, 0.5),
    "sched:exponential": lambda t: O.exponential_lr(t, 0.1, 0.98),
    "sched:cosine": lambda t: O.cosine_annealing_lr(t, 0.1, 100, eta_min=1e-3),
    "sched:cosine_zero": lambda t: O.cosine_annealing_lr(t, 0.1, 120),
    "sched:restarts:50:1": lambda t: O.cosine_annealing_warm_restarts(t, 0.1, 50, 1, 0.01),
    "sched:restarts:10:2": lambda t: O.cosine_annealing_warm_restarts(t, 0.1, 10, 2, 0.01),
    "sched:restarts:7:3": lambda t: O.cosine_annealing_warm_restarts(t, 0.1, 7, 3, 0.01),
    "sched:linear_default": lambda t: O.linear_warmup(t, 0.1, 5),
    "sched:linear": lambda t: O.linear_warmup(t, 0.1, 40, start_factor=0.1),
    "sched:linear_down": lambda t: O.linear_warmup(t, 0.1, 60, 1.0, end_factor=0.5),
    "sched:warmup_cosine_sequential": lambda t: O.warmup_cosine(
        t, 0.1, 30, 200, eta_min=1e-4, start_factor=0.01
    ),
    "sched:warmup_cosine_lambda": lambda t: O.warmup_cosine(t, 1.0, 25, 250),
    "sched:inverse_sqrt": lambda t: O.inverse_sqrt(t, 512, 40),
}


def run(case, problem, checkpoints=OPTIM_CHECKPOINTS):
    """Our optimizer on a case of torch_reference.OPTIM_CASES; returns the parameters at
    the checkpoints and the optimizer."""
    cls, kwargs, scheduled = OPTIM_CASES[case]
    kwargs = kwargs | {"lr": kwargs["lr"] * OPTIM_PROBLEMS[problem]}
    params = optim_start(problem, INPUTS)
    opt = getattr(O, cls)(params, **kwargs)
    saved = {}
    for k in range(OPTIM_STEPS):
        if scheduled:
            opt.lr = optim_lr(kwargs["lr"], k)
        opt.step(optim_gradients(problem, params, k, INPUTS))
        if k + 1 in checkpoints:
            saved[k + 1] = [p.copy() for p in params]
    return saved, opt


# --- Closed forms of single steps ---------------------------------------------------


def test_sgd_plain_step_is_theta_minus_lr_g():
    theta = np.array([1.0, -2.0, 3.0])
    O.SGD([theta], lr=0.1).step([np.array([1.0, 2.0, -4.0])])
    np.testing.assert_allclose(theta, [0.9, -2.2, 3.4], rtol=1e-15)


def test_sgd_momentum_buffer_starts_at_the_first_gradient():
    theta, g = np.zeros(2), np.array([1.0, -1.0])
    opt = O.SGD([theta], lr=0.1, momentum=0.9, dampening=0.5)
    opt.step([g])
    np.testing.assert_array_equal(opt.state[0]["b"], g)  # no dampening on the first step
    opt.step([g])
    np.testing.assert_allclose(opt.state[0]["b"], 0.9 * g + 0.5 * g, rtol=1e-15)
    np.testing.assert_allclose(theta, -0.1 * (g + 1.4 * g), rtol=1e-15)


def test_adam_first_step_moves_every_coordinate_by_lr():
    # m_hat = g, v_hat = g^2 after one step: the step is lr * g / (|g| + eps)
    theta = np.zeros(4)
    g = np.array([1e-3, -2.0, 50.0, -1e4])
    opt = O.Adam([theta], lr=0.01)
    opt.step([g])
    np.testing.assert_allclose(theta, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    assert opt.t == 1
    np.testing.assert_allclose(opt.state[0]["m"], 0.1 * g, rtol=4e-15)
    np.testing.assert_allclose(opt.state[0]["v"], 0.001 * g**2, rtol=4e-15)


def test_adagrad_constant_gradient_steps_shrink_as_one_over_sqrt_t():
    theta = np.zeros(1)
    opt = O.Adagrad([theta], lr=1.0, eps=0.0)
    steps = []
    for _ in range(16):
        before = theta.copy()
        opt.step([np.array([3.0])])
        steps.append(float(before[0] - theta[0]))
    np.testing.assert_allclose(steps, 1.0 / np.sqrt(np.arange(1, 17)), rtol=1e-14)


def test_rmsprop_constant_gradient_step_tends_to_lr():
    theta = np.zeros(1)
    opt = O.RMSprop([theta], lr=1.0, alpha=0.9, eps=0.0)
    for t in range(1, 6):
        before = theta.copy()
        opt.step([np.array([2.0])])
        # v_t = (1 - 0.9^t) g^2: the step is 1 / sqrt(1 - 0.9^t)
        assert before[0] - theta[0] == pytest.approx(1 / math.sqrt(1 - 0.9**t), rel=1e-14)


def test_adamw_decays_weights_without_gradient():
    theta = np.array([2.0, -4.0])
    opt = O.AdamW([theta], lr=0.1, weight_decay=0.5)
    for _ in range(10):
        opt.step([np.zeros(2)])  # m = v = 0: only the decay acts
    np.testing.assert_allclose(theta, np.array([2.0, -4.0]) * 0.95**10, rtol=1e-14)
    theta2 = np.array([2.0, -4.0])
    opt2 = O.Adam([theta2], lr=0.1, weight_decay=0.5)
    opt2.step([np.zeros(2)])  # coupled: the decay is normalised, a step of lr
    np.testing.assert_allclose(theta2, [1.9, -3.9], rtol=1e-7)


def test_nesterov_and_notes_momentum_forms():
    # u = mu u + lr g, theta -= u is PyTorch's form with u = lr b at constant lr
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(30, 3))
    theta, theta_notes, u = np.zeros(3), np.zeros(3), np.zeros(3)
    opt = O.SGD([theta], lr=0.05, momentum=0.9)
    for g in grads:
        opt.step([g])
        u = 0.9 * u + 0.05 * g
        theta_notes -= u
    np.testing.assert_allclose(theta, theta_notes, rtol=1e-12, atol=1e-15)


def test_amsgrad_denominator_never_decreases():
    theta = np.zeros(1)
    opt = O.Adam([theta], lr=0.1, amsgrad=True)
    seen = []
    for g in [10.0, 0.1, 0.1, 0.1, 5.0, 0.0]:
        opt.step([np.array([g])])
        seen.append(opt.state[0]["v_max"][0])
        assert opt.state[0]["v_max"][0] >= opt.state[0]["v"][0]
    assert np.all(np.diff(seen) >= 0)


# --- Schedules: closed forms --------------------------------------------------------


def test_schedule_closed_forms():
    assert O.step_lr(29, 1.0, 30, 0.5) == 1.0 and O.step_lr(30, 1.0, 30, 0.5) == 0.5
    assert O.exponential_lr(3, 2.0, 0.5) == 0.25
    np.testing.assert_allclose(
        O.exponential_decay(T, 0.1, 0.02), O.exponential_lr(T, 0.1, math.exp(-0.02)), rtol=1e-13
    )
    assert O.cosine_annealing_lr(0, 0.1, 50) == 0.1
    assert O.cosine_annealing_lr(25, 0.1, 50, 0.02) == pytest.approx(0.06, rel=1e-15)
    assert O.cosine_annealing_lr(50, 0.1, 50) == pytest.approx(0.0, abs=1e-18)
    assert O.cosine_annealing_lr(100, 0.1, 50) == pytest.approx(0.1, rel=1e-15)  # not clamped
    assert O.linear_warmup(0, 0.3, 10) == pytest.approx(0.1, rel=1e-15)
    assert O.linear_warmup(0, 0.3, 10, start_factor=0.0) == 0.0
    assert O.linear_warmup(1000, 0.3, 10) == 0.3
    # warmup_cosine: 0 at t = 0, base at W, eta_min at the end and after it
    lr = O.warmup_cosine(np.arange(120), 1.0, 10, 100, eta_min=0.1)
    assert lr[0] == 0.0 and lr[5] == 0.5 and lr[10] == 1.0 and lr[99] > 0.1
    assert np.all(lr[100:] == 0.1) and np.all(np.diff(lr[:11]) > 0)
    assert np.all(np.diff(lr[10:100]) < 0)


def test_warm_restarts_cycle_boundaries():
    # T_0 = 2, T_mult = 3: cycles start at 0, 2, 8, 26, 80, 242 (exact integers)
    lr = O.cosine_annealing_warm_restarts(np.arange(300), 1.0, 2, 3)
    restarts = np.flatnonzero(lr == 1.0)
    np.testing.assert_array_equal(restarts, [0, 2, 8, 26, 80, 242])
    big = O.cosine_annealing_warm_restarts(np.array([2**40, 3**30]), 1.0, 1, 3)
    assert np.all((big >= 0) & (big <= 1))


def test_inverse_sqrt_peak_and_step_zero():
    lr = O.inverse_sqrt(np.arange(10_000), 512, 4000)
    assert np.argmax(lr) == 3999  # step number s = t + 1 = W
    assert lr.max() == pytest.approx((512 * 4000) ** -0.5, rel=1e-15)
    assert O.inverse_sqrt(0, 512, 4000) == pytest.approx(512**-0.5 * 4000**-1.5, rel=1e-15)
    assert np.all(np.isfinite(lr)) and np.all(lr > 0)


def test_schedules_broadcast_over_any_shape_of_steps():
    t = np.arange(12).reshape(3, 4)
    for fn in SCHEDULES.values():
        out = fn(t)
        assert out.shape == (3, 4) and out.dtype == np.float64
        np.testing.assert_array_equal(out.ravel(), fn(t.ravel()))
        assert np.ndim(fn(5)) == 0 and fn(5) == fn(np.arange(6))[5]


# --- Agreement with PyTorch ---------------------------------------------------------


def check_optimizers_against_torch(ref, case):
    for problem in OPTIM_PROBLEMS:
        saved, opt = run(case, problem)
        for k, params in saved.items():
            for i, p in enumerate(params):
                expected = ref[f"{case}:{problem}:{k}:p{i}"]
                np.testing.assert_allclose(p, expected, rtol=1e-12, atol=0, err_msg=f"{k} {i}")
        for i, state in enumerate(opt.state):
            for name, value in state.items():
                if value is None:  # SGD without momentum keeps no buffer
                    continue
                torch_name = optim_state_name(OPTIM_CASES[case][0], name)
                np.testing.assert_allclose(value, ref[f"{case}:{problem}:state{i}:{torch_name}"],
                                           rtol=1e-11, atol=1e-300, err_msg=name)  # fmt: skip
            if f"{case}:{problem}:state{i}:step" in ref:
                assert ref[f"{case}:{problem}:state{i}:step"] == opt.t == OPTIM_STEPS


def check_schedules_against_torch(ref):
    for key, fn in SCHEDULES.items():
        expected = ref[key]
        ours = fn(np.arange(len(expected)))
        # relative to the base lr: the recursive forms PyTorch uses are exact only that far
        # where a cosine reaches 0
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12 * expected.max())
    np.testing.assert_allclose(O.exponential_decay(T, 0.1, -math.log(0.98)),
                               ref["sched:exponential"], rtol=1e-12)  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    return load_reference("optim")


@pytest.fixture(scope="module")
def live():
    torch_or_skip()
    return torch_optim_outputs(INPUTS)


@pytest.mark.parametrize("case", OPTIM_CASES)
def test_optimizers_match_pytorch_reference_file(reference, case):
    check_optimizers_against_torch(reference, case)


@pytest.mark.parametrize("case", OPTIM_CASES)
def test_optimizers_match_pytorch_live(live, case):
    check_optimizers_against_torch(live, case)


def test_schedules_match_pytorch_reference_file(reference):
    check_schedules_against_torch(reference)


def test_schedules_match_pytorch_live(live):
    check_schedules_against_torch(live)


def test_every_option_is_exercised():
    options = {(cls, key) for cls, kwargs, _ in OPTIM_CASES.values() for key in kwargs}
    expected = {
        "SGD": {"lr", "momentum", "dampening", "weight_decay", "nesterov"},
        "Adagrad": {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"},
        "RMSprop": {"lr", "alpha", "eps", "weight_decay", "momentum", "centered"},
        "Adam": {"lr", "betas", "eps", "weight_decay", "amsgrad"},
        "AdamW": {"lr", "betas", "weight_decay", "amsgrad"},
    }
    for cls, names in expected.items():
        assert names <= {key for c, key in options if c == cls}, cls
    assert all(any(s for c, _, s in OPTIM_CASES.values() if c == cls) for cls in expected)


# --- Dtypes, in-place update, no mutation of the gradients ----------------------------


@pytest.mark.parametrize("cls", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_float32_stays_float32_updated_in_place_grads_untouched(cls):
    kwargs = {"momentum": 0.9} if cls in ("SGD", "RMSprop") else {}
    theta = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    same = theta
    g = np.array([[0.1, 0.2], [-0.3, 0.4]], np.float32)
    g_before = g.copy()
    opt = getattr(O, cls)([theta], lr=0.1, weight_decay=0.1, **kwargs)
    for _ in range(3):
        opt.step([g])
    assert theta is same and theta.dtype == np.float32
    assert not np.array_equal(theta, np.array([[1.0, -2.0], [0.5, 3.0]], np.float32))
    np.testing.assert_array_equal(g, g_before)
    for value in opt.state[0].values():
        assert value.dtype == np.float32


def test_integer_gradients_and_tuples_are_accepted():
    theta = np.zeros(3)
    O.SGD((theta,), lr=0.5).step((np.array([1, 2, 3]),))
    np.testing.assert_array_equal(theta, [-0.5, -1.0, -1.5])


def test_lr_can_be_changed_between_steps():
    theta = np.zeros(1)
    opt = O.SGD([theta], lr=1.0)
    for t in range(4):
        opt.lr = O.step_lr(t, 1.0, 2, 0.5)
        opt.step([np.ones(1)])
    np.testing.assert_array_equal(theta, [-(1 + 1 + 0.5 + 0.5)])


def test_extreme_gradients_give_no_warning():
    for cls in ("Adagrad", "RMSprop", "Adam", "AdamW"):
        theta = np.zeros(3)
        opt = getattr(O, cls)([theta], lr=0.1)
        for g in ([1e150, -1e150, 1e-300], [0.0, 0.0, 0.0], [1e-300, 5e-324, -1e-200]):
            opt.step([np.array(g)])
        assert np.all(np.isfinite(theta)), cls
    theta = np.zeros(2)
    opt = O.RMSprop([theta], centered=True)
    for _ in range(2000):  # a constant gradient: v - g_avg^2 would round below 0
        opt.step([np.array([0.3, 1e-3])])
    assert np.all(np.isfinite(theta))


# --- Bad arguments ------------------------------------------------------------------

p0 = [np.zeros(3)]
BAD_OPTIMIZERS = [
    (lambda: O.SGD(p0, lr=-0.1), ValueError, "lr"),
    (lambda: O.SGD(p0, momentum=-0.5), ValueError, "momentum"),
    (lambda: O.SGD(p0, weight_decay=-1e-4), ValueError, "weight_decay"),
    (lambda: O.SGD(p0, nesterov=True), ValueError, "nesterov"),
    (lambda: O.SGD(p0, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: O.Adagrad(p0, eps=-1e-10), ValueError, "eps"),
    (lambda: O.Adagrad(p0, lr_decay=-1.0), ValueError, "lr_decay"),
    (lambda: O.Adagrad(p0, initial_accumulator_value=-1), ValueError, "initial_accumulator"),
    (lambda: O.RMSprop(p0, alpha=1.0), ValueError, "alpha"),
    (lambda: O.RMSprop(p0, eps=-1.0), ValueError, "eps"),
    (lambda: O.Adam(p0, betas=(1.0, 0.999)), ValueError, r"betas\[0\]"),
    (lambda: O.Adam(p0, betas=(0.9, -0.1)), ValueError, r"betas\[1\]"),
    (lambda: O.Adam(p0, betas=0.9), TypeError, "betas"),
    (lambda: O.AdamW(p0, weight_decay=-0.01), ValueError, "weight_decay"),
    (lambda: O.Adam(p0, lr=float("nan")), ValueError, "lr"),
    (lambda: O.Adam(p0, lr="fast"), TypeError, "lr"),
    (lambda: O.Adam(np.zeros(3)), TypeError, "params"),
    (lambda: O.Adam([]), ValueError, "params"),
    (lambda: O.Adam([np.zeros(3, int)]), TypeError, r"params\[0\]"),
    (lambda: O.Adam([[0.0, 1.0]]), TypeError, r"params\[0\]"),
    (lambda: O.Adam(p0 + p0), ValueError, "params"),
    (lambda: O.Adam([np.broadcast_to(np.zeros(1), (3,))]), ValueError, "writeable"),
    (lambda: O.Adam([np.zeros(3)]).step([np.zeros(3), np.zeros(2)]), ValueError, "grads"),
    (lambda: O.Adam([np.zeros(3)]).step([np.zeros(2)]), ValueError, r"grads\[0\]"),
    (lambda: O.Adam([np.zeros(3)]).step(np.zeros(3)), TypeError, "grads"),
    (lambda: O.Adam([np.zeros(3)]).step([np.array(["a", "b", "c"])]), TypeError, "grads"),
    (lambda: setattr(O.SGD(p0), "lr", -1.0), ValueError, "lr"),
]
BAD_SCHEDULES = [
    (lambda: O.step_lr(-1, 0.1, 10), ValueError, "t"),
    (lambda: O.step_lr(1.5, 0.1, 10), TypeError, "t"),
    (lambda: O.step_lr(np.array([True]), 0.1, 10), TypeError, "t"),
    (lambda: O.step_lr(1, 0.1, 0), ValueError, "step_size"),
    (lambda: O.step_lr(1, -0.1, 10), ValueError, "base_lr"),
    (lambda: O.exponential_lr(1, 0.1, -0.5), ValueError, "gamma"),
    (lambda: O.exponential_decay(1, 0.1, -0.5), ValueError, "k"),
    (lambda: O.cosine_annealing_lr(1, 0.1, 0), ValueError, "T_max"),
    (lambda: O.cosine_annealing_lr(1, 0.1, 10.5), TypeError, "T_max"),
    (lambda: O.cosine_annealing_lr(1, 0.1, 10, eta_min=-1), ValueError, "eta_min"),
    (lambda: O.cosine_annealing_warm_restarts(1, 0.1, 0), ValueError, "T_0"),
    (lambda: O.cosine_annealing_warm_restarts(1, 0.1, 10, T_mult=0), ValueError, "T_mult"),
    (lambda: O.cosine_annealing_warm_restarts(1, 0.1, 10, T_mult=1.5), TypeError, "T_mult"),
    (lambda: O.linear_warmup(1, 0.1, 0), ValueError, "warmup_steps"),
    (lambda: O.linear_warmup(1, 0.1, 5, start_factor=1.5), ValueError, "start_factor"),
    (lambda: O.linear_warmup(1, 0.1, 5, end_factor=-1), ValueError, "end_factor"),
    (lambda: O.warmup_cosine(1, 0.1, 10, 10), ValueError, "total_steps"),
    (lambda: O.inverse_sqrt(1, 0, 10), ValueError, "d_model"),
    (lambda: O.inverse_sqrt(1, 512, True), TypeError, "warmup_steps"),
]


@pytest.mark.parametrize(("call", "error", "name"), BAD_OPTIMIZERS + BAD_SCHEDULES)
def test_bad_arguments_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_a_failed_step_changes_nothing():
    theta = np.ones(3)
    opt = O.Adam([theta, np.ones(2)])
    with pytest.raises(ValueError, match="grads"):
        opt.step([np.ones(3), np.ones(4)])
    assert opt.t == 0 and np.all(theta == 1.0) and np.all(opt.state[0]["m"] == 0)


# --- Properties ---------------------------------------------------------------------


@given(st.integers(0, 10**6), st.integers(1, 1000), st.integers(1, 4))
def test_warm_restarts_stay_in_range_and_restart_at_base(t, T_0, T_mult):
    lr = O.cosine_annealing_warm_restarts(t, 1.0, T_0, T_mult, eta_min=0.25)
    assert 0.25 <= lr <= 1.0
    # the step before a restart is below base, the restart is base
    starts = [T_0 * (T_mult**i - 1) // (T_mult - 1) if T_mult > 1 else T_0 * i for i in range(5)]
    for s in starts[1:]:
        assert O.cosine_annealing_warm_restarts(s, 1.0, T_0, T_mult) == 1.0


@given(st.integers(1, 200), st.integers(1, 400), st.floats(0.0, 1.0))
def test_warmup_cosine_is_bounded_and_continuous_at_the_peak(warmup, extra, eta_min):
    total = warmup + extra
    lr = O.warmup_cosine(np.arange(total + 5), 1.0, warmup, total, eta_min=eta_min)
    assert np.all(lr <= 1.0) and lr[warmup] == 1.0
    assert np.all(lr[warmup:] >= eta_min - 1e-15)


@given(st.floats(1e-6, 1.0), st.floats(0.0, 0.99), st.integers(1, 40))
def test_sgd_momentum_on_constant_gradient_is_a_geometric_sum(lr, mu, steps):
    theta = np.zeros(1)
    opt = O.SGD([theta], lr=lr, momentum=mu)
    for _ in range(steps):
        opt.step([np.ones(1)])
    expected = -lr * sum((1 - mu ** (k + 1)) / (1 - mu) for k in range(steps))
    assert theta[0] == pytest.approx(expected, rel=1e-10)
