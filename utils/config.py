"""Run configuration shared by every chapter: quick/full mode, seeding, where the data comes
from, environment report.

Quick mode (``DLBI_MODE=quick``) is what the test suite uses: fewer epochs and folds, smaller
images and subsets, so that every notebook executes in minutes on two CPU cores.  Full mode is
the default and is what the book is built with; every number quoted in the book's prose comes
from full mode.

Where the data comes from is configuration too (environment variables ``DLBI_DATA_MIRROR``,
``DLBI_CACHE``, ``DLBI_OFFLINE``, ``DLBI_DATA_URL``): :func:`mirror_dir`, :func:`cache_dir` and
:func:`describe_source` live here so that the environment report needs nothing above this
module; :mod:`utils.data` uses (and re-exports) them.
"""
from __future__ import annotations

import datetime as _dt
import importlib
import importlib.util
import os
import platform
import random
import subprocess
import sys
from pathlib import Path

MODE_ENV = "DLBI_MODE"
SEED_ENV = "DLBI_SEED"
DEFAULT_SEED = 42
MODES = ("quick", "full")

# Where the data comes from (read by utils.data, which re-exports these names).
DATASETS = ("brain_mri", "brain_mri_masks", "chest_xray", "brain_mri_external", "ixi_t1",
            "hippocampus", "adrenal_mnist3d")
MIRROR_ENV = "DLBI_DATA_MIRROR"  # a local folder holding <dataset>/<file>
CACHE_ENV = "DLBI_CACHE"         # downloads, derived arrays, weights (default ~/.cache/dlbi)
OFFLINE_ENV = "DLBI_OFFLINE"     # set (not "0"): never download
URL_ENV = "DLBI_DATA_URL"        # replaces https://raw.githubusercontent.com in download URLs
THREADS_ENV = "DLBI_THREADS"     # TensorFlow's intra- and inter-op threads (0: TF's default)
DEFAULT_THREADS = 2              # the build machine's and Colab's cores
DETERMINISTIC_ENV = "DLBI_DETERMINISTIC"  # "0": TensorFlow's faster non-deterministic ops


class DataError(RuntimeError):
    """Base class of every data problem the book reports (subclasses in :mod:`utils.data`;
    ``utils.data.DataError`` is this class)."""


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


def _env_int(name: str, default: int, low: int, high: int | None, what: str, hint: str) -> int:
    """The whole number in environment variable ``name`` (``default`` when unset or empty),
    checked to lie in ``[low, high)``; anything else raises a ValueError that names the
    variable, what it should hold (``what``) and how to get the default (``hint``)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number >= high):
        raise ValueError(f"{name}={value!r} is not {what}; {hint}.") from None
    return number


def default_seed() -> int:
    """The book-wide seed (``DLBI_SEED`` overrides 42; unset or empty means 42)."""
    return _env_int(SEED_ENV, DEFAULT_SEED, 0, 2**32, "a seed",
                    f"use a whole number from 0 to {2**32 - 1} "
                    f"(unset it for the book's seed, {DEFAULT_SEED})")


def threads() -> int:
    """TensorFlow's thread count (intra- and inter-op): ``DLBI_THREADS``, default
    :data:`DEFAULT_THREADS`; ``0`` leaves TensorFlow's own choice (one per core).

    A fixed count makes CPU results independent of the machine's number of cores: a kernel
    that splits a sum over threads adds in an order that depends on how many there are.
    """
    return _env_int(THREADS_ENV, DEFAULT_THREADS, 0, None, "a thread count",
                    f"use a whole number (0 for TensorFlow's default, unset for "
                    f"{DEFAULT_THREADS})")


def deterministic() -> bool:
    """Whether TensorFlow runs deterministic ops (``DLBI_DETERMINISTIC``; on unless ``0``)."""
    return os.environ.get(DETERMINISTIC_ENV, "1").strip() not in ("0", "false", "no", "off")


def _tf_framework_config():
    # enable_op_determinism is public (tf.config.experimental); its query and its inverse are
    # not exported (TensorFlow 2.21), so they are read from the module that defines all three.
    from tensorflow.python.framework import config as framework_config

    return framework_config


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's deterministic ops are on (False where TensorFlow is missing)."""
    if importlib.util.find_spec("tensorflow") is None:
        return False
    return bool(_tf_framework_config().is_op_determinism_enabled())


