"""constraints-py311.txt is a lock of the requirements (scripts/lock.sh, ``uv pip compile``).

Every requirement of requirements.txt and requirements-dev.txt (following ``-r``) must be pinned
with ``==`` in the lock, at a version its specifier allows; the lock must not pin the CPU-only
TensorFlow build; and, from the lock's ``# via`` annotations, every pin must be reachable from
the requirements (nothing left over from a ``pip freeze`` of some machine).  The checks are
functions of a repository root, so the tests at the end run them on broken copies too.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = "constraints-py311.txt"
REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt")
# The platform the lock is for (scripts/lock.sh: --python-version 3.11.7, Linux x86_64).
LOCK_ENV = dict(default_environment(), python_version="3.11", python_full_version="3.11.7",
                implementation_name="cpython", platform_python_implementation="CPython",
                sys_platform="linux", os_name="posix", platform_system="Linux",
                platform_machine="x86_64")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*$")


def _lines(path: Path):
    """Logical lines of a requirements file without comments (pip's rules, simplified)."""
    text = path.read_text().replace("\\\n", "")
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line:
            yield line


def requirements(root: Path = ROOT, files=REQUIREMENT_FILES) -> dict[str, list[tuple[str, Requirement]]]:
    """``{name: [(file, Requirement), ...]}`` of the named requirements of ``files``, following
    ``-r``; ``-c`` (the lock itself), ``-e`` (the book's own package) and other options are skipped."""
    found: dict[str, list[tuple[str, Requirement]]] = {}
    seen: set[Path] = set()

    def read(path: Path):
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        for line in _lines(path):
            m = re.match(r"^(-r|--requirement)(?:\s+|=)(\S+)$", line)
            if m:
                read(path.parent / m.group(2))
            elif not line.startswith("-"):
                req = Requirement(line)
                found.setdefault(canonicalize_name(req.name), []).append(
                    (path.relative_to(root.resolve()).as_posix(), req))

    for name in files:
        read(root / name)
    return found


def lock(root: Path = ROOT) -> tuple[dict[str, Version], dict[str, list[str]], list[str]]:
    """Parse the lock: ``(pins {name: version}, via {name: [entries]}, malformed lines)``."""
    pins: dict[str, Version] = {}
    via: dict[str, list[str]] = {}
    bad: list[str] = []
    current = None
    in_via = False
    for raw in (root / LOCK).read_text().splitlines():
        if not raw.strip():
            continue
        if not raw[0].isspace():
            current, in_via = None, False
            if raw.startswith("#"):
                continue
            m = _PIN.match(raw)
            if not m:
                bad.append(raw)
                continue
            current = canonicalize_name(m.group(1))
            if current in pins:
                bad.append(f"{raw} (second pin of {current})")
            pins[current] = Version(m.group(2))
            via.setdefault(current, [])
            continue
        comment = raw.strip()
        if current is None or not comment.startswith("#"):
            bad.append(raw)
            continue
        body = comment[1:].strip()
        if body == "via":
            in_via = True
        elif body.startswith("via "):
            via[current].append(body[4:].strip())
            in_via = False
        elif in_via and body:
            via[current].append(body)
    return pins, via, bad


def unpinned(root: Path = ROOT) -> list[str]:
    """Requirements that the lock does not pin with ``==`` at a version they allow."""
    pins, _, _ = lock(root)
    problems = []
    for name, reqs in requirements(root).items():
        for file, req in reqs:
            if req.marker is not None and not req.marker.evaluate(LOCK_ENV):
                continue
            if name not in pins:
                problems.append(f"{req} ({file}): not pinned in {LOCK}")
            elif not req.specifier.contains(pins[name], prereleases=True):
                problems.append(f"{req} ({file}): {LOCK} pins {name}=={pins[name]}")
    return problems


def unreachable(root: Path = ROOT) -> list[str]:
    """Pins without a ``# via`` line, with a ``via`` that is neither a requirement file nor
    another pin, or not reachable from the requirement files through the ``via`` lines; and
    requirements whose pin does not say ``via -r <file>`` (a lock not regenerated)."""
    pins, via, _ = lock(root)
    sources = {f"-r {name}" for name in REQUIREMENT_FILES}
    problems = [f"{name}: no '# via' line" for name in pins if not via[name]]
    children: dict[str, set[str]] = {}
    roots = set()
    for name, entries in via.items():
        for entry in entries:
            if entry in sources:
                roots.add(name)
            elif canonicalize_name(entry) in pins:
                children.setdefault(canonicalize_name(entry), set()).add(name)
            else:
                problems.append(f"{name}: via {entry!r}, neither a requirement file nor a pin")
    reached, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(children.get(name, ()))
    problems += [f"{name}: not reachable from the requirements" for name in pins
                 if name not in reached]
    direct = set(requirements(root))
    problems += [f"{name}: 'via -r' but not a requirement any more" for name in roots - direct]
    problems += [f"{name}: a requirement, but its pin lacks 'via -r <file>'"
                 for name in direct - roots if name in pins]
    return problems


def cpu_tensorflow(root: Path = ROOT) -> list[str]:
    pins, _, _ = lock(root)
    return [f"{name}=={pins[name]}" for name in pins
            if name in ("tensorflow-cpu", "tf-nightly-cpu", "tensorflow-cpu-aws")]


# -- the repository's lock ---------------------------------------------------------------------

def test_lock_is_well_formed():
    pins, _, bad = lock()
    assert not bad, f"lines of {LOCK} that are neither `name==version`, '# via' nor comments: {bad}"
    assert len(pins) > 50
    header = (ROOT / LOCK).read_text().split("\n\n")[0]
    assert "scripts/lock.sh" in header and "uv pip compile" in header
    assert os.access(ROOT / "scripts" / "lock.sh", os.X_OK)


def test_requirements_use_the_lock():
    assert "-c constraints-py311.txt" in list(_lines(ROOT / "requirements-dev.txt"))
    names = set(requirements())
    assert {"tensorflow", "keras", "jupyter-book", "pytest", "playwright"} <= names


def test_every_requirement_is_pinned_at_an_allowed_version():
    assert unpinned() == []


def test_lock_never_pins_cpu_only_tensorflow():
    assert cpu_tensorflow() == []
    assert "tensorflow" in lock()[0]


def test_every_pin_is_reachable_from_the_requirements():
    assert unreachable() == []


# -- the checks catch broken locks ---------------------------------------------------------------

@pytest.fixture
def copy(tmp_path):
    for name in (*REQUIREMENT_FILES, LOCK):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str, count: int = 1):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def test_checks_pass_on_an_unchanged_copy(copy):
    assert unpinned(copy) == [] and unreachable(copy) == [] and cpu_tensorflow(copy) == []


