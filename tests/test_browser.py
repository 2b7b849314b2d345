"""The built book as a reader sees it: every page opened in headless Chromium.

Serves ``_build/html`` on localhost and checks each page: no console error, no failed
request, no request to any other host (the book must work offline), every formula
rendered by the bundled MathJax, every image loaded. Saves a screenshot of each page in
``_build/screenshots/`` for review, and checks that the search finds a Chinese term.

Needs a built book (``make book``) and Debian's chromium (``make system-deps``); without
them the tests are skipped with the reason -- unless DLNOTES_REQUIRE_BROWSER is set, as
in CI, where that is a failure.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic would be refused by an offline machine anyway.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


def missing(reason):
    if os.environ.get("DLNOTES_REQUIRE_BROWSER"):
        pytest.fail(f"DLNOTES_REQUIRE_BROWSER is set, but {reason}")
    pytest.skip(reason)


def content_pages():
    """Every HTML page of the book (not Sphinx's generated index and search pages)."""
    if not SITE.is_dir():
        return []
    skip = {"genindex.html", "search.html", "index.html"}  # index.html only redirects
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if p.name not in skip and not p.relative_to(SITE).parts[0].startswith("_")
    )


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        missing("the book is not built: run `make book` first")
    handler = functools.partial(QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (requirements-test.txt)")
    if not Path(CHROMIUM).exists():
        missing("chromium is not installed: run `make system-deps` (Debian)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageWatch:
    """Records what a page does wrong while it loads."""

    def __init__(self, page, site_url):
        self.problems = []
        host = urlparse(site_url).netloc
        page.on("console", self.console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status}: {r.url}"))  # fmt: skip
        page.on("request", lambda r: self.foreign(r.url, host))

    def console(self, message):
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def foreign(self, url, host):
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https") and parsed.netloc != host:
            self.problems.append(f"request to another host: {url}")


@pytest.mark.parametrize("path", content_pages() or ["(no built book)"])
def test_page_renders_offline(browser, site_url, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = PageWatch(page, site_url)
    page.goto(site_url + path, wait_until="networkidle")

    formulas = page.locator(".math").count()
    if formulas:
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")  # resolves once typesetting is done
        raw = page.evaluate(
            "[...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))"
            ".map(e => e.textContent.slice(0, 60))"
        )
        assert raw == [], f"formulas left as raw TeX: {raw[:5]}"
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    broken = page.evaluate(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == [], f"images not loaded: {broken}"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / (path.replace("/", "_") + ".png"), full_page=True)
    page.close()
    assert watch.problems == [], "\n".join(watch.problems)


def test_chapters_have_formulas_and_figures(browser, site_url):
    page = browser.new_page()
    page.goto(site_url + "chapters/01_activations.html", wait_until="networkidle")
    assert page.locator(".math").count() > 50
    assert page.locator("img").count() > 15  # one figure per function, and the experiments
    page.close()


def test_search_finds_a_chinese_term(browser, site_url):
    page = browser.new_page()
    watch = PageWatch(page, site_url)
    page.goto(site_url + "search.html?q=梯度消失", wait_until="networkidle")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=10_000)
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("01_activations" in href for href in hrefs), hrefs
    page.close()
    assert watch.problems == [], "\n".join(watch.problems)


@pytest.mark.parametrize("path", [p for p in content_pages() if "/0" in p] or ["(no book)"])
def test_chapters_offer_notebook_download_and_launch_links(browser, site_url, path):
    page = browser.new_page()
    page.goto(site_url + path, wait_until="networkidle")
    links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    binder = [u for u in links if u.startswith("https://mybinder.org/v2/gh/")]
    colab = [u for u in links if u.startswith("https://colab.research.google.com/github/")]
    download = [u for u in links if u.endswith(".ipynb") and u.startswith(site_url)]
    page.close()
    stem = Path(path).stem
    assert binder and binder[0].endswith(f"chapters/{stem}.md"), binder
    assert colab and colab[0].endswith(f"/blob/notebooks/chapters/{stem}.ipynb"), colab
    assert download, "no .ipynb download link"
    response = browser.new_context().request.get(download[0])
    notebook = response.json()
    first = notebook["cells"][0]
    assert "dlnotes-install" in first["metadata"]["tags"]  # installs dlnotes on Colab
    assert sum(c["cell_type"] == "code" for c in notebook["cells"]) > 10  # the chapter itself


def test_figures_stay_readable_in_dark_mode(browser, site_url):
    # The figures carry their own white background; the screenshot is for review.
    page = browser.new_page(color_scheme="dark")
    page.goto(site_url + "chapters/01_activations.html", wait_until="networkidle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("figure img").first.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "dark_chapters_01_activations.png")
    page.close()
