"""The converter of chapters into notebooks for plain Markdown (``_ext/notebook_export.py``).

Small snippets against hand-made targets, then every chapter of the built book against the
numbers of its Sphinx environment (``_build/.doctrees/environment.pickle``; skipped when the
book is not built; ``DLNOTES_BUILD_DIR`` points at another build folder).
"""

import os
import pickle
import re
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from notebook_export import (  # noqa: E402
    ConversionError,
    Targets,
    book_url,
    convert_markdown,
    convert_notebook,
    myst_leftovers,
    targets_from_env,
)

BUILD = Path(os.environ.get("DLNOTES_BUILD_DIR", ROOT / "_build"))
BASE = "https://dlnotes.github.io/dlnotes/"
DOC = "chapters/01_activations"
PAGE = f"{BASE}{DOC}.html"


@pytest.fixture
def targets():
    return Targets(
        base_url=BASE,
        srcdir=ROOT,
        equations={"eq-sigmoid": (DOC, "1.1"), "eq-mse": ("chapters/02_losses", "2.3")},
        numbers={"fig-sigmoid": (DOC, "fig-sigmoid", "figure", "1.1"),
                 "sec-losses": ("chapters/02_losses", "sec-losses", "section", "2")},
        sections={"sec-losses": ("chapters/02_losses", "sec-losses", "损失函数")},
        titles={"chapters/notation": "符号表"},
        terms={"激活函数": ("chapters/glossary", "term-0"),
               "上溢": ("chapters/glossary", "term-7")},
        citations={"nair2010relu": ("chapters/references", "id3", ["Nair", "Hinton"], "2010"),
                   "bengio1994": ("chapters/references", "id9", ["Bengio", "Simard",
                                                                 "Frasconi"], "1994")},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("repository", "url"),
    [
        ("https://github.com/dlnotes/dlnotes", "https://dlnotes.github.io/dlnotes/"),
        ("https://github.com/Someone/book.git/", "https://someone.github.io/book/"),
        ("https://github.com/someone/someone.github.io", "https://someone.github.io/"),
    ],
)
def test_book_url_is_the_github_pages_address(repository, url):
    assert book_url(repository) == url


@pytest.mark.parametrize(
    ("myst", "markdown"),
    [
        ("{term}`激活函数`是", f"[激活函数]({BASE}chapters/glossary.html#term-0)是"),
        ("在{term}`溢出 <上溢>`时", f"在[溢出]({BASE}chapters/glossary.html#term-7)时"),
        ("按式 {eq}`eq-sigmoid`", f"按式 [(1.1)]({PAGE}#equation-eq-sigmoid)"),
        ("见 {numref}`fig-sigmoid`", f"见 [图 1.1]({PAGE}#fig-sigmoid)"),
        ("{numref}`第 %s 章 <sec-losses>`", f"[第 2 章]({BASE}chapters/02_losses.html#sec-losses)"),
        ("见 {ref}`sec-losses`", f"见 [损失函数]({BASE}chapters/02_losses.html#sec-losses)"),
        ("列在 {doc}`notation` 中", f"列在 [符号表]({BASE}chapters/notation.html) 中"),
        ("ReLU {cite:p}`nair2010relu`",
         f"ReLU ([Nair and Hinton, 2010]({BASE}chapters/references.html#id3))"),
        ("{cite:t}`bengio1994`", f"[Bengio et al. (1994)]({BASE}chapters/references.html#id9)"),
        ("({cite:p}`nair2010relu,bengio1994`)",
         f"(([Nair and Hinton, 2010]({BASE}chapters/references.html#id3); "
         f"[Bengio et al., 1994]({BASE}chapters/references.html#id9)))"),
        # a line break between Chinese characters is joined; next to Latin text it stays
        ("激活函数\n是非线性的", "激活函数是非线性的"),
        ("用\nnumpy 实现", "用\nnumpy 实现"),
        ("ELU、\nSELU", "ELU、SELU"),
        ("可以展开的\n“数值实现”", "可以展开的“数值实现”"),
        ("如下：\n- 第一\n- 第二", "如下：\n- 第一\n- 第二"),
        ("# 标题\n正文", "# 标题\n正文"),
        ("(sec-activations)=\n# 激活函数", "# 激活函数"),
        ("% a comment\n正文", "正文"),
    ],
)  # fmt: skip
def test_roles_and_targets(targets, myst, markdown):
    assert convert_markdown(myst, DOC, targets) == markdown


