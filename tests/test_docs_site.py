"""The documentation site builds in strict mode and its pages render in a real browser.

- ``mkdocs build --strict`` of the repository's mkdocs.yml succeeds: no broken link, anchor or
  API cross-reference, every reference page generated from the package's public names.
- A page with a broken link and one with a reference to a name the package does not have fail
  the same build (so the strict mode is not a no-op).
- Headless Chromium (Debian's ``chromium``, installed by .ci/run) loads the home page, a guide
  and an API page from a local HTTP server and shows their headings and code. Without Chromium
  the browser test is skipped locally, and fails under CI (``CI=true``), where .ci/run installs it.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    proc = mkdocs_build(ROOT / "mkdocs.yml", folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder


def text_of(page: Path) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))))


def test_site_builds_strict_with_every_page(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "guides/errors/index.html", "changelog/index.html"):
        assert (site / page).is_file(), page
    assert "All notable changes to this project" in text_of(site / "changelog" / "index.html")  # CHANGELOG.md included
    operations = text_of(site / "operations" / "index.html")
    assert "client.favor.send_coupon" in operations and "client.product_coupon.use_coupon" in operations


def test_reference_documents_every_public_name(site: Path) -> None:
    """Every name of every public module's __all__ has its heading on a reference page."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import mkdocs_hooks
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    pages = mkdocs_hooks.reference_pages()
    assert "reference/wxpay_async.models.favor.md" in pages and "reference/wxpay_async.errors.md" in pages
    import wxpay_async
    import wxpay_async.errors
    import wxpay_async.models.product_coupon

    rendered = {
        "errors": (site / "reference" / "wxpay_async.errors" / "index.html").read_text(encoding="utf-8"),
        "product_coupon": (site / "reference" / "wxpay_async.models.product_coupon" / "index.html").read_text(
            encoding="utf-8"
        ),
    }
    # Each error is documented once, on the page the hooks give it (an error another public module
    # exports too, such as wxpay_async.IdentityMismatchError or wxpay_async.batch.JournalError, may
    # live there); the errors page then links to it under "Also exported here".
    for name in wxpay_async.errors.__all__:
        target = f"wxpay_async.errors.{name}"
        homes = [page for page, text in pages.items() if f"::: {target}\n" in text]
        assert len(homes) == 1, (name, homes)
        html = site / homes[0].removesuffix(".md") / "index.html"
        assert f'id="{target}"' in html.read_text(encoding="utf-8"), name
        assert f'id="{target}"' in rendered["errors"] or f"#{target}" + '"' in rendered["errors"], name
    for name in wxpay_async.models.product_coupon.__all__:
        assert re.search(rf'id="wxpay_async\.models\.product_coupon\.[\w.]*\b{name}"', rendered["product_coupon"]), name
    # a field of a generated model, with its type and description
    favor = text_of(site / "reference" / "wxpay_async.models.favor" / "index.html")
    assert "distributed_coupons int Coupons sent" in favor
    # a method of a resource group, with its parameters
    resources = text_of(site / "reference" / "wxpay_async.resources" / "index.html")
    assert "send_coupon" in resources and "out_request_no" in resources


def test_a_broken_link_or_reference_fails_the_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[a page that does not exist](missing.md)\n", encoding="utf-8")
    (docs / "ref.md").write_text("# Ref\n\n[no such error][wxpay_async.errors.NoSuchError]\n", encoding="utf-8")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\n"
        f"hooks: [{ROOT / 'scripts' / 'mkdocs_hooks.py'}]\n"
        "nav:\n  - Home: index.md\n  - Ref: ref.md\n  - API reference: []\n",
        encoding="utf-8",
    )
    proc = mkdocs_build(config, tmp_path / "site")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "missing.md" in output and "wxpay_async.errors.NoSuchError" in output, output


# -- in a browser -------------------------------------------------------------------------------
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed here (apt-get install chromium; .ci/run installs it in CI)")
    return found


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def dump_dom(browser: str, url: str, profile: Path) -> str:
    proc = subprocess.run(
        # the virtual time budget lets the theme's JavaScript run before the DOM is dumped
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


PAGES = [
    # path, its heading, a piece of its code
    ("/", "wxpay_async", "Client.from_env()"),
    ("/guides/cash-coupons/", "Cash coupons: the lifecycle", "wx.favor.create_stock"),
    ("/reference/wxpay_async.errors/", "wxpay_async.errors", "idempotency_key"),
]


@pytest.mark.parametrize(("path", "heading", "code"), PAGES, ids=[p for p, _, _ in PAGES])
def test_page_renders_in_headless_chromium(served: str, path: str, heading: str, code: str, tmp_path: Path) -> None:
    browser = chromium()
    dom = dump_dom(browser, served + path, tmp_path / "profile")
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", dom, re.S)
    assert h1 and heading in html.unescape(re.sub(r"<[^>]+>", "", h1.group(1))), dom[:2000]
    blocks = [html.unescape(re.sub(r"<[^>]+>", "", b)) for b in re.findall(r"<code[^>]*>(.*?)</code>", dom, re.S)]
    assert any(code in b for b in blocks), f"{code!r} not in any code element of {path}"
    # the theme's JavaScript ran in the browser: it swaps the page's no-js class and adds copy buttons
    assert 'class="no-js"' not in dom and "md-code__button" in dom, "the page's JavaScript did not run"
