"""The notebooks the book offers for download (and Colab opens), as a learner gets them.

Each ``.ipynb`` the build wrote into ``_build/html/_sources/`` must carry no MyST-only
markup in its Markdown cells (the converted source, not the HTML), begin with the install
cell, and run from top to bottom in a clean kernel (nbclient), where the install cell does
nothing because dlnotes is importable. Skipped when the book is not built (`make book`);
``DLNOTES_BUILD_DIR`` points at another build folder.
"""

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from notebook_export import myst_leftovers  # noqa: E402

SOURCES = Path(os.environ.get("DLNOTES_BUILD_DIR", ROOT / "_build")) / "html" / "_sources"
NOTEBOOKS = sorted(SOURCES.rglob("*.ipynb")) if SOURCES.is_dir() else []


def name(path):
    return path.relative_to(SOURCES).as_posix()


@pytest.fixture(params=NOTEBOOKS or [None], ids=[name(p) for p in NOTEBOOKS] or ["no book"])
def notebook(request):
    if request.param is None:
        pytest.skip("the book is not built: run `make book` first")
    return request.param


def test_markdown_cells_are_plain_markdown(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    assert "dlnotes-install" in cells[0]["metadata"]["tags"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    leftovers = [(i, m) for i, text in enumerate(markdown) for m in myst_leftovers(text)]
    assert leftovers == [], f"MyST-only markup in {name(notebook)}: {leftovers[:10]}"
    # the book's links point at the published book, never at a source file
    links = [u for text in markdown for u in re.findall(r"\]\(([^)]+)\)", text)]
    assert all(u.startswith("https://") for u in links), [u for u in links if "://" not in u]


def test_runs_in_a_clean_kernel(notebook, tmp_path):
    source = nbformat.read(str(notebook), as_version=4)
    for cell in source.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(source, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()  # raises CellExecutionError, with the traceback, on a failing cell
    install = source.cells[0]
    assert install.outputs == [], "the install cell did something where dlnotes is importable"
    stderr = [
        "".join(o.get("text", ""))[:200]
        for c in source.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stderr"
    ]
    assert stderr == [], f"{name(notebook)} wrote to stderr: {stderr[:3]}"
