"""Tests of dlnotes.initializers: fans, gains, distributions, orthogonality, PyTorch.

Statistical tests draw from fixed seeds, so every run sees the same numbers and a test
either always passes or always fails. Their tolerances still come from the sampling
error, so that another seed would pass too (see ``check_moments`` and ``KS_LEVEL``), and
each kind of check is shown to fail for a sampler that is slightly wrong (the "power"
tests). numpy's RuntimeWarnings are errors here (pyproject.toml).
"""

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.stats as stats
from hypothesis import given
from hypothesis import strategies as st
from torch_reference import (
    FAN_SHAPES,
    GAIN_CASES,
    INITIALIZERS,
    LINEAR_LAYER_SIZE,
    load_reference,
    make_initializers_inputs,
    torch_initializers_outputs,
    torch_or_skip,
)

from dlnotes import initializers as I

# A check of a mean or variance allows Z_LIMIT standard errors. For a correct sampler the
# estimate is within that with probability 1 - 6e-7 (normal approximation, n >= 1e4), so a
# new seed would not fail it; a sampler whose variance is off by 5 % is 16 standard
# errors out with the 1e5 samples below (normal: SE of the variance = sqrt(2/n) = 0.45 %).
Z_LIMIT = 5.0
# A Kolmogorov-Smirnov p-value must exceed KS_LEVEL: a correct sampler fails it for one
# seed in 10^4; with 1e5 samples a standard deviation 5 % off gives p ~ 1e-12.
KS_LEVEL = 1e-4
N_SAMPLES = (400, 250)  # 1e5 draws; fan_in 400, fan_out 250, fan_avg 325
FAN_IN, FAN_OUT = N_SAMPLES


def uniform(bound):
    return stats.uniform(loc=-bound, scale=2 * bound)


def truncnorm(mean, std, a, b):
    """SciPy's truncated normal, whose bounds are in standard deviations."""
    return stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)


# name -> (draw(rng) -> sample, the distribution it must follow). The expected laws are
# written out from the formulas (PyTorch's documentation), not from the code under test.
SQRT5 = math.sqrt(5.0)
DISTRIBUTION_CASES = {
    "xavier_uniform": (lambda r: I.xavier_uniform(N_SAMPLES, rng=r), uniform(math.sqrt(6 / 650))),
    "xavier_uniform_tanh": (lambda r: I.xavier_uniform(N_SAMPLES, gain=5 / 3, rng=r),
                            uniform(5 / 3 * math.sqrt(6 / 650))),
    "xavier_normal": (lambda r: I.xavier_normal(N_SAMPLES, rng=r),
                      stats.norm(scale=math.sqrt(2 / 650))),
    "kaiming_uniform": (lambda r: I.kaiming_uniform(N_SAMPLES, rng=r),
                        uniform(math.sqrt(6 / FAN_IN))),
    "kaiming_uniform_nn_linear": (lambda r: I.kaiming_uniform(N_SAMPLES, a=SQRT5, rng=r),
                                  uniform(1 / math.sqrt(FAN_IN))),
    "kaiming_uniform_fan_out_relu": (
        lambda r: I.kaiming_uniform(N_SAMPLES, mode="fan_out", nonlinearity="relu", rng=r),
        uniform(math.sqrt(6 / FAN_OUT))),
    "kaiming_normal": (lambda r: I.kaiming_normal(N_SAMPLES, rng=r),
                       stats.norm(scale=math.sqrt(2 / FAN_IN))),
    "kaiming_normal_leaky_fan_out": (
        lambda r: I.kaiming_normal(N_SAMPLES, a=0.2, mode="fan_out", rng=r),
        stats.norm(scale=math.sqrt(2 / (1.04 * FAN_OUT)))),
    "kaiming_normal_conv": (lambda r: I.kaiming_normal((3, 3, 64, 48), rng=r),
                            stats.norm(scale=math.sqrt(2 / (9 * 64)))),
    "kaiming_normal_tanh_float32": (
        lambda r: I.kaiming_normal(N_SAMPLES, nonlinearity="tanh", rng=r, dtype=np.float32),
        stats.norm(scale=5 / 3 / math.sqrt(FAN_IN))),
    "lecun_normal": (lambda r: I.lecun_normal(N_SAMPLES, rng=r),
                     stats.norm(scale=1 / math.sqrt(FAN_IN))),
    "variance_scaling_truncated": (
        lambda r: I.variance_scaling(N_SAMPLES, 2.0, "fan_avg", "truncated_normal", rng=r),
        stats.truncnorm(-2, 2, scale=math.sqrt(2 / 325) / 0.8796256610342398)),
    "variance_scaling_uniform_fan_out": (
        lambda r: I.variance_scaling(N_SAMPLES, 3.0, "fan_out", "uniform", rng=r),
        uniform(3 / math.sqrt(FAN_OUT))),
    "trunc_normal": (lambda r: I.trunc_normal(100_000, rng=r), stats.truncnorm(-2, 2)),
    "trunc_normal_shifted": (
        lambda r: I.trunc_normal(N_SAMPLES, mean=0.5, std=2.0, a=-1.0, b=3.0, rng=r),
        truncnorm(0.5, 2.0, -1.0, 3.0)),
    "trunc_normal_right_tail": (lambda r: I.trunc_normal(100_000, a=10.0, b=11.0, rng=r),
                                stats.truncnorm(10, 11)),
    "trunc_normal_left_tail": (
        lambda r: I.trunc_normal(100_000, mean=3.0, std=0.5, a=-7.0, b=-6.5, rng=r),
        truncnorm(3.0, 0.5, -7.0, -6.5)),  # [-20, -19] standard deviations
    "trunc_normal_half": (lambda r: I.trunc_normal(100_000, a=0.0, b=1e300, rng=r),
                          stats.halfnorm()),
    "trunc_normal_float32": (lambda r: I.trunc_normal(100_000, rng=r, dtype=np.float32),
                             stats.truncnorm(-2, 2)),
}  # fmt: skip


