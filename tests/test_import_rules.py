"""The layering rules of CONTRIBUTING.md ("What each layer may import"), read from the source.

Imports are parsed with ``ast`` (no module is imported), all of them for the layer rules: at
module level, inside functions, and under ``if TYPE_CHECKING:`` (a type-only import is still a
dependency a reader must follow). The cycle checks read module-level imports only, once
including and once excluding ``TYPE_CHECKING`` blocks (see ``test_no_import_cycle_*``).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wxpay_async"
HTTP_LIBRARIES = frozenset({"aiohttp", "httpx", "httpcore", "yarl", "requests", "urllib3", "starlette", "fastapi"})
#: The parts of the package only tests, tools and the command line use; the library never imports them.
OUTER = ("wxpay_async.emulator", "wxpay_async.testing", "wxpay_async.cli", "wxpay_async.demo", "wxpay_async.devkeys")


@attrs.frozen
class Import:
    module: str  # the importing module, e.g. wxpay_async.transports._aiohttp
    target: str  # what it imports, e.g. wxpay_async._request or aiohttp.web
    line: int
    module_level: bool
    type_checking: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))

    def walk(nodes: list[ast.stmt], module_level: bool, type_checking: bool) -> Iterator[Import]:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, alias.name, node.lineno, module_level, type_checking)
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(module, node)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"  # `from . import x` may name a submodule
                    yield Import(module, sub if sub in MODULES else target, node.lineno, module_level, type_checking)
            elif isinstance(node, ast.If):
                checking = type_checking or _is_type_checking(node.test)
                yield from walk(node.body, module_level, checking)
                yield from walk(node.orelse, module_level, type_checking)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(node.body, False, type_checking)
            elif isinstance(node, ast.ClassDef):
                yield from walk(node.body, module_level, type_checking)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    yield from walk(block, module_level, type_checking)
            elif isinstance(node, ast.With | ast.AsyncWith | ast.For | ast.AsyncFor | ast.While):
                yield from walk(node.body, module_level, type_checking)

    yield from walk(tree.body, True, False)


ALL_IMPORTS = [imp for module in sorted(MODULES) for imp in imports_of(module)]


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(
    layer: tuple[str, ...],
    *,
    forbidden: tuple[str, ...] = (),
    only: tuple[str, ...] | None = None,
    exact: bool = False,
) -> list[str]:
    """Imports by modules of ``layer`` (its packages, or with ``exact`` just those modules) of a
    ``forbidden`` module, or (``only``) of any package module outside ``only`` and the layer itself."""
    found = []
    for imp in ALL_IMPORTS:
        if not (imp.module in layer if exact else within(imp.module, *layer)):
            continue
        target, top = imp.target, imp.target.split(".")[0]
        bad = within(target, *forbidden) or top in forbidden
        if only is not None and top == "wxpay_async" and target != "wxpay_async":
            bad = bad or not within(target, *layer, *only)
        if bad:
            found.append(f"{imp.module}:{imp.line} imports {target}")
    return found


# -- the layers, bottom up (CONTRIBUTING.md has the same table) ---------------------------------
def test_errors_import_only_leaf_parsers() -> None:
    """errors.py sits at the bottom; it may use _retry_after (a leaf: it imports nothing of ours)."""
    assert violations(("wxpay_async.errors",), only=("wxpay_async._retry_after",)) == []
    assert violations(("wxpay_async._retry_after",), only=()) == []


def test_crypto_imports_no_http_and_only_errors() -> None:
    assert violations(("wxpay_async.crypto",), forbidden=tuple(HTTP_LIBRARIES), only=("wxpay_async.errors",)) == []


def test_models_import_nothing_above_them() -> None:
    allowed = ("wxpay_async.errors", "wxpay_async._lazy", "wxpay_async._converter")
    assert violations(("wxpay_async.models",), only=allowed) == []


def test_request_values_import_only_errors() -> None:
    allowed = ("wxpay_async.errors", "wxpay_async._private_apis")
    assert violations(("wxpay_async._request", "wxpay_async._private_apis"), only=allowed) == []


def test_transports_never_import_the_client_or_anything_above_them() -> None:
    allowed = ("wxpay_async.errors", "wxpay_async._request", "wxpay_async._private_apis")
    assert violations(("wxpay_async.transports",), only=allowed) == []


def test_middleware_never_import_the_client_resources_or_transports() -> None:
    forbidden = (
        "wxpay_async._client",
        "wxpay_async.resources",
        "wxpay_async.transports",
        "wxpay_async.batch",
        "wxpay_async.notifications",
        *OUTER,
    )
    assert violations(("wxpay_async.middleware",), forbidden=(*forbidden, *HTTP_LIBRARIES)) == []


def test_notifications_never_import_the_client() -> None:
    forbidden = ("wxpay_async._client", "wxpay_async.resources", "wxpay_async.transports", "wxpay_async.batch", *OUTER)
    assert violations(("wxpay_async.notifications",), forbidden=forbidden) == []


def test_spec_pagination_and_validation_stay_below_the_client() -> None:
    allowed = ("wxpay_async.errors", "wxpay_async._converter", "wxpay_async.spec", "wxpay_async._request_numbers")
    assert violations(("wxpay_async.spec", "wxpay_async.pagination", "wxpay_async.validation"), only=allowed) == []


def test_the_library_never_imports_the_emulator_testing_kit_or_command_line() -> None:
    library = tuple(m for m in MODULES if not within(m, *OUTER))
    assert violations(library, forbidden=OUTER, exact=True) == []


def test_the_emulator_never_imports_the_testing_kit_batch_or_command_line() -> None:
    forbidden = ("wxpay_async.testing", "wxpay_async.batch", "wxpay_async.cli", "wxpay_async.demo")
    assert violations(("wxpay_async.emulator",), forbidden=forbidden) == []


#: The emulator's coupon families; what two of them share lives in a module of its own (``_media``,
#: ``_idempotency``), never in one family imported by another.
EMULATOR_FAMILIES = (
    "wxpay_async.emulator._favor",
    "wxpay_async.emulator._product_coupon",
    "wxpay_async.emulator._merchant_coupon",
)


@pytest.mark.parametrize("family", EMULATOR_FAMILIES)
def test_emulator_families_never_import_one_another(family: str) -> None:
    others = tuple(f for f in EMULATOR_FAMILIES if f != family)
    assert violations((family,), forbidden=others) == []


def test_the_rules_see_real_imports() -> None:
    """The parser finds what is there (a broken walker would make every rule pass)."""
    found = {(i.module, i.target) for i in ALL_IMPORTS}
    assert ("wxpay_async.transports._aiohttp", "wxpay_async._request") in found
    assert ("wxpay_async._client", "wxpay_async.transports") in found or any(
        m == "wxpay_async._client" and t.startswith("wxpay_async.transports") for m, t in found
    )
    assert any(i.type_checking for i in ALL_IMPORTS) and any(not i.module_level for i in ALL_IMPORTS)
    assert violations(("wxpay_async.transports",), only=("wxpay_async.errors",)) != []  # it imports _request


# -- cycles -----------------------------------------------------------------------------------------
def cycles(*, type_checking: bool) -> list[frozenset[str]]:
    """Strongly connected groups of modules (Tarjan) over module-level imports."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        executes = imp.module_level and (type_checking or not imp.type_checking)
        if executes and imp.target in MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(frozenset(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(MODULES)))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_cycle_at_run_time() -> None:
    """Module-level imports that execute (``TYPE_CHECKING`` blocks never do): no cycle at all."""
    assert cycles(type_checking=False) == []


def test_no_import_cycle_even_for_type_checkers() -> None:
    """Type-only imports count too: a cycle through them still ties two modules together for
    every reader and type checker (the emulator's _auth/_notify <-> _emulator was one)."""
    assert cycles(type_checking=True) == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    """The checker itself: two modules importing each other are reported."""
    MODULES["wxpay_async._cycle_a"] = tmp_path / "a.py"
    MODULES["wxpay_async._cycle_b"] = tmp_path / "b.py"
    extra = [
        Import("wxpay_async._cycle_a", "wxpay_async._cycle_b", 1, True, False),
        Import("wxpay_async._cycle_b", "wxpay_async._cycle_a", 1, True, True),
    ]
    ALL_IMPORTS.extend(extra)
    try:
        assert frozenset({"wxpay_async._cycle_a", "wxpay_async._cycle_b"}) in cycles(type_checking=True)
        assert frozenset({"wxpay_async._cycle_a", "wxpay_async._cycle_b"}) not in cycles(type_checking=False)
    finally:
        del MODULES["wxpay_async._cycle_a"], MODULES["wxpay_async._cycle_b"]
        for imp in extra:
            ALL_IMPORTS.remove(imp)