#: Lines of TensorFlow's native (C++) log that say nothing to a reader.  TensorFlow 2.21 with
#: deterministic ops rewrites each parallel ``tf.data`` map (Keras builds one for every
#: ``predict``, ``evaluate`` and validation pass over NumPy arrays) into a sequential map, and
#: the rewrite keeps an attribute the sequential op does not know: the log then says "NodeDef
#: mentions attribute use_unbounded_threadpool which is not in the op definition ... Unknown
#: attributes will be ignored" once per call, dozens of times per chapter.
NATIVE_NOISE = (b"NodeDef mentions attribute use_unbounded_threadpool",)
_native_filter: dict = {}


def _in_kernel() -> bool:
    """Whether this process is a running Jupyter kernel (not merely one that imported it)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def filter_native_stderr(patterns=NATIVE_NOISE, fd: int = 2, force: bool = False) -> bool:
    """Drop the lines of the process's native stderr (file descriptor ``fd``) that contain one of
    ``patterns`` (bytes); every other byte passes through unchanged, in order.

    TensorFlow's C++ logger writes to the file descriptor itself, below Python's
    ``sys.stderr``, and ignores ``TF_CPP_MIN_LOG_LEVEL`` for this message, so the filter sits at
    the descriptor: a pipe replaces ``fd``, and a thread copies what arrives to the original
    descriptor line by line.  Installed once per process, and only inside a Jupyter kernel
    (where the chapters run: the kernel forwards native output to the notebook) unless
    ``force``; at exit it restores ``fd`` and drains the pipe, so that nothing written before
    (a traceback included) is lost.  Returns whether the filter is (now) installed.
    """
    import atexit
    import threading

    if fd in _native_filter:
        return True
    if not (force or _in_kernel()):
        return False
    try:
        original = os.dup(fd)
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
    except OSError:  # no such descriptor (an embedded interpreter): leave it alone
        return False
    patterns = tuple(patterns)

    def passes(line: bytes) -> bool:
        return not any(p in line for p in patterns)

    def pump() -> None:
        try:
            _pump()
        finally:  # whatever stopped the copying, never leave fd a pipe that nobody reads
            try:
                os.dup2(original, fd)
            except Exception:
                pass

    def _pump() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = b"".join(line + b"\n" for line in lines if passes(line))
            # A partial line that cannot be the start of a log line (a progress bar's
            # carriage-return update) goes out at once rather than waiting for its newline.
            if pending and not pending[:1].isalpha():
                out, pending = out + pending, b""
            if out and not _write_all(original, out):
                break
        if pending and passes(pending):
            _write_all(original, pending)
        os.close(read_end)

    thread = threading.Thread(target=pump, name="native-stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        os.dup2(original, fd)  # closes the pipe's only write end: the pump sees end of file
        thread.join(timeout=5)

    atexit.register(restore)
    _native_filter[fd] = restore
    return True


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of ``data`` to ``fd``; False (and nothing raised) if the descriptor is gone."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except OSError:
            return False
        view = view[written:]
    return True


def restore_native_stderr(fd: int = 2) -> None:
    """Undo :func:`filter_native_stderr` for ``fd`` (drains the pipe first)."""
    restore = _native_filter.pop(fd, None)
    if restore is not None:
        restore()


def configure_determinism() -> dict:
    """Deterministic TensorFlow ops and fixed thread counts, as far as they can still be set.

    ``tf.config.experimental.enable_op_determinism()`` (unless ``DLBI_DETERMINISTIC=0``) makes
    every op give the same result for the same inputs (TensorFlow raises where an op has no
    deterministic kernel); :func:`threads` fixes the intra- and inter-op thread counts.  The
    thread counts can only be set before TensorFlow first runs an op: a later call leaves them
    and says so in the returned dict (``threads_fixed`` False).  With deterministic ops on, a
    Jupyter kernel's native stderr drops TensorFlow's one known meaningless log line
    (:data:`NATIVE_NOISE`, :func:`filter_native_stderr`).  Returns ``{"deterministic",
    "intra_op", "inter_op", "threads_fixed"}``; an empty dict when TensorFlow is not installed.
    """
    if importlib.util.find_spec("tensorflow") is None:
        return {}
    import tensorflow as tf

    if deterministic():
        tf.config.experimental.enable_op_determinism()
        filter_native_stderr()
    else:
        _tf_framework_config().disable_op_determinism()
    wanted = threads()
    fixed = True
    if wanted:
        for get, put in ((tf.config.threading.get_intra_op_parallelism_threads,
                          tf.config.threading.set_intra_op_parallelism_threads),
                         (tf.config.threading.get_inter_op_parallelism_threads,
                          tf.config.threading.set_inter_op_parallelism_threads)):
            if get() != wanted:
                try:
                    put(wanted)
                except RuntimeError:  # TensorFlow already ran: its thread pools exist
                    fixed = False
    return {"deterministic": op_determinism_enabled(),
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "threads_fixed": fixed}


def seed_everything(seed: int | None = None) -> int:
    """Seed Python, NumPy and (if already importable) Keras/TensorFlow; returns the seed used.

    Keras is seeded through ``keras.utils.set_random_seed`` which also seeds TensorFlow, and
    :func:`configure_determinism` turns on deterministic ops with fixed thread counts: CPU
    training with the same seed then gives bit-identical weights run to run on the same
    machine and library versions, whatever else the machine is doing.  GPUs and other library
    versions may differ in the last digits.
    """
    import numpy as np

    seed = default_seed() if seed is None else int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if importlib.util.find_spec("keras") is not None:
        import keras

        configure_determinism()
        keras.utils.set_random_seed(seed)
    return seed


def cache_dir() -> Path:
    """Folder for downloaded data and converted weights (``DLBI_CACHE`` or ``~/.cache/dlbi``)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dlbi").expanduser()


