"""Notebook downloads and launch links that work for the book's MyST chapters.

With launch buttons configured, sphinx-book-theme copies each chapter's executed notebook
(generated from the .md at build time, never committed) to ``_sources/<page>.ipynb`` and
offers it for download. Three things are done here:

- its Markdown cells are rewritten for a plain Markdown renderer (``notebook_export``):
  glossary terms, equation and figure numbers, citations and cross-references become
  links to the published book, dropdowns become ``<details>``, and each literalinclude
  becomes the code it shows; a conversion failure is a build warning (an error under -W);
- a first, hidden cell that installs ``dlnotes`` from the repository where it is missing
  (on Colab), so a downloaded or Colab-opened chapter runs anywhere;
- a Colab link to that generated notebook. The theme's own Colab link points at the
  ``.md`` source, which Colab cannot open; the Pages workflow publishes the generated
  notebooks to the branch ``NOTEBOOK_BRANCH``, and the link points there.
"""

import json
from pathlib import Path
from urllib.parse import urlparse

from notebook_export import ConversionError, book_url, convert_notebook, targets_from_env
from sphinx.util import logging

logger = logging.getLogger(__name__)

NOTEBOOK_BRANCH = "notebooks"
INSTALL_TAG = "dlnotes-install"


def install_cell(repository_url):
    source = [
        "#@title Install dlnotes (only where it is missing, e.g. on Colab)\n",
        "import importlib.util\n",
        "\n",
        'if importlib.util.find_spec("dlnotes") is None:\n',
        f'    get_ipython().run_line_magic("pip", "install -q git+{repository_url}")\n',
    ]
    metadata = {"cellView": "form", "tags": ["remove-cell", INSTALL_TAG]}
    return {"cell_type": "code", "id": INSTALL_TAG, "execution_count": None, "metadata": metadata,
            "outputs": [], "source": source}  # fmt: skip


def prepare_notebook(path, docname, repository_url, targets):
    """The downloadable notebook: Markdown converted, and the install cell first."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    if any(INSTALL_TAG in c.get("metadata", {}).get("tags", []) for c in cells):
        return  # already done in this build
    try:
        convert_notebook(notebook, docname, targets)
    except (ConversionError, OSError) as error:
        logger.warning(f"the downloadable notebook: {error}", location=docname)
    notebook["cells"].insert(0, install_cell(repository_url))
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


def book_targets(app):
    """Numbers, titles and anchors of this build (computed once, after reading)."""
    if getattr(app, "_dlnotes_targets", None) is None:
        repository_url = app.config.html_theme_options.get("repository_url", "")
        app._dlnotes_targets = targets_from_env(app.env, app.config, book_url(repository_url))
    return app._dlnotes_targets


def colab_buttons(buttons):
    for button in buttons:
        if button.get("text") == "Colab":
            yield button
        yield from colab_buttons(button.get("buttons", []))


def adjust_page(app, pagename, templatename, context, doctree):
    notebook = context.get("ipynb_source")
    repository_url = app.config.html_theme_options.get("repository_url", "").rstrip("/")
    if not notebook or not repository_url:
        return
    path = Path(app.outdir) / "_sources" / notebook
    prepare_notebook(path, pagename, repository_url, book_targets(app))
    repository = urlparse(repository_url).path.strip("/")
    colab = app.config.html_theme_options.get("launch_buttons", {}).get("colab_url", "")
    for button in colab_buttons(context.get("header_buttons", [])):
        button["url"] = f"{colab.rstrip('/')}/github/{repository}/blob/{NOTEBOOK_BRANCH}/{notebook}"


def setup(app):
    app.connect("html-page-context", adjust_page, priority=502)  # after the theme's (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