def check_moments(sample, dist):
    """Mean and variance of ``sample`` within Z_LIMIT standard errors of ``dist``'s.

    The standard error of the mean is sigma / sqrt(n); that of the sample variance is
    sigma^2 sqrt((kappa + 2) / n), kappa the excess kurtosis (0 normal, -1.2 uniform).
    """
    x = np.asarray(sample, dtype=np.float64).ravel()
    n = x.size
    mean, var, kurtosis = (float(m) for m in dist.stats(moments="mvk"))
    sd = math.sqrt(var)
    assert abs(x.mean() - mean) <= Z_LIMIT * sd / math.sqrt(n), (x.mean(), mean)
    var_se = var * math.sqrt((kurtosis + 2) / n)
    assert abs(x.var() - var) <= Z_LIMIT * var_se, (x.var(), var)


def ks_pvalue(sample, dist):
    return stats.kstest(np.asarray(sample, dtype=np.float64).ravel(), dist.cdf).pvalue


# --- Fans and gains -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "fans"),
    [((5, 3), (5, 3)), ((1, 1), (1, 1)), ((7, 4, 6), (28, 42)), ((3, 3, 16, 32), (144, 288)),
     ([2, 3], (2, 3)), (np.array([4, 2]), (4, 2)), ((np.int64(6), 7), (6, 7))],
)  # fmt: skip
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans
    assert all(type(f) is int for f in I.compute_fans(shape))


def test_gain_table():
    assert I.calculate_gain("linear") == I.calculate_gain("conv2d") == 1.0
    assert I.calculate_gain("sigmoid") == 1.0
    assert I.calculate_gain("tanh") == 5.0 / 3.0
    assert I.calculate_gain("relu") == math.sqrt(2.0)
    assert I.calculate_gain("relu", 0.3) == math.sqrt(2.0)  # param is leaky_relu's only
    assert I.calculate_gain("selu") == 0.75
    assert I.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / 1.0001), rel=1e-15)
    assert I.calculate_gain("leaky_relu", 0) == math.sqrt(2.0)
    assert I.calculate_gain("leaky_relu", 1.0) == 1.0  # slope 1 is the identity
    # a = sqrt(5): 2 / (1 + 5) = 1/3, PyTorch's nn.Linear default
    assert I.calculate_gain("leaky_relu", SQRT5) == pytest.approx(1 / math.sqrt(3), rel=1e-15)


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 0.5])
def test_leaky_relu_gain_restores_the_second_moment(slope):
    # The gain g is 1 / sqrt(E[f(z)^2]) for z ~ N(0, 1): with Var(w) = g^2 / n_in the
    # layer's output has the variance of its input. E[f(z)^2] = (1 + s^2) / 2 in closed
    # form; check it by quadrature, independently of the formula in the code.
    def f(t):
        return t if t > 0 else slope * t

    second_moment = mp.quad(lambda t: f(t) ** 2 * mp.npdf(t), [-mp.inf, 0, mp.inf])
    gain = I.calculate_gain("leaky_relu", slope)
    assert gain == pytest.approx(float(1 / mp.sqrt(second_moment)), rel=1e-14)


