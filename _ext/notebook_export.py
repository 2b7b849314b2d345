"""A chapter's notebook for a plain Markdown renderer (Colab, Jupyter without jupyterlab-myst).

The Markdown cells of a MyST chapter use roles and directives only Sphinx understands. This
rewrites them into CommonMark with math, so that the downloaded ``.ipynb`` (and the copy
Colab opens) reads like the book page:

- ``{term}`` -> the term, linked to the glossary of the published book;
- ``{eq}``/``{numref}`` -> the numbers the website shows ("(1.3)", "图 2.7"), linked;
- ``{ref}``/``{doc}`` -> the section or page title, linked;
- ``{cite:p}``/``{cite:t}`` -> "(Author, Year)", linked to the references page;
- ``$$ ... $$ (eq-x)`` -> ``$$ ... \\tag{1.3} $$``; ``(label)=`` targets are removed;
- admonitions -> ``<details>`` (dropdowns) or block quotes; ``glue:figure`` -> its caption;
- ``literalinclude`` -> the code it shows, as a fenced block;
- line breaks between Chinese characters are joined (a Markdown renderer makes them spaces).

Numbers, titles and anchors come from the Sphinx build environment (:func:`targets_from_env`),
so they are the ones the website shows; :class:`Targets` can also be filled by hand (tests).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from cjk_linebreaks import joins
from sphinx.config import Config
from sphinx.directives.code import LiteralIncludeReader

ROLE = re.compile(r"\{([a-z][\w:-]*)\}`([^`]*)`")
LABEL_LINE = re.compile(r"^\s*\(([\w-]+)\)=\s*$")
DIRECTIVE = re.compile(r"^(\s*)(`{3,}|:{3,})\{([\w:-]+)\}\s*(.*?)\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
EXPLICIT = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)  # "text <target>"
# what only Sphinx understands: a role, a directive, a target, a labelled $$ block
MYST_ONLY = re.compile(
    r"\{[a-z][\w:-]*\}`|^\s*(?:`{3,}|:{3,})\{|^\s*\([\w-]+\)=\s*$|\$\$\s*\([\w-]+\)\s*$", re.M
)
CODE_BLOCK = re.compile(r"^(`{3,}|~{3,})(?!\s*\{)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
# a line that starts a Markdown block of its own: never joined to the line before
BLOCK_START = re.compile(r"^\s*([-*+] |\d+[.)] |>|#|\||\$\$|<)")
NUMFIG_FORMAT = {"figure": "图 %s", "table": "表 %s", "code-block": "列表 %s", "section": "节 %s"}


class ConversionError(ValueError):
    """A role, directive or target the converter cannot turn into plain Markdown."""


@dataclass
class Targets:
    """What the converter needs to know about the built book."""

    base_url: str  # the published book, ending in "/"
    srcdir: Path  # where the chapters' relative paths (literalinclude) start
    equations: dict = field(default_factory=dict)  # label -> (docname, "1.3")
    numbers: dict = field(default_factory=dict)  # label -> (docname, anchor, figtype, "2.7")
    sections: dict = field(default_factory=dict)  # label -> (docname, anchor, title)
    titles: dict = field(default_factory=dict)  # docname -> title
    terms: dict = field(default_factory=dict)  # term -> (docname, anchor)
    citations: dict = field(default_factory=dict)  # key -> (docname, anchor, authors, year)
    numfig_format: dict = field(default_factory=lambda: dict(NUMFIG_FORMAT))

    def url(self, docname, anchor=""):
        return f"{self.base_url}{docname}.html" + (f"#{anchor}" if anchor else "")


def book_url(repository_url):
    """The GitHub Pages address of a repository: github.com/o/r -> https://o.github.io/r/."""
    match = re.match(r"https?://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$", repository_url)
    if not match:
        raise ValueError(f"repository url {repository_url!r} is not a GitHub repository")
    owner, repo = match.groups()
    if repo.lower() == f"{owner.lower()}.github.io":
        return f"https://{repo}/"
    return f"https://{owner.lower()}.github.io/{repo}/"


