"""Tests of the run configuration (utils.config): mode, by_mode, seeding, environment."""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from utils import config

ROOT = Path(__file__).resolve().parents[1]


def test_mode_default_is_full(monkeypatch):
    monkeypatch.delenv("DLBI_MODE", raising=False)
    assert config.mode() == "full" and not config.is_quick()
    monkeypatch.setenv("DLBI_MODE", "")
    assert config.mode() == "full"


@pytest.mark.parametrize("value", ["quick", "QUICK", " quick\n"])
def test_mode_quick(monkeypatch, value):
    monkeypatch.setenv("DLBI_MODE", value)
    assert config.mode() == "quick" and config.is_quick()


def test_mode_invalid(monkeypatch):
    monkeypatch.setenv("DLBI_MODE", "fast")
    with pytest.raises(ValueError) as info:
        config.mode()
    msg = str(info.value)
    assert "DLBI_MODE" in msg and "'fast'" in msg and "quick" in msg and "full" in msg


def test_by_mode(monkeypatch):
    monkeypatch.setenv("DLBI_MODE", "quick")
    assert config.by_mode(quick=2, full=10) == 2
    monkeypatch.setenv("DLBI_MODE", "full")
    assert config.by_mode(quick=2, full=10) == 10
    monkeypatch.setenv("DLBI_MODE", "nope")
    with pytest.raises(ValueError):
        config.by_mode(1, 2)


def test_default_seed(monkeypatch):
    monkeypatch.delenv("DLBI_SEED", raising=False)
    assert config.default_seed() == 42
    monkeypatch.setenv("DLBI_SEED", "7")
    assert config.default_seed() == 7


@pytest.mark.parametrize("value", ["abc", "1.5", "-3", "4294967296", "42abc"])
def test_seed_invalid(monkeypatch, value):
    """A bad DLBI_SEED gets a message like a bad DLBI_MODE, not int()'s bare ValueError."""
    monkeypatch.setenv("DLBI_SEED", value)
    with pytest.raises(ValueError) as info:
        config.default_seed()
    msg = str(info.value)
    assert "DLBI_SEED" in msg and repr(value) in msg and "whole number" in msg and "42" in msg
    assert "invalid literal" not in msg and info.value.__cause__ is None
    assert info.value.__suppress_context__  # no "during handling ... another exception" noise
    with pytest.raises(ValueError, match="DLBI_SEED"):
        config.seed_everything()


@pytest.mark.parametrize("value, seed", [("", 42), ("  ", 42), (" 7\n", 7), ("0", 0),
                                         ("4294967295", 2**32 - 1)])
def test_seed_accepted(monkeypatch, value, seed):
    monkeypatch.setenv("DLBI_SEED", value)
    assert config.default_seed() == seed


def test_seed_everything_repeats_draws(monkeypatch):
    monkeypatch.delenv("DLBI_SEED", raising=False)
    monkeypatch.setenv("PYTHONHASHSEED", "0")  # restored afterwards (seed_everything sets it)

    def draws(seed):
        used = config.seed_everything(seed)
        return used, np.random.rand(5).tolist(), random.random()

    assert draws(123) == draws(123)
    assert draws(123)[1] != draws(124)[1]
    assert draws(None)[0] == 42


def test_environment_report_keys(monkeypatch, capsys):
    # the one test that lets TensorFlow be imported (environment() asks it for the GPU)
    monkeypatch.setenv("DLBI_MODE", "quick")
    monkeypatch.delenv("DLBI_DATA_MIRROR", raising=False)
    info = config.environment(seed=5)
    for key in ("mode", "seed", "python", "tensorflow", "numpy", "accelerator",
                "data_source", "platform"):
        assert key in info, key
    assert info["mode"] == "quick" and info["seed"] == 5
    assert info["python"].count(".") == 2
    printed = config.environment_report(seed=5)
    assert printed["mode"] == "quick"
    assert "tensorflow" in capsys.readouterr().out


def test_accelerator_names_the_gpu_tensorflow_sees(monkeypatch):
    """On Colab's GPU runtime TensorFlow lists a GPU; the report must say so (and the chapters
    then run on it without any code change: Keras places work on the GPU by itself)."""
    import tensorflow as tf

    class FakeGPU:
        name = "/physical_device:GPU:0"

    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [FakeGPU()] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda dev: {"device_name": "Tesla T4"})
    assert config.accelerator() == "GPU: Tesla T4"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert config.accelerator() == "CPU only"