def test_truncation_constant_against_mpmath():
    # Var of N(0, 1) cut to [-2, 2]: 1 - 2 * 2 phi(2) / (Phi(2) - Phi(-2)).
    with mp.workdps(40):
        var = 1 - 4 * mp.npdf(2) / (mp.ncdf(2) - mp.ncdf(-2))
        assert I.TRUNC_NORMAL_STD_2 == pytest.approx(float(mp.sqrt(var)), rel=1e-16)
    assert I.TRUNC_NORMAL_STD_2 == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-15)


def test_xavier_and_kaiming_are_variance_scaling():
    # Same generator state -> the same numbers: the named initializers add nothing to
    # variance_scaling but their scale and mode.
    shape = (30, 20)
    pairs = [
        (lambda r: I.xavier_uniform(shape, gain=2.0, rng=r),
         lambda r: I.variance_scaling(shape, 4.0, "fan_avg", "uniform", rng=r)),
        (lambda r: I.xavier_normal(shape, rng=r),
         lambda r: I.variance_scaling(shape, 1.0, "fan_avg", "normal", rng=r)),
        (lambda r: I.kaiming_uniform(shape, mode="fan_out", rng=r),
         lambda r: I.variance_scaling(shape, 2.0, "fan_out", "uniform", rng=r)),  # a = 0
        (lambda r: I.kaiming_normal(shape, nonlinearity="relu", rng=r),
         lambda r: I.variance_scaling(shape, 2.0, "fan_in", "normal", rng=r)),
        (lambda r: I.lecun_normal(shape, rng=r),
         lambda r: I.kaiming_normal(shape, nonlinearity="linear", rng=r)),
    ]  # fmt: skip
    for ours, general in pairs:
        np.testing.assert_allclose(ours(np.random.default_rng(7)),
                                   general(np.random.default_rng(7)), rtol=1e-15)  # fmt: skip


# --- Distributions (fixed seeds, tolerances from the sampling error) ----------------


@pytest.mark.parametrize("name", sorted(DISTRIBUTION_CASES))
def test_samples_follow_the_intended_distribution(name):
    draw, dist = DISTRIBUTION_CASES[name]
    sample = draw(np.random.default_rng(2025))
    lo, hi = dist.support()
    assert np.all((sample >= lo) & (sample <= hi)), name
    check_moments(sample, dist)
    assert ks_pvalue(sample, dist) > KS_LEVEL, name


def test_uniform_bounds_are_reached_but_not_crossed():
    w = I.xavier_uniform(N_SAMPLES, rng=np.random.default_rng(1))
    bound = math.sqrt(6 / 650)
    # with 1e5 draws the extreme lies within about bound * 2e-5 (1e-4 is 5x that) of the bound
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > bound * (1 - 1e-4)


def test_statistical_checks_have_power():
    # The same checks reject samplers that are a little wrong, so they cannot pass vacuously.
    rng = np.random.default_rng(3)
    std = math.sqrt(2 / FAN_IN)
    w = I.kaiming_normal(N_SAMPLES, rng=rng)
    with pytest.raises(AssertionError):
        check_moments(w, stats.norm(scale=1.05 * std))  # variance 10 % off
    assert ks_pvalue(w, stats.norm(scale=1.05 * std)) < 1e-8
    assert ks_pvalue(w, uniform(math.sqrt(3) * std)) < 1e-20  # same variance, wrong shape
    # truncating at +-2 std without the 0.8796 correction loses 23 % of the variance
    naive = I.trunc_normal(100_000, std=std, a=-2 * std, b=2 * std, rng=rng)
    with pytest.raises(AssertionError):
        check_moments(naive, stats.norm(scale=std))
    np.testing.assert_allclose(naive.var() / std**2, I.TRUNC_NORMAL_STD_2**2, rtol=0.02)


