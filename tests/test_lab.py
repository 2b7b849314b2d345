"""Chapter 1 as a learner runs it with `make lab`: JupyterLab in headless Chromium.

`make lab` opens the notebooks the book build generates (``_build/html/_sources/``, converted
by ``_ext/notebook_export.py``): the chapter as the website shows it, code listings, numbers
and citations included. This starts JupyterLab from `make lab`'s environment on localhost
in a scratch folder holding a copy of chapter 1's notebook, laid out as `make lab` lays it
out (so nothing is ever saved into the repository), its stored outputs cleared, opens it by
its URL, runs all cells and checks: no error and no stderr output, no MyST markup and no
label left raw in the rendered Markdown, no space between Chinese characters where the
source only broke a line, the 数值实现 dropdowns present, every ``literalinclude`` listing
shown (``def sigmoid(x):``), and the equation numbers those of the website's page. Saves
screenshots in ``_build/screenshots/lab_*.png``.

Needs a built book (`make book`), `make lab`'s environment and Chromium; without them it is
skipped with the reason -- unless DLNOTES_REQUIRE_BROWSER is set, as in CI, where that is a
failure.
"""

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, CJK, SCREENSHOTS, SITE, missing

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "01_activations"
# what `make lab` copies (from the built book) and where it opens it
NOTEBOOK = SITE / "_sources" / "chapters" / f"{CHAPTER}.ipynb"
LAB_PATH = f"_build/lab/{CHAPTER}.ipynb"
JUPYTER_LAB = Path(sys.executable).parent / "jupyter-lab"
TOKEN = "dlnotes-test"
# every cell rendered (not only those in view); no news pop-up over the screenshot
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                     "checkForUpdates": False},
}  # fmt: skip
RAW_MYST = re.compile(r"\{(term|eq|numref|ref|doc|cite(:\w+)?|literalinclude|admonition)\}")
# a label of the book (equation, figure, section, table) shown instead of its number or title
RAW_LABEL = re.compile(r"\(?\b(?:eq|fig|sec|tab)-[a-z][\w-]*\)?")
# the notebook's state: kernel status, code cells run, outputs that are errors or stderr
STATE = """() => {
  const panel = jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(c => c.model.type === 'code');
  const outputs = code.flatMap(c => c.model.outputs.toJSON());
  return {
    status: kernel ? kernel.status : 'none',
    pending: panel.content.widgets.filter(c => c.model.type === 'code'
      && c.promptNode && c.promptNode.textContent.includes('*')).length,
    run: code.filter(c => c.model.executionCount !== null).length, cells: code.length,
    errors: outputs.filter(o => o.output_type === 'error')
      .map(o => `${o.ename}: ${o.evalue}`),
    stderr: outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr')
      .map(o => [].concat(o.text).join('').slice(0, 200)),
  };
}"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not JUPYTER_LAB.exists() or importlib.util.find_spec("jupyterlab_myst") is None:
        missing("the lab environment is not installed: run `make lab` (requirements-lab.txt)")
    if not NOTEBOOK.exists():
        missing(f"{NOTEBOOK} is missing: run `make book`")
    if not Path(CHROMIUM).exists():
        missing("chromium is not installed: run `make system-deps` (Debian)")
    work = tmp_path_factory.mktemp("lab")
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:  # every output checked below is one JupyterLab's run wrote
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    (work / LAB_PATH).parent.mkdir(parents=True)
    (work / LAB_PATH).write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    for name, values in SETTINGS.items():
        path = work / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    command = [str(JUPYTER_LAB), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
               f"--LabApp.user_settings_dir={work / 'settings'}",
               "--LabApp.expose_app_in_browser=True"]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(work / "lab.log", "w")  # noqa: SIM115 (closed below)
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(ROOT / "lab"))  # as `make lab` starts it
    server = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (work / "lab.log").read_text()
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# the rendered Markdown: its text (closed dropdowns included), the equation numbers shown
# beside display math (MathJax's, as `make lab` renders; KaTeX's under jupyterlab-myst),
# and whitespace between two Chinese characters in its paragraphs, math and code left out
RENDERED = r"""cjk => {
  // jupyterlab-myst renders into .myst, JupyterLab's own renderer into .jp-RenderedMarkdown
  const cells = [...document.querySelectorAll('.jp-MarkdownCell')]
    .map(c => c.querySelector('.jp-InputArea > .myst, .jp-RenderedMarkdown')).filter(e => e);
  const pair = new RegExp('[' + cjk + ']\\s+[' + cjk + ']', 'u');
  const skip = '.katex, mjx-container, .math, code, pre';
  const spaces = [];
  for (const block of cells.flatMap(c => [...c.querySelectorAll('p, li, summary, h1, h2, h3')])) {
    if (block.querySelector('p, li')) continue;
    let text = '';
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement.closest(skip)) text += n.data;
      else if (!text.endsWith('…')) text += '…';
    }
    const match = text.match(pair);
    if (match) spaces.push(text.slice(Math.max(0, match.index - 12), match.index + 14).trim());
  }
  return {
    texts: cells.map(c => c.textContent),
    numbers: cells.flatMap(c => [...c.querySelectorAll('.katex-display .tag, mjx-labels')])
      .map(t => t.tagName === 'MJX-LABELS' ? [...t.querySelectorAll('mjx-c')]  // a glyph each
        .map(g => (g.className.match(/mjx-c([0-9A-F]+)/i) || [, '3F'])[1])  // or '?'
        .map(hex => String.fromCodePoint(parseInt(hex, 16)))
        .join('') : t.textContent.trim()),
    spaces: spaces,
  };
}"""


def website_equation_numbers():
    page = (SITE / "chapters" / f"{CHAPTER}.html").read_text(encoding="utf-8")
    return re.findall(r'<span class="eqno">(\([\d.]+\))', page)


def test_chapter_runs_and_renders_in_jupyterlab(lab, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{lab}/lab/tree/{LAB_PATH}?token={TOKEN}")  # where `make lab` opens
    page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell", timeout=120_000)
    page.wait_for_function("window.jupyterapp && jupyterapp.shell.currentWidget.sessionContext"
                           ".session && jupyterapp.shell.currentWidget.sessionContext.session"
                           ".kernel.status === 'idle'", timeout=120_000)  # fmt: skip
    start = time.monotonic()
    page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    state = {}
    while time.monotonic() - start < 600:
        time.sleep(1)
        state = page.evaluate(STATE)
        if (
            state["status"] == "idle"
            and state["pending"] == 0
            and (state["run"] == state["cells"] or state["errors"])
        ):
            break
    print(f"{CHAPTER}: {state['run']} of {state['cells']} code cells run in JupyterLab"
          f" in {time.monotonic() - start:.0f} s")  # fmt: skip
    assert state["errors"] == [], state["errors"]
    assert state["stderr"] == [], state["stderr"]
    assert state["run"] == state["cells"]

    rendered = page.evaluate(RENDERED, CJK)
    text = "\n".join(rendered["texts"])
    markdown_cells = page.locator(".jp-MarkdownCell").count()
    assert len(rendered["texts"]) == markdown_cells > 20, "Markdown cells not rendered"
    raw = [m.group(0) for m in RAW_MYST.finditer(text)]
    assert raw == [], f"MyST markup left raw in JupyterLab: {raw[:10]}"
    labels = [m.group(0) for m in RAW_LABEL.finditer(text)]
    assert labels == [], f"labels shown instead of numbers or titles: {labels[:10]}"
    assert rendered["spaces"] == [], f"spaces between Chinese characters: {rendered['spaces']}"
    assert page.locator(".katex-error, .myst-error").count() == 0, "math or MyST errors shown"
    dropdowns = page.locator("details", has_text="数值实现")
    assert dropdowns.count() >= 10, "the 数值实现 dropdowns are missing"
    source = (ROOT / "chapters" / f"{CHAPTER}.md").read_text(encoding="utf-8")
    listings = re.findall(r":pyobject: (\w+)", source)
    assert "def sigmoid(x):" in text
    assert [f for f in listings if f"def {f}(" not in text] == [], "listings missing"
    numbers = website_equation_numbers()
    assert numbers[0] == "(1.1)" and rendered["numbers"] == numbers, rendered["numbers"]
    print(f"{markdown_cells} Markdown cells, {len(listings)} listings and {len(numbers)}"
          f" numbered equations as on the website")  # fmt: skip

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # the sigmoid section (formulas, terms, the listing and the figure), then a dropdown
    page.locator("h2", has_text="Sigmoid").first.evaluate("h => h.scrollIntoView()")
    page.screenshot(path=SCREENSHOTS / "lab_01_activations.png")
    dropdowns.first.evaluate("d => { d.open = true; d.scrollIntoView(); }")
    page.screenshot(path=SCREENSHOTS / "lab_01_activations_dropdown.png")
    page.close()