def test_labelled_equation_gets_its_number_as_a_tag(targets):
    myst = "$$\n\\sigma(x) = \\frac{1}{1 + e^{-x}}\n$$ (eq-sigmoid)\n\n后文"
    expected = "$$\n\\sigma(x) = \\frac{1}{1 + e^{-x}}\n\\tag{1.1}\n$$\n\n后文"
    assert convert_markdown(myst, DOC, targets) == expected
    assert convert_markdown("$$ x^2 $$ (eq-mse)", DOC, targets) == "$$\n x^2 \n\\tag{2.3}\n$$"
    assert convert_markdown("$$\ny\n$$", DOC, targets) == "$$\ny\n$$"


def test_dropdown_becomes_details_with_the_code_it_includes(targets):
    myst = """前文

:::{admonition} 数值实现
:class: dropdown

按 {eq}`eq-sigmoid` 计算会{term}`上溢`。

```{literalinclude} ../dlnotes/activations.py
:pyobject: sigmoid
```
:::"""
    markdown = convert_markdown(myst, DOC, targets)
    assert markdown.startswith("前文\n\n<details>\n<summary>数值实现</summary>\n\n按 [(1.1)](")
    assert "```python\ndef sigmoid(" in markdown and markdown.endswith("```\n\n</details>")
    assert myst_leftovers(markdown) == []


def test_admonition_without_dropdown_becomes_a_block_quote(targets):
    myst = ":::{admonition} 注意\n第一行\n\n第二行\n:::"
    assert convert_markdown(myst, DOC, targets) == "> **注意**\n>\n> 第一行\n>\n> 第二行"


def test_ordinary_code_and_glue_figure(targets):
    code = "```python\n{term}`not a role in code`\n```"
    assert convert_markdown(code, DOC, targets) == code
    glue = "```{glue:figure} fig-glued\n:name: fig-sigmoid\n\n误差，见{term}`上溢`。\n```"
    assert convert_markdown(glue, DOC, targets).startswith("**图 1.1**：误差，见[上溢](")


@pytest.mark.parametrize(
    "myst", ["{term}`没有的词`", "{eq}`eq-none`", "{cite:p}`nobody`", "```{tableofcontents}\n```"]
)
def test_unknown_targets_and_directives_are_errors(targets, myst):
    with pytest.raises(ConversionError):
        convert_markdown(myst, DOC, targets)


def test_notebook_cells_keep_their_tags_and_figures_get_captions(targets):
    notebook = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["见 {numref}`fig-sigmoid`。"]},
        {"cell_type": "code", "metadata": {"tags": ["hide-input"], "mystnb": {"figure": {
            "name": "fig-sigmoid", "caption": "Sigmoid 及其导数"}}}, "source": "plot()",
         "outputs": [], "execution_count": None},
    ]}  # fmt: skip
    cells = convert_notebook(notebook, DOC, targets)["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code", "markdown"]
    assert cells[0]["source"] == f"见 [图 1.1]({PAGE}#fig-sigmoid)。"
    assert cells[1]["metadata"]["tags"] == ["hide-input"]
    assert cells[2]["source"] == "**图 1.1**：Sigmoid 及其导数"
    assert cells[2]["id"] == "caption-fig-sigmoid"


# --- every chapter of the built book ------------------------------------------------------


@pytest.fixture(scope="module")
def book_targets():
    pickled = BUILD / ".doctrees" / "environment.pickle"
    if not pickled.exists():
        pytest.skip(f"the book is not built ({pickled} is missing): run `make book` first")
    with open(pickled, "rb") as f:
        env = pickle.load(f)  # noqa: S301 (our own build)
    return env, targets_from_env(env, env.config, BASE)


def test_every_chapter_converts_completely(book_targets):
    env, targets = book_targets
    chapters = sorted(d for d in env.found_docs if re.match(r"chapters/\d\d_", d))
    assert "chapters/01_activations" in chapters
    failures = {}
    for docname in chapters:
        source = (ROOT / f"{docname}.md").read_text(encoding="utf-8")
        try:
            notebook = convert_notebook(jupytext.reads(source, fmt="md:myst"), docname, targets)
        except ConversionError as error:  # a broken reference (the book build warns too)
            failures[docname] = str(error)
            continue
        cells = notebook["cells"]
        markdown = "\n".join(c["source"] for c in cells if c["cell_type"] == "markdown")
        assert myst_leftovers(markdown) == [], docname
        # every listing is there as code, every labelled equation has its number
        for name in re.findall(r":pyobject: ([\w.]+)", source):
            function = name.split(".")[-1]
            assert re.search(rf"^\s*(def|class) {function}\b", markdown, re.M), name
        labelled = len(re.findall(r"^\$\$.*\(eq-[\w-]+\)\s*$", source, re.M))
        assert markdown.count("\\tag{") == labelled, docname
        assert markdown.count("chapters/glossary.html#term-") >= source.count("{term}`")
    assert failures == {}
