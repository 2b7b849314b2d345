"""The built book as a reader sees it: every page opened in headless Chromium.

Serves ``_build/html`` on localhost and checks each page: no console error, no failed
request, no request to any other host (the book must work offline), every formula
rendered by the bundled MathJax, every image loaded; and the layout at 1280 px: no stray
space between Chinese characters, every display equation and every code line whole in its
column. A phone pass (390 x 844) checks that no page scrolls sideways, that equations, code
and tables too wide for the column scroll in their own box, and that figures fit. Saves a
screenshot of each page in ``_build/screenshots/`` (``phone_*`` for the phone) for review,
and checks that the search finds a Chinese term.

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
# the built book, and where its screenshots go (beside it): DLNOTES_SITE tests a book
# built elsewhere (e.g. `jupyter-book build . --path-output DIR` builds into DIR/_build/html)
SITE = Path(os.environ.get("DLNOTES_SITE") or ROOT / "_build" / "html").resolve()
SCREENSHOTS = SITE.parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic would be refused by an offline machine anyway.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


# Chinese text: CJK punctuation, ideographs (with extension A), fullwidth forms
CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
# On a phone (390 px, a 358-px column) at most one display equation in five may be wider
# than the column (long ones are split with aligned/cases); the rest scroll in their box.
WIDE_SHARE = 1 / 5
# The smallest figure text (tick labels, legends, titles) once the figure is scaled to the
# phone's column, in CSS px. The smallest text a reader already meets in the body is a
# formula's subscript (MathJax: 0.707 x 16 px = 11.3 px; code is 13 px). A tick label
# or legend is read like a subscript, a word or a number at a time, so it may sit a little
# below that, never near MathJax's floor for second-level scripts (8 px): 10 px.
# dlnotes.plotting holds every figure to it (11-pt text, at most 4.8 in wide: 11.4 px).
LEGIBLE_PX = 10
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# the layout checks run on everything a reader can unfold: hidden cells and dropdowns
EXPAND_ALL = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('button.toggle-button[aria-expanded=false]').forEach(b => b.click());
}"""
# whitespace between two CJK characters in the text of the innermost text blocks, with
# math and code counted as a non-CJK character
STRAY_SPACES = r"""cjk => {
  const blocks = 'p, li, dt, dd, figcaption, td, th, caption, h1, h2, h3, h4';
  const pair = new RegExp('[' + cjk + ']\\s+[' + cjk + ']', 'u');
  const skip = 'mjx-container, .math, code, pre, kbd, script, style, .headerlink';
  const found = [];
  for (const block of document.querySelector('article').querySelectorAll(blocks)) {
    if (block.querySelector(blocks)) continue;
    let text = '';
    const walker = document.createTreeWalker(block, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.parentElement.closest(skip)) text += n.data;
      else if (!text.endsWith('…')) text += '…';  // stands for the formula or code
    }
    const match = text.match(pair);
    if (match) found.push(text.slice(Math.max(0, match.index - 12), match.index + 14).trim());
  }
  return found;
}"""
# display equations: the formula's width against its scroll box (beside the number) and
# against the column; where it scrolls; and whether the number overlaps the box
EQUATIONS = r"""() => [...document.querySelectorAll('mjx-container[display]')].map(box => {
  const math = box.closest('div.math') || box.parentElement;
  const item = MathJax.startup.document.getMathItemsWithin(box)[0];
  const number = math.querySelector('.eqno');
  const [b, n] = [box.getBoundingClientRect(), number && number.getBoundingClientRect()];
  return {
    name: math.id || (item ? item.math.trim().slice(0, 50) : '?'),
    width: Math.ceil(box.querySelector('mjx-math').getBoundingClientRect().width),
    box: box.clientWidth, scroll: box.scrollWidth, column: math.clientWidth,
    scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowX),
    cue: getComputedStyle(box).backgroundImage.includes('gradient'),
    overlaps: !!n && n.width > 0 && n.left < b.right - 1 && b.left < n.right - 1,
  };
})"""
# code blocks (listings and cells) whose longest line does not fit
CODE = """() => [...document.querySelectorAll('div.highlight pre')].map(pre => ({
  line: pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''),
  fits: pre.scrollWidth <= pre.clientWidth,
  scrolls: ['auto', 'scroll'].includes(getComputedStyle(pre).overflowX),
}))"""

