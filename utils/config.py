"""Run configuration shared by every chapter: quick/full mode, seeding, environment report.

Quick mode (``DLBI_MODE=quick``) is what the test suite uses: fewer epochs and folds, smaller
images and subsets, so that every notebook executes in minutes on two CPU cores.  Full mode is
the default and is what the book is built with; every number quoted in the book's prose comes
from full mode.
"""
from __future__ import annotations

import datetime as _dt
import importlib
import os
import platform
import random
import sys
from pathlib import Path

MODE_ENV = "DLBI_MODE"
SEED_ENV = "DLBI_SEED"
DEFAULT_SEED = 42
MODES = ("quick", "full")


def mode() -> str:
    """Return the current mode, ``"quick"`` or ``"full"`` (default), read from ``DLBI_MODE``."""
    value = os.environ.get(MODE_ENV, "full").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(
            f"{MODE_ENV}={value!r} is not a known mode; use one of {MODES} "
            f"(quick for tests, full for the book)."
        )
    return value


def is_quick() -> bool:
    """True in quick mode."""
    return mode() == "quick"


def by_mode(quick, full):
    """Pick a setting by mode: ``epochs = by_mode(quick=2, full=10)``."""
    return quick if is_quick() else full


def default_seed() -> int:
    """The book-wide seed (``DLBI_SEED`` overrides 42)."""
    return int(os.environ.get(SEED_ENV, DEFAULT_SEED))


def seed_everything(seed: int | None = None) -> int:
    """Seed Python, NumPy and (if already importable) Keras/TensorFlow; returns the seed used.

    Keras is seeded through ``keras.utils.set_random_seed`` which also seeds TensorFlow.  CPU
    training with the same seed gives the same numbers run to run on the same machine; GPUs and
    other library versions may differ in the last digits.
    """
    import numpy as np

    seed = default_seed() if seed is None else int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if importlib.util.find_spec("keras") is not None:
        import keras

        keras.utils.set_random_seed(seed)
    return seed


def configure_tensorflow() -> None:
    """Set TensorFlow environment flags before TensorFlow is imported.

    oneDNN kernels are ~4x faster for the small CNNs on CPU; the C++ log level hides the CUDA-stub
    chatter that full TensorFlow prints on machines without a GPU.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception:  # pragma: no cover - depends on the environment
        return "not installed"
    return getattr(mod, "__version__", "unknown")


def accelerator() -> str:
    """Describe the accelerator TensorFlow sees ("CPU only" when none)."""
    if importlib.util.find_spec("tensorflow") is None:
        return "CPU only (TensorFlow not installed)"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU only"
    names = []
    for gpu in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except Exception:  # pragma: no cover - GPU specific
            names.append(gpu.name)
    return "GPU: " + ", ".join(names)


def environment(seed: int | None = None) -> dict:
    """The facts a reader needs to reproduce a result, as a dict."""
    from . import data  # local import: data imports config

    info = {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "mode": mode(),
        "seed": default_seed() if seed is None else seed,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_cores": os.cpu_count(),
        "accelerator": accelerator(),
        "in_colab": "google.colab" in sys.modules,
        "data_source": data.describe_source(),
    }
    for name in ("numpy", "pandas", "sklearn", "tensorflow", "keras", "PIL"):
        info[name] = _version(name)
    return info


def environment_report(seed: int | None = None) -> dict:
    """Print a compact environment report (mode, seed, versions, CPU/GPU, data) and return it."""
    info = environment(seed)
    width = max(len(k) for k in info)
    lines = [f"{k:<{width}} : {v}" for k, v in info.items()]
    print("\n".join(lines))
    return info


def setup(seed: int | None = None, report: bool = True) -> dict:
    """One call at the top of every chapter: TF flags, seeds, plotting defaults, the report."""
    configure_tensorflow()
    used = seed_everything(seed)
    try:
        from . import plots

        plots.set_style()
    except ImportError:  # pragma: no cover - matplotlib missing
        pass
    from . import audit

    audit.install_from_env()  # the test suite's figure-title check (no-op for readers)
    return environment_report(used) if report else environment(used)


def repo_root() -> Path:
    """The repository root (the folder that holds ``utils/``)."""
    return Path(__file__).resolve().parent.parent
