"""Drop the source line breaks inside Chinese text, so that authors can keep wrapping lines.

A line break in a Markdown paragraph becomes whitespace in the HTML, and browsers other
than Firefox show it between two Chinese characters as a space ("逼近任意 复杂"). This
post-transform removes whitespace that contains a line break when the characters on both
sides are CJK characters, or one of them is fullwidth CJK punctuation. A space typed on
one line ("用 numpy 实现"), a break between Chinese and Latin text, and everything in
code, math and literal blocks are left alone.

It runs after cross-references are resolved, so that the text of a ``{term}`` or
``{numref}`` link counts as a neighbour; the search index sees the joined text too.
"""

import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

# Han ideographs (with extension A and the compatibility block), kana, CJK punctuation,
# fullwidth forms, and the punctuation Chinese text shares with English (“ ” ‘ ’ … —).
CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u2018\u2019\u201c\u201d\u2026\u2014"
    "\U00020000-\U0002fa1f"
)
CJK_CHAR = re.compile(f"[{CJK}]")
# Fullwidth punctuation (，。、：；（）「」) carries its own space: no break beside it shows,
# not even next to Latin text, code or math ("ELU、SELU").
PUNCTUATION = re.compile("[\u3000-\u303f\uff00-\uff65]")
# whitespace that holds a line break
BREAK = re.compile(r"[^\S\n]*\n\s*")

# inline and block nodes whose text is shown as typed
VERBATIM = (nodes.FixedTextElement, nodes.literal, nodes.math, nodes.raw, nodes.comment)


def joins(before, after):
    """Whether a line break between these two characters should vanish."""
    cjk, punctuation = CJK_CHAR.fullmatch, PUNCTUATION.fullmatch
    return bool(
        (before and after and cjk(before) and cjk(after))
        or (before and punctuation(before))
        or (after and punctuation(after))
    )


def join_cjk_lines(pieces):
    """Remove the line breaks beside CJK text from a run of text pieces.

    ``pieces`` is the text of one paragraph as it is split among nodes: a list of strings,
    with ``None`` for a piece that must not be changed and is no CJK neighbour (code,
    math). Returns the new list. A break at the end or start of a piece is judged by the
    nearest character in the neighbouring pieces.
    """
    result = list(pieces)
    for i, text in enumerate(pieces):
        if text is not None and "\n" in text:
            result[i] = BREAK.sub(lambda m, i=i: drop_or_keep(m, result, pieces, i), text)
    return result


def drop_or_keep(match, result, pieces, i):
    text = match.string
    before = text[: match.start()][-1:] or neighbour(result, i, -1)
    after = text[match.end() :][:1] or neighbour(pieces, i, +1)
    return "" if joins(before, after) else match.group()


def neighbour(pieces, i, step):
    """The nearest non-space character before (step -1) or after (+1) piece i."""
    j = i + step
    while 0 <= j < len(pieces):
        if pieces[j] is None:
            return ""  # code or math: not a CJK neighbour
        text = pieces[j].strip()
        if text:
            return text[-1] if step < 0 else text[0]
        j += step  # whitespace only: look further
    return ""


def verbatim(node, stop):
    while node is not None and node is not stop:
        if isinstance(node, VERBATIM):
            return True
        node = node.parent
    return False


class JoinCJKLines(SphinxPostTransform):
    default_priority = 900  # after the references are resolved (10)

    def run(self, **kwargs):
        for element in list(self.document.findall(nodes.TextElement)):
            if isinstance(element, VERBATIM) or verbatim(element.parent, None):
                continue
            if isinstance(element.parent, nodes.TextElement):
                continue  # handled with its enclosing text element
            texts = list(element.findall(nodes.Text))
            pieces = [None if verbatim(t.parent, element) else str(t) for t in texts]
            for node, old, new in zip(texts, pieces, join_cjk_lines(pieces), strict=True):
                if old is not None and new != old:
                    # by identity: Text is a str, and Element.replace finds the first
                    # equal child, which may be another "\n"
                    parent = node.parent
                    parent[next(i for i, c in enumerate(parent) if c is node)] = nodes.Text(new)


def setup(app):
    app.add_post_transform(JoinCJKLines)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