# What lies in the text column on a phone: images, and tables either narrow enough or
# inside a box of their own that scrolls; the column is the article's content box.
COLUMN = """() => {
  const article = document.querySelector('article.bd-article');
  const style = getComputedStyle(article), r = article.getBoundingClientRect();
  const left = r.left + parseFloat(style.paddingLeft);
  const right = r.right - parseFloat(style.paddingRight);
  const inside = e => { const b = e.getBoundingClientRect();
                        return b.left >= left - 1 && b.right <= right + 1; };
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const scroller = e => { for (let a = e.parentElement; a && a !== article; a = a.parentElement)
                            if (scrolls(a)) return a; };
  return {
    images: [...article.querySelectorAll('img')].filter(i => !inside(i)).map(i => i.src),
    tables: [...article.querySelectorAll('table')].filter(t => !inside(t))
      .filter(t => !(scroller(t) && inside(scroller(t)))).map(t => t.textContent.slice(0, 40)),
  };
}"""
# the smallest text of each SVG figure, in CSS px as shown: matplotlib draws text as
# glyph paths scaled by fontsize/100 ("scale(0.1 -0.1)" is 10 pt) in a canvas `width` pt wide.
# A math text's sub- and superscripts (0.7 of its size, "scale(0.7)" inside) are not counted,
# as the body's own formulas set theirs at 0.707 of the text.
FIGURE_TEXT = r"""async () => Promise.all([...document.querySelectorAll('article img[src$=".svg"]')]
  .map(async img => {
    const svg = await (await fetch(img.src)).text();
    const width = parseFloat(svg.match(/<svg[^>]*width="([\d.]+)pt"/)[1]);
    const sizes = [...svg.matchAll(/scale\(([\d.]+) -\1\)/g)].map(m => 100 * m[1]);
    const px = sizes.length ? Math.min(...sizes) * img.getBoundingClientRect().width / width : null;
    const figure = img.closest('figure[id]') || img.closest('section[id]');
    return {name: figure ? figure.id : img.src, px};
  }))"""


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
        typeset(page)
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
    page.evaluate(EXPAND_ALL)
    spaces = page.evaluate(STRAY_SPACES, CJK)
    problems = [f"space between Chinese characters: {text!r}" for text in spaces]
    problems += [
        f"equation {e['name']} is {e['scroll'] - e['box']} px wider than its box ({e['box']} px)"
        for e in page.evaluate(EQUATIONS)
        if e["scroll"] > e["box"] + 1
    ]
    problems += [
        f"code line of {len(c['line'])} characters does not fit: {c['line'].strip()[:60]!r}"
        for c in page.evaluate(CODE)
        if not c["fits"]
    ]
    page.close()
    assert watch.problems == [], "\n".join(watch.problems)
    assert problems == [], f"{path} at 1280 px:\n" + "\n".join(problems)


def typeset(page):
    """Wait for MathJax to finish typesetting (it loads only where there is math)."""
    if page.locator(".math").count():
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")


@pytest.mark.parametrize("path", content_pages() or ["(no built book)"])
def test_page_on_a_phone(browser, site_url, path):
    page = browser.new_page(**PHONE)
    watch = PageWatch(page, site_url)
    page.goto(site_url + path, wait_until="networkidle")
    typeset(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"phone_{path.replace('/', '_')}.png", full_page=True)
    page.evaluate(EXPAND_ALL)
    problems = []
    content, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if content > window:
        problems.append(f"the page scrolls sideways ({content} px wide in {window} px)")
    equations = page.evaluate(EQUATIONS)
    for e in equations:
        if e["scroll"] > e["box"] + 1 and not (e["scrolls"] and e["cue"]):
            problems.append(f"equation {e['name']} is cut off, with no scroll box and cue")
        if e["overlaps"]:
            problems.append(f"the number of equation {e['name']} is drawn over it")
    wide = [e for e in equations if e["width"] > e["column"] + 1]
    if equations:
        cut = sum(e["scroll"] > e["box"] + 1 for e in equations)  # beside the number, too
        print(f"{path}: of {len(equations)} display equations, {len(wide)} are wider than the"
              f" column, {cut} scroll")  # fmt: skip
        print("".join(f"  {e['name']}: {e['width']} px in {e['column']} px\n" for e in wide))
    if len(wide) > WIDE_SHARE * len(equations):
        problems.append(f"{len(wide)} of {len(equations)} display equations are wider than the"
                        f" column (at most 1 in {round(1 / WIDE_SHARE)}): split the long ones:"
                        + ", ".join(e["name"] for e in wide))  # fmt: skip
    problems += [
        f"code line does not fit and does not scroll: {c['line'].strip()[:60]!r}"
        for c in page.evaluate(CODE)
        if not (c["fits"] or c["scrolls"])
    ]
    column = page.evaluate(COLUMN)
    problems += [f"image wider than the column: {src}" for src in column["images"]]
    problems += [f"table wider than the column, not in its own scroll box: {t!r}"
                 for t in column["tables"]]  # fmt: skip
    figures = [f for f in page.evaluate(FIGURE_TEXT) if f["px"]]
    if figures:
        print(f"{path}: smallest figure text {min(f['px'] for f in figures):.1f} px (figure"
              f" {min(figures, key=lambda f: f['px'])['name']})")  # fmt: skip
    problems += [
        f"figure {f['name']}: smallest text {f['px']:.1f} px on a phone (at least {LEGIBLE_PX}):"
        " use dlnotes.plotting.new_axes (at most MAX_WIDTH wide) and no fontsize below the base"
        for f in figures
        if f["px"] < LEGIBLE_PX
    ]
    page.close()
    assert watch.problems == [], "\n".join(watch.problems)
    assert problems == [], f"{path} at 390 px:\n" + "\n".join(problems)


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
