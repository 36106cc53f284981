"""utils is layered (utils/layers.py): every import goes to the module's own layer or below."""
from __future__ import annotations

import re

import pytest

from utils import layers

MODULES = layers.module_names()


def test_every_module_has_a_layer_and_every_layer_entry_a_module():
    missing = [name for name in MODULES if layers.layer_of(name) is None]
    assert not missing, f"modules without a layer in utils.layers.LAYERS: {missing}"
    stale = [name for name in layers.LAYERS if name not in MODULES]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_no_module_imports_from_a_higher_layer():
    problems = layers.check_package()
    assert not problems, "imports against the layers (see utils/layers.py):\n" + "\n".join(problems)


def test_known_exceptions_still_exist():
    """An exception is a debt: once the import is gone, its entry must go too."""
    for (module, target), reason in layers.KNOWN_EXCEPTIONS.items():
        assert reason
        source = MODULES[module].read_text(encoding="utf-8")
        targets = {t for _, t in layers.imported_modules(source, module, MODULES)}
        assert target in targets, (f"{module} no longer imports {target}: remove the entry from "
                                   "utils.layers.KNOWN_EXCEPTIONS")
        assert layers.layer_of(target)[0] > layers.layer_of(module)[0]


def test_the_docstring_table_lists_every_module_in_its_layer():
    rows = {int(m.group(1)): m.group(3) for m in
            re.finditer(r"^(\d)\s+(\w+)\s+(.+)$", layers.__doc__, flags=re.MULTILINE)}
    assert set(rows) == set(layers.LAYER_NAMES)
    for name, (number, layer_name) in layers.LAYERS.items():
        assert layer_name == layers.LAYER_NAMES[number]
        shown = "utils/__init__" if name == "__init__" else name
        assert re.search(rf"(?<![\w.]){re.escape(shown)}(?![\w])", rows[number]), \
            f"{name} is in layer {number} but the docstring's table does not show it there"


# --------------------------------------------------------------------------------------------
# The checker itself: it must be able to fail
# --------------------------------------------------------------------------------------------
UPWARD = '''
import numpy as np
from . import config                      # base -> base: fine
from .metrics import wilson_ci            # base -> evaluation: upward

def helper():
    from utils import viz                 # inside a function, absolute: upward
    import utils.experiments as xp        # absolute module import: upward
    from utils.checks import data_tour    # a submodule of checks: upward
    return np, config, wilson_ci, viz, xp, data_tour
'''


def test_checker_catches_upward_imports_of_every_form():
    problems = layers.upward_imports(UPWARD, "plots", MODULES, exceptions={})
    assert len(problems) == 4, problems
    for line, target in [(4, "metrics"), (7, "viz"), (8, "experiments"), (9, "checks.data_tour")]:
        assert any(p.startswith(f"plots:{line} ") and f"imports {target} " in p
                   and "higher layer" in p for p in problems), (line, target, problems)


def test_checker_passes_downward_and_sideways_imports():
    source = "from . import config, plots\nfrom .data import read_image\nimport utils.splits\n"
    assert layers.upward_imports(source, "preprocessing", MODULES) == []
    assert layers.upward_imports("from .transfer import preprocess\n", "cnn", MODULES) == []


def test_checker_resolves_relative_levels_and_packages():
    # from a checks module, ".." is utils: anything below checks is fine
    assert layers.upward_imports("from .. import covid\nfrom ..viz import grad_cam\n",
                                 "checks.data_tour", MODULES) == []
    found = layers.imported_modules("from ..exercises import Feedback\nfrom . import tasks_unet\n",
                                    "checks.data_tour", MODULES)
    assert [t for _, t in found] == ["exercises", "checks.tasks_unet"]
    # from utils/__init__.py, "." is utils itself
    found = layers.imported_modules("from . import config\nfrom .data import read_image\n",
                                    "__init__", MODULES)
    assert [t for _, t in found] == ["config", "data"]
    # `import utils` is the package (layer 1): a base module may not
    problems = layers.upward_imports("import utils\n", "results", MODULES, exceptions={})
    assert problems and "imports __init__" in problems[0]


def test_checker_flags_modules_without_a_layer():
    assert layers.upward_imports("", "no_such_module", MODULES) == [
        "no_such_module: has no layer in utils.layers.LAYERS"]
    problems = layers.upward_imports("from .no_such_module import x\n", "viz",
                                     {**MODULES, "no_such_module": None})
    assert problems and "has no layer" in problems[0]


def test_known_exception_is_only_let_through_when_listed():
    source = "def environment():\n    from . import data\n    return data\n"
    listed = {("config", "data"): "an example debt"}
    assert layers.upward_imports(source, "config", MODULES, exceptions=listed) == []
    assert layers.upward_imports(source, "config", MODULES, exceptions={})
    assert layers.upward_imports(source, "config", MODULES)  # nothing is listed by default


# --------------------------------------------------------------------------------------------
# results and plots depend on nothing above config, not even through config
# --------------------------------------------------------------------------------------------
def import_closure(module: str) -> set[str]:
    """Every utils module that ``module`` imports, directly or through the modules it imports
    (any import statement, as :func:`utils.layers.imported_modules` finds them)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        source = MODULES[name].read_text(encoding="utf-8")
        for _, target in layers.imported_modules(source, name, MODULES):
            if target not in seen and target != module:
                seen.add(target)
                if target in MODULES:
                    todo.append(target)
    return seen


def test_import_closure_follows_imports_transitively():
    # dedup imports only data, which imports config (the data locations): both are reached
    direct = {t for _, t in layers.imported_modules(MODULES["dedup"].read_text(encoding="utf-8"),
                                                    "dedup", MODULES)}
    assert direct == {"data"}
    assert {"data", "config"} <= import_closure("dedup")
    for module in ("covid", "preprocessing", "data"):
        for target in import_closure(module) - {module}:
            assert import_closure(target) - {module} <= import_closure(module), (module, target)


@pytest.mark.parametrize("module", ["results", "plots"])
def test_results_and_plots_depend_on_nothing_above_config(module):
    """results and plots import only config among utils modules; whatever config itself pulls
    in (plots and audit for ``setup()``) stays in the base layer: never data, never a model."""
    own = {t for _, t in layers.imported_modules(MODULES[module].read_text(encoding="utf-8"),
                                                 module, MODULES)}
    assert own <= {"config"}, f"{module} imports {sorted(own - {'config'})}"
    closure = import_closure(module)
    above = sorted(t for t in closure if layers.layer_of(t) is None or layers.layer_of(t)[0] > 0)
    assert not above, f"{module} depends, through {sorted(closure)}, on {above}"
    assert "data" not in closure
