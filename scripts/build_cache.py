"""An honest execution cache for the book build, and a check of what the build executed.

MyST-NB's cache (``execute_notebooks: cache``, ``_build/.jupyter_cache``) keys each notebook by
its code cells and kernelspec only.  The chapters' numbers also depend on things outside the
notebook: the mode (``DLBI_MODE``), the seed (``DLBI_SEED``), the helper package ``utils`` (its
code, manifests and tables) and the installed library versions.  A change of any of them must
execute the chapters again, or the book publishes stale (or quick-mode) numbers.

``prepare``
    computes a fingerprint of all of that (sha256 over each component) and compares it with the
    one recorded in ``_build/.jupyter_cache.fingerprint``.  When they differ (or none is
    recorded) it says which components changed and deletes the execution cache together with
    Sphinx's saved environment (``_build/.doctrees``) and the executed copies
    (``_build/jupyter_execute``): without the environment Sphinx would not even read an
    unchanged chapter again, so clearing the cache alone would execute nothing.  Then it records
    the new fingerprint.

``check-modes``
    after the build: every executed chapter (``_build/jupyter_execute/notebooks/*.ipynb``) must
    print the environment report of ``utils.setup()`` and its ``mode`` line must be the mode the
    build asked for.  A chapter without a report fails; a notebook marked as a page
    (``dlbi: kind: page`` in its metadata, e.g. the results page) may have none, but a report it
    prints must agree too.

Both run from ``scripts/build_book.sh``; standard library only (no import of ``utils``, so that
a broken ``utils`` cannot break the check).  ``python3 scripts/build_cache.py --help``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = "_build"
CACHE = ".jupyter_cache"                 # execute.cache in _config.yml
FINGERPRINT = ".jupyter_cache.fingerprint"
# What goes stale with the cache: Sphinx's environment (without it Sphinx reads, and so executes,
# every chapter again) and the executed copies that check-modes reads.
STALE = (CACHE, ".doctrees", "jupyter_execute")
EXECUTED = "jupyter_execute/notebooks"
FORMAT = 1                               # of the fingerprint file

MODES = ("quick", "full")
DEFAULT_MODE = "full"
DEFAULT_SEED = "42"
# utils files whose content can change what a chapter prints: code, manifests, tables, lists
SOURCE_SUFFIXES = (".py", ".csv", ".json")
LOCK_PATTERNS = ("requirements*.txt", "constraints*.txt")

# The first two lines of the environment report that utils.setup() prints
# (utils.config.report_lines): "mode        : full" then "seed        : 42".
REPORT = re.compile(r"^mode[ \t]*:[ \t]*(\S+)[ \t]*\r?\nseed[ \t]*:", re.MULTILINE)


# --------------------------------------------------------------------------------------------
# The fingerprint
# --------------------------------------------------------------------------------------------
def build_mode(env=None) -> str:
    """The mode the build runs in, normalised as ``utils.config.mode`` reads it."""
    env = os.environ if env is None else env
    return env.get("DLBI_MODE", "").strip().lower() or DEFAULT_MODE


def build_seed(env=None) -> str:
    env = os.environ if env is None else env
    return env.get("DLBI_SEED", "").strip() or DEFAULT_SEED


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_files(root: Path) -> list[Path]:
    """Every ``utils/**/*.py|csv|json`` file and the requirement and constraint files."""
    root = Path(root)
    found = [p for p in (root / "utils").rglob("*")
             if p.is_file() and p.suffix in SOURCE_SUFFIXES
             and not any(part.startswith((".", "__pycache__"))
                         for part in p.relative_to(root).parts)]
    for pattern in LOCK_PATTERNS:
        found += [p for p in root.glob(pattern) if p.is_file()]
    return sorted(set(found))


def distributions() -> dict[str, str]:
    """Installed distributions, ``{normalised name: version}`` (what ``pip freeze`` lists; the
    first one on ``sys.path`` wins, as for imports)."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") if dist.metadata else None
        if name:
            out.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version or "?")
    return dict(sorted(out.items()))


def components(root: Path | str = ROOT, env=None, dists: dict | None = None) -> dict:
    """What the chapters' outputs depend on besides their code cells."""
    root = Path(root)
    return {
        "mode": build_mode(env),
        "seed": build_seed(env),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "files": {p.relative_to(root).as_posix(): _sha256(p) for p in source_files(root)},
        "distributions": distributions() if dists is None else dict(sorted(dists.items())),
    }