def test_naive_inverse_cdf_fails_in_the_right_tail():
    # Phi(10) rounds to 1 in float64: the textbook inverse-CDF sampler has nothing left
    # to draw from on [10, 11]; trunc_normal mirrors the interval and works in logarithms.
    assert stats.norm.cdf(10.0) == 1.0 == stats.norm.cdf(11.0)
    w = I.trunc_normal(1000, a=10.0, b=11.0, rng=np.random.default_rng(0))
    assert w.min() >= 10.0 and w.max() <= 11.0 and np.unique(w).size == 1000


# --- Orthogonal ---------------------------------------------------------------------

ORTHOGONAL_SHAPES = [(64, 16), (16, 64), (32, 32), (3, 3, 16, 32), (2, 2, 8, 8), (1, 1),
                     (1, 5), (5, 1)]  # fmt: skip


def gram(w):
    """M^T M for a tall (or square) M, M M^T for a wide one: M the weight flattened to
    (prod of leading axes, out)."""
    m = w.reshape(-1, w.shape[-1])
    return m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T


@pytest.mark.parametrize("shape", ORTHOGONAL_SHAPES)
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal(shape, gain):
    w = I.orthogonal(shape, gain=gain, rng=np.random.default_rng(0))
    assert w.shape == shape and w.dtype == np.float64
    g = gram(w)
    np.testing.assert_allclose(g, gain**2 * np.eye(len(g)), rtol=0, atol=1e-12 * gain**2)


def test_orthogonal_float32():
    w = I.orthogonal((40, 30), rng=np.random.default_rng(0), dtype=np.float32)
    assert w.dtype == np.float32
    np.testing.assert_allclose(gram(w.astype(np.float64)), np.eye(30), atol=1e-6)


def haar_entry_pvalue(draw, n_draws, dim, index):
    """KS p-value of the entry ``index`` over ``n_draws`` matrices against its law under
    the Haar measure: a coordinate of a uniform unit vector in R^dim, (x + 1)/2 ~
    Beta((dim - 1)/2, (dim - 1)/2)."""
    rng = np.random.default_rng(11)
    x = np.array([draw(rng)[index] for _ in range(n_draws)])
    law = stats.beta((dim - 1) / 2, (dim - 1) / 2, loc=-1, scale=2)
    return stats.kstest(x, law.cdf).pvalue


@pytest.mark.parametrize(
    ("shape", "dim"),
    [((4, 4), 4), ((6, 3), 6), ((3, 6), 6), ((2, 3, 2), 6)],  # unit columns or rows of R^dim
)
@pytest.mark.parametrize("index", [(0, 0), (-1, -1), (1, 0)])
def test_orthogonal_is_haar_distributed(shape, dim, index):
    index = index if len(shape) == 2 else (0, *index)
    assert haar_entry_pvalue(lambda r: I.orthogonal(shape, rng=r), 4000, dim, index) > KS_LEVEL


def test_qr_without_sign_correction_is_not_haar():
    # LAPACK's Householder QR gives Q[0, 0] = -|a_11| / ||a_1|| <= 0 every time.
    def naive(r):
        return np.linalg.qr(r.standard_normal((4, 4)))[0]

    rng = np.random.default_rng(0)
    assert all(naive(rng)[0, 0] <= 0 for _ in range(200))
    assert haar_entry_pvalue(naive, 4000, 4, (0, 0)) < 1e-100
    # and the corrected sampler's first column is the first Gaussian column, normalised
    g = np.random.default_rng(5).standard_normal((6, 3))
    q = I.orthogonal((6, 3), rng=np.random.default_rng(5))
    np.testing.assert_allclose(q[:, 0], g[:, 0] / np.linalg.norm(g[:, 0]), rtol=1e-13)


# --- Agreement with PyTorch ---------------------------------------------------------