# ----------------------------------------------------------------------------------------
# The commit in the environment report
# ----------------------------------------------------------------------------------------
def git(cwd, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "book"
    (root / "utils").mkdir(parents=True)
    (root / "utils" / "x.py").write_text("x = 1\n")
    (root / ".gitignore").write_text("_build/\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_git_commit_clean_dirty_and_untracked(repo):
    short = git(repo, "rev-parse", "--short", "HEAD")
    assert config.git_commit(repo) == short
    (repo / "_build").mkdir()
    (repo / "_build" / "out.txt").write_text("ignored output")
    assert config.git_commit(repo) == short  # ignored files do not make it dirty
    (repo / "utils" / "new.py").write_text("y = 2\n")
    assert config.git_commit(repo) == short + "+dirty"  # a new file the build would use
    (repo / "utils" / "new.py").unlink()
    (repo / "utils" / "x.py").write_text("x = 2\n")
    assert config.git_commit(repo) == short + "+dirty"
    git(repo, "commit", "-q", "-am", "second")
    second = config.git_commit(repo)
    assert second == git(repo, "rev-parse", "--short", "HEAD") and second != short


def test_git_commit_unknown_outside_a_checkout(tmp_path, repo, monkeypatch):
    plain = tmp_path / "unzipped"  # e.g. the book downloaded as a zip
    (plain / "utils").mkdir(parents=True)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert config.git_commit(plain) == "unknown"
    # a copy that sits inside some other repository is not that repository's commit
    inner = repo / "copy_of_the_book"
    inner.mkdir()
    assert config.git_commit(inner) == "unknown"
    monkeypatch.setenv("PATH", str(tmp_path / "no_git_here"))
    assert config.git_commit(repo) == "unknown"  # git not installed


def test_git_commit_of_this_checkout():
    commit = config.git_commit()
    if commit == "unknown":
        pytest.skip("not a git checkout")
    assert re.fullmatch(r"[0-9a-f]{7,40}(\+dirty)?", commit), commit


def test_environment_report_has_commit_and_versions_and_stays_compact(monkeypatch, capsys):
    from importlib import metadata

    from utils import audit

    monkeypatch.setenv("DLBI_MODE", "full")
    monkeypatch.delenv("DLBI_DATA_MIRROR", raising=False)
    monkeypatch.setattr(config, "git_commit", lambda root=None: "abc1234+dirty")
    info = config.environment_report(seed=3)
    out = capsys.readouterr().out
    assert info["commit"] == "abc1234+dirty"
    for name, dist in {"scipy": "scipy", "skimage": "scikit-image", "pydicom": "pydicom",
                       "visualkeras": "visualkeras"}.items():
        assert info[name] == metadata.version(dist), name
        assert f"{name} {info[name]}" in out, name
    for name in ("tensorflow", "keras", "numpy", "pandas", "sklearn", "PIL"):
        assert f"{name} {info[name]}" in out, name
    lines = out.splitlines()
    assert lines[0] == "mode        : full"  # the line the book build checks
    assert "seed        : 3" in lines and "commit      : abc1234+dirty" in lines
    assert audit.text_lines(out) <= 10  # a few lines of the 60-line screen, wrapped at 100
    versions = [ln for ln in lines if not ln.startswith("data_source")]
    assert max(map(len, versions)) <= config.REPORT_WIDTH
    assert info["cpu"] == config.cpu_model() and info["cpu"]
    assert set(info) >= {"date", "mode", "seed", "commit", "python", "platform", "cpu_cores",
                         "accelerator", "in_colab", "data_source"}


def test_missing_library_is_reported_not_raised():
    assert config._version("nope", "no-such-distribution-dlbi") == "not installed"


@pytest.mark.parametrize("value, count", [("", 2), (" 4 ", 4), ("0", 0)])
def test_threads(monkeypatch, value, count):
    monkeypatch.setenv("DLBI_THREADS", value)
    assert config.threads() == count


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_threads_invalid(monkeypatch, value):
    monkeypatch.setenv("DLBI_THREADS", value)
    with pytest.raises(ValueError, match="DLBI_THREADS") as info:
        config.threads()
    assert repr(value) in str(info.value) and info.value.__cause__ is None


@pytest.mark.parametrize("value, on", [("", True), ("1", True), ("0", False), ("off", False)])
def test_deterministic_flag(monkeypatch, value, on):
    if value:
        monkeypatch.setenv("DLBI_DETERMINISTIC", value)
    else:
        monkeypatch.delenv("DLBI_DETERMINISTIC", raising=False)
    assert config.deterministic() is on


# Small training runs in a fresh interpreter, one per seed in argv: prints the sha256 of each
# run's trained weights and what configure_determinism reports.  A fresh interpreter, because
# thread counts can only be set before TensorFlow first runs an op, and because the runs that
# differed in the book build were separate processes.
_TRAIN = r"""
import hashlib, json, sys
from utils import config
config.configure_tensorflow()
import keras, numpy as np
shas = []
for seed in sys.argv[1:]:
    config.seed_everything(int(seed))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 16, 16, 1)).astype("float32")
    y = (X.mean(axis=(1, 2, 3)) > 0).astype("float32")
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(X, y, epochs=3, batch_size=16, shuffle=True, verbose=0)
    shas.append(hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest())
    keras.backend.clear_session()
print(json.dumps({"shas": shas, "config": config.configure_determinism()}))
"""


def _train_in_subprocess(*seeds, **env):
    import json
    import os
    import sys

    full = dict(os.environ, PYTHONPATH=str(config.repo_root()), TF_CPP_MIN_LOG_LEVEL="3", **env)
    out = subprocess.run([sys.executable, "-c", _TRAIN, *map(str, seeds)], capture_output=True,
                         text=True, env=full, timeout=300, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_two_seeded_trainings_give_bit_identical_weights(monkeypatch):
    monkeypatch.delenv("DLBI_THREADS", raising=False)
    monkeypatch.delenv("DLBI_DETERMINISTIC", raising=False)
    first, second = _train_in_subprocess(3, 4), _train_in_subprocess(3)
    assert first["config"] == {"deterministic": True, "intra_op": 2, "inter_op": 2,
                               "threads_fixed": True}
    assert first["shas"][0] == second["shas"][0]
    assert first["shas"][1] != first["shas"][0]  # the digest does see the training


def test_determinism_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("DLBI_DETERMINISTIC", "0")
    try:
        assert config.configure_determinism()["deterministic"] is False
        assert "non-deterministic ops" in config.determinism_summary()
    finally:
        monkeypatch.delenv("DLBI_DETERMINISTIC")
        assert config.configure_determinism()["deterministic"] is True


def test_environment_report_shows_determinism(monkeypatch):
    """The report's determinism line is what TensorFlow is really set to, in both states."""
    monkeypatch.delenv("DLBI_DETERMINISTIC", raising=False)
    config.configure_determinism()
    info = config.environment(seed=1)
    assert info["determinism"] == config.determinism_summary()
    assert re.fullmatch(r"deterministic ops, threads \S+ intra-op / \S+ inter-op", info["determinism"])
    lines = config.report_lines(info)
    assert any(line.startswith("determinism : deterministic ops") for line in lines)
    assert lines[0].startswith("mode") and lines[1].startswith("seed")
    monkeypatch.setenv("DLBI_DETERMINISTIC", "0")
    try:
        config.configure_determinism()
        assert config.environment(seed=1)["determinism"].startswith("non-deterministic ops")
    finally:
        monkeypatch.delenv("DLBI_DETERMINISTIC")
        config.configure_determinism()


NOISY_SCRIPT = r"""
import os, sys, time
from utils import config
assert config.filter_native_stderr(force=True)
assert config.filter_native_stderr(force=True)  # a second call installs nothing more
os.write(2, b"before\n")
os.write(2, b"E0000 00:00:1.0 1 node_def_util.cc:682] NodeDef mentions attribute "
            b"use_unbounded_threadpool which is not in the op definition\n")
os.write(2, b"E0000 00:00:1.0 1 other.cc:1] a real error\n")
os.write(2, b"\r 50%|#####     |")
time.sleep(0.3)
sys.stdout.write("stdout untouched\n")
raise SystemExit("exit message")
"""


def test_native_stderr_filter_drops_only_the_known_line(tmp_path):
    """The filter removes TensorFlow's use_unbounded_threadpool line and passes everything
    else, in order, including a partial progress-bar line and what Python writes at exit."""
    script = tmp_path / "noisy.py"
    script.write_text(NOISY_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, env=env,
                          timeout=60)
    err = done.stderr.decode()
    assert "use_unbounded_threadpool" not in err
    assert err.index("before") < err.index("a real error") < err.index("50%") < err.index("exit message")
    assert done.stdout.decode() == "stdout untouched\n"
    assert done.returncode == 1


def test_native_stderr_filter_stays_out_of_scripts(monkeypatch):
    """Outside a Jupyter kernel (a script, the test run) the filter is not installed unless
    forced (the benchmarks force it, and a test may have run one in this process)."""
    monkeypatch.setattr(config, "_native_filter", {})
    assert config._in_kernel() is False
    assert config.filter_native_stderr() is False
    assert 2 not in config._native_filter
