"""Serve MathJax from the built site itself, so that formulas render with no network.

MathJax 3 comes from the PyPI package ``django-static-mathjax`` (the plain MathJax
distribution; Django is not needed). After an HTML build, the parts the book uses are
copied into ``_static/mathjax/`` and Sphinx's ``mathjax_path`` points there instead of a
CDN. To update MathJax, change the pinned version in requirements.txt.
"""

import shutil
from pathlib import Path

import mathjax  # the django-static-mathjax package

SOURCE = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
# the combined TeX-to-HTML component, and what it loads on demand (TeX extensions such as
# \boldsymbol, the CommonHTML fonts, the context menu and its accessibility tools)
PARTS = ["tex-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors"]
TARGET = "mathjax"


def use_local_mathjax(app, config):
    config.mathjax_path = f"{TARGET}/tex-chtml.js"  # relative paths are under _static/


def copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    for part in PARTS:
        source = SOURCE / part
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        elif source.exists():
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)


def setup(app):
    app.connect("config-inited", use_local_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