def our_sample(name, copies=100):
    """``copies`` independent draws of PyTorch's case ``name``, stacked: 100 times its
    sample, so that the comparison is limited by PyTorch's n = 2048 alone."""
    fname, kwargs, shape = INITIALIZERS[name]
    rng = np.random.default_rng(17)
    return np.stack([getattr(I, fname)(shape, **kwargs, rng=rng) for _ in range(copies)])


@pytest.fixture(scope="module")
def torch_reference_file():
    return load_reference("initializers")


@pytest.fixture(scope="module")
def torch_live():
    torch_or_skip()
    inputs = make_initializers_inputs()
    return inputs | torch_initializers_outputs(inputs)


def check_against_torch(ref):
    """Compare dlnotes with one set of PyTorch results (file or live)."""
    assert [I.compute_fans(s) for s in FAN_SHAPES] == [tuple(f) for f in ref["fans"]]
    gains = [I.calculate_gain(n, p) for n, p in GAIN_CASES]
    np.testing.assert_allclose(gains, ref["gains"], rtol=1e-15)
    for name, (fname, _, shape) in INITIALIZERS.items():
        theirs = ref[f"{name}:sample"]
        assert theirs.shape == shape, name
        if fname == "orthogonal":
            # In our layout PyTorch's matrix is orthogonal the same way as ours.
            ours = our_sample(name, copies=1)[0]
            np.testing.assert_allclose(gram(theirs), gram(ours), rtol=0, atol=1e-12)
            continue
        # In distribution (the generators differ): two-sample KS, and the variance within
        # Z_LIMIT standard errors of PyTorch's n = 2048 (SE sqrt(2/n) = 3 % for a normal).
        ours = our_sample(name).ravel()
        assert stats.ks_2samp(theirs.ravel(), ours).pvalue > KS_LEVEL, name
        var_se = ours.var() * math.sqrt((stats.kurtosis(ours) + 2) / theirs.size)
        assert abs(theirs.var() - ours.var()) < Z_LIMIT * var_se, name
    # nn.Linear(128, 16): weight and bias uniform on +-1/sqrt(fan_in), our a = sqrt(5)
    bound = 1 / math.sqrt(LINEAR_LAYER_SIZE[0])
    weight, bias = ref["linear:weight"], ref["linear:bias"]
    assert weight.shape == LINEAR_LAYER_SIZE and np.abs(weight).max() <= bound
    assert np.abs(bias).max() <= bound
    assert stats.kstest(weight.ravel(), uniform(bound).cdf).pvalue > KS_LEVEL
    assert np.abs(our_sample("kaiming_uniform_a_sqrt5")).max() <= bound


def test_matches_pytorch_reference_file(torch_reference_file):
    check_against_torch(torch_reference_file)


def test_matches_pytorch_live(torch_live):
    check_against_torch(torch_live)


def test_pytorch_comparison_would_catch_swapped_fans(torch_reference_file):
    # Kaiming with fan_in taken from the wrong axis (16 instead of 128): variance x 8.
    theirs = torch_reference_file["kaiming_normal:sample"].ravel()
    swapped = I.kaiming_normal((16, 12_800), rng=np.random.default_rng(0)).ravel()
    assert stats.ks_2samp(theirs, swapped).pvalue < 1e-100


# --- Extremes, dtypes, generators ---------------------------------------------------