def myst_leftovers(markdown):
    """The MyST-only markup left in Markdown (the converted notebooks must have none)."""
    prose = CODE_BLOCK.sub("", markdown)  # code may well contain braces and backticks
    return [match.group(0).strip() for match in MYST_ONLY.finditer(prose)]


# --- inline: roles and Chinese line breaks ------------------------------------------------


def split_explicit(content):
    match = EXPLICIT.match(content.strip())
    return (match.group(1), match.group(2).strip()) if match else (None, content.strip())


def resolve_doc(docname, target):
    if target.startswith("/"):
        return target.lstrip("/")
    parts = (docname.rsplit("/", 1)[0].split("/") if "/" in docname else []) + target.split("/")
    resolved = []
    for part in parts:
        if part == "..":
            resolved.pop()
        elif part not in ("", "."):
            resolved.append(part)
    return "/".join(resolved)


def lookup(table, key, what):
    if key not in table:
        raise ConversionError(f"unknown {what}: {key!r}")
    return table[key]


def cite_text(authors, year, narrative):
    # as sphinxcontrib-bibtex's author_year style shows them on the website
    names = authors[0] + " et al." if len(authors) > 2 else " and ".join(authors)
    return f"{names} ({year})" if narrative else f"{names}, {year}"


def convert_role(name, content, docname, targets):
    text, target = split_explicit(content)
    if name == "term":
        term = target if target in targets.terms else target.lower()
        doc, anchor = lookup(targets.terms, term, "glossary term")
        return f"[{text or target}]({targets.url(doc, anchor)})"
    if name == "eq":
        doc, number = lookup(targets.equations, target, "equation label")
        return f"[({number})]({targets.url(doc, 'equation-' + target)})"
    if name == "numref":
        doc, anchor, figtype, number = lookup(targets.numbers, target, "numref target")
        title = text or targets.numfig_format.get(figtype, "%s")
        shown = title.replace("{number}", number).replace("%s", number)
        return f"[{shown}]({targets.url(doc, anchor)})"
    if name == "ref":
        doc, anchor, title = lookup(targets.sections, target, "label")
        return f"[{text or title}]({targets.url(doc, anchor)})"
    if name == "doc":
        doc = resolve_doc(docname, target)
        return f"[{text or lookup(targets.titles, doc, 'document')}]({targets.url(doc)})"
    if name in ("cite:p", "cite:t", "cite", "cite:ps", "cite:ts"):
        narrative = name.startswith("cite:t")
        links = []
        for key in (k.strip() for k in target.split(",")):
            doc, anchor, authors, year = lookup(targets.citations, key, "citation key")
            links.append(f"[{cite_text(authors, year, narrative)}]({targets.url(doc, anchor)})")
        return "; ".join(links) if narrative else "(" + "; ".join(links) + ")"
    if name == "math":
        return f"${content}$"
    raise ConversionError(f"no plain-Markdown form for the role {{{name}}}")


def join_cjk_lines(text):
    """Joins the lines of a paragraph where the book does (``cjk_linebreaks``): a Markdown
    renderer would show each of those line breaks as a space between Chinese characters."""
    lines = text.split("\n")
    out = lines[:1]
    for line in lines[1:]:
        before, after = out[-1].rstrip()[-1:], line.lstrip()[:1]
        blocks = out[-1].lstrip().startswith(("#", "|")) or BLOCK_START.match(line)
        if before and after and joins(before, after) and not blocks:
            out[-1] = out[-1].rstrip() + line.lstrip()
        else:
            out.append(line)
    return "\n".join(out)


def convert_inline(text, docname, targets):
    text = ROLE.sub(lambda m: convert_role(m.group(1), m.group(2), docname, targets), text)
    return join_cjk_lines(text)


# --- blocks: directives, math, code fences ------------------------------------------------