def mirror_dir() -> Path | None:
    """The local mirror named by ``DLBI_DATA_MIRROR``, validated, or None when unset.

    Raises :class:`DataError` when it is not a folder or holds none of :data:`DATASETS`.
    """
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise DataError(
            f"{MIRROR_ENV}={value!r} is not a folder (relative paths are read from the current "
            f"folder, {Path.cwd()}; an absolute path is safer). Point it at the folder that holds "
            f"{', '.join(DATASETS)} (for example the repository's ../shared/data), or unset it "
            "to download the data."
        )
    if not any((path / d).is_dir() for d in DATASETS):
        content = sorted(p.name for p in path.iterdir())[:8]
        raise DataError(
            f"{MIRROR_ENV}={value!r} holds none of the data set folders {DATASETS} "
            f"(it contains {content or 'nothing'}). Point it at the folder that holds them."
        )
    return path


def describe_source() -> str:
    """Where data comes from in this session (for the environment report)."""
    try:
        mirror = mirror_dir()
    except DataError as err:
        return f"misconfigured mirror: {err}"
    if mirror:
        return f"mirror {mirror} (verified by sha256)"
    return f"cache {cache_dir() / 'data'}, downloads from pinned GitHub commits"


def configure_tensorflow() -> None:
    """Set TensorFlow environment flags before TensorFlow is imported.

    oneDNN kernels are ~4x faster for the small CNNs on CPU; the C++ log level hides the CUDA-stub
    chatter that full TensorFlow prints on machines without a GPU.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# Libraries named in the environment report: import name -> distribution name.  The first
# group is read from the imported module (TensorFlow is imported anyway, for the GPU check); the
# second from the installed package's metadata, without importing it (visualkeras would import
# Keras, skimage and pydicom take seconds).
LIBRARIES = {"tensorflow": None, "keras": None, "numpy": None, "pandas": None, "sklearn": None,
             "PIL": None, "scipy": "scipy", "skimage": "scikit-image", "pydicom": "pydicom",
             "visualkeras": "visualkeras"}
REPORT_WIDTH = 100  # the report's lines fit a notebook cell without wrapping


def _version(module: str, distribution: str | None = None) -> str:
    if distribution is not None:
        from importlib import metadata

        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return "not installed"
    try:
        mod = importlib.import_module(module)
    except Exception:  # pragma: no cover - depends on the environment
        return "not installed"
    return getattr(mod, "__version__", "unknown")


def git_commit(root: Path | str | None = None) -> str:
    """The checked-out commit of the book: short hash, ``+dirty`` when the work tree differs
    from it (changed, staged or new files that git does not ignore).

    ``"unknown"`` where the book is not a git checkout of its own (a downloaded zip, a copy
    inside some other repository) or git is not installed.
    """
    root = Path(root or repo_root()).resolve()

    def git(*args: str) -> str:
        # --no-optional-locks: never take the index lock a concurrent commit may need
        return subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args],
                              capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return "unknown"
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + "+dirty" if dirty else commit) or "unknown"


def cpu_model() -> str:
    """The CPU's model name and its widest vector extension (AVX-512, AVX2, AVX), e.g.
    ``"AMD EPYC 7B13 (AVX2)"``.  The extension picks TensorFlow's oneDNN kernels, and with
    them the last digits of every CPU training step: two machines with the same core count
    and library versions can train different models from the same seed (the brain CNNs' seed
    records of stops 8-17 were made on another CPU than today's builds), so a recorded result
    names its CPU.  ``"unknown CPU"`` where ``/proc/cpuinfo`` cannot be read."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not name:
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if name and flags:
                    break
    except OSError:
        pass
    name = name or platform.processor() or "unknown CPU"
    ext = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                          ("avx", "AVX")) if flag in flags), "")
    return f"{name} ({ext})" if ext else name


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


