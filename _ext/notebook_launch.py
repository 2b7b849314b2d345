"""Notebook downloads and launch links that work for the book's MyST chapters.

With launch buttons configured, sphinx-book-theme copies each chapter's executed notebook
(generated from the .md at build time, never committed) to ``_sources/<page>.ipynb`` and
offers it for download. Two things are added here:

- a first, hidden cell that installs ``dlnotes`` from the repository where it is missing
  (on Colab), so a downloaded or Colab-opened chapter runs anywhere;
- a Colab link to that generated notebook. The theme's own Colab link points at the
  ``.md`` source, which Colab cannot open; the Pages workflow publishes the generated
  notebooks to the branch ``NOTEBOOK_BRANCH``, and the link points there.
"""

import json
from pathlib import Path
from urllib.parse import urlparse

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
    return {"cell_type": "code", "execution_count": None, "metadata": metadata,
            "outputs": [], "source": source}  # fmt: skip


def add_install_cell(path, repository_url):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    if not any(INSTALL_TAG in c.get("metadata", {}).get("tags", []) for c in cells):
        cells.insert(0, install_cell(repository_url))
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


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
    add_install_cell(Path(app.outdir) / "_sources" / notebook, repository_url)
    repository = urlparse(repository_url).path.strip("/")
    colab = app.config.html_theme_options.get("launch_buttons", {}).get("colab_url", "")
    for button in colab_buttons(context.get("header_buttons", [])):
        button["url"] = f"{colab.rstrip('/')}/github/{repository}/blob/{NOTEBOOK_BRANCH}/{notebook}"


def setup(app):
    app.connect("html-page-context", adjust_page, priority=502)  # after the theme's (501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