def test_detects_a_missing_pin(copy):
    pins, _, _ = lock(copy)
    _edit(copy / LOCK, f"\nseaborn=={pins['seaborn']}\n", "\n")
    assert any(p.startswith("seaborn>=") for p in unpinned(copy))


def test_detects_a_pin_outside_the_specifier(copy):
    pins, _, _ = lock(copy)
    _edit(copy / LOCK, f"\ntensorflow=={pins['tensorflow']}\n", "\ntensorflow==2.19.0\n")
    assert any("tensorflow==2.19.0" in p for p in unpinned(copy))
    _edit(copy / "requirements-dev.txt", "pytest>=8", "pytest>=8,<8.0.1")  # an -r'd file too
    assert any(p.startswith("pytest") for p in unpinned(copy))


def test_detects_a_new_requirement_not_in_the_lock(copy):
    (copy / "requirements.txt").write_text((copy / "requirements.txt").read_text()
                                           + "imagehash>=4.3\n")
    assert any(p.startswith("imagehash>=4.3 (requirements.txt)") for p in unpinned(copy))


def test_detects_cpu_only_tensorflow(copy):
    (copy / LOCK).write_text((copy / LOCK).read_text()
                             + "tensorflow-cpu==2.20.0\n    # via -r requirements.txt\n")
    assert cpu_tensorflow(copy) == ["tensorflow-cpu==2.20.0"]


def test_detects_pins_the_requirements_do_not_need(copy):
    text = (copy / LOCK).read_text()
    (copy / LOCK).write_text(text + "awscli==1.45.11\nboto3==1.43.11\n    # via awscli\n"
                             "moto==5.0.0\n    # via -c /tmp/freeze.txt\n")
    problems = unreachable(copy)
    assert "awscli: no '# via' line" in problems
    assert "boto3: not reachable from the requirements" in problems
    assert any(p.startswith("moto: via '-c /tmp/freeze.txt'") for p in problems)
    assert lock(copy)[2] == []


def test_detects_a_lock_not_regenerated_after_a_requirement_went(copy):
    _edit(copy / "requirements.txt", "\nseaborn>=", "\n# seaborn>=")
    assert "seaborn: 'via -r' but not a requirement any more" in unreachable(copy)


def test_detects_malformed_lines(copy):
    (copy / LOCK).write_text((copy / LOCK).read_text() + "numpy>=1.26\n")
    assert lock(copy)[2] == ["numpy>=1.26"]