def read_options(lines, start):
    """The ``:key: value`` options (or a ``---`` YAML block) after a directive's first line."""
    options, i = {}, start
    if i < len(lines) and lines[i].strip() == "---":
        i += 1
        while i < len(lines) and lines[i].strip() != "---":
            key, _, value = lines[i].strip().partition(":")
            options[key.strip()] = value.strip()
            i += 1
        return options, i + 1
    while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):
        key, value = re.match(r"^\s*:([\w-]+):\s*(.*)$", lines[i]).groups()
        options[key], i = value.strip(), i + 1
    return options, i


def block_end(lines, start, fence):
    """Index of the line closing ``fence`` (same character, at least as long)."""
    closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    for i in range(start, len(lines)):
        if closing.match(lines[i]):
            return i
    raise ConversionError(f"unclosed block opened by {fence!r}")


def literalinclude(argument, options, docname, targets):
    path = (targets.srcdir / docname).parent / argument
    if argument.startswith("/"):
        path = targets.srcdir / argument.lstrip("/")
    reader_options = {k: v for k, v in options.items() if k not in ("caption", "name", "class")}
    for key in ("dedent", "lineno-start", "tab-width"):
        if key in reader_options:
            reader_options[key] = int(reader_options[key])
    text, _ = LiteralIncludeReader(str(path), reader_options, Config()).read()
    language = options.get("language", "python" if path.suffix == ".py" else "")
    return f"```{language}\n{text.rstrip()}\n```"


def convert_directive(name, argument, options, body, docname, targets):
    if name == "literalinclude":
        return literalinclude(argument, options, docname, targets)
    if name in ("code-block", "code", "sourcecode"):
        return f"```{argument}\n{body.rstrip()}\n```"
    if name == "math":
        return f"$$\n{body.strip()}\n$$"
    if name == "glue:figure":
        label = options.get("name")
        caption = convert_markdown(body, docname, targets).strip()
        if label:
            doc, _, figtype, number = lookup(targets.numbers, label, "figure label")
            title = targets.numfig_format.get(figtype, "%s").replace("%s", number)
            return f"**{title}**：{caption}（图见上方单元格的输出）"
        return caption
    if name in ("admonition", "note", "tip", "hint", "important", "warning", "caution",
                "attention", "danger", "error", "seealso", "dropdown"):  # fmt: skip
        title = convert_inline(argument, docname, targets) or name.capitalize()
        inner = convert_markdown(body, docname, targets).strip()
        if name == "dropdown" or "dropdown" in options.get("class", "").split():
            return f"<details>\n<summary>{title}</summary>\n\n{inner}\n\n</details>"
        quoted = "\n".join(f"> {line}".rstrip() for line in inner.splitlines())
        return f"> **{title}**\n>\n{quoted}"
    raise ConversionError(f"no plain-Markdown form for the directive {{{name}}}")


def display_math(lines, i, targets):
    """A ``$$`` block starting at line i: (its Markdown, the next line)."""
    first = lines[i].strip()
    if first.count("$$") >= 2:  # all on one line: $$ x $$ (label)
        end, body = i, [first[2 : first.rindex("$$")]]
        tail = first[first.rindex("$$") + 2 :]
    else:
        end = next((j for j in range(i + 1, len(lines)) if "$$" in lines[j]), None)
        if end is None:
            raise ConversionError("unclosed $$ block")
        body = [first[2:]] + lines[i + 1 : end] + [lines[end][: lines[end].index("$$")]]
        tail = lines[end][lines[end].index("$$") + 2 :]
    label = re.fullmatch(r"\s*(?:\(([\w-]+)\))?\s*", tail)
    if not label:
        raise ConversionError(f"unexpected text after $$: {tail!r}")
    math = "\n".join(line for line in body if line.strip())
    if label.group(1):
        _, number = lookup(targets.equations, label.group(1), "equation label")
        math += f"\n\\tag{{{number}}}"
    return f"$$\n{math}\n$$", end + 1