def determinism_summary() -> str:
    """How TensorFlow runs now, for the environment report: deterministic ops or not, and its
    thread counts (see :func:`configure_determinism`)."""
    if importlib.util.find_spec("tensorflow") is None:
        return "TensorFlow not installed"
    import tensorflow as tf

    ops = ("deterministic ops" if op_determinism_enabled()
           else "non-deterministic ops")
    intra = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or "default"
    return f"{ops}, threads {intra} intra-op / {inter} inter-op"


def environment(seed: int | None = None) -> dict:
    """The facts a reader needs to reproduce a result, as a dict."""
    info = {
        "date": _dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "mode": mode(),
        "seed": default_seed() if seed is None else seed,
        "commit": git_commit(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_cores": os.cpu_count(),
        "cpu": cpu_model(),
        "accelerator": accelerator(),
        "determinism": determinism_summary(),
        "in_colab": "google.colab" in sys.modules,
        "data_source": describe_source(),
    }
    for name, distribution in LIBRARIES.items():
        info[name] = _version(name, distribution)
    return info


def report_lines(info: dict) -> list[str]:
    """The environment report as text lines (a handful, at most :data:`REPORT_WIDTH` wide).

    The first line is ``mode        : <mode>``: the book build checks it in every executed
    chapter (``scripts/build_cache.py check-modes``).
    """
    import textwrap

    def line(key, value):
        return f"{key:<11} : {value}"

    machine = (f"Python {info['python']} on {info['platform']}, {info['cpu_cores']} CPU cores, "
               f"{info['accelerator']}, {'in' if info['in_colab'] else 'not in'} Colab")
    versions = ", ".join(f"{name} {info[name]}" for name in LIBRARIES if name in info)
    indent = " " * len(line("", ""))
    return [
        line("mode", info["mode"]),
        line("seed", info["seed"]),
        line("commit", info.get("commit", "unknown")),
        line("date", info["date"]),
        line("machine", machine),
        *([line("cpu", info["cpu"])] if "cpu" in info else []),
        *([line("determinism", info["determinism"])] if "determinism" in info else []),
        line("data_source", info["data_source"]),
        *textwrap.wrap(line("versions", versions), REPORT_WIDTH, subsequent_indent=indent,
                       break_long_words=False, break_on_hyphens=False),
    ]


def environment_report(seed: int | None = None) -> dict:
    """Print a compact environment report (mode, seed, commit, versions, CPU/GPU, data) and
    return it as a dict (:func:`environment`)."""
    info = environment(seed)
    print("\n".join(report_lines(info)))
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
