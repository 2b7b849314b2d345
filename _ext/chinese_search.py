"""Make the glossary's Chinese terms whole words of Sphinx's Chinese search index.

Sphinx segments Chinese text with jieba, which splits 梯度消失 into 梯度 and 消失; a search
for the whole term then finds nothing. Every term of chapters/glossary.md is handed to
jieba as a user word, so the index holds it whole (and its parts too).
"""

from pathlib import Path

GLOSSARY = Path("chapters") / "glossary.md"


def glossary_terms(text):
    """The term lines of the ``{glossary}`` block: unindented, non-empty, not options."""
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.startswith((" ", ":"))
    ]


def add_glossary_words(app, config):
    terms = glossary_terms((Path(app.srcdir) / GLOSSARY).read_text(encoding="utf-8"))
    chinese = [t for t in terms if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    user_dict = Path(app.doctreedir) / "jieba_user_dict.txt"
    user_dict.parent.mkdir(parents=True, exist_ok=True)
    # jieba's user-dictionary format: one "word frequency" per line; words with spaces
    # are not words to jieba, so only their space-free forms are added
    user_dict.write_text("".join(f"{t.replace(' ', '')} 1000\n" for t in chinese), "utf-8")
    config.html_search_options = {**config.html_search_options, "dict": str(user_dict)}


def setup(app):
    app.connect("config-inited", add_glossary_words)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