def convert_markdown(text, docname, targets):
    """A Markdown cell's MyST source as CommonMark with math (see the module docstring)."""
    lines, out, prose = text.split("\n"), [], []

    def flush():
        if prose:
            out.append(convert_inline("\n".join(prose), docname, targets))
            prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        directive, fence = DIRECTIVE.match(line), FENCE.match(line)
        if LABEL_LINE.match(line) or line.startswith("%"):  # targets, MyST comments
            i += 1
        elif directive:
            flush()
            _, marker, name, argument = directive.groups()
            end = block_end(lines, i + 1, marker)
            options, body_start = read_options(lines, i + 1)
            body = "\n".join(lines[body_start:end])
            out.append(convert_directive(name, argument, options, body, docname, targets))
            i = end + 1
        elif fence:  # an ordinary code block: kept as it is
            flush()
            end = block_end(lines, i + 1, fence.group(2))
            out.append("\n".join(lines[i : end + 1]))
            i = end + 1
        elif line.lstrip().startswith("$$"):
            flush()
            math, i = display_math(lines, i, targets)
            out.append(math)
        else:
            prose.append(line)
            i += 1
    flush()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


# --- notebooks and the Sphinx environment ---------------------------------------------------


def figure_caption_cell(cell, targets):
    """A Markdown cell with the number and caption of a figure cell (mystnb metadata)."""
    figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
    if not figure.get("name") or figure["name"] not in targets.numbers:
        return None
    _, _, figtype, number = targets.numbers[figure["name"]]
    title = targets.numfig_format.get(figtype, "%s").replace("%s", number)
    caption = convert_inline(figure.get("caption", ""), "", targets)
    cell_id = f"caption-{figure['name']}"[:64]  # nbformat 4.5: every cell has an id
    return {
        "cell_type": "markdown",
        "id": cell_id,
        "metadata": {},
        "source": f"**{title}**：{caption}",
    }


def convert_notebook(notebook, docname, targets):
    """Converts the Markdown cells in place; code cells (and their tags) stay as they are."""
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = convert_markdown(source, docname, targets)
        cells.append(cell)
        caption = cell["cell_type"] == "code" and figure_caption_cell(cell, targets)
        if caption:
            cells.append(caption)
    notebook["cells"] = cells
    return notebook


def targets_from_env(env, config, base_url):
    """The numbers, titles and anchors of the built book, as the website shows them."""
    targets = Targets(base_url=base_url, srcdir=Path(env.srcdir))
    targets.numfig_format.update(config.numfig_format or {})
    targets.titles = {doc: title.astext() for doc, title in env.titles.items()}
    for label, (doc, number) in env.domaindata["math"]["objects"].items():
        shown = env.toc_fignumbers.get(doc, {}).get("displaymath", {}).get(f"equation-{label}")
        targets.equations[label] = (doc, ".".join(map(str, shown)) if shown else str(number))
    std = env.domaindata["std"]
    for label, (doc, anchor, title) in std["labels"].items():
        targets.sections[label] = (doc, anchor, str(title))
        for figtype, numbers in env.toc_fignumbers.get(doc, {}).items():
            if anchor in numbers:
                targets.numbers[label] = (doc, anchor, figtype, ".".join(map(str, numbers[anchor])))
        section = env.toc_secnumbers.get(doc, {}).get(f"#{anchor}")
        if section and label not in targets.numbers:
            targets.numbers[label] = (doc, anchor, "section", ".".join(map(str, section)))
    for (kind, name), (doc, anchor) in std["objects"].items():
        if kind == "term":
            targets.terms[name] = (doc, anchor)
    for citation in env.domaindata.get("cite", {}).get("citations", []):
        persons = citation.entry.persons.get("author") or citation.entry.persons.get("editor", [])
        authors = [
            " ".join(p.prelast_names + p.last_names).replace("{", "").replace("}", "")
            for p in persons
        ]
        year = citation.entry.fields.get("year", "")
        doc = citation.bibliography_key.docname
        targets.citations[citation.key] = (doc, citation.citation_id, authors, year)
    return targets
