"""mkdocs hooks of the documentation site (mkdocs.yml ``hooks:``): the API reference pages.

The reference is written from the package's public names at every build, so a new module, class,
resource group or generated model appears without editing anything:

- one page per public module (no ``_`` in its dotted path), ``reference/<module>.md``;
- a module's public names are its ``__all__`` when it has one, else its public classes and
  functions and its documented public attributes;
- each object is documented once, on the page of the shortest public module that exports it
  (``wxpay_async.Client``, not ``wxpay_async._client.Client``) and, between equally short ones,
  the one its definition lives under (``wxpay_async.errors.JournalError``, not
  ``wxpay_async.batch.JournalError``); the other modules exporting it link there.

The pages are listed under "API reference" in the navigation (``on_config``) and generated as
virtual files (``on_files``). ``python scripts/mkdocs_hooks.py`` prints the pages it would write.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "wxpay_async"
REFERENCE = "reference"
NAV_TITLE = "API reference"
#: Modules that are a program, not a library surface: documented by the guides (command line).
SKIPPED_MODULES = frozenset({"wxpay_async.cli", "wxpay_async.demo", "wxpay_async.spec"})


@cache
def _package() -> Any:
    import griffe

    return griffe.load(PACKAGE, search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False)


def _public_modules() -> list[Any]:
    found: list[Any] = []

    def walk(module: Any) -> None:
        if module.path in SKIPPED_MODULES:
            return
        found.append(module)
        for name, member in sorted(module.modules.items()):
            if not name.startswith("_"):
                walk(member)

    walk(_package())
    return found


def _public_names(module: Any) -> list[str]:
    if module.exports is not None:
        return [str(name) for name in module.exports]
    names = []
    for name, member in module.members.items():
        if name.startswith("_") or member.is_alias or member.is_module:
            continue
        if member.is_class or member.is_function or (member.is_attribute and member.docstring):
            names.append(name)
    return names


def _target(module: Any, name: str) -> str:
    member = module.members.get(name)
    if member is None:  # a name of __all__ the static view cannot see (still documented by path)
        return f"{module.path}.{name}"
    if member.is_alias:
        try:
            return str(member.final_target.path)
        except Exception:
            return str(member.target_path)
    return str(member.path)


def reference_pages() -> dict[str, str]:
    """``{page path: Markdown}`` of every reference page, the index first."""
    modules = _public_modules()
    listing = {m.path: [(name, _target(m, name)) for name in _public_names(m)] for m in modules}
    home: dict[str, str] = {}  # object path -> module documenting it
    exporters: dict[str, list[str]] = {}
    for path in listing:
        for _, target in listing[path]:
            exporters.setdefault(target, []).append(path)
    for target, paths in exporters.items():
        # The shortest public module exporting it; between equally short ones, the one its
        # definition lives under (wxpay_async.errors.JournalError on the errors page, not on
        # wxpay_async.batch's; partner product-coupon models on product_coupon's, not the brand's).
        home[target] = min(paths, key=lambda p: (p.count("."), not target.startswith(p + "."), p))
    pages: dict[str, str] = {}
    index = [
        "# API reference",
        "",
        "Generated from the code at every build (`scripts/mkdocs_hooks.py`): every public module, "
        "with each of its public classes, functions, methods, models and fields. Import names from "
        "these modules, never from a module whose name starts with `_`.",
        "",
        "| module | summary |",
        "|---|---|",
    ]
    for module in modules:
        summary = (module.docstring.value.strip().splitlines()[0] if module.docstring else "").replace("|", "\\|")
        index.append(f"| [`{module.path}`]({_page_name(module.path)}) | {summary} |")
        lines = [f"# `{module.path}`", ""]
        lines += [f"::: {module.path}", "    options:", "      members: false", "      show_root_heading: false", ""]
        elsewhere, submodules = [], []
        for name, target in listing[module.path]:
            if target in listing:  # a submodule named in __all__: it has its own page
                submodules.append(f"- [`{target}`]({_page_name(target)})")
            elif home[target] == module.path:
                lines += [f"::: {target}", "    options:", f"      heading: {name}", ""]
            else:
                anchor = target
                elsewhere.append(f"- [`{name}`]({_page_name(home[target])}#{anchor}): documented in `{home[target]}`")
        if submodules:
            lines += ["## Submodules", "", *submodules, ""]
        if elsewhere:
            lines += ["## Also exported here", "", *elsewhere, ""]
        pages[f"{REFERENCE}/{_page_name(module.path)}"] = "\n".join(lines)
    return {f"{REFERENCE}/index.md": "\n".join(index) + "\n", **pages}


def _page_name(module_path: str) -> str:
    return f"{module_path}.md"


def on_config(config: Any) -> Any:
    """List the reference pages under "API reference" in the navigation."""
    entries: list[Any] = []
    for page in reference_pages():
        name = Path(page).stem
        entries.append(page if name == "index" else {name: page})
    for item in config["nav"] or []:
        if isinstance(item, dict) and NAV_TITLE in item:
            item[NAV_TITLE] = entries
            break
    else:
        raise ValueError(f"mkdocs.yml nav has no {NAV_TITLE!r} section for the reference pages")
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the reference pages as generated files."""
    from mkdocs.structure.files import File

    for page, content in reference_pages().items():
        files.append(File.generated(config, page, content=content))
    return files


if __name__ == "__main__":
    for page, content in reference_pages().items():
        print(f"== {page} ({content.count(':::')} objects)")
