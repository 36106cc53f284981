"""The layers of ``utils``: where each module sits, and the rule that imports only go down.

A module may import modules of its own layer or of a layer below it, never one above: a data
loader knows nothing of models, a model nothing of how it will be evaluated, an evaluation
nothing of the chapter that runs it.  ``tests/test_layers.py`` checks every import of every
module against :data:`LAYERS` (at the top of the file and inside functions, relative and
absolute ``utils.`` forms) with :func:`check_package`.

=====  =============  =============================================================================================================================================================
layer  name           modules
=====  =============  =============================================================================================================================================================
0      base           config, audit, exercises, layers, plots, prose, results
1      data           data, datasets, dedup, splits; the package itself (``utils/__init__``)
2      preprocessing  preprocessing (crop to the head, augmentation)
3      models         fundamentals, backbones, cnn, transfer, segmentation, volumes (3-D)
4      evaluation     metrics, calibration, crossval, literature, shift (measuring a dataset shift)
5      explanation    viz (Grad-CAM, feature maps, filters, receptive fields)
6      protocols      experiments, benchmark_common, benchmark_brain, benchmark_segmentation, benchmark_covid, benchmark_3d, covid, report, modelcard, predict; tools: skeleton, assignments, grading
7      checks         checks.* (the exercises' feedback, on top of everything)
=====  =============  =============================================================================================================================================================

(``utils/manifests/``, ``utils/literature/`` and ``utils/recorded/`` hold data files, not modules; the backbones'
input scaling, :func:`utils.transfer.preprocess`, lives with the backbones in layer 3 because it
is part of their pretrained weights.)
"""
from __future__ import annotations

import ast
from pathlib import Path

#: Layer number -> name.
LAYER_NAMES = {0: "base", 1: "data", 2: "preprocessing", 3: "models", 4: "evaluation",
               5: "explanation", 6: "protocols", 7: "checks"}

#: Module (path below ``utils/`` without ``.py``, dots for packages) -> (layer number, name).
#: ``"__init__"`` is the package ``utils`` itself; ``"checks"`` covers ``utils.checks.*``.
LAYERS = {name: (number, LAYER_NAMES[number]) for number, names in [
    (0, ("config", "audit", "exercises", "layers", "plots", "prose", "results")),
    (1, ("data", "datasets", "dedup", "splits", "__init__")),
    (2, ("preprocessing",)),
    (3, ("fundamentals", "backbones", "cnn", "transfer", "segmentation", "volumes")),
    (4, ("metrics", "calibration", "crossval", "literature", "shift")),
    (5, ("viz",)),
    (6, ("experiments", "benchmark_common", "benchmark_brain", "benchmark_segmentation",
         "benchmark_covid", "benchmark_3d", "covid", "report", "modelcard", "predict",
         "skeleton", "assignments", "grading")),
    (7, ("checks",)),
] for name in names}

#: Upward imports that are known and waiting for a fix, ``(module, imported): reason``; each must
#: still exist (``tests/test_layers.py`` fails once it is gone, so that the entry is removed too).
#: Empty: the last one, config -> data for the environment report's data source, was fixed by
#: moving the data locations (mirror, cache, their environment variables) into ``config``.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

PACKAGE_DIR = Path(__file__).resolve().parent


def module_names(root: Path | str = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package at ``root``: ``{"metrics": path, "checks.covid_literature":
    path, "checks": .../checks/__init__.py, "__init__": .../__init__.py, ...}``."""
    root = Path(root)
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1] or ("__init__",)
        out[".".join(parts)] = path
    return out


def layer_of(module: str):
    """``(number, name)`` of a module (see :data:`LAYERS`), or None when it has no layer."""
    if module in LAYERS:
        return LAYERS[module]
    head = module.split(".", 1)[0]
    return LAYERS.get(head) if "." in module else None


def imported_modules(source: str, module: str, modules) -> list[tuple[int, str]]:
    """The ``utils`` modules that ``source`` (the code of ``module``) imports, with line numbers.

    Every ``import`` statement counts, wherever it stands (top level, function, class, ``if``);
    relative (``from . import x``, ``from ..metrics import y``) and absolute (``import utils.x``,
    ``from utils.x import y``, ``from utils import x``) forms are resolved to module names as in
    :func:`module_names` (``modules``), the package itself being ``"__init__"``.
    """
    modules = set(modules)
    parts = [] if module == "__init__" else module.split(".")
    is_package = not parts or any(m.startswith(module + ".") for m in modules)
    package = parts if is_package else parts[:-1]  # what "from . import" starts from

    def name_of(dotted: list[str]) -> str:
        return ".".join(dotted) or "__init__"

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bits = alias.name.split(".")
                if bits[0] == "utils":
                    found.append((node.lineno, name_of(bits[1:])))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: start from the module's package
                if node.level - 1 > len(package):
                    continue  # beyond the top of utils: not ours
                base = package[:len(package) - (node.level - 1)]
            elif (node.module or "").split(".")[0] == "utils":
                base = []
            else:
                continue
            rest = (node.module or "").split(".") if node.module else []
            if not node.level:
                rest = rest[1:]  # drop "utils"
            target = base + rest
            for alias in node.names:
                sub = name_of(target + [alias.name])
                found.append((node.lineno, sub if sub in modules else name_of(target)))
    return sorted(set(found))


def upward_imports(source: str, module: str, modules=None, exceptions=None) -> list[str]:
    """One message per import in ``source`` (the code of ``module``) of a module from a higher
    layer, or of a module without a layer; empty when every import goes down or sideways.

    ``exceptions`` (default :data:`KNOWN_EXCEPTIONS`) are ``(module, imported)`` pairs let
    through.  ``modules`` defaults to the modules of this package (:func:`module_names`).
    """
    modules = module_names() if modules is None else modules
    exceptions = KNOWN_EXCEPTIONS if exceptions is None else exceptions
    own = layer_of(module)
    if own is None:
        return [f"{module}: has no layer in utils.layers.LAYERS"]
    problems = []
    for line, target in imported_modules(source, module, modules):
        theirs = layer_of(target)
        if (module, target) in exceptions or target == module:
            continue
        if theirs is None:
            problems.append(f"{module}:{line} imports {target}, which has no layer in LAYERS")
        elif theirs[0] > own[0]:
            problems.append(f"{module}:{line} (layer {own[0]} {own[1]}) imports {target} "
                            f"(layer {theirs[0]} {theirs[1]}): an import from a higher layer")
    return problems


def check_package(root: Path | str = PACKAGE_DIR) -> list[str]:
    """:func:`upward_imports` of every module of the package at ``root``, plus a message for
    every module without a layer and every :data:`LAYERS` entry without a module."""
    modules = module_names(root)
    problems = [f"utils/{path.relative_to(root)}: module {name!r} has no layer in "
                "utils.layers.LAYERS" for name, path in modules.items() if layer_of(name) is None]
    problems += [f"LAYERS names {name!r}, but there is no such module"
                 for name in LAYERS if name not in modules]
    for name, path in modules.items():
        if layer_of(name) is not None:
            problems += upward_imports(path.read_text(encoding="utf-8"), name, modules)
    return problems
