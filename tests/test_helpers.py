"""Tests of the helpers the chapters rely on: dlnotes.gradcheck and dlnotes.plotting."""

import matplotlib

matplotlib.use("Agg")  # no display in the tests

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlnotes.gradcheck import max_relative_error, numerical_derivative, numerical_gradient
from dlnotes.plotting import compare_curves, function_and_derivative, new_axes

# --- gradcheck ----------------------------------------------------------------------


@pytest.mark.parametrize("side", ["central", "left", "right"])
def test_numerical_derivative_of_known_functions(side):
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.0, 5.0])
    np.testing.assert_allclose(numerical_derivative(np.exp, x, side=side), np.exp(x), rtol=1e-8)
    np.testing.assert_allclose(
        numerical_derivative(lambda t: t**3, x, side=side), 3 * x**2, rtol=1e-9, atol=1e-9
    )


def test_one_sided_derivatives_at_a_kink():
    assert numerical_derivative(np.abs, [0.0], side="left")[0] == pytest.approx(-1.0)
    assert numerical_derivative(np.abs, [0.0], side="right")[0] == pytest.approx(1.0)
    assert numerical_derivative(np.abs, [0.0])[0] == pytest.approx(0.0)


def test_numerical_gradient_of_a_quadratic_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    x = rng.normal(size=4)
    numeric = numerical_gradient(lambda v: v @ a @ v, x)
    np.testing.assert_allclose(numeric, (a + a.T) @ x, rtol=1e-9)
    matrix = rng.normal(size=(2, 3))  # works on any shape, one coordinate at a time
    np.testing.assert_allclose(numerical_gradient(lambda m: np.sum(m**2), matrix), 2 * matrix)


def test_max_relative_error():
    assert max_relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert max_relative_error([110.0], [100.0]) == pytest.approx(0.1)  # relative above 1
    assert max_relative_error([1e-3], [0.0]) == pytest.approx(1e-3)  # absolute below 1
    assert max_relative_error([1e-3], [1e-4], floor=0) == pytest.approx(9.0)
    assert max_relative_error([np.inf], [np.inf]) == 0.0
    assert np.isnan(max_relative_error([np.nan], [1.0]))  # a NaN never passes a "< tol"


def test_gradcheck_rejects_bad_arguments():
    with pytest.raises(ValueError, match="side"):
        numerical_derivative(np.exp, [1.0], side="up")
    with pytest.raises(TypeError, match="x must be"):
        numerical_derivative(np.exp, ["a"])


# --- plotting -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_function_and_derivative_draws_both_on_white():
    fig = function_and_derivative(np.tanh, lambda t: 1 - np.tanh(t) ** 2, name=r"\tanh")
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert labels == [r"$\tanh(x)$", r"$\tanh'(x)$"]
    assert fig.get_facecolor() == (1.0, 1.0, 1.0, 1.0)  # readable on a dark page too
    np.testing.assert_allclose(ax.get_lines()[-1].get_xdata()[[0, -1]], [-5.0, 5.0])


def test_compare_curves_dashes_curves_beyond_the_colour_cycle():
    x = np.linspace(0, 1, 5)
    fig = compare_curves(x, {f"c{i}": x * i for i in range(12)}, ylabel="y", title="t")
    styles = [ln.get_linestyle() for ln in fig.axes[0].get_lines() if ln.get_label()[0] == "c"]
    assert styles == ["-"] * 10 + ["--"] * 2
    assert fig.axes[0].get_title() == "t"


def test_new_axes_origin_lines_are_optional():
    _, (with_origin,) = new_axes()
    _, (without,) = new_axes(origin=False)
    assert len(with_origin.get_lines()) == 2 and len(without.get_lines()) == 0
    _, axes = new_axes(ncols=3)
    assert len(axes) == 3


def test_svg_figures_have_an_opaque_white_background(tmp_path):
    # The book's dark mode shows images as they are: a transparent figure would put black
    # axis labels on a dark page. The figure patch is drawn first, in white.
    fig = function_and_derivative(np.tanh, lambda t: 1 - np.tanh(t) ** 2, name=r"\tanh")
    fig.savefig(tmp_path / "f.svg")
    svg = (tmp_path / "f.svg").read_text()
    first_fill = svg[svg.index('<g id="figure_1">') :].split("fill:", 1)[1][:9]
    assert first_fill.strip().startswith("#ffffff")
