"""Every Python block of the documentation (docs/**/*.md and README.md) runs or type-checks.

A block's kind is set by an HTML comment on the line before its fence (invisible on the site and
on GitHub):

- ``<!-- test: run -->``: a complete program, run as written against the emulator with the
  ``WXPAY_*`` variables ``wxpay-async emulator`` prints; it must exit 0.
- ``<!-- test: pytest -->``: a test module, run by pytest in a subprocess (the plugin's fixtures
  come from the installed package); it must pass.
- nothing: type-checked with ``mypy --strict`` as the body of an ``async def`` (so ``await`` and
  ``async for`` read as in a coroutine), after ``from docs_context import *``, which declares the
  few names fragments use without defining (``wx``, ``mchid``...; tests/docs_context.pyi).

The README's run blocks are run by tests/test_readme.py, which also checks what they print.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from wxpay_async.emulator import run_emulator, write_keys_dir
from wxpay_async.emulator._run import emulator_env

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*test:\s*(?P<kind>[a-z]+)\s*-->\s*$")
KINDS = ("run", "pytest", "types")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    kind: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def module(self) -> str:
        stem = re.sub(r"\W", "_", str(self.path.relative_to(ROOT).with_suffix("")))
        return f"block_{stem}_L{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        kind = marker.group("kind") if marker else "types"
        assert kind in KINDS, f"{path}:{line}: unknown block kind {kind!r}"
        found.append(Block(path, line, kind, textwrap.dedent(match.group("code"))))
    return found


ALL = [b for path in doc_files() for b in blocks(path)]
RUN = [b for b in ALL if b.kind == "run" and b.path.name != "README.md"]
PYTEST = [b for b in ALL if b.kind == "pytest"]
TYPES = [b for b in ALL if b.kind == "types"]


def test_the_documentation_has_blocks_of_every_kind() -> None:
    assert RUN and PYTEST and len(TYPES) > 20, (len(RUN), len(PYTEST), len(TYPES))
    assert any(b.path.name == "README.md" and b.kind == "run" for b in ALL)  # tests/test_readme.py runs it


def test_block_extraction_reads_markers_and_indented_fences(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    doc.write_text(
        "text\n\n<!-- test: run -->\n```python\nprint(1)\n```\n\n- item:\n\n  ```python\n  x = 1\n  ```\n"
        "\n```bash\nls\n```\n",
        encoding="utf-8",
    )
    found = blocks(doc)
    assert [(b.line, b.kind, b.code) for b in found] == [(4, "run", "print(1)\n"), (10, "types", "x = 1\n")]


def type_check_module(block: Block) -> str:
    body = textwrap.indent(block.code, "    ") or "    pass\n"
    return (
        f"# {block.name}\nfrom docs_context import *  # noqa: F403\n\n\nasync def _block() -> None:  # noqa: C901\n"
        f"{body}\n    return None\n"
    )


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Type-check every "types" block in one mypy run; errors by block module name."""
    folder = tmp_path_factory.mktemp("doc_blocks")
    shutil.copy(ROOT / "tests" / "docs_context.pyi", folder / "docs_context.pyi")
    for block in TYPES:
        (folder / f"{block.module}.py").write_text(type_check_module(block), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir",
        os.devnull,
        "--disable-error-code",
        "import-untyped",  # Django ships no types: its names read as Any (the SDK's are checked)
        "--disable-error-code",
        "untyped-decorator",  # and its view decorators are untyped
        "--allow-redefinition",
        "--no-warn-unused-ignores",
        *sorted(p.name for p in folder.glob("block_*.py")),
    ]
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    errors: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        module = line.split(".py:", 1)[0]
        if line.startswith("block_") and ": error:" in line:
            errors.setdefault(module, []).append(line)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not errors):
        pytest.fail(f"mypy failed to run: {proc.stdout}\n{proc.stderr}")
    return errors


@pytest.mark.parametrize("block", TYPES, ids=[b.name for b in TYPES])
def test_block_type_checks(block: Block, mypy_errors: dict[str, list[str]]) -> None:
    errors = mypy_errors.get(block.module, [])
    assert not errors, f"{block.name}:\n" + "\n".join(errors) + "\n\n" + type_check_module(block)


def test_type_checking_catches_a_wrong_block(tmp_path: Path) -> None:
    """The mechanism itself: a block calling an operation with a misspelled argument fails."""
    block = Block(ROOT / "docs" / "x.md", 1, "types", 'await wx.favor.get_stock("1", stock_creatr_mchid="2")\n')
    shutil.copy(ROOT / "tests" / "docs_context.pyi", tmp_path / "docs_context.pyi")
    (tmp_path / "block.py").write_text(type_check_module(block), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", os.devnull, "block.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and "stock_creatr_mchid" in proc.stdout, proc.stdout


@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
async def test_block_runs_against_the_emulator(block: Block, tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(block.code, encoding="utf-8")
    keys = write_keys_dir(tmp_path / "keys")
    async with run_emulator(keys=keys) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WXPAY_")}
        env.update(emulator_env(emu, tmp_path / "keys"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(program),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"{block.name}\n{out.decode()}\n{err.decode()}"
    assert out.strip(), f"{block.name} printed nothing"


@pytest.mark.parametrize("block", PYTEST, ids=[b.name for b in PYTEST])
def test_block_passes_as_a_test_module(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_from_docs.py").write_text(block.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXPAY_", "PYTEST_"))}
    xdist = ["-p", "no:xdist"] if importlib.util.find_spec("xdist") else []
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *xdist, "test_from_docs.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{block.name}\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r"\d+ passed", proc.stdout), proc.stdout