def digest(parts: dict) -> str:
    """sha256 of the components (canonical JSON)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def fingerprint(root: Path | str = ROOT, env=None, dists: dict | None = None) -> dict:
    parts = components(root, env, dists)
    return {"format": FORMAT, "sha256": digest(parts), "components": parts}


def _names(items, limit: int = 4) -> str:
    items = sorted(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def changes(old: dict | None, new: dict) -> list[str]:
    """Why ``new`` differs from the recorded ``old`` fingerprint, one phrase per component."""
    if not old or old.get("format") != FORMAT or "components" not in old:
        return ["no fingerprint was recorded for the existing build"]
    a, b = old["components"], new["components"]
    why = []
    for key, label in (("mode", "DLBI_MODE"), ("seed", "DLBI_SEED"), ("python", "Python")):
        if a.get(key) != b.get(key):
            why.append(f"{label} changed ({a.get(key)} -> {b.get(key)})")
    for key, label in (("files", "file"), ("distributions", "installed distribution")):
        fa, fb = a.get(key, {}), b.get(key, {})
        changed = [n for n in fa.keys() & fb.keys() if fa[n] != fb[n]]
        if key == "distributions":
            changed = [f"{n} {fa[n]} -> {fb[n]}" for n in changed]
        for names, what in ((changed, "changed"), (fb.keys() - fa.keys(), "added"),
                            (fa.keys() - fb.keys(), "removed")):
            if names:
                plural = "s" if len(names) > 1 else ""
                why.append(f"{len(names)} {label}{plural} {what} ({_names(names)})")
    if not why and old.get("sha256") != new.get("sha256"):
        why.append("the fingerprint changed")
    return why


def read_fingerprint(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prepare(root: Path | str = ROOT, build: Path | str | None = None, env=None,
            dists: dict | None = None, log=print) -> bool:
    """Clear the execution cache (and what depends on it) unless the recorded fingerprint
    matches the present one; record the present one.  True when something was cleared or no
    fingerprint was recorded yet (every chapter will execute)."""
    root = Path(root)
    build = root / BUILD if build is None else Path(build)
    record = build / FINGERPRINT
    new = fingerprint(root, env, dists)
    old = read_fingerprint(record)
    if old is not None and old.get("sha256") == new["sha256"]:
        log(f"build cache: fingerprint {new['sha256'][:12]} unchanged "
            f"(mode {new['components']['mode']}); cached chapters are reused")
        return False
    stale = [build / name for name in STALE if (build / name).exists()]
    if stale or old is not None:
        why = "; ".join(changes(old, new))
        for path in stale:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        cleared = ", ".join(str(p.relative_to(root) if p.is_relative_to(root) else p)
                            for p in stale) or "nothing (no cache yet)"
        log(f"build cache: {why}.\nbuild cache: cleared {cleared}: every chapter executes again")
    else:
        log("build cache: no cache yet; every chapter executes")
    build.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(record.name + ".part")
    tmp.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(record)
    return True


# --------------------------------------------------------------------------------------------
# The mode check of the executed chapters
# --------------------------------------------------------------------------------------------
def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def report_modes(nb: dict) -> list[str]:
    """The ``mode`` of every environment report that the executed notebook ``nb`` printed."""
    modes = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name", "stdout") == "stdout":
                modes += REPORT.findall(_text(out.get("text")))
    return modes


def is_page(nb: dict) -> bool:
    """A notebook marked ``dlbi: kind: page`` (a book page, not a chapter)."""
    meta = nb.get("metadata", {}).get("dlbi") or {}
    return isinstance(meta, dict) and meta.get("kind") == "page"


def mode_problems(executed: Path | str, mode: str, sources: Path | str | None = None) -> list[str]:
    """Executed notebooks whose environment report does not state ``mode`` (empty = all good).

    ``sources``: the folder of the chapters' sources (``notebooks``); each ``NN_name.md`` there
    must then have an executed copy, and executed copies without a source are ignored.
    """
    if mode not in MODES:
        return [f"DLBI_MODE={mode!r} is not a known mode; use one of {MODES}"]
    executed = Path(executed)
    found = {p.stem: p for p in sorted(executed.glob("*.ipynb"))}
    if sources is not None:
        wanted = sorted({p.stem for pattern in ("*.md", "*.ipynb")
                         for p in Path(sources).glob(pattern) if not p.name.startswith("_")})
        problems = [f"{name}: not executed (no {executed / (name + '.ipynb')})"
                    for name in wanted if name not in found]
        found = {name: path for name, path in found.items() if name in wanted}
    else:
        problems = [] if found else [f"no executed notebooks in {executed}"]
    for name, path in found.items():
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            problems.append(f"{name}: cannot read {path} ({err})")
            continue
        modes = report_modes(nb)
        if not modes:
            if not is_page(nb):
                problems.append(f"{name}: prints no environment report (utils.setup()), so "
                                "nothing shows which mode produced its numbers")
        elif any(m != mode for m in modes):
            problems.append(f"{name}: its environment report says mode {_names(set(modes))}, "
                            f"but the build asked for {mode} (stale cached outputs?)")
    return problems


def check_modes(executed: Path | str, mode: str, sources: Path | str | None = None,
                log=print) -> bool:
    problems = mode_problems(executed, mode, sources)
    if problems:
        log(f"build check FAILED: executed chapters that do not state mode {mode}:\n  - "
            + "\n  - ".join(problems)
            + f"\nRemove {BUILD}/{CACHE} and {BUILD}/.doctrees and build again.")
        return False
    log(f"build check: every executed chapter in {executed} states mode {mode}")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="clear the execution cache when the fingerprint changed")
    p.add_argument("--build", default=str(ROOT / BUILD), help="the build folder (_build)")
    sub.add_parser("fingerprint", help="print the present fingerprint (JSON)")
    c = sub.add_parser("check-modes", help="fail unless every executed chapter states the mode")
    c.add_argument("--mode", default=None, help="the mode asked for (default: $DLBI_MODE, full)")
    c.add_argument("--executed", default=str(ROOT / BUILD / EXECUTED))
    c.add_argument("--sources", default=str(ROOT / "notebooks"),
                   help="chapter sources that must each have an executed copy ('' for none)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(ROOT, Path(args.build))
        return 0
    if args.command == "fingerprint":
        print(json.dumps(fingerprint(ROOT), indent=1, sort_keys=True))
        return 0
    mode = build_mode() if args.mode is None else args.mode.strip().lower()
    return 0 if check_modes(args.executed, mode, args.sources or None) else 1


if __name__ == "__main__":
    sys.exit(main())
