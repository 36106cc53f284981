"""Open every page of the built book in headless Chromium, check it, and take screenshots.

    python scripts/check_site.py [_build/html] [--screenshots screenshots] [--no-figures]

For every page listed in _toc.yml it checks, in a real browser (Debian's `chromium` driven by
Playwright): no broken image (every <img> loaded), no internal link to a missing file, notebook
pages carry the Colab launch button (opening the paired .ipynb) and the edit button (opening
the .md source) and show at least one figure (unless --no-figures, for a
build without execution), and the sidebar lists the chapters in _toc.yml order.  One PNG
screenshot per page goes to the screenshots folder.  Exits 1 and lists the problems if any.
Needs: pip install playwright; apt-get install chromium (or set CHROMIUM=/path/to/chrome).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHROME_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [c["file"] for c in part.get("chapters", [])]
    return pages


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate:
            return candidate
    raise SystemExit("no Chromium found: apt-get install chromium, or set CHROMIUM")


PAGE_STATE = """() => ({
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
               .map(i => i.getAttribute('src')),
  figures: document.querySelectorAll('.cell_output img, .output img').length,
  colab: Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]')).map(a => a.href),
  edit: Array.from(document.querySelectorAll('a[href*="/edit/"]')).map(a => a.href),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
  sidebar: Array.from(document.querySelectorAll('nav.bd-docs-nav a.reference.internal, .bd-sidebar-primary nav a.reference.internal'))
                .map(a => a.getAttribute('href')),
})"""


def check_site(html: Path, shots: Path | None, figures: bool = True) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    pages = toc_pages()
    expected_order = [p for p in pages[1:]]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROME_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name in pages:
            file = html / f"{name}.html"
            if not file.exists():
                problems.append(f"{name}: page missing from the build ({file})")
                continue
            page.goto(file.as_uri(), wait_until="load")
            state = page.evaluate(PAGE_STATE)
            for src in state["broken"]:
                problems.append(f"{name}: broken image {src}")
            for href in state["links"]:
                url = urlparse(href)
                if url.scheme or not url.path or href.startswith("#"):
                    continue
                target = (file.parent / unquote(url.path)).resolve()
                if not target.exists():
                    problems.append(f"{name}: link to missing file {href}")
            if name.startswith("notebooks/"):
                # the page is built from the .md; Colab must open its jupytext pair, the .ipynb
                if not any("/blob/" in c and c.endswith(f"{name}.ipynb") for c in state["colab"]):
                    problems.append(f"{name}: no Colab launch button for this notebook's .ipynb")
                if not (ROOT / f"{name}.ipynb").exists():
                    problems.append(f"{name}: the Colab button opens {name}.ipynb, which does not exist")
                if not any(e.endswith(f"{name}.md") for e in state["edit"]):
                    problems.append(f"{name}: no edit button pointing at {name}.md, the source")
                if figures and state["figures"] == 0:
                    problems.append(f"{name}: shows no figure")
            if name == pages[0]:
                seen = [str((file.parent / unquote(urlparse(h).path)).resolve().relative_to(html.resolve()))
                        .removesuffix(".html") for h in state["sidebar"] if not h.startswith("#")]
                listed = [s for s in seen if s in expected_order]
                if listed != expected_order:
                    problems.append(f"sidebar order {listed} differs from _toc.yml {expected_order}")
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / (name.replace("/", "__") + ".png")), full_page=True)
        browser.close()
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", nargs="?", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--no-figures", action="store_true", help="do not require figures")
    args = parser.parse_args(argv)
    problems = check_site(args.html.resolve(), args.screenshots, figures=not args.no_figures)
    for p in problems:
        print("PROBLEM:", p)
    print(f"checked {len(toc_pages())} pages: {len(problems)} problems; screenshots in {args.screenshots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