ALL_INITIALIZERS = {
    "xavier_uniform": lambda s, **k: I.xavier_uniform(s, **k),
    "xavier_normal": lambda s, **k: I.xavier_normal(s, **k),
    "kaiming_uniform": lambda s, **k: I.kaiming_uniform(s, **k),
    "kaiming_normal": lambda s, **k: I.kaiming_normal(s, **k),
    "lecun_normal": lambda s, **k: I.lecun_normal(s, **k),
    "variance_scaling": lambda s, **k: I.variance_scaling(s, 1.0, "fan_avg",
                                                          "truncated_normal", **k),
    "trunc_normal": lambda s, **k: I.trunc_normal(s, **k),
    "orthogonal": lambda s, **k: I.orthogonal(s, **k),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ALL_INITIALIZERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_dtype_and_shape(name, dtype):
    rng = np.random.default_rng(0)
    w = ALL_INITIALIZERS[name]((3, 4, 5), rng=rng, dtype=dtype)
    assert w.dtype == dtype and w.shape == (3, 4, 5)
    assert ALL_INITIALIZERS[name]([6, 2], rng=rng).dtype == np.float64  # the default


@pytest.mark.parametrize("name", sorted(ALL_INITIALIZERS))
def test_same_seed_same_weights_and_no_global_state(name):
    before = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global state)
    a = ALL_INITIALIZERS[name]((8, 5), rng=np.random.default_rng(42))
    b = ALL_INITIALIZERS[name]((8, 5), rng=np.random.default_rng(42))
    c = ALL_INITIALIZERS[name]((8, 5), rng=np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # numpy's legacy global generator is neither used nor advanced
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_trunc_normal_extreme_intervals():
    rng = np.random.default_rng(0)
    # (mean, std, a, b): far tails, huge and tiny scales, a very narrow interval
    cases = [(0.0, 1.0, 1e3, 1e3 + 1.0), (0.0, 1.0, -1e300, 1e300), (0.0, 1.0, 1e-300, 1e300),
             (1e300, 1e299, -1e308, 1e308), (0.0, 1e-300, -1.0, 1.0), (0.0, 1.0, -1e149, 0.0),
             (0.0, 1.0, 5.0, 5.0 + 1e-12), (-1e200, 1.0, -1.001e200, -0.999e200)]  # fmt: skip
    for mean, std, a, b in cases:
        w = I.trunc_normal(500, mean=mean, std=std, a=a, b=b, rng=rng)
        assert np.all((w >= a) & (w <= b)) and np.isfinite(w).all(), (mean, std, a, b)
    # 1000 standard deviations out, the law is nearly exponential of rate 1000 above a:
    # mean excess 1e-3 (the next term is -2e-9), standard error 1e-3 / sqrt(n)
    excess = I.trunc_normal(10_000, a=1e3, b=1e3 + 1.0, rng=rng) - 1e3
    assert abs(excess.mean() - 1e-3) < Z_LIMIT * 1e-3 / math.sqrt(excess.size)
    # a standard deviation of 1e-300 on [-1, 1]: the truncation changes nothing
    w = I.trunc_normal(1000, std=1e-300, a=-1.0, b=1.0, rng=rng)
    assert 0 < np.abs(w).max() < 1e-299


def test_extreme_gains_and_sizes():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(I.xavier_normal((3, 4), gain=0.0, rng=rng), 0.0)
    np.testing.assert_array_equal(I.orthogonal((3, 4), gain=0.0, rng=rng), 0.0)
    w = I.kaiming_uniform((1, 1), rng=rng)
    assert abs(w[0, 0]) <= math.sqrt(6)
    w = I.xavier_uniform((2, 3), gain=1e150, rng=rng)
    assert np.isfinite(w).all() and np.abs(w).max() <= 1e150 * math.sqrt(6 / 5)
    w = I.lecun_normal((10**6, 1), rng=rng)  # a fan of a million: std 1e-3
    assert 0.99e-3 < w.std() < 1.01e-3  # 5 SE = 0.35 % at n = 1e6


# --- Bad arguments ------------------------------------------------------------------

RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("call_bad", "error", "message"),
    [
        (lambda: I.compute_fans((5,)), ValueError, "shape must have at least 2 axes"),
        (lambda: I.compute_fans(()), ValueError, "shape must have at least 2 axes"),
        (lambda: I.compute_fans(7), ValueError, "shape must have at least 2 axes"),
        (lambda: I.compute_fans((3, 0)), ValueError, "shape must have positive"),
        (lambda: I.compute_fans((3, -2)), ValueError, "shape must have positive"),
        (lambda: I.compute_fans((3.0, 2)), TypeError, "shape must be"),
        (lambda: I.compute_fans("ab"), TypeError, "shape must be"),
        (lambda: I.calculate_gain("gelu"), ValueError, "nonlinearity"),
        (lambda: I.calculate_gain("Tanh"), ValueError, "nonlinearity"),
        (lambda: I.calculate_gain("leaky_relu", "0.1"), TypeError, "param"),
        (lambda: I.calculate_gain("leaky_relu", True), TypeError, "param"),
        (lambda: I.calculate_gain("leaky_relu", float("nan")), ValueError, "param"),
        (lambda: I.xavier_uniform((3, 4), gain=-1.0, rng=RNG), ValueError, "gain"),
        (lambda: I.xavier_normal((3, 4), gain=float("inf"), rng=RNG), ValueError, "gain"),
        (lambda: I.xavier_normal((3, 4), gain=1e200, rng=RNG), ValueError, "gain must be below"),
        (lambda: I.orthogonal((3, 4), gain=-2.0, rng=RNG), ValueError, "gain"),
        (lambda: I.orthogonal((4,), rng=RNG), ValueError, "shape"),
        (lambda: I.kaiming_normal((3, 4), mode="fan_avg", rng=RNG), ValueError, "mode"),
        (lambda: I.kaiming_uniform((3, 4), mode="in", rng=RNG), ValueError, "mode"),
        (lambda: I.kaiming_uniform((3, 4), nonlinearity="gelu", rng=RNG), ValueError,
         "nonlinearity"),
        (lambda: I.kaiming_normal((3, 4), a="x", rng=RNG), TypeError, "a must be"),
        (lambda: I.kaiming_normal((3,), rng=RNG), ValueError, "shape"),
        (lambda: I.variance_scaling((3, 4), -1.0, "fan_in", "normal", rng=RNG), ValueError,
         "scale"),
        (lambda: I.variance_scaling((3, 4), 1.0, "fan_geo", "normal", rng=RNG), ValueError,
         "mode"),
        (lambda: I.variance_scaling((3, 4), 1.0, "fan_in", "laplace", rng=RNG), ValueError,
         "distribution"),
        (lambda: I.trunc_normal(5, a=2.0, b=-2.0, rng=RNG), ValueError, "a must be < b"),
        (lambda: I.trunc_normal(5, a=1.0, b=1.0, rng=RNG), ValueError, "a must be < b"),
        (lambda: I.trunc_normal(5, std=0.0, rng=RNG), ValueError, "std"),
        (lambda: I.trunc_normal(5, std=-1.0, rng=RNG), ValueError, "std"),
        (lambda: I.trunc_normal(5, mean=float("nan"), rng=RNG), ValueError, "mean"),
        (lambda: I.trunc_normal(5, a=-1e200, b=-1e199, std=1e-100, rng=RNG), ValueError,
         "a and b must not both lie"),
        (lambda: I.lecun_normal((3, 4), rng=0), TypeError, "rng must be a numpy.random.Gen"),
        (lambda: I.lecun_normal((3, 4), rng=np.random.RandomState(0)), TypeError, "rng"),
        (lambda: I.orthogonal((3, 4), rng=None), TypeError, "rng"),
        (lambda: I.xavier_uniform((3, 4), rng=RNG, dtype=np.int32), TypeError, "dtype"),
        (lambda: I.trunc_normal(5, rng=RNG, dtype=np.complex128), TypeError, "dtype"),
        (lambda: I.xavier_uniform((3, 4), RNG), TypeError, "keyword-only argument: 'rng'"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_clear_errors(call_bad, error, message):
    with pytest.raises(error, match=message):
        call_bad()


# --- Properties (hypothesis) --------------------------------------------------------

shapes = st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple)


@given(shapes)
def test_fans_properties(shape):
    fan_in, fan_out = I.compute_fans(shape)
    receptive_field = math.prod(shape[:-2])
    assert fan_in == shape[-2] * receptive_field and fan_out == shape[-1] * receptive_field
    assert fan_in * shape[-1] == fan_out * shape[-2]
    assert fan_in * fan_out == math.prod(shape) * receptive_field


@given(shapes, st.floats(0.0, 10.0), st.integers(0, 2**32 - 1))
def test_bounds_and_orthogonality_for_any_shape(shape, gain, seed):
    rng = np.random.default_rng(seed)
    fan_in, fan_out = I.compute_fans(shape)
    w = I.xavier_uniform(shape, gain=gain, rng=rng)
    assert w.shape == shape and np.abs(w).max() <= gain * math.sqrt(6 / (fan_in + fan_out))
    w = I.orthogonal(shape, gain=gain, rng=rng)
    g = gram(w)
    np.testing.assert_allclose(g, gain**2 * np.eye(len(g)), atol=1e-12 * max(gain, 1) ** 2)
