"""Figure helpers, so that every chapter's plots share one look.

Figures have an opaque white background (readable in a dark-mode page too), a light grid,
the axes through the origin drawn in grey, and English or math-text labels only (no CJK
font is needed). Chapters render them as SVG.

Legible on a phone. A figure scales to the text column: 358 CSS px on a 390-px phone, so
text of ``s`` pt in a figure ``w`` pt wide shows at ``s * 358 / w`` px there. The book
asks for at least ``LEGIBLE_PX`` = 10 px (tests/test_browser.py checks every figure), so
importing this module sets an 11-pt base font for every text of every figure, and
``new_axes`` keeps a figure at most ``MAX_WIDTH`` = 4.8 in (345.6 pt) wide, whatever the
panels ask: 11 pt then shows at 11.4 px on a phone (10.9 px in a dropdown or admonition,
which are narrower) and at 14.7 px on a desktop, where the figure keeps its own size.
Keep every text at the base size: ``fontsize="small"`` (9.2 pt) would show at 9.5 px.
"""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["new_axes", "function_and_derivative", "compare_curves", "MAX_WIDTH"]

# the widest figure (inches) whose 11-pt text still shows at >= 10 px in a 358-px column
MAX_WIDTH = 4.8
# every text at the base size or larger: tick labels, legends, contour labels included
STYLE = {
    "font.size": 11.0,
    "axes.titlesize": "medium",
    "axes.labelsize": "medium",
    "xtick.labelsize": "medium",
    "ytick.labelsize": "medium",
    "legend.fontsize": "medium",
    "legend.title_fontsize": "medium",
    "figure.titlesize": "large",
}
mpl.rcParams.update(STYLE)

FUNCTION_STYLE = {"color": "C0", "linewidth": 2.0}
DERIVATIVE_STYLE = {"color": "C3", "linewidth": 1.6, "linestyle": "--"}


def new_axes(ncols=1, width=4.8, height=3.4, origin=True, nrows=1):
    """A grid of ``nrows`` x ``ncols`` styled axes (``width`` x ``height`` inches each).

    Returns ``(fig, axes)``, axes a flat list in reading order (row by row).
    ``origin=False`` leaves out the axes through the origin (for logarithmic plots).
    The figure is never wider than ``MAX_WIDTH``, so that its text stays legible once it is
    scaled to a phone's column: a wider panel is narrowed to ``MAX_WIDTH`` (its height
    kept), and panels that do not fit side by side are stacked, one per row, in the same
    reading order (so a chapter calls them the upper and lower panel, not left and right).
    """
    if ncols > 1 and width * ncols > MAX_WIDTH:
        nrows, ncols = nrows * ncols, 1
    width = min(width, MAX_WIDTH)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    fig.patch.set_facecolor("white")
    for ax in axes.flat:
        ax.grid(True, color="0.9")
        if origin:
            ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=1)
            ax.axvline(0.0, color="0.6", linewidth=0.8, zorder=1)
        ax.set_xlabel("$x$")
    return fig, list(axes.flat)


def function_and_derivative(f, df, x=None, *, name, derivative_name=None, ylim=None):
    r"""Plot ``f`` and its derivative ``df`` on one axes; returns the figure.

    ``name`` is math text for the function, e.g. ``r"\sigma"``; the legend then reads
    ``\sigma(x)`` and ``\sigma'(x)``. Where appending a prime would misread, pass the
    derivative's own name: ``name=r"\log\sigma", derivative_name=r"(\log\sigma)'"``.
    """
    x = np.linspace(-5.0, 5.0, 501) if x is None else np.asarray(x)
    derivative_name = f"{name}'" if derivative_name is None else derivative_name
    fig, (ax,) = new_axes()
    ax.plot(x, f(x), label=rf"${name}(x)$", **FUNCTION_STYLE)
    ax.plot(x, df(x), label=rf"${derivative_name}(x)$", **DERIVATIVE_STYLE)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(loc="best", framealpha=0.9)
    return fig


def compare_curves(x, curves, *, ylabel, title=None, ylim=None, ax=None):
    """Plot several labelled curves over the same ``x``; returns the figure.

    ``curves`` maps a legend label to the y values. Pass ``ax`` to draw into an
    existing panel (the figure of that panel is returned).
    """
    if ax is None:
        fig, (ax,) = new_axes(height=3.6)
    else:
        fig = ax.figure
    for i, (label, y) in enumerate(curves.items()):
        # the colour cycle has 10 colours: the next 10 curves repeat them dashed
        ax.plot(x, y, label=label, linewidth=1.6, linestyle="-" if i < 10 else "--")
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(loc="best", framealpha=0.9)
    return fig
