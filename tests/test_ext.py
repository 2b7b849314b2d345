"""The book's Sphinx extensions (``_ext/``), tested without building the book."""

import sys
from pathlib import Path

import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.utils import new_document

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "_ext"))
from cjk_linebreaks import JoinCJKLines, join_cjk_lines  # noqa: E402


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        # a wrapped Chinese line, in one string and as MyST's separate soft-break node
        (["逼近任意\n复杂的函数"], ["逼近任意复杂的函数"]),
        (["逼近任意", "\n", "复杂"], ["逼近任意", "", "复杂"]),
        # CJK punctuation counts, on either side; indentation after the break goes too
        (["函数，\n  它"], ["函数，它"]),
        (["称为\n“梯度消失”"], ["称为“梯度消失”"]),
        # a space typed on the line, and breaks next to Latin text or digits, stay
        (["用 numpy 实现"], ["用 numpy 实现"]),
        (["用\nnumpy\n实现"], ["用\nnumpy\n实现"]),
        (["中 文"], ["中 文"]),
        (["第 1\n章"], ["第 1\n章"]),
        # the neighbours can sit in other nodes (emphasis, a resolved link)
        (["见", "\n", "梯度消失", "一节"], ["见", "", "梯度消失", "一节"]),
        (["见\n", "梯度"], ["见", "梯度"]),
        (["见", "\n梯度"], ["见", "梯度"]),
        # code and math (None) are not CJK neighbours, and are never changed
        (["的\n", None, "\n是"], ["的\n", None, "\n是"]),
        (["的", "\n", None], ["的", "\n", None]),
        # fullwidth punctuation takes no space beside it, whatever the other side
        (["ELU、\nSELU"], ["ELU、SELU"]),
        (["函数", "\n", "（activation）"], ["函数", "", "（activation）"]),
        (["见：\n", None], ["见：", None]),
        ([], []),
    ],
)
def test_join_cjk_lines(pieces, expected):
    assert join_cjk_lines(pieces) == expected


def test_transform_leaves_code_and_math_alone():
    document = new_document("test", get_default_settings())
    paragraph = nodes.paragraph(
        "",
        "",
        nodes.Text("激活函数\n"),
        nodes.strong("", "逼近"),
        nodes.Text("\n任意函数，\n用 "),
        nodes.literal("", "np.where(\n中)"),
        nodes.Text(" 与\n"),
        nodes.math("", "x\n中"),
    )
    block = nodes.literal_block("", "中\n文")
    document += [paragraph, block]
    JoinCJKLines(document).run()
    assert paragraph.astext() == "激活函数逼近任意函数，用 np.where(\n中) 与\nx\n中"
    assert block.astext() == "中\n文"


def test_transform_changes_the_right_one_of_equal_text_nodes():
    # Text nodes are strings: the second "\n" must be replaced, not the first equal one
    document = new_document("test", get_default_settings())
    pieces = ["ReLU", "\n", "SELU。", "\n", "梯度"]
    paragraph = nodes.paragraph("", "", *map(nodes.Text, pieces))
    document += paragraph
    JoinCJKLines(document).run()
    assert paragraph.astext() == "ReLU\nSELU。梯度"
